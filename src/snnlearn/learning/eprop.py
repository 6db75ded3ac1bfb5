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

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Literal, NamedTuple, get_args

import torch
import torch.nn.functional as F
from torch import Tensor

from snnlearn.layers import Network, Readout, SpikingDense
from snnlearn.layers.dense import init_uniform_
from snnlearn.learning.base import LearningRule, Rollout
from snnlearn.neurons import ALIFParams, LIFParams, LIFState, lif_integrate
from snnlearn.neurons._checks import decay
from snnlearn.simulate import check_input_sequence, unroll

__all__ = ["EProp", "EPropOptions", "EPropOnline", "EligibilityTrace", "Feedback"]

Feedback = Literal["symmetric", "random"]
ErrorFn = Callable[[int, Tensor], Tensor]


@dataclass(frozen=True)
class EPropOptions:
    """Options of :class:`EProp`.

    Args:
        feedback: ``"symmetric"`` (``W_out`` and the forward weights above) or ``"random"``
            (fixed random ``B_l`` drawn in ``prepare``).
        online: in the runner, replay the simulation forward in time with traces constant in
            ``T`` (true) or store per-step activations during ``simulate`` (false).

    Raises:
        ValueError: an unknown ``feedback`` or a non-bool ``online``.
    """

    feedback: Feedback = "symmetric"
    online: bool = True

    def __post_init__(self) -> None:
        if self.feedback not in get_args(Feedback):
            raise ValueError(
                f"EProp feedback must be one of {list(get_args(Feedback))}, got {self.feedback!r}"
            )
        if not isinstance(self.online, bool):
            raise ValueError(f"EProp online must be True or False, got {self.online!r}")


class EligibilityTrace(NamedTuple):
    """Forward-in-time state of one layer's e-prop traces (``P`` presynaptic signals).

    Attributes:
        current: ``epsilon_I`` ``[B, P]`` (synaptic current; the presynaptic signal without one).
        membrane: ``epsilon_v`` ``[B, N, P]`` (``None`` for the readout).
        adaptation: ``epsilon_a`` ``[B, N, P]`` (ALIF only, else ``None``).
        synapse: first stage of the readout kernel (``None`` without a readout synapse).
        filtered: ``ebar`` ``[B, N, P]`` or, for deeper symmetric layers, ``[B, n_out, N, P]``.
    """

    current: Tensor | None
    membrane: Tensor | None
    adaptation: Tensor | None
    synapse: Tensor | None
    filtered: Tensor


class EPropOnline(NamedTuple):
    """Result of :meth:`EProp.online_gradients` (nothing in it has a time dimension).

    Attributes:
        final_state: the network state after the last step.
        traces: the final :class:`EligibilityTrace` of each hidden layer, then of the readout.
    """

    final_state: tuple[Any, ...]
    traces: tuple[EligibilityTrace, ...]


class _Local(NamedTuple):
    """One hidden step's local quantities ``[B, N]`` (``presyn [B, P]``; ``active``: not refr.)."""

    presyn: Tensor
    z: Tensor
    psi: Tensor
    u: Tensor
    active: Tensor | None


class _Kernel(NamedTuple):
    """The readout's impulse response ``h``: synapse decay, membrane decay ``kappa``, gain ``c``."""

    a_syn: float | None
    kappa: float
    gain: float

    def forward(self, syn: Tensor | None, bar: Tensor, x: Tensor) -> tuple[Tensor | None, Tensor]:
        """One step of ``bar = h * x`` (causal filtering)."""
        syn = None if self.a_syn is None else self.a_syn * syn + x
        return syn, self.kappa * bar + self.gain * (x if syn is None else syn)

    def adjoint(self, g: Tensor) -> Tensor:
        """``lambda^t = sum_{t' >= t} h(t' - t) g^{t'}`` for ``g [T, ...]`` (anti-causal)."""
        lam, mem, syn = torch.empty_like(g), torch.zeros_like(g[0]), torch.zeros_like(g[0])
        for t in range(g.shape[0] - 1, -1, -1):
            mem = self.kappa * mem + g[t]
            syn = self.gain * mem + (0.0 if self.a_syn is None else self.a_syn * syn)
            lam[t] = syn
        return lam


