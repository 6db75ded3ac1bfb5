r"""e-prop (eligibility propagation): online, forward-in-time learning for spiking networks.

For a weight ``W_ji`` into hidden neuron ``j`` from a presynaptic signal ``s_i`` (an input or
lower-layer spike ``x_i^t``, a recurrent spike ``z_i^{t-1}``, or the constant 1 of a bias):

.. math::

    \frac{dE}{dW_{ji}} \approx \sum_t L_j^t \, e_{ji}^t, \qquad
    e_{ji}^t = \psi_j^t \, \big(\epsilon_{u,ji}^t - \beta \, \epsilon_{a,ji}^{t-1}\big), \qquad
    \psi_j^t = \sigma'(u_j^t - A_j^t)

The eligibility vector follows the neuron's own dynamics exactly (``a_s, a_m`` decays, ``c =
(1 - a_m) R``, ``A = v_th + \beta a`` with ``\beta = 0`` for LIF, ``\rho = e^{-dt/\tau_{adapt}}``):
``\epsilon_I^t = a_s \epsilon_I^{t-1} + s_i^t``, ``\epsilon_u^t = a_m \epsilon_v^{t-1} + c
\epsilon_I^t`` (``\epsilon_v^{t-1}`` while refractory), ``\epsilon_v^t = \epsilon_u^t -
(v_{th} - v_{reset}) e^t`` (subtract) or ``(1 - z^t) \epsilon_u^t - (u^t - v_{reset}) e^t`` (hard;
the ``e^t`` term is dropped with ``detach_reset``), ``\epsilon_a^t = \rho \epsilon_a^{t-1} +
(1 - \rho) e^t``. The learning signal comes from the readout error ``g^t = \partial E /
\partial y^t`` through the readout's kernel ``h(d) = c_{out} \sum_{n=0}^{d} \kappa^{d-n}
a_{s,out}^n`` (its LI membrane and synapse): ``\lambda^t = \sum_{t' \ge t} h(t' - t) g^{t'}`` and

- ``feedback="symmetric"``: ``L^{top,t} = W_{out}^T \lambda^t``; a deeper layer ``l`` receives
  ``L^{l,t} = W_{l+1}^T (c_{l+1} \psi^{l+1,t} \odot L^{l+1,t})``, the error through the layers
  above within the same step;
- ``feedback="random"``: ``L^{l,t} = B_l^T \lambda^t`` with a fixed random ``B_l [n_out, N_l]``
  per hidden layer, drawn in :meth:`EProp.prepare` (uniform, standard deviation
  ``weight_scale / sqrt(N_l)`` of the readout).

A direct dependence of ``E`` on spikes (an activity regulariser) adds ``\partial E/\partial
z_j^t`` to that layer's ``L_j^t`` only. The readout gets its exact gradient ``\sum_t g^t (h *
s_{out})^t``. Online (forward in time) the sum is ``\sum_t g^t \bar e^t`` with ``\bar e = h * (G
e)`` (``G = W_{out}`` or ``B_l``, constant, so ``\bar e = h * e``; deeper symmetric layers keep
``\bar e`` per output unit); offline it is ``\sum_t L^t e^t`` with ``\lambda`` filtered backwards.
The two are equal (exchange of the sums over ``t`` and ``t'``; tested to 1e-10).

Exact and approximated: for one feed-forward hidden layer (LIF or ALIF, either reset,
``detach_reset``, refractoriness, synaptic current) with symmetric feedback this is the BPTT
gradient of the surrogate network for any loss of the readout trace. Approximated: the effect of
``z_j^t`` on later states of *other* neurons (recurrent synapses: the e-prop approximation; for
deeper layers also the memory and recurrence of the layers above); random feedback replaces
``W_{out}`` and the layers above by ``B_l``.

Memory: :meth:`EProp.online_gradients` keeps ``\epsilon_I [B, P]`` and ``\epsilon_v``,
``\epsilon_a`` (ALIF), ``\bar e`` (two stages with a readout synapse) ``[B, N, P]`` per hidden
layer (``\bar e`` is ``[B, n_out, N, P]`` for deeper symmetric layers): constant in ``T``. The
runner's loss is known only after the sequence: with ``online=True`` the rule keeps ``x``, the
rollout's outputs and spikes (``O(T B (n_in + n_out + N))``, no traces) and replays the
simulation forward in time in :meth:`EProp.assign_grads`; with ``online=False`` it stores per
step the presynaptic signals, ``z``, ``\psi``, ``u`` (``O(T B (P + 3N))``) and simulates once.

Supported: LIF and ALIF hidden layers (feed-forward or recurrent, with or without bias) ending in
an LI :class:`~snnlearn.layers.Readout`.

References:
    Bellec, G., Scherr, F., Subramoney, A., Hajek, E., Salaj, D., Legenstein, R. & Maass, W.
    (2020). A solution to the learning dilemma for recurrent networks of spiking neurons. Nature
    Communications 11, 3625. doi:10.1038/s41467-020-17236-y
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal, get_args

import torch
from torch import Tensor

from snnlearn.layers import Network
from snnlearn.layers.dense import init_uniform_
from snnlearn.learning._eprop_factorized import (
    factorized_grads,
    factorized_simulate,
    supports_factorized,
)
from snnlearn.learning._eprop_traces import (
    EligibilityTrace,
    EPropOnline,
    ErrorFn,
    _full_weight,
    _Local,
    _network_step,
    _offline_grads,
    _online_pass,
    _split_network,
    _write_grads,
)
from snnlearn.learning.base import LearningRule, Rollout, Support
from snnlearn.simulate import check_input_sequence, unroll

__all__ = ["EProp", "EPropOptions", "EPropOnline", "EligibilityTrace", "Feedback"]

Feedback = Literal["symmetric", "random"]
Traces = Literal["factorized", "exact"]



@dataclass(frozen=True)
class EPropOptions:
    """Options of :class:`EProp`.

    Args:
        feedback: ``"symmetric"`` (``W_out`` and the forward weights above) or ``"random"``
            (fixed random ``B_l`` drawn in ``prepare``).
        online: with ``traces="exact"``: in the runner, replay the simulation forward in time
            with traces constant in ``T`` (true) or store per-step activations during
            ``simulate`` (false).
        traces: ``"factorized"`` (default for dense LIF and ALIF hidden layers: the canonical
            e-prop trace ``psi_j * filtered presynaptic signal``, reset left out, the ALIF
            adaptation trace folded in by one reverse scan, computed as fused sequence ops;
            :mod:`snnlearn.learning._eprop_factorized`) or ``"exact"`` (the per-synapse
            eligibility vectors below, reset included).

    Raises:
        ValueError: an unknown ``feedback`` or a non-bool ``online``.
    """

    feedback: Feedback = "symmetric"
    online: bool = True
    traces: Traces = "factorized"

    def __post_init__(self) -> None:
        if self.traces not in get_args(Traces):
            raise ValueError(
                f"EProp traces must be one of {list(get_args(Traces))}, got {self.traces!r}")
        if self.feedback not in get_args(Feedback):
            raise ValueError(
                f"EProp feedback must be one of {list(get_args(Feedback))}, got {self.feedback!r}"
            )
        if not isinstance(self.online, bool):
            raise ValueError(f"EProp online must be True or False, got {self.online!r}")



class EProp(LearningRule):
    """e-prop: eligibility traces forward in time times a learning signal from the readout error.

    Args:
        feedback: ``"symmetric"`` or ``"random"`` (see :class:`EPropOptions`).
        online: replay forward in time with constant-in-``T`` traces (true) or store per-step
            activations during :meth:`simulate` (false); both give the same gradients.

    Raises:
        ValueError: an invalid option.

    Example:
        >>> import torch
        >>> from snnlearn.layers import build_network
        >>> net = build_network(3, [8], 2, dt=1e-3, generator=torch.Generator().manual_seed(0))
        >>> rule = EProp()
        >>> rule.prepare(net, generator=torch.Generator().manual_seed(1))
        >>> r = rule.simulate(net, torch.rand(5, 4, 3))
        >>> rule.assign_grads(net, r, r.outputs.square().sum())
        >>> tuple(net.layers[0].weight.grad.shape)
        (8, 3)

    References:
        Bellec, G. et al. (2020). A solution to the learning dilemma for recurrent networks of
        spiking neurons. Nature Communications 11, 3625. doi:10.1038/s41467-020-17236-y
    """

    name = "eprop"
    supports = Support(neurons=frozenset({"lif", "alif"}), recurrent=True)

    def __init__(self, *, feedback: Feedback = "symmetric", online: bool = True,
                 traces: Traces = "factorized") -> None:
        self.options = EPropOptions(feedback=feedback, online=online, traces=traces)
        self._feedback: tuple[Tensor, ...] = ()

    @property
    def feedback_weights(self) -> tuple[Tensor, ...]:
        """The random ``B_l [n_out, N_l]`` of each hidden layer (empty for symmetric feedback)."""
        return self._feedback

    def prepare(self, net: Network, *, generator: torch.Generator | None = None) -> None:
        """Check the network; with random feedback draw ``B_l`` from ``generator``.

        ``B_l`` is uniform with standard deviation ``weight_scale / sqrt(N_l)`` (``weight_scale``
        of the readout), drawn on the CPU and moved to the readout's device and dtype.
        """
        hidden, readout = _split_network(net)
        if self.options.feedback == "symmetric":
            self._feedback = ()
            return
        mats = []
        for layer in hidden:
            b = torch.empty(readout.n_out, layer.n_out, dtype=readout.weight.dtype)
            init_uniform_(b, readout.weight_scale, generator)
            mats.append(b.to(readout.weight.device))
        self._feedback = tuple(mats)

    def _feedback_for(self, net: Network, x: Tensor | None = None) -> tuple[Tensor, ...] | None:
        """Validate ``net`` (and ``x``); return the random ``B_l`` or ``None`` (symmetric)."""
        hidden, readout = _split_network(net)
        if x is not None:
            check_input_sequence(x, net.n_in, net.layers[0].weight.dtype)
            if x.shape[0] == 0:
                raise ValueError(f"x needs at least one time step, got shape {tuple(x.shape)}")
        if self.options.feedback == "symmetric":
            return None
        shapes = [(readout.n_out, layer.n_out) for layer in hidden]
        if [tuple(b.shape) for b in self._feedback] != shapes:
            raise ValueError(
                f"EProp(feedback='random') has feedback matrices of shapes "
                f"{[tuple(b.shape) for b in self._feedback]} but the network needs {shapes}; "
                "call rule.prepare(net, generator=...) before training"
            )
        return self._feedback

    def simulate(self, net: Network, x: Tensor) -> Rollout:
        """Run ``net`` step by step without autograd, recording what :meth:`assign_grads` needs.

        ``outputs`` and ``spikes`` are returned as leaf tensors that require grad, so that the
        loss's ``dE/dy`` (and any direct ``dE/dz``) can be read by autograd.
        """
        self._feedback_for(net, x)
        if self._factorized(net):
            return factorized_simulate(net, x)
        if self.options.online:  # the dynamics only; assign_grads replays them with traces
            with torch.no_grad():
                run = unroll(net, x, check=False)
            return Rollout(outputs=run.outputs.requires_grad_(),
                           spikes=tuple(s.requires_grad_() for s in run.spikes), membranes=(),
                           final_state=run.final_state,
                           extras=MappingProxyType({"eprop_input": x}))
        with torch.no_grad():
            weights = [_full_weight(m) for m in net.layers]
            state = net.initial_state(x.shape[1], device=x.device, dtype=x.dtype)
            ys, steps, presyn = [], [], []
            for t in range(x.shape[0]):
                y, state, locs, r = _network_step(net, weights, x[t], state)
                ys.append(y)
                steps.append(locs)
                presyn.append(r)
        records = [_Local(*(None if f[0] is None else torch.stack(f)
                            for f in zip(*per_layer, strict=True)))
                   for per_layer in zip(*steps, strict=True)]
        extras = {"eprop_records": tuple(records), "eprop_readout_input": torch.stack(presyn)}
        return Rollout(outputs=torch.stack(ys).requires_grad_(),
                       spikes=tuple(rec.z.requires_grad_() for rec in records), membranes=(),
                       final_state=tuple(state), extras=MappingProxyType(extras))

    def assign_grads(
        self, net: Network, rollout: Rollout, loss: Tensor, *, target: Tensor | None = None
    ) -> None:
        """Write the e-prop direction for ``loss`` (a function of ``rollout``) into ``p.grad``."""
        if self._factorized(net):
            if not rollout.records:
                raise ValueError("assign_grads needs the Rollout returned by this rule's "
                                 "simulate (it has no records)")
            factorized_grads(net, rollout, loss, self._feedback_for(net))
            return
        key = "eprop_input" if self.options.online else "eprop_records"
        if key not in rollout.extras:
            raise ValueError(
                f"assign_grads needs the Rollout returned by this rule's simulate (online="
                f"{self.options.online}); it has no {key!r} in extras"
            )
        if not (isinstance(loss, Tensor) and loss.requires_grad):
            raise ValueError("loss must be a tensor computed from rollout.outputs (requires grad)")
        found = torch.autograd.grad(loss, [rollout.outputs, *rollout.spikes], allow_unused=True)
        g = found[0] if found[0] is not None else torch.zeros_like(rollout.outputs)
        direct = list(found[1:])
        feedback = self._feedback_for(net)
        with torch.no_grad():
            weights = [_full_weight(m) for m in net.layers]
            if self.options.online:
                grads, _ = _online_pass(
                    net, rollout.extras[key], weights, feedback, lambda t, y: g[t],
                    lambda t: [None if d is None else d[t] for d in direct],
                )
            else:
                grads = _offline_grads(net, weights, feedback, rollout.extras[key],
                                       rollout.extras["eprop_readout_input"], g, direct)
        _write_grads(net, grads)

    def _factorized(self, net: Network) -> bool:
        return self.options.traces == "factorized" and supports_factorized(net)

    def online_gradients(self, net: Network, x: Tensor, error_fn: ErrorFn) -> EPropOnline:
        """Simulate ``net`` on ``x`` and write the e-prop gradient to ``.grad``, online.

        The loss is ``E = sum_t E_t(y_t)``; ``error_fn(t, y_t)`` returns ``dE_t/dy_t``
        ``[B, n_out]`` as soon as step ``t`` is simulated (for an autograd-defined ``E_t``:
        ``y = y_t.detach().requires_grad_(); torch.autograd.grad(E_t(y), y)[0]``). Nothing with
        a time dimension is stored; gradients are accumulated on the fly.

        Args:
            net: the network (hidden SpikingLayer layers, then a Readout).
            x: input ``[T, B, n_in]``.
            error_fn: ``(t, y_t) -> dE/dy_t``.

        Returns:
            An :class:`EPropOnline` with the final state and the final traces.

        Raises:
            ValueError: an unsupported network, an invalid input, an ``error_fn`` result of the
                wrong shape, or random feedback without :meth:`prepare`.
        """
        feedback = self._feedback_for(net, x)
        with torch.no_grad():
            weights = [_full_weight(m) for m in net.layers]
            grads, result = _online_pass(net, x, weights, feedback, error_fn)
        _write_grads(net, grads)
        return result
