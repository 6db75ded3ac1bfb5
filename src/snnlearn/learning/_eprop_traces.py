"""e-prop's trace machinery (private): eligibility traces, learning signals and their filters.

The equations are in :mod:`snnlearn.learning.eprop`; this module holds the forward-in-time
(online) and stored (offline) evaluations that :class:`~snnlearn.learning.eprop.EProp` uses.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

from snnlearn.layers import Network, Readout, SpikingLayer
from snnlearn.neurons import ALIFParams, LIFParams, LIFState, lif_integrate
from snnlearn.neurons._checks import decay

__all__ = ["EligibilityTrace", "EPropOnline", "ErrorFn"]

ErrorFn = Callable[[int, Tensor], Tensor]


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


def _lif(layer: SpikingLayer) -> LIFParams:
    n = layer.neuron
    return n.lif if isinstance(n, ALIFParams) else n


def _gain(layer: SpikingLayer, dt: float) -> float:
    """``c = (1 - a_m) R``: the membrane's response to one step of unit current."""
    return (1.0 - decay(dt, _lif(layer).tau_mem)) * _lif(layer).r


def _readout_kernel(readout: Readout, dt: float) -> _Kernel:
    p = readout.neuron
    kappa = decay(dt, p.tau_mem)
    return _Kernel(None if p.tau_syn is None else decay(dt, p.tau_syn), kappa, (1 - kappa) * p.r)


def _full_weight(layer: SpikingLayer | Readout) -> Tensor:
    """``[W | W_rec (zero diagonal) | b]``: the weights acting on :func:`_presyn`, ``[N, P]``."""
    parts = [layer.weight]
    if getattr(layer, "recurrent_weight", None) is not None:
        w = layer.recurrent_weight
        parts.append(w - torch.diag_embed(torch.diagonal(w)))
    if layer.bias is not None:
        parts.append(layer.bias[:, None])
    return torch.cat(parts, dim=1)


def _presyn(layer: SpikingLayer | Readout, x: Tensor, z_prev: Tensor | None) -> Tensor:
    """The presynaptic signals ``[x | z_{t-1} | 1]`` of a layer, ``[B, P]``."""
    parts = [x]
    if getattr(layer, "recurrent_weight", None) is not None:
        parts.append(z_prev)
    if layer.bias is not None:
        parts.append(x.new_ones(x.shape[0], 1))
    return torch.cat(parts, dim=1) if len(parts) > 1 else x


def _split_grad(layer: SpikingLayer | Readout, grad: Tensor) -> list[tuple[Tensor, Tensor]]:
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
    layer: SpikingLayer, weight: Tensor, x: Tensor, state: Any, dt: float
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
    tr: EligibilityTrace, loc: _Local, layer: SpikingLayer, dt: float
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


def _split_network(net: Network) -> tuple[list[SpikingLayer], Readout]:
    """The hidden layers and the readout; raise ``ValueError`` for unsupported networks."""
    layers = list(net.layers)
    if len(layers) < 2 or not isinstance(layers[-1], Readout):
        raise ValueError(
            "e-prop needs at least one hidden SpikingLayer layer followed by a Readout (LI) "
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


def _zero_trace(layer: SpikingLayer | Readout, p: int, filtered: tuple[int, ...],
                kernel: _Kernel, like: Tensor) -> EligibilityTrace:
    """Zero traces for ``like [B, ...]``, ``p`` presynaptic signals, ``filtered`` ebar shape."""
    hidden = isinstance(layer, SpikingLayer)
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