def _lif(layer: SpikingDense) -> LIFParams:
    n = layer.neuron
    return n.lif if isinstance(n, ALIFParams) else n


def _gain(layer: SpikingDense, dt: float) -> float:
    """``c = (1 - a_m) R``: the membrane's response to one step of unit current."""
    return (1.0 - decay(dt, _lif(layer).tau_mem)) * _lif(layer).r


def _readout_kernel(readout: Readout, dt: float) -> _Kernel:
    p = readout.neuron
    kappa = decay(dt, p.tau_mem)
    return _Kernel(None if p.tau_syn is None else decay(dt, p.tau_syn), kappa, (1 - kappa) * p.r)


def _full_weight(layer: SpikingDense | Readout) -> Tensor:
    """``[W | W_rec (zero diagonal) | b]``: the weights acting on :func:`_presyn`, ``[N, P]``."""
    parts = [layer.weight]
    if getattr(layer, "recurrent_weight", None) is not None:
        w = layer.recurrent_weight
        parts.append(w - torch.diag_embed(torch.diagonal(w)))
    if layer.bias is not None:
        parts.append(layer.bias[:, None])
    return torch.cat(parts, dim=1)


def _presyn(layer: SpikingDense | Readout, x: Tensor, z_prev: Tensor | None) -> Tensor:
    """The presynaptic signals ``[x | z_{t-1} | 1]`` of a layer, ``[B, P]``."""
    parts = [x]
    if getattr(layer, "recurrent_weight", None) is not None:
        parts.append(z_prev)
    if layer.bias is not None:
        parts.append(x.new_ones(x.shape[0], 1))
    return torch.cat(parts, dim=1) if len(parts) > 1 else x


def _split_grad(layer: SpikingDense | Readout, grad: Tensor) -> list[tuple[Tensor, Tensor]]:
    """Map a ``[N, P]`` gradient of :func:`_full_weight` back to the layer's parameters."""
    out, n = [(layer.weight, grad[:, :layer.n_in])], layer.n_in
    if getattr(layer, "recurrent_weight", None) is not None:
        rec = grad[:, n:n + layer.n_out].clone()
        out.append((layer.recurrent_weight, rec.fill_diagonal_(0.0)))
        n += layer.n_out
    if layer.bias is not None:
        out.append((layer.bias, grad[:, n]))
    return out


def _hidden_step(
    layer: SpikingDense, weight: Tensor, x: Tensor, state: Any, dt: float
) -> tuple[Tensor, Any, _Local]:
    """One step of a hidden layer (its neuron's own step function) and its local derivatives."""
    presyn = _presyn(layer, x, state.z)
    current = F.linear(presyn, weight)
    z, new_state = layer.neuron.step(current, state, dt)
    lif = _lif(layer)
    u = lif_integrate(current, LIFState(*state[:4]), lif, dt).v
    threshold = lif.v_th
    if isinstance(layer.neuron, ALIFParams):
        threshold = lif.v_th + layer.neuron.adaptation * state.a
    psi, active = lif.surrogate.derivative(u - threshold), None
    if lif.t_ref > 0:
        active = (state.refractory <= 0.5 * dt).to(psi.dtype)  # as in lif_integrate / lif_fire
        psi = psi * active
    return z, new_state, _Local(presyn, z, psi, u, active)


def _eligibility_step(
    tr: EligibilityTrace, loc: _Local, layer: SpikingDense, dt: float
) -> tuple[Tensor, EligibilityTrace]:
    """Advance ``epsilon_I, epsilon_v, epsilon_a`` by one step; returns ``(e^t, traces)``."""
    lif = _lif(layer)
    a_m = decay(dt, lif.tau_mem)
    eps_i = loc.presyn if lif.tau_syn is None else decay(dt, lif.tau_syn) * tr.current + loc.presyn
    eps_u = a_m * tr.membrane + ((1.0 - a_m) * lif.r) * eps_i[:, None, :]
    if loc.active is not None:  # the membrane is held while refractory
        eps_u = torch.where(loc.active[..., None] > 0, eps_u, tr.membrane)
    alif = layer.neuron if isinstance(layer.neuron, ALIFParams) else None
    drive = eps_u if alif is None else eps_u - alif.adaptation * tr.adaptation
    e = loc.psi[..., None] * drive
    if lif.reset == "subtract":
        eps_v = eps_u if lif.detach_reset else eps_u - (lif.v_th - lif.v_reset) * e
    else:
        eps_v = (1.0 - loc.z)[..., None] * eps_u
        if not lif.detach_reset:
            eps_v = eps_v - (loc.u - lif.v_reset)[..., None] * e
    eps_a = None
    if alif is not None:
        rho = decay(dt, alif.tau_adapt)
        eps_a = rho * tr.adaptation + (1.0 - rho) * e
    return e, tr._replace(current=eps_i, membrane=eps_v, adaptation=eps_a)


