r"""Pair-based STDP with pre- and postsynaptic traces, and the ``stdp`` rule (Diehl & Cook 2015).

Traces, per step ``dt`` (``a_\pm = e^{-dt/\tau_\pm}``; exact exponential decay on the grid; each
trace jumps by one at every spike, so every pre/post pair counts, "all-to-all" pairing):

.. math::

    x_{j,t} = a_+ x_{j,t-1} + s^{pre}_{j,t}, \qquad y_{i,t} = a_- y_{i,t-1} + s^{post}_{i,t}

Update of the synapse ``j -> i`` (weight ``w_ij`` of any ``[n_out, n_in]`` Linear weight):

.. math::

    \Delta w_{ij,t} = A_+ f_+(w_{ij})\, x_{j,t}\, s^{post}_{i,t}
                    - A_- f_-(w_{ij})\, y_{i,t}\, s^{pre}_{j,t}

with additive weight dependence ``f_\pm = 1`` and hard bounds (the new weight is clipped to
``[w_min, w_max]``), or multiplicative (soft-bound) dependence ``f_+ = w_max - w``,
``f_- = w - w_min``. Both traces include the current step's spike, so one pre spike at ``t`` and
one post spike at ``t + \Delta t`` give exactly the exponential window

.. math::

    \Delta w(\Delta t) = A_+ e^{-\Delta t/\tau_+} \;(\Delta t > 0), \qquad
    -A_- e^{\Delta t/\tau_-} \;(\Delta t < 0), \qquad A_+ - A_- \;(\Delta t = 0)

(:func:`stdp_window`; the pairing-protocol test recovers amplitudes and time constants).

As a learning rule, ``-\Delta w`` is written to ``w.grad`` and a plain ``torch.optim.SGD`` with
``lr=1`` (no momentum, no state) applies it. :func:`stdp_sequence` accumulates ``\Delta w`` over a
whole presentation with the weights held fixed (``f_\pm`` evaluated at the weights before it);
this is the one approximation of the update, and it vanishes as updates become small.

The ``stdp`` rule (:class:`STDP`) trains the unsupervised network of Diehl & Cook (2015, see
:mod:`snnlearn.learning.diehl_cook`): the runner's first layer is the excitatory layer (its size
is ``--hidden``), STDP learns its input weights without labels, and after each epoch every
neuron is labelled with the class it responds to most; a sample's class scores are the mean
spike counts of each class's neurons. The thresholds and the assignments are buffers of the
network (saved in its ``state_dict``), so a network reloaded from a run folder classifies as the
trained one did.

References:
    Bi, G. & Poo, M. (1998). Synaptic modifications in cultured hippocampal neurons. J. Neurosci.
    18(24), 10464-10472. doi:10.1523/JNEUROSCI.18-24-10464.1998

    Song, S., Miller, K. D. & Abbott, L. F. (2000). Competitive Hebbian learning through
    spike-timing-dependent synaptic plasticity. Nat. Neurosci. 3, 919-926. doi:10.1038/78829

    van Rossum, M. C. W., Bi, G. & Turrigiano, G. (2000). Stable Hebbian learning from spike
    timing-dependent plasticity. J. Neurosci. 20(23), 8812-8821.
    doi:10.1523/JNEUROSCI.20-23-08812.2000

    Diehl, P. U. & Cook, M. (2015). Unsupervised learning of digit recognition using
    spike-timing-dependent plasticity. Front. Comput. Neurosci. 9, 99.
    doi:10.3389/fncom.2015.00099
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple, get_args

import torch
from torch import Tensor

from snnlearn.layers import Network, SpikingLayer
from snnlearn.learning.base import EpochContext, LearningRule, Rollout, Support
from snnlearn.learning.diehl_cook import (
    DiehlCookNeuron,
    DiehlCookParams,
    diehl_cook_assign,
    diehl_cook_layer,
    diehl_cook_normalize,
    diehl_cook_response,
    diehl_cook_scores,
    diehl_cook_theta,
)
from snnlearn.neurons._checks import check_dt, check_finite, check_positive_time
from snnlearn.simulate import check_input_sequence

__all__ = [
    "STDP", "STDPParams", "STDPState", "WeightDependence", "stdp_initial_state", "stdp_traces",
    "stdp_delta", "stdp_bound", "stdp_step", "stdp_sequence", "stdp_window",
]

WeightDependence = Literal["additive", "multiplicative"]


@dataclass(frozen=True)
class STDPParams:
    """Parameters of pair-based STDP (times in seconds, weights dimensionless).

    Args:
        a_plus: potentiation amplitude ``A_+`` (>= 0).
        a_minus: depression amplitude ``A_-`` (>= 0).
        tau_plus: presynaptic trace time constant ``tau_+`` (s, > 0).
        tau_minus: postsynaptic trace time constant ``tau_-`` (s, > 0).
        w_min: lower weight bound.
        w_max: upper weight bound (> ``w_min``).
        weight_dependence: ``"additive"`` (hard bounds) or ``"multiplicative"`` (soft bounds).

    Raises:
        ValueError: a negative amplitude, a non-positive time constant, ``w_max <= w_min`` or
            an unknown ``weight_dependence``.

    Example:
        >>> STDPParams(weight_dependence="multiplicative").tau_plus
        0.02
    """

    a_plus: float = 0.01
    a_minus: float = 0.0105
    tau_plus: float = 20e-3
    tau_minus: float = 20e-3
    w_min: float = 0.0
    w_max: float = 1.0
    weight_dependence: WeightDependence = "additive"

    def __post_init__(self) -> None:
        name = type(self).__name__
        for attr in ("a_plus", "a_minus", "w_min", "w_max"):
            check_finite(name, attr, getattr(self, attr))
        for attr in ("a_plus", "a_minus"):
            if getattr(self, attr) < 0:
                raise ValueError(f"{name}.{attr} must be >= 0, got {getattr(self, attr)!r}")
        check_positive_time(name, "tau_plus", self.tau_plus)
        check_positive_time(name, "tau_minus", self.tau_minus)
        if self.w_max <= self.w_min:
            raise ValueError(f"{name}.w_max must be > w_min, got w_max={self.w_max!r}, "
                             f"w_min={self.w_min!r}")
        if self.weight_dependence not in get_args(WeightDependence):
            raise ValueError(f"{name}.weight_dependence must be one of "
                             f"{list(get_args(WeightDependence))}, got {self.weight_dependence!r}")


class STDPState(NamedTuple):
    """STDP traces: presynaptic ``pre`` ``[B, n_in]`` and postsynaptic ``post`` ``[B, n_out]``."""

    pre: Tensor
    post: Tensor


def stdp_initial_state(
    batch_size: int, n_in: int, n_out: int, *, device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
) -> STDPState:
    """Zero traces for a batch."""
    factory = {"device": device, "dtype": dtype}
    return STDPState(torch.zeros(batch_size, n_in, **factory),
                     torch.zeros(batch_size, n_out, **factory))


def stdp_traces(
    pre: Tensor, post: Tensor, state: STDPState, p: STDPParams, dt: float
) -> STDPState:
    """Advance the traces one step (decay, then jump by the spikes; module docstring).

    Shapes:
        ``pre [B, n_in]``, ``post [B, n_out]``.
    """
    return STDPState(math.exp(-dt / p.tau_plus) * state.pre + pre,
                     math.exp(-dt / p.tau_minus) * state.post + post)


def stdp_delta(weight: Tensor, pre: Tensor, post: Tensor, traces: STDPState,
               p: STDPParams) -> Tensor:
    """The update ``A_+ f_+(w) x s^post - A_- f_-(w) y s^pre``, summed over all leading axes.

    ``traces`` must already include this step's spikes (see :func:`stdp_traces`). Leading axes
    (batch, or time and batch) are summed, so a whole presentation is one call.

    Shapes:
        ``weight [n_out, n_in]``; ``pre, traces.pre [..., n_in]``; ``post, traces.post
        [..., n_out]`` ``-> [n_out, n_in]``.
    """
    n_in, n_out = weight.shape[1], weight.shape[0]
    potentiation = post.reshape(-1, n_out).T @ traces.pre.reshape(-1, n_in)
    depression = traces.post.reshape(-1, n_out).T @ pre.reshape(-1, n_in)
    if p.weight_dependence == "multiplicative":
        return (p.a_plus * (p.w_max - weight) * potentiation
                - p.a_minus * (weight - p.w_min) * depression)
    return p.a_plus * potentiation - p.a_minus * depression


def stdp_bound(weight: Tensor, delta: Tensor, p: STDPParams) -> Tensor:
    """``delta`` shortened so that ``weight + delta`` lies in ``[w_min, w_max]`` (hard bounds).

    For multiplicative dependence with ``A_± <= 1`` per pairing this changes nothing; it guards
    against many pairings summed in one :func:`stdp_sequence`.
    """
    return (weight + delta).clamp(p.w_min, p.w_max) - weight


def stdp_step(
    weight: Tensor, pre: Tensor, post: Tensor, state: STDPState, p: STDPParams, dt: float
) -> tuple[Tensor, STDPState]:
    """One step of online STDP: advance the traces, then return the bounded ``Delta w``.

    Args:
        weight: synaptic weights ``[n_out, n_in]`` (e.g. ``nn.Linear.weight``).
        pre: presynaptic spikes ``[B, n_in]`` at this step.
        post: postsynaptic spikes ``[B, n_out]`` at this step.
        state: traces after the previous step.
        p: STDP parameters.
        dt: time step (s).

    Returns:
        ``(delta_w [n_out, n_in], new_state)``; apply with ``w += delta_w``, or write
        ``-delta_w`` to ``w.grad`` and step ``torch.optim.SGD(lr=1)``.

    Example:
        >>> import torch
        >>> linear = torch.nn.Linear(1, 1, bias=False)
        >>> _ = torch.nn.init.constant_(linear.weight, 0.5)  # inside [w_min, w_max]
        >>> p, s = STDPParams(a_plus=0.1, tau_plus=10e-3), stdp_initial_state(1, 1, 1)
        >>> one, zero = torch.ones(1, 1), torch.zeros(1, 1)
        >>> _, s = stdp_step(linear.weight.detach(), one, zero, s, p, 1e-3)   # pre at 0 ms
        >>> dw, s = stdp_step(linear.weight.detach(), zero, one, s, p, 1e-3)  # post at 1 ms
        >>> round(dw.item(), 5)  # A_+ exp(-1 ms / 10 ms)
        0.09048
    """
    dt = check_dt(dt)
    state = stdp_traces(pre, post, state, p, dt)
    return stdp_bound(weight, stdp_delta(weight, pre, post, state, p), p), state


def stdp_sequence(
    weight: Tensor, pre: Tensor, post: Tensor, p: STDPParams, dt: float,
    state: STDPState | None = None,
) -> tuple[Tensor, STDPState]:
    """``Delta w`` of a whole presentation with the weights held fixed, summed over batch and time.

    Args:
        weight: synaptic weights ``[n_out, n_in]``.
        pre: presynaptic spikes ``[T, B, n_in]``.
        post: postsynaptic spikes ``[T, B, n_out]``.
        p: STDP parameters.
        dt: time step (s).
        state: traces before the first step (default zeros).

    Returns:
        ``(delta_w [n_out, n_in], traces after the last step)``; ``delta_w`` is bounded as in
        :func:`stdp_bound`.

    Raises:
        ValueError: ``pre`` and ``post`` that do not match ``weight`` or each other.

    Example:
        >>> import torch
        >>> pre, post = torch.zeros(5, 1, 1), torch.zeros(5, 1, 1)
        >>> pre[3], post[1] = 1.0, 1.0  # post 2 ms before pre: depression
        >>> dw, _ = stdp_sequence(torch.full((1, 1), 0.5), pre, post, STDPParams(), 1e-3)
        >>> round(dw.item(), 6)  # -A_- exp(-2 ms / 20 ms)
        -0.009501
    """
    dt = check_dt(dt)
    n_out, n_in = weight.shape
    if pre.ndim != 3 or post.ndim != 3 or pre.shape[:2] != post.shape[:2] or (
            pre.shape[2], post.shape[2]) != (n_in, n_out):
        raise ValueError(f"stdp_sequence needs pre [T, B, {n_in}] and post [T, B, {n_out}] for "
                         f"weight [{n_out}, {n_in}], got pre {tuple(pre.shape)} and post "
                         f"{tuple(post.shape)}")
    if state is None:
        state = stdp_initial_state(pre.shape[1], n_in, n_out, device=pre.device, dtype=pre.dtype)
    pre_traces, post_traces = [], []
    for pre_t, post_t in zip(pre, post, strict=True):
        state = stdp_traces(pre_t, post_t, state, p, dt)
        pre_traces.append(state.pre)
        post_traces.append(state.post)
    traces = STDPState(torch.stack(pre_traces), torch.stack(post_traces))
    return stdp_bound(weight, stdp_delta(weight, pre, post, traces, p), p), state


def stdp_window(delta_t: Tensor, p: STDPParams) -> Tensor:
    """The closed-form window ``Delta w(Delta t)`` of one pre/post pair (weight-independent part).

    ``Delta t = t_post - t_pre`` (s): ``A_+ e^{-Delta t/tau_+}`` for ``Delta t > 0``,
    ``-A_- e^{Delta t/tau_-}`` for ``Delta t < 0`` and ``A_+ - A_-`` at 0.

    Example:
        >>> import torch
        >>> stdp_window(torch.tensor([-20e-3, 20e-3]), STDPParams(a_plus=1.0, a_minus=1.0))
        tensor([-0.3679,  0.3679])
    """
    plus = p.a_plus * torch.exp(-delta_t.clamp(min=0) / p.tau_plus)
    minus = p.a_minus * torch.exp(delta_t.clamp(max=0) / p.tau_minus)
    return torch.where(delta_t > 0, plus, 0.0) - torch.where(delta_t < 0, minus, 0.0) + torch.where(
        delta_t == 0, p.a_plus - p.a_minus, 0.0)


def _default_stdp() -> STDPParams:
    return STDPParams(a_plus=0.05, a_minus=0.01, w_max=4.0)


class STDP(LearningRule):
    """Unsupervised STDP in the Diehl & Cook network, labelled by response (module docstring).

    The network's only hidden layer is the excitatory layer. :meth:`prepare` turns it into the
    Diehl & Cook layer (:func:`~snnlearn.learning.diehl_cook.diehl_cook_layer`: the same synapse
    with its weights redrawn uniform in ``[0, init_max]`` and normalised, fixed lateral
    inhibition, :class:`~snnlearn.learning.diehl_cook.DiehlCookNeuron` neurons) and gives the
    model what classifies at test time, as buffers saved with its weights: the adaptive
    thresholds ``theta`` of the excitatory layer (``net.layers[0].theta`` ``[N]``) and the
    neurons' label assignments (``net.assignments`` ``[N]``, ``-1`` before the first epoch). A
    network that already is one (reloaded from its run folder) is kept as it is.

    Training runs in the runner's epoch loop, in minibatches of ``batch_size`` presentations:
    :meth:`assign_grads` writes ``-Delta w`` to the excitatory weights' ``.grad`` and advances
    ``theta``, the optimizer of :meth:`configure_optimizer` (``torch.optim.SGD``, step 1) applies
    it, :meth:`after_step` normalises the weights and :meth:`end_epoch` labels the neurons on a
    plasticity-free pass over the training data. The readout is not used: class scores come from
    the assignments. Update counts are the rule's state.

    Args:
        stdp: STDP parameters (default ``A_+ = 0.05``, ``A_- = 0.01``, ``tau_± = 20 ms``,
            additive, weights in ``[0, 4]``).
        network: the excitatory layer's parameters.
        batch_size: presentations simulated in parallel per STDP update (int >= 1); the runner's
            minibatch size for this rule (the run's ``batch_size`` is not used).

    Raises:
        ValueError: a ``batch_size`` that is not an int >= 1.

    Example:
        >>> import torch
        >>> from snnlearn.layers import build_network
        >>> net = build_network(4, [6], 2, dt=1e-3, generator=torch.Generator().manual_seed(0))
        >>> rule = STDP()
        >>> rule.prepare(net, generator=torch.Generator().manual_seed(1))
        >>> r = rule.simulate(net, torch.ones(5, 3, 4))
        >>> tuple(r.outputs.shape), bool((net.layers[0].weight >= 0).all())
        ((5, 3, 2), True)
        >>> net.assignments.tolist(), tuple(net.layers[0].theta.shape)
        ([-1, -1, -1, -1, -1, -1], (6,))
    """

    name = "stdp"
    supports = Support(dale=False)

    def __init__(self, *, stdp: STDPParams | None = None, network: DiehlCookParams | None = None,
                 batch_size: int = 8) -> None:
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"STDP.batch_size must be an int >= 1, got {batch_size!r}")
        self.stdp = _default_stdp() if stdp is None else stdp
        self.network = DiehlCookParams() if network is None else network
        self.batch_size = batch_size
        self.updates = 0
        self.synapse_updates = 0

    def prepare(self, net: Network, *, generator: torch.Generator | None = None) -> None:
        """Check the network; unless it is a Diehl & Cook network already, redraw the excitatory
        weights, make its first layer the Diehl & Cook layer and add ``net.assignments``."""
        layer = self._layer(net)
        self.updates = self.synapse_updates = 0
        if _carries_model(net):
            return
        w = layer.weight
        with torch.no_grad():
            w.copy_(diehl_cook_normalize(
                torch.rand(w.shape, generator=generator, dtype=w.dtype).to(w.device)
                * self.network.init_max, self.network))
        net.layers[0] = diehl_cook_layer(layer.synapse, self.network).to(w.device)
        net.register_buffer("assignments", torch.full((layer.n_out,), -1, dtype=torch.int64,
                                                      device=w.device))

    def simulate(self, net: Network, x: Tensor) -> Rollout:
        """Excitatory spikes (no plasticity) and the class scores ``[T, B, n_out]``."""
        layer, assignments = self._layer(net), _model(net)[1]
        check_input_sequence(x, net.n_in, layer.weight.dtype)
        spikes = diehl_cook_response(net, x, self.network)
        return Rollout(outputs=diehl_cook_scores(spikes, assignments, net.n_out),
                       spikes=(spikes,), membranes=(), final_state=(),
                       extras={"inputs": (x,)})

    def assign_grads(
        self, net: Network, rollout: Rollout, loss: Tensor, *, target: Tensor | None = None
    ) -> None:
        """Write ``-Delta w`` of the rollout's presentation to the excitatory weights' ``.grad``
        and advance the thresholds ``theta`` by its spikes.

        ``loss`` and ``target`` are ignored (STDP is unsupervised); other parameters get
        ``grad = None`` so that an optimizer leaves them unchanged.
        """
        layer, (theta, _) = self._layer(net), _model(net)
        for p in net.parameters():
            p.grad = None
        spikes = rollout.spikes[0]
        delta, _ = stdp_sequence(layer.weight.detach(), rollout.extras["inputs"][0], spikes,
                                 self.stdp, net.dt)
        layer.weight.grad = -delta
        theta.copy_(diehl_cook_theta(theta, spikes, self.network, net.dt))
        self.updates += 1
        self.synapse_updates += int((delta != 0).sum())

    def configure_optimizer(self, net: Network, lr: float) -> torch.optim.Optimizer:
        """``torch.optim.SGD`` over the excitatory weights, step 1 (``w <- w + Delta w``)."""
        return torch.optim.SGD([self._layer(net).weight], lr=1.0)

    def minibatch_size(self, configured: int) -> int:
        """``batch_size`` presentations per STDP update (the run's ``batch_size`` is unused)."""
        return self.batch_size

    def begin_epoch(self, net: Network, ctx: EpochContext) -> None:
        """Keep the SGD step at 1 (the run's learning-rate schedule does not apply)."""
        for group in ctx.optimizer.param_groups:
            group["lr"] = 1.0

    def after_step(self, net: Network) -> None:
        """Normalise each neuron's incoming weights (``weight_sum``)."""
        w = self._layer(net).weight
        with torch.no_grad():
            w.copy_(diehl_cook_normalize(w, self.network))

    def end_epoch(self, net: Network, ctx: EpochContext) -> None:
        """Label every neuron with the class it responds to most, on a plasticity-free pass over
        the training data (encoded with ``ctx.generator``), into ``net.assignments``."""
        w, data, assignments = self._layer(net).weight, ctx.data, _model(net)[1]
        counts = []
        with torch.no_grad():
            for i in range(0, len(data), 512):
                x = ctx.task.encode(data.inputs[i:i + 512], generator=ctx.generator).to(
                    ctx.device, w.dtype)
                counts.append(diehl_cook_response(net, x, self.network).sum(0))
            assignments.copy_(diehl_cook_assign(torch.cat(counts), data.labels.to(ctx.device),
                                                net.n_out))

    def state_dict(self) -> dict[str, Any]:
        """Update counts (thresholds and assignments are buffers of the network)."""
        return {"updates": self.updates, "synapse_updates": self.synapse_updates}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict` (after :meth:`prepare`)."""
        if not state:
            return
        if set(state) != {"updates", "synapse_updates"}:
            raise ValueError("STDP state must have keys ['synapse_updates', 'updates'], got "
                             f"{sorted(state)}")
        self.updates, self.synapse_updates = state["updates"], state["synapse_updates"]

    def summary_metrics(self) -> dict[str, float]:
        """``weight_updates`` (STDP steps applied), ``synapse_updates`` (non-zero ``Delta w``)."""
        return {"weight_updates": float(self.updates),
                "synapse_updates": float(self.synapse_updates)}

    def _layer(self, net: Network) -> SpikingLayer:
        hidden = net.spiking_layers
        if len(hidden) != 1 or hidden[0] is not net.layers[0] or (
                hidden[0].recurrent and not isinstance(hidden[0].neuron, DiehlCookNeuron)):
            raise ValueError(
                "STDP (Diehl & Cook) trains one feed-forward excitatory layer; got spiking layers "
                f"{[(m.n_out, m.recurrent) for m in hidden]} (size, recurrent); use --hidden N "
                "with a single size and no recurrence"
            )
        return hidden[0]


def _carries_model(net: Network) -> bool:
    buffers = dict(net.named_buffers())
    return ("assignments" in buffers and "layers.0.theta" in buffers
            and isinstance(net.layers[0].neuron, DiehlCookNeuron))


def _model(net: Network) -> tuple[Tensor, Tensor]:
    """The Diehl & Cook buffers ``(theta, assignments)`` of a network :meth:`STDP.prepare` made."""
    if not _carries_model(net):
        raise ValueError("the network carries no Diehl & Cook thresholds and assignments; call "
                         "STDP.prepare(net) first")
    buffers = dict(net.named_buffers())
    return buffers["layers.0.theta"], buffers["assignments"]
