r"""Equilibrium propagation (EqProp): free and nudged relaxations of an energy-based rate network
and a local contrastive update.

The network's layers are read as a layered Hopfield network of firing rates
:math:`s_l \in [0, 1]^{N_l}` (the rate a neuron fires at, as a fraction of its maximum). The input
layer is clamped to the input's spike rates :math:`r = \frac1T \sum_t x_t`, by default relative
to the sample's most active channel, :math:`s_0 = r / \max_i r_i` (``input_norm``); layer ``l``
couples to its neighbours through the network's own weights, used forwards (:math:`W_l`) and
backwards (:math:`W_l^\top`), so the feedback is symmetric by construction. The energy is

.. math::

    E(s) = \sum_{l=1}^{L} \left( \tfrac12 \lVert s_l \rVert^2
           - s_l^\top (\tilde W_l s_{l-1} + \tilde b_l) \right), \qquad
    C(s) = \tfrac12 \lVert s_L - y \rVert^2

with :math:`y` the one-hot target and :math:`\tilde W_l = c_l W_l` the coupling of the rate
network: the depolarisation one presynaptic spike delivers to the membrane,
:math:`c_l = (1 - e^{-\Delta t/\tau_m}) R / s_{syn}` with :math:`s_{syn} = 1 - e^{-\Delta t /
\tau_{syn}}` (1 without a synapse). It undoes the per-step gain that
:func:`~snnlearn.layers.build_network` builds into the initial weights, so with gain ``g`` the
couplings start with standard deviation :math:`g / \sqrt{N_{l-1}}`.

**Relaxation** (:func:`eqprop_relax`). The total energy :math:`F = E + \beta C` is minimised over
the box :math:`[0, 1]^N` by block-coordinate descent: sweeps over the layers, input to output,
each setting one layer to the exact minimiser given its neighbours,

.. math::

    s_l \leftarrow \mathrm{clip}_{[0,1]}\!\left(\tilde W_l s_{l-1} + \tilde b_l
        + \tilde W_{l+1}^\top s_{l+1}\right), \qquad
    s_L \leftarrow \mathrm{clip}_{[0,1]}\!\left(\frac{\tilde W_L s_{L-1} + \tilde b_L
        + \beta y}{1 + \beta}\right),

(the hard-sigmoid rate function), which never raises :math:`F`. The *free phase*
(:math:`\beta = 0`, ``n_free`` sweeps from rest) gives the prediction :math:`s^0`; the *nudged
phase* continues from :math:`s^0` for ``n_nudged`` sweeps with :math:`\beta > 0`, pulling the
output towards the target, and the change propagates back through the symmetric couplings.

**Update** (Scellier & Bengio 2017, Theorem 1). For any parameter :math:`\theta`,

.. math::

    \frac{d}{d\theta} C(s^0) = \lim_{\beta \to 0} \frac1\beta
        \left( \frac{\partial E}{\partial \theta}(s^\beta)
        - \frac{\partial E}{\partial \theta}(s^0) \right), \qquad
    -\frac{\partial E}{\partial \tilde W_l} = s_l s_{l-1}^\top,

so the weight change is the local contrastive Hebbian term
:math:`\Delta \tilde W_l \propto \frac1\beta (s^\beta_l {s^\beta_{l-1}}^\top - s^0_l
{s^0_{l-1}}^\top)`. With ``nudging="symmetric"`` (Laborieux et al. 2021) the two ends are
:math:`s^{+\beta}` and :math:`s^{-\beta}` (divided by :math:`2\beta`), which removes the
first-order bias in :math:`\beta`. :meth:`EqProp.assign_grads` writes this estimate to ``.grad``
(it differentiates the energy difference with the states held fixed, so the coupling scale,
biases and Dale signs enter exactly as in :math:`E`).

Exact and approximated: the estimate is the gradient of :math:`C` at the free equilibrium up to
:math:`O(\beta)` (:math:`O(\beta^2)` symmetric), provided the relaxations converge (tested: the
cosine with the implicit gradient, computed by autograd through a converged relaxation and checked
against finite differences, tends to 1 as :math:`\beta \to 0`). The model is the rate network:
its neuron dynamics (membrane, threshold, time constants other than through :math:`c_l`) are not
simulated and it emits no spikes; :meth:`EqProp.simulate` returns the free-phase output rates as
a single time step.

Memory: the rates of every layer for one batch (no history; no stored activations).

Supported: dense, feed-forward LIF hidden layers (any number, Dale's law allowed) and an LI
readout.

References:
    Scellier, B. & Bengio, Y. (2017). Equilibrium propagation: bridging the gap between
    energy-based models and backpropagation. Frontiers in Computational Neuroscience 11, 24.
    doi:10.3389/fncom.2017.00024

    O'Connor, P., Gavves, E. & Welling, M. (2019). Training a spiking neural network with
    equilibrium propagation. AISTATS, PMLR 89:1516-1523.

    Laborieux, A., Ernoult, M., Scellier, B., Bengio, Y., Grollier, J. & Querlioz, D. (2021).
    Scaling equilibrium propagation to deep ConvNets by drastically reducing its gradient
    estimator bias. Frontiers in Neuroscience 15, 633674. doi:10.3389/fnins.2021.633674
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from types import MappingProxyType
from typing import Literal, NamedTuple, get_args

import torch
import torch.nn.functional as F
from torch import Tensor

from snnlearn.layers import Network, Readout, SpikingLayer
from snnlearn.learning.base import LearningRule, Rollout, Support

__all__ = ["EqProp", "Coupling", "Nudging", "InputNorm", "couplings", "eqprop_energy",
           "eqprop_relax"]

Nudging = Literal["positive", "symmetric"]
InputNorm = Literal["peak", "none"]


class Coupling(NamedTuple):
    """The rate-network coupling of one layer: ``W~ = c W`` ``[N_l, N_{l-1}]`` and ``b~``."""

    weight: Tensor
    bias: Tensor | None


def _scale(neuron: object, dt: float) -> float:
    """``c = (1 - exp(-dt / tau_mem)) R / s_syn``: the depolarisation one input spike delivers."""
    tau_syn = getattr(neuron, "tau_syn", None)
    synapse = 1.0 if tau_syn is None else 1.0 - math.exp(-dt / tau_syn)
    return (1.0 - math.exp(-dt / neuron.tau_mem)) * neuron.r / synapse  # type: ignore[attr-defined]


def couplings(net: Network) -> list[Coupling]:
    """The couplings ``(c_l W_l, c_l b_l)`` of every layer of ``net`` (with autograd history).

    Raises:
        ValueError: ``net`` has a layer other than dense feed-forward LIF layers and a readout.

    Example:
        >>> import torch
        >>> from snnlearn.layers import build_network
        >>> net = build_network(4, [8], 2, dt=1e-3, generator=torch.Generator().manual_seed(0))
        >>> [tuple(c.weight.shape) for c in couplings(net)]
        [(8, 4), (2, 8)]
    """
    out = []
    for k, layer in enumerate(net.layers):
        ok = (isinstance(layer, Readout) or (
            isinstance(layer, SpikingLayer) and layer.synapse.kind == "dense"
            and not layer.recurrent and hasattr(layer.neuron, "tau_mem")))
        if not ok:
            raise ValueError(f"eqprop needs dense feed-forward LIF layers and a readout; layer "
                             f"{k} is {type(layer).__name__}")
        c = _scale(layer.neuron, net.dt)
        bias = layer.bias
        out.append(Coupling(c * layer.weight, None if bias is None else c * bias))
    if not isinstance(net.layers[-1], Readout):
        raise ValueError("eqprop needs a network ending in a readout (its output rates)")
    return out


def _drive(cs: Sequence[Coupling], x: Tensor, states: Sequence[Tensor], layer: int) -> Tensor:
    """``W~_l s_{l-1} + b~_l + W~_{l+1}^T s_{l+1}`` (no top-down term for the output layer)."""
    below = x if layer == 0 else states[layer - 1]
    h = F.linear(below, cs[layer].weight, cs[layer].bias)
    if layer + 1 < len(cs):
        h = h + states[layer + 1] @ cs[layer + 1].weight
    return h


def eqprop_relax(
    cs: Sequence[Coupling], x: Tensor, states: Sequence[Tensor], *, sweeps: int,
    beta: float = 0.0, target: Tensor | None = None,
) -> list[Tensor]:
    r"""``sweeps`` block-coordinate sweeps minimising ``F = E + beta C`` over ``[0, 1]^N``.

    Each layer, input to output, is set to its exact minimiser given its neighbours (see the
    module docstring); ``F`` never increases.

    Args:
        cs: the couplings (:func:`couplings`).
        x: clamped input rates ``s_0`` (dimensionless, in ``[0, 1]``).
        states: the starting rates of layers ``1 .. L``.
        sweeps: number of sweeps (>= 0).
        beta: nudging strength (dimensionless; 0 is the free phase, < 0 pushes away).
        target: the output target ``y`` (needed when ``beta != 0``).

    Shapes:
        ``x [B, N_0]``, ``states[l] [B, N_{l+1}]``, ``target [B, N_L]``.

    Returns:
        The rates after the sweeps (new tensors).

    Example:
        >>> import torch
        >>> cs = [Coupling(torch.eye(2), None)]
        >>> eqprop_relax(cs, torch.tensor([[0.3, 2.0]]), [torch.zeros(1, 2)], sweeps=1)
        [tensor([[0.3000, 1.0000]])]
    """
    states = list(states)
    if beta != 0.0 and target is None:
        raise ValueError("eqprop_relax: a nudged phase (beta != 0) needs the target")
    last = len(cs) - 1
    for _ in range(sweeps):
        for layer in range(len(cs)):
            h = _drive(cs, x, states, layer)
            if layer == last and beta != 0.0:
                assert target is not None  # narrowing: checked above
                h = (h + beta * target) / (1.0 + beta)
            states[layer] = h.clamp(0.0, 1.0)
    return states


def eqprop_energy(cs: Sequence[Coupling], x: Tensor, states: Sequence[Tensor]) -> Tensor:
    r"""The Hopfield energy ``E(s)`` summed over the batch (``[]``).

    ``E = sum_l (||s_l||^2 / 2 - s_l^T (W~_l s_{l-1} + b~_l))`` with ``s_0 = x``.

    Example:
        >>> import torch
        >>> cs = [Coupling(torch.eye(1), None)]
        >>> float(eqprop_energy(cs, torch.tensor([[1.0]]), [torch.tensor([[1.0]])]))
        -0.5
    """
    energy = x.new_zeros(())
    below = x
    for c, s in zip(cs, states, strict=True):
        energy = energy + 0.5 * (s * s).sum() - (s * F.linear(below, c.weight, c.bias)).sum()
        below = s
    return energy


def _rest(cs: Sequence[Coupling], x: Tensor) -> list[Tensor]:
    return [x.new_zeros(x.shape[0], c.weight.shape[0]) for c in cs]


class EqProp(LearningRule):
    """Equilibrium propagation: contrast of a free and a nudged relaxation, a local update.

    Args:
        beta: nudging strength ``beta`` (dimensionless, > 0).
        nudging: ``"positive"`` (``s^0`` against ``s^beta``, Scellier & Bengio) or
            ``"symmetric"`` (``s^{-beta}`` against ``s^{+beta}``, Laborieux et al.).
        n_free: sweeps of the free phase from rest (>= 1).
        n_nudged: sweeps of each nudged phase, from the free equilibrium (>= 1).
        input_norm: ``"peak"``: the clamped input rates are each sample's spike rates divided
            by those of its most active channel (so latency codes, one spike per channel, become
            binary patterns); ``"none"``: the spike rates per step themselves.

    Raises:
        ValueError: an unknown ``nudging`` (the message lists the choices) or a value out of
            range.

    Example:
        >>> import torch
        >>> from snnlearn.layers import build_network
        >>> net = build_network(4, [8], 2, dt=1e-3, generator=torch.Generator().manual_seed(0))
        >>> rule = EqProp()
        >>> r = rule.simulate(net, (torch.rand(10, 3, 4) < 0.5).float())
        >>> tuple(r.outputs.shape)
        (1, 3, 2)
        >>> rule.assign_grads(net, r, r.outputs.sum(), target=torch.tensor([0, 1, 1]))
        >>> net.layers[0].weight.grad.shape
        torch.Size([8, 4])
    """

    name = "eqprop"
    supports = Support()

    def __init__(self, *, beta: float = 0.5, nudging: Nudging = "symmetric", n_free: int = 30,
                 n_nudged: int = 10, input_norm: InputNorm = "peak") -> None:
        if nudging not in get_args(Nudging):
            raise ValueError(f"nudging must be one of {list(get_args(Nudging))}, got "
                             f"{nudging!r}")
        if input_norm not in get_args(InputNorm):
            raise ValueError(f"input_norm must be one of {list(get_args(InputNorm))}, got "
                             f"{input_norm!r}")
        if not (isinstance(beta, (int, float)) and math.isfinite(beta) and beta > 0):
            raise ValueError(f"beta must be a finite number > 0, got {beta!r}")
        for name, value in (("n_free", n_free), ("n_nudged", n_nudged)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an int >= 1, got {value!r}")
        self.beta, self.nudging = float(beta), nudging
        self.n_free, self.n_nudged = n_free, n_nudged
        self.input_norm: InputNorm = input_norm

    def prepare(self, net: Network, *, generator: torch.Generator | None = None) -> None:
        """Check that ``net`` is a layered rate network EqProp can relax (no state to draw)."""
        couplings(net)

    def simulate(self, net: Network, x: Tensor) -> Rollout:
        """The free phase on input spikes ``x [T, B, n_in]``: output rates as ``[1, B, n_out]``.

        ``rollout.extras`` holds ``"input"`` (the clamped rates ``[B, n_in]``) and ``"free"``
        (every layer's free-phase rates, detached).
        """
        x = net.check_input(x).flatten(2)
        rates = x.mean(0)
        if self.input_norm == "peak":
            rates = rates / rates.amax(-1, keepdim=True).clamp_min(torch.finfo(rates.dtype).tiny)
        with torch.no_grad():
            cs = couplings(net)
            free = eqprop_relax(cs, rates, _rest(cs, rates), sweeps=self.n_free)
        return Rollout(outputs=free[-1].unsqueeze(0), spikes=(), membranes=(),
                       final_state=(), extras=MappingProxyType({"input": rates,
                                                                "free": tuple(free)}))

    def gradient_estimate(self, net: Network, rates: Tensor, free: Sequence[Tensor],
                          target: Tensor, *, beta: float | None = None) -> None:
        """Write the EqProp estimate of ``d C(s^0) / d theta`` (batch mean) into ``.grad``.

        Args:
            net: the network.
            rates: clamped input rates ``[B, n_in]``.
            free: the free equilibrium (``rollout.extras["free"]``).
            target: the output target ``y`` ``[B, n_out]``.
            beta: nudging strength (default: the rule's).
        """
        beta = self.beta if beta is None else beta
        with torch.no_grad():
            cs = couplings(net)
            plus = eqprop_relax(cs, rates, free, sweeps=self.n_nudged, beta=beta, target=target)
            if self.nudging == "symmetric":
                minus = eqprop_relax(cs, rates, free, sweeps=self.n_nudged, beta=-beta,
                                     target=target)
                span = 2.0 * beta
            else:
                minus, span = list(free), beta
        for p in net.parameters():
            p.grad = None
        cs = couplings(net)
        contrast = (eqprop_energy(cs, rates, plus) - eqprop_energy(cs, rates, minus))
        (contrast / (span * rates.shape[0])).backward()

    def assign_grads(
        self, net: Network, rollout: Rollout, loss: Tensor, *, target: Tensor | None = None
    ) -> None:
        """Run the nudged phase(s) towards the one-hot ``target`` labels and write the update.

        ``loss`` is not used (the update estimates the gradient of the squared error ``C`` of the
        output rates).

        Raises:
            ValueError: no labels, or a rollout that :meth:`simulate` did not make.
        """
        if target is None or "free" not in rollout.extras:
            raise ValueError("eqprop.assign_grads needs the labels (target=) and the rollout of "
                             "EqProp.simulate (its free equilibrium)")
        free = rollout.extras["free"]
        onehot = F.one_hot(target.long(), free[-1].shape[-1]).to(free[-1].dtype)
        self.gradient_estimate(net, rollout.extras["input"], free, onehot)