def _split_network(net: Network) -> tuple[list[SpikingDense], Readout]:
    """The hidden layers and the readout; raise ``ValueError`` for unsupported networks."""
    layers = list(net.layers)
    if len(layers) < 2 or not isinstance(layers[-1], Readout):
        raise ValueError(
            "e-prop needs at least one hidden SpikingDense layer followed by a Readout (LI) "
            f"layer, got layers {[type(m).__name__ for m in layers]}; build the network with "
            "build_network(..., spiking_output=False)"
        )
    return layers[:-1], layers[-1]  # type: ignore[return-value]


def _network_step(
    net: Network, weights: Sequence[Tensor], x_t: Tensor, state: tuple[Any, ...]
) -> tuple[Tensor, tuple[Any, ...], list[_Local], Tensor]:
    """One network step: ``(y_t, new_state, per-hidden-layer locals, readout presyn)``."""
    hidden, readout = _split_network(net)
    new_state, locs, inp = [], [], x_t
    for layer, w, s in zip(hidden, weights, state, strict=False):
        inp, s, loc = _hidden_step(layer, w, inp, s, net.dt)
        new_state.append(s)
        locs.append(loc)
    r = _presyn(readout, inp, None)
    y, s = readout.step(F.linear(r, weights[-1]), state[-1], net.dt)
    return y, (*new_state, s), locs, r


def _zero_trace(layer: SpikingDense | Readout, p: int, filtered: tuple[int, ...],
                kernel: _Kernel, like: Tensor) -> EligibilityTrace:
    """Zero traces for ``like [B, ...]``, ``p`` presynaptic signals, ``filtered`` ebar shape."""
    hidden = isinstance(layer, SpikingDense)
    shape = (like.shape[0], layer.n_out, p)
    return EligibilityTrace(
        current=like.new_zeros(like.shape[0], p) if hidden else None,
        membrane=like.new_zeros(shape) if hidden else None,
        adaptation=like.new_zeros(shape) if isinstance(layer.neuron, ALIFParams) else None,
        synapse=None if kernel.a_syn is None else like.new_zeros(filtered),
        filtered=like.new_zeros(filtered),
    )


def _online_pass(
    net: Network, x: Tensor, weights: Sequence[Tensor], feedback: Sequence[Tensor] | None,
    output_error: ErrorFn, spike_error: Callable[[int], Sequence[Tensor | None]] | None = None,
) -> tuple[list[Tensor], EPropOnline]:
    """Forward-in-time e-prop: gradients ``[N, P]`` of every layer's :func:`_full_weight`."""
    hidden, readout = _split_network(net)
    kernel, top, batch = _readout_kernel(readout, net.dt), len(hidden) - 1, x.shape[1]
    fixed = [readout.weight if feedback is None and k == top else
             (None if feedback is None else feedback[k]) for k in range(len(hidden))]
    traces = []
    for k, layer in enumerate(hidden):
        p = weights[k].shape[1]
        per_unit = () if fixed[k] is not None else (readout.n_out,)
        traces.append(_zero_trace(layer, p, (batch, *per_unit, layer.n_out, p), kernel, x[0]))
    r_trace = _zero_trace(readout, weights[-1].shape[1], (batch, weights[-1].shape[1]), kernel,
                          x[0])
    grads = [torch.zeros_like(w) for w in weights]
    state = net.initial_state(batch, device=x.device, dtype=x.dtype)
    for t in range(x.shape[0]):
        y, state, locs, r = _network_step(net, weights, x[t], state)
        with torch.enable_grad():
            g = output_error(t, y)
        if not isinstance(g, Tensor) or g.shape != y.shape:
            raise ValueError(
                f"error_fn must return dE/dy_t as a tensor of the output's shape "
                f"{tuple(y.shape)}, got {tuple(g.shape) if isinstance(g, Tensor) else g!r}"
            )
        syn, bar = kernel.forward(r_trace.synapse, r_trace.filtered, r)
        r_trace = r_trace._replace(synapse=syn, filtered=bar)
        grads[-1] += g.T @ bar
        direct = spike_error(t) if spike_error is not None else [None] * len(hidden)
        chain = readout.weight.expand(batch, *readout.weight.shape)  # G of layer k + 1
        for k in range(top, -1, -1):
            e, tr = _eligibility_step(traces[k], locs[k], hidden[k], net.dt)
            if fixed[k] is not None:
                syn, bar = kernel.forward(tr.synapse, tr.filtered, e)
                grads[k] += torch.einsum("bn,bnp->np", g @ fixed[k], bar)
            else:
                upper = hidden[k + 1]
                chain = (chain * (_gain(upper, net.dt) * locs[k + 1].psi)[:, None]) @ upper.weight
                syn, bar = kernel.forward(tr.synapse, tr.filtered, chain[..., None] * e[:, None])
                grads[k] += torch.einsum("bk,bknp->np", g, bar)
            if direct[k] is not None:
                grads[k] += torch.einsum("bn,bnp->np", direct[k], e)
            traces[k] = tr._replace(synapse=syn, filtered=bar)
    return grads, EPropOnline(final_state=state, traces=(*traces, r_trace))


