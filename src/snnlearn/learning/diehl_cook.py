r"""The unsupervised network of Diehl & Cook (2015): one excitatory layer that learns by STDP.

Excitatory LIF neurons (:func:`snnlearn.neurons.lif_integrate`, :func:`snnlearn.neurons.lif_fire`)
receive the input spikes through non-negative weights ``W [N, n_in]`` and inhibit each other:

.. math::

    I_{i,t} = a_s I_{i,t-1} + \sum_j W_{ij} s_{j,t} - w_{inh} \sum_{k \ne i} z_{k,t-1}, \qquad
    z_{i,t} = H(v'_{i,t} - v_{th} - \theta_i)

The paper's separate inhibitory population, driven one-to-one by the excitatory neurons and
inhibiting all others, is folded into this direct lateral inhibition (one step of delay). The
layer is an ordinary :class:`~snnlearn.layers.SpikingLayer` (:func:`diehl_cook_layer`): its
synapse holds ``W``, its fixed recurrent weights ``-w_inh`` (no self-connections) are the lateral
inhibition, its neuron model is :class:`DiehlCookNeuron` (LIF with the threshold offset and the
winner-take-all below) and its buffer ``theta`` holds the thresholds, so
:func:`snnlearn.simulate.unroll` and :meth:`~snnlearn.layers.Network.step` simulate it like any
other layer. The adaptive thresholds ``theta`` grow by ``theta_+`` per spike and decay with
``tau_theta``; they are updated after each presentation (held fixed within one):

.. math::

    \theta \leftarrow \theta\, e^{-T dt/\tau_\theta} + \theta_+ \sum_{t, b} z_t

After each STDP update the incoming weights of every neuron are rescaled to sum to
``weight_sum`` (the paper's normalisation). Labels are used only afterwards: each neuron is
assigned the class for which its mean spike count over the training set is highest
(:func:`diehl_cook_assign`), and a sample's score for class ``c`` is the mean spike count of the
neurons assigned to ``c`` (:func:`diehl_cook_scores`). As in the paper, a sample that evokes
fewer than ``min_spikes`` spikes is presented again with a stronger input (here the input current
is scaled by ``1 + r gain_step`` on the ``r``-th repeat). Differences from the paper:
current-based instead of conductance-based synapses; direct lateral inhibition of strength
``w_inh`` (one step of delay) plus, within a step, a winner-take-all among the neurons crossing
threshold (``winner_take_all``; with a 1 ms grid many neurons would otherwise cross together);
thresholds updated per presentation; STDP applied after each presentation (see
:func:`snnlearn.learning.stdp.stdp_sequence`) to minibatches of presentations.

References:
    Diehl, P. U. & Cook, M. (2015). Unsupervised learning of digit recognition using
    spike-timing-dependent plasticity. Front. Comput. Neurosci. 9, 99.
    doi:10.3389/fncom.2015.00099
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import NamedTuple

import torch
from torch import Tensor

from snnlearn.layers import Network, SpikingLayer
from snnlearn.neurons import LIFParams, lif_fire, lif_integrate
from snnlearn.neurons._checks import check_finite, check_positive_time
from snnlearn.neurons.lif import LIFState
from snnlearn.simulate import unroll

__all__ = [
    "DiehlCookParams", "DiehlCookNeuron", "DiehlCookState", "diehl_cook_layer",
    "diehl_cook_response", "diehl_cook_theta", "diehl_cook_normalize", "diehl_cook_assign",
    "diehl_cook_scores",
]


def _default_neuron() -> LIFParams:
    return LIFParams(tau_mem=20e-3, tau_syn=5e-3, reset="hard", t_ref=5e-3)


@dataclass(frozen=True)
class DiehlCookParams:
    """Parameters of the excitatory layer (times in seconds, voltages and currents dimensionless).

    Args:
        neuron: the excitatory LIF neuron (threshold ``v_th``, plus ``theta``).
        inhibition: lateral inhibition ``w_inh``: current each spike removes from every other
            neuron (>= 0).
        theta_plus: threshold increment per spike ``theta_+`` (>= 0).
        tau_theta: threshold decay time constant (s, > 0).
        weight_sum: sum of each neuron's incoming weights after normalisation (> 0), or
            ``None`` for no normalisation.
        init_max: initial weights are uniform in ``[0, init_max]`` before normalisation (> 0).
        min_spikes: a sample evoking fewer spikes is presented again with a stronger input
            (int >= 0; the paper uses 5).
        repeats: at most this many re-presentations (int >= 0).
        gain_step: the ``r``-th re-presentation scales the input current by
            ``1 + r gain_step`` (> 0; the paper raises the input rate instead).
        winner_take_all: of the neurons crossing threshold in the same step only the one
            furthest above it fires (the limit of instantaneous inhibition).

    Raises:
        ValueError: a negative ``inhibition`` or ``theta_plus``, or a non-positive time
            constant, ``weight_sum`` or ``init_max``.

    Example:
        >>> DiehlCookParams().neuron.reset
        'hard'
    """

    neuron: LIFParams = field(default_factory=_default_neuron)
    inhibition: float = 2.0
    theta_plus: float = 0.05
    tau_theta: float = 2.0
    weight_sum: float | None = 25.0
    init_max: float = 0.3
    min_spikes: int = 1
    repeats: int = 4
    gain_step: float = 0.5
    winner_take_all: bool = True

    def __post_init__(self) -> None:
        name = type(self).__name__
        if not isinstance(self.neuron, LIFParams):
            raise ValueError(f"{name}.neuron must be LIFParams, got {type(self.neuron).__name__}")
        for attr in ("inhibition", "theta_plus"):
            check_finite(name, attr, getattr(self, attr))
            if getattr(self, attr) < 0:
                raise ValueError(f"{name}.{attr} must be >= 0, got {getattr(self, attr)!r}")
        check_positive_time(name, "tau_theta", self.tau_theta)
        for attr in ("weight_sum", "init_max"):
            value = getattr(self, attr)
            if value is None and attr == "weight_sum":
                continue
            check_finite(name, attr, value)
            if value <= 0:
                raise ValueError(f"{name}.{attr} must be > 0, got {value!r}")
        check_finite(name, "gain_step", self.gain_step)
        if self.gain_step <= 0:
            raise ValueError(f"{name}.gain_step must be > 0, got {self.gain_step!r}")
        for attr in ("min_spikes", "repeats"):
            value = getattr(self, attr)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{name}.{attr} must be an int >= 0, got {value!r}")


class DiehlCookState(NamedTuple):
    """State of the excitatory neurons, each ``[B, N]``: the LIF state (membrane ``v``, current
    ``i``, remaining refractory time ``refractory`` (s), last spikes ``z``) and the threshold
    offsets ``theta`` (held fixed during a presentation)."""

    v: Tensor
    i: Tensor
    refractory: Tensor
    z: Tensor
    theta: Tensor


@dataclass(frozen=True)
class DiehlCookNeuron:
    """Excitatory neuron model: LIF with a per-neuron threshold offset and winner-take-all.

    Per step: ``v'`` by :func:`~snnlearn.neurons.lif_integrate`, then
    :func:`~snnlearn.neurons.lif_fire` with the threshold ``v_th + theta_i``; with
    ``winner_take_all`` only the neuron furthest above it (``v'_i - v_th - theta_i`` largest in
    its sample) may fire. ``theta`` comes from the state (a layer's ``theta`` buffer, see
    :meth:`~snnlearn.layers.SpikingLayer.initial_state`) and is carried unchanged.

    Args:
        lif: the LIF parameters (times in seconds, voltages dimensionless).
        winner_take_all: the within-step winner-take-all.

    Example:
        >>> import torch
        >>> neuron = DiehlCookNeuron(LIFParams(reset="hard"))
        >>> s = neuron.initial_state((1, 3))
        >>> z, s = neuron.step(torch.tensor([[400.0, 500.0, 0.0]]), s, 1e-3)
        >>> z.tolist()  # both cross threshold; only the one furthest above fires
        [[0.0, 1.0, 0.0]]
    """

    lif: LIFParams = field(default_factory=lambda: _default_neuron())
    winner_take_all: bool = True

    def __post_init__(self) -> None:
        if not isinstance(self.lif, LIFParams):
            raise ValueError(f"DiehlCookNeuron.lif must be LIFParams, got "
                             f"{type(self.lif).__name__}")
        if not isinstance(self.winner_take_all, bool):
            raise ValueError(f"DiehlCookNeuron.winner_take_all must be True or False, got "
                             f"{self.winner_take_all!r}")

    def initial_state(
        self, shape: tuple[int, ...], *, device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> DiehlCookState:
        """Resting LIF state of ``shape`` and zero threshold offsets."""
        rest = self.lif.initial_state(shape, device=device, dtype=dtype)
        return DiehlCookState(*rest, theta=torch.zeros_like(rest.v))

    def step(self, x: Tensor, state: DiehlCookState, dt: float
             ) -> tuple[Tensor, DiehlCookState]:
        """One step: integrate ``x``, fire against ``v_th + theta`` (winner-take-all)."""
        pre = lif_integrate(x, LIFState(*state[:4]), self.lif, dt)
        threshold = self.lif.v_th + state.theta
        if self.winner_take_all:  # only the neuron furthest above threshold may fire this step
            margin = pre.v - threshold
            first = margin >= margin.amax(dim=-1, keepdim=True)
            threshold = torch.where(first, threshold, torch.inf)
        z, post = lif_fire(pre, self.lif, dt, threshold)
        return z, DiehlCookState(*post, theta=state.theta)


def diehl_cook_layer(synapse: torch.nn.Module, p: DiehlCookParams) -> SpikingLayer:
    """The excitatory layer: ``synapse`` (``W``), fixed lateral inhibition and thresholds.

    The recurrent weights are ``-w_inh`` off the diagonal and excluded from training
    (``requires_grad=False``); the buffer ``theta`` ``[N]`` starts at zero.

    Example:
        >>> import torch
        >>> from snnlearn.layers import Dense
        >>> layer = diehl_cook_layer(Dense(2, 3), DiehlCookParams())
        >>> layer.recurrent_weight[0].tolist(), layer.theta.tolist()
        ([0.0, -2.0, -2.0], [0.0, 0.0, 0.0])
    """
    layer = SpikingLayer(synapse, DiehlCookNeuron(p.neuron, p.winner_take_all), recurrent=True,
                         generator=torch.Generator())  # drawn, then overwritten below
    inhibition = layer.recurrent_weight
    assert inhibition is not None  # narrowing: recurrent=True
    with torch.no_grad():
        inhibition.fill_(-p.inhibition).fill_diagonal_(0.0)
    inhibition.requires_grad_(False)
    layer.register_buffer("theta", layer.weight.new_zeros(layer.n_out))
    return layer


def diehl_cook_response(net: Network, x: Tensor, p: DiehlCookParams) -> Tensor:
    """Spikes of the excitatory layer ``net.layers[0]`` for input spikes ``x``, from rest.

    Simulated with :func:`snnlearn.simulate.unroll` without autograd (no plasticity, thresholds
    held). Samples
    evoking fewer than ``min_spikes`` spikes are simulated again with the input current scaled by
    ``1 + r gain_step`` (``r = 1 .. repeats``); their last presentation is returned.

    Args:
        net: a network whose first layer is a :func:`diehl_cook_layer`.
        x: input spikes ``[T, B, n_in]``.
        p: network parameters.

    Returns:
        Excitatory spikes ``[T, B, N]``.

    Example:
        >>> import torch
        >>> from snnlearn.layers import Dense
        >>> layer = diehl_cook_layer(Dense(2, 2), DiehlCookParams())
        >>> _ = layer.weight.data.copy_(torch.tensor([[4.0, 0.0], [0.0, 4.0]]))
        >>> x = torch.zeros(10, 1, 2); x[:, 0, 0] = 1.0
        >>> z = diehl_cook_response(Network([layer], dt=1e-3), x, p=DiehlCookParams())
        >>> z.sum(dim=(0, 1)).tolist()  # only the neuron tuned to input 0 fires
        [1.0, 0.0]
    """
    excitatory = Network([net.layers[0]], dt=net.dt)
    with torch.no_grad():
        spikes = unroll(excitatory, x).spikes[0]
        for repeat in range(1, p.repeats + 1):
            quiet = spikes.sum(dim=(0, 2)) < p.min_spikes
            if not bool(quiet.any()):
                break
            gain = 1.0 + p.gain_step * repeat
            spikes[:, quiet] = unroll(excitatory, x[:, quiet],
                                      projection=lambda k, m, seq, g=gain: g * m.project(seq)
                                      ).spikes[0]
    return spikes


def diehl_cook_theta(theta: Tensor, spikes: Tensor, p: DiehlCookParams, dt: float) -> Tensor:
    """Thresholds after a presentation: ``theta e^{-T dt/tau_theta} + theta_+ sum_{t,b} z``.

    Shapes:
        ``theta [N]``, ``spikes [T, B, N] -> [N]``.
    """
    decay = math.exp(-spikes.shape[0] * dt / p.tau_theta)
    return theta * decay + p.theta_plus * spikes.sum(dim=(0, 1))


def diehl_cook_normalize(weight: Tensor, p: DiehlCookParams) -> Tensor:
    """Rows of ``weight`` rescaled to sum to ``weight_sum`` (unchanged if ``None`` or all zero)."""
    if p.weight_sum is None:
        return weight
    total = weight.sum(dim=1, keepdim=True)
    return torch.where(total > 0, weight * (p.weight_sum / total.clamp(min=1e-30)), weight)


def diehl_cook_assign(counts: Tensor, labels: Tensor, n_classes: int) -> Tensor:
    """Label each neuron with the class of its highest mean spike count (``-1``: never fired).

    Shapes:
        ``counts [S, N]`` (spikes per sample), ``labels [S]`` ``-> [N]`` (int64).

    Example:
        >>> import torch
        >>> counts = torch.tensor([[3.0, 0.0, 0.0], [0.0, 2.0, 0.0]])
        >>> diehl_cook_assign(counts, torch.tensor([1, 0]), 2).tolist()
        [1, 0, -1]
    """
    onehot = torch.nn.functional.one_hot(labels, n_classes).to(counts.dtype)  # [S, C]
    mean = (onehot.T @ counts) / onehot.sum(dim=0).clamp(min=1.0)[:, None]  # [C, N]
    assigned = mean.argmax(dim=0)
    return torch.where(counts.sum(dim=0) > 0, assigned, torch.full_like(assigned, -1))


def diehl_cook_scores(spikes: Tensor, assignments: Tensor, n_classes: int) -> Tensor:
    """Class scores over time: mean spike count so far of the neurons assigned to each class.

    Scores are non-decreasing in time, so the last step (or the maximum over time) is the
    paper's response-based classification. A class without neurons scores zero.

    Shapes:
        ``spikes [T, B, N]``, ``assignments [N]`` ``-> [T, B, n_classes]``.
    """
    members = (assignments[:, None] == torch.arange(n_classes, device=spikes.device)).to(
        spikes.dtype)
    members = members / members.sum(dim=0).clamp(min=1.0)
    return spikes.cumsum(dim=0) @ members