def _offline_grads(
    net: Network, weights: Sequence[Tensor], feedback: Sequence[Tensor] | None,
    records: Sequence[_Local], readout_presyn: Tensor, g: Tensor,
    direct: Sequence[Tensor | None],
) -> list[Tensor]:
    """e-prop from stored per-step locals: ``sum_t L^t e^t`` with ``lambda`` filtered backwards."""
    hidden, readout = _split_network(net)
    lam = _readout_kernel(readout, net.dt).adjoint(g)
    grads = [torch.zeros_like(w) for w in weights]
    grads[-1] = torch.einsum("tbk,tbp->kp", lam, readout_presyn)
    signal = lam @ readout.weight
    for k in range(len(hidden) - 1, -1, -1):
        if feedback is not None:
            signal = lam @ feedback[k]
        elif k < len(hidden) - 1:
            upper = hidden[k + 1]
            signal = (signal * _gain(upper, net.dt) * records[k + 1].psi) @ upper.weight
        total = signal if direct[k] is None else signal + direct[k]
        rec = records[k]
        tr = _zero_trace(hidden[k], weights[k].shape[1], (1,), _Kernel(None, 0.0, 0.0), g[0])
        for t in range(g.shape[0]):
            loc = _Local(*(None if f is None else f[t] for f in rec))
            e, tr = _eligibility_step(tr, loc, hidden[k], net.dt)
            grads[k] += torch.einsum("bn,bnp->np", total[t], e)
    return grads


def _write_grads(net: Network, grads: Sequence[Tensor]) -> None:
    for p in net.parameters():
        p.grad = None
    for layer, grad in zip(net.layers, grads, strict=True):
        for param, value in _split_grad(layer, grad):
            param.grad = value.contiguous().clone()


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

    def __init__(self, *, feedback: Feedback = "symmetric", online: bool = True) -> None:
        self.options = EPropOptions(feedback=feedback, online=online)
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

    def assign_grads(self, net: Network, rollout: Rollout, loss: Tensor) -> None:
        """Write the e-prop direction for ``loss`` (a function of ``rollout``) into ``p.grad``."""
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

    def online_gradients(self, net: Network, x: Tensor, error_fn: ErrorFn) -> EPropOnline:
        """Simulate ``net`` on ``x`` and write the e-prop gradient to ``.grad``, online.

        The loss is ``E = sum_t E_t(y_t)``; ``error_fn(t, y_t)`` returns ``dE_t/dy_t``
        ``[B, n_out]`` as soon as step ``t`` is simulated (for an autograd-defined ``E_t``:
        ``y = y_t.detach().requires_grad_(); torch.autograd.grad(E_t(y), y)[0]``). Nothing with
        a time dimension is stored; gradients are accumulated on the fly.

        Args:
            net: the network (hidden SpikingDense layers, then a Readout).
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
