r"""EventProp: gradients of spiking networks by the adjoint method through the spike times.

Two modes (:class:`EventProp`): ``"grid"`` (default) runs the network's own discrete model
(``unroll``) and integrates the adjoint below on the simulation grid, with the exact jumps at
the spike steps (equations in :mod:`snnlearn.learning._eventprop_grid`; recurrent layers
supported); ``"exact"``, described here, simulates the continuous-time network with event-exact
spike times and computes the exact gradient of its loss.

Model (continuous time, one layer; ``u = V - v_leak``, ``theta = v_th - v_leak``,
``u_r = v_reset - v_leak``):

.. math::

    \tau_m \dot u = -u + R I, \qquad \tau_s \dot I = -I, \qquad
    I \to I + w_{ij} \text{ at each input event of } j, \qquad
    u(t_s) = \theta,\ \dot u > 0 \Rightarrow \text{spike at } t_s,\ u \to u_r.

At an exact crossing ``u = theta``, so ``reset="subtract"`` (``u -= theta - u_r``) and
``reset="hard"`` give the same state and, below, the same jump of the adjoint: both are
accepted and are one model. Input ``x_n`` (raster ``[T, B, n_in]``) and the bias ``b`` arrive
at grid times ``n dt`` (``I += W x_n + b``); hidden spikes arrive at their exact times. The
readout is the same model without threshold and ``outputs[n] = V((n + 1) dt)`` (end of step
``n``, as in ``unroll``). Between events the flow is exact, ``x(t + h) = Phi(h) x(t)``,
``Phi(h) = [[a_m, R k], [0, a_s]]``, ``a_{m,s} = e^{-h/tau_{m,s}}``,
``k(h) = tau_s (a_m - a_s) / (tau_m - tau_s)`` (``h a_m / tau_m`` if equal). ``u`` is a sum of
two exponentials with at most one extremum ``tau*`` (where ``u = R I``), so the first crossing
in a step is bracketed by ``[0, h]`` or ``[0, tau*]``; it is found by safeguarded Newton to
``1e-13 dt``, the reset applied there and integration continued. Nothing is quantised.

Adjoint: ``lambda = (lambda_V, lambda_I) = dL/d(u, I)(t)``, the total derivative of the loss
with respect to the state, runs backwards from ``lambda(T dt) = 0``:

.. math::

    \dot\lambda_V = \lambda_V / \tau_m, \quad
    \dot\lambda_I = -R \lambda_V / \tau_m + \lambda_I / \tau_s
    \quad (\lambda(t) = \Phi(h)^\top \lambda(t + h)), \quad
    \lambda_V(t_n^-) = \lambda_V(t_n^+) + \partial L / \partial \mathrm{outputs}[n].

An input jump is a translation of ``I``, so ``lambda`` is continuous there and

.. math::

    \frac{dL}{dW_{ij}} = \sum_{k \in \text{events of } j} x_k \lambda_{I,i}(t_k), \quad
    \frac{dL}{db_i} = \sum_n \lambda_{I,i}(n\,dt), \quad
    \frac{\partial L}{\partial t_k} = \lambda(t_k) \cdot (f^- - f^+)
    = \sum_i w_{ij} \Big(\frac{\lambda_{I,i}}{\tau_s} - \frac{R \lambda_{V,i}}{\tau_m}\Big).

At a spike of the neuron itself, ``delta u(t_s^-)`` moves the spike by
``delta t_s = -delta u / u'^-`` and the post-spike state by ``(H f^- - f^+) delta t_s`` (``H``:
the reset's Jacobian, ``diag(0, 1)`` hard, ``diag(1, 1)`` subtract; both give the same result):

.. math::

    \lambda_I^- = \lambda_I^+, \qquad
    \lambda_V^- = \frac{\dot u^+ \lambda_V^+ - \partial L / \partial t_s}{\dot u^-}, \qquad
    \tau_m \dot u^\mp = R I(t_s) - \theta \ \text{or}\ R I(t_s) - u_r.

These are Wunderlich & Pehle's (2021) equations in our parametrisation; their adjoint is scaled
differently (their weight gradient ``-tau_syn sum lambda_I(t_k)`` is our ``sum lambda_I(t_k)``).
Hidden layers have no loss source, so between two spikes ``lambda(t) = Phi(s - t)^T
lambda^-(s)`` with ``s`` the neuron's next spike: the backward pass is one sweep over each
neuron's spikes (vectorised over neurons), the input-event terms are evaluated in closed form
and the bias sum is a matrix geometric series.

Exact: the gradient of the loss of this continuous-time network wherever it is differentiable
(no spike appearing or vanishing, no grazing crossing ``u'^- -> 0``, no tie in a max). The
spike counts ``rollout.spikes`` are piecewise constant, so their exact gradient is zero.
This is not the ``unroll`` model: ``unroll`` holds ``I`` over a step (gain ``(1 - a_m) R``
instead of ``R k(dt)``, about ``dt / (2 tau_s)`` more charge per input) and quantises spike
times; networks trained here are evaluated with ``EventProp(mode="exact").simulate`` (the
runner scores with the rule's ``simulate``).

Memory: saved for the backward pass are five numbers per spike and layer (step, offset in the
step, batch, neuron, ``I(t_s)``) plus references to the input and the weights: O(number of
spikes), independent of ``T``. Transient in the backward pass: the readout adjoint
``[T, B, n_out]`` and, per hidden layer, ``[B N, K]`` (``K``: most spikes of one neuron) and
``[input events, N, K]``. Supported: feed-forward :class:`~snnlearn.layers.SpikingLayer`
layers of ``LIFParams`` with ``tau_syn`` set, ``t_ref = 0`` and ``v_th > v_leak`` (either
reset), ending in a :class:`~snnlearn.layers.Readout` with ``tau_syn`` set; biases allowed.
Surrogates and ``detach_reset`` play no role. Computed in float64 whatever the weights' dtype.

References:
    Wunderlich, T. C. & Pehle, C. (2021). Event-based backpropagation can compute exact gradients
    for spiking neural networks. Scientific Reports 11, 12829. doi:10.1038/s41598-021-91786-z
"""

from __future__ import annotations

import math
from typing import Any, Literal, NamedTuple, get_args

import torch
import torch.nn.functional as F
from torch import Tensor

from snnlearn.kernels.dispatch import numba_available
from snnlearn.layers import Network, Readout, SpikingLayer
from snnlearn.learning._eventprop_exact import _advance, _Dyn, _Events, _flow, _schedule
from snnlearn.learning._eventprop_grid import grid_simulate
from snnlearn.learning.base import LearningRule, Rollout, Support
from snnlearn.neurons import LIFParams, LIFState, LIState
from snnlearn.simulate import check_input_sequence, unroll

__all__ = ["EventProp", "SpikeTimes", "check_eventprop_network"]

F64 = torch.float64


class SpikeTimes(NamedTuple):
    """Exact spike times of one spiking layer (``rollout.extras["spike_times"]``).

    Attributes:
        time: spike times (s, float64) ``[E]``.
        batch: batch index of each spike ``[E]``.
        neuron: neuron index of each spike ``[E]``.
    """

    time: Tensor
    batch: Tensor
    neuron: Tensor


def check_eventprop_network(net: Network, *, recurrent: bool = False) -> list[_Dyn]:
    """Raise ``ValueError`` unless EventProp supports ``net``; return each layer's constants.

    ``recurrent``: accept recurrent spiking layers (the time-grid mode does, the exact mode not).
    """
    if not isinstance(net.layers[-1], Readout):
        raise ValueError("EventProp needs a network ending in a Readout (LI) layer; spiking "
                         "output layers (build_network(..., spiking_output=True)) are unsupported")
    dyns = []
    for k, layer in enumerate(net.layers):
        if not isinstance(layer, (SpikingLayer, Readout)):
            raise ValueError(f"EventProp supports dense spiking layers and a readout only; layer "
                             f"{k} is a {type(layer).__name__}")
        p = layer.neuron
        if isinstance(layer, Readout):
            dyns.append(_Dyn(p.tau_mem, _need_syn(p.tau_syn, k), p.r, math.inf, 0.0, p.v_leak))
            continue
        if layer.synapse.kind != "dense" or layer.graded:
            raise ValueError(f"EventProp supports dense synapses and binary spikes only; layer {k} "
                             f"has {layer.synapse.kind} synapses"
                             f"{' and graded spikes' if layer.graded else ''}")
        if not isinstance(p, LIFParams):
            raise ValueError(f"EventProp supports LIF layers only; layer {k} is "
                             f"{type(p).__name__}")
        if layer.recurrent and not recurrent:
            raise ValueError(f"EventProp mode=exact supports feed-forward layers only; layer {k} "
                             "is recurrent (mode=grid trains recurrent layers)")
        if p.t_ref != 0 or p.v_th <= p.v_leak:
            raise ValueError(
                f"EventProp needs t_ref=0 (no refractoriness) and v_th > v_leak; layer {k} has "
                f"t_ref={p.t_ref!r}, v_th={p.v_th!r}, v_leak={p.v_leak!r}")
        dyns.append(_Dyn(p.tau_mem, _need_syn(p.tau_syn, k), p.r, p.v_th - p.v_leak,
                         p.v_reset - p.v_leak, p.v_leak))
    return dyns


def _need_syn(tau_syn: float | None, k: int) -> float:
    if tau_syn is None:
        raise ValueError(f"EventProp needs current synapses: layer {k} has tau_syn=None; "
                         "set tau_syn (s) in its LIFParams/LIParams")
    return tau_syn


def _lif_forward(w: Tensor, b: Tensor | None, d: _Dyn, dt: float, x: Tensor | None,
                 pre: _Events | None, n_steps: int, batch_size: int
                 ) -> tuple[_Events, Tensor, Tensor]:
    """Event-exact forward pass of one LIF layer; returns its spikes, ``u`` at the end of every
    step ``[T, B, N]`` and the final ``I``.

    On the CPU with numba the compiled loop of :mod:`snnlearn.learning._eventprop_cpu` runs it
    (same equations, per neuron); otherwise the vectorised torch loop below.
    """
    if w.device.type == "cpu" and numba_available():
        from snnlearn.learning._eventprop_cpu import lif_forward_compiled

        ev, u, i = lif_forward_compiled(
            w, b, d.tau_mem, d.tau_syn, d.r, d.theta, d.u_reset, dt, x,
            None if pre is None else (pre.step, pre.offset, pre.batch, pre.neuron),
            n_steps, batch_size)
        return _Events(ev[0], ev[1], ev[2], ev[3], ev[4]), u, i
    u = w.new_zeros(batch_size, w.shape[0])
    i = torch.zeros_like(u)
    sched = _schedule(pre, n_steps, batch_size) if pre is not None else None
    tol = 1e-13 * dt
    records: list[tuple[Tensor, ...]] = []
    grid = u.new_zeros(n_steps, *u.shape)
    for n in range(n_steps):
        if x is not None:
            i = i + F.linear(x[n].to(F64), w, b)
        elif b is not None:
            i = i + b
        t = u.new_zeros(batch_size, 1)
        out: list[tuple[Tensor, Tensor, Tensor]] = []
        for idx in sched[n] if sched is not None else ():
            target = t.clone()
            target[pre.batch[idx], 0] = pre.offset[idx]
            u, i = _advance(u, i, t, target, d, tol, out)
            t = target
            i = i.index_add(0, pre.batch[idx], w[:, pre.neuron[idx]].T)
        u, i = _advance(u, i, t, torch.full_like(t, dt), d, tol, out)
        grid[n] = u
        records += [(torch.full_like(f, n), f, t_s, i_s) for f, t_s, i_s in out]
    step, flat, offset, current = (torch.cat(col) for col in zip(*records, strict=True)) \
        if records else (torch.zeros(0, dtype=torch.long),) * 2 + (u.new_zeros(0),) * 2
    n_out = w.shape[0]
    return _Events(step, offset, flat // n_out, flat % n_out, current), grid, i


def _li_forward(w: Tensor, b: Tensor | None, d: _Dyn, dt: float, x: Tensor | None,
                pre: _Events | None, n_steps: int, batch_size: int
                ) -> tuple[Tensor, Tensor, Tensor]:
    """Exact readout membrane at the grid points (the LI layer is linear: no event loop)."""
    n_out = w.shape[0]
    a_m, a_s, rk = _flow(torch.tensor(dt, dtype=F64), d)
    grid = w.new_zeros(n_steps, batch_size, n_out)  # jumps of I at n dt
    if x is not None:
        grid = grid + F.linear(x.to(F64), w)
    if b is not None:
        grid = grid + b
    du, di = rk * grid, a_s * grid  # their effect at (n + 1) dt
    if pre is not None and pre.step.numel() > 0:
        _, es, ek = _flow(dt - pre.offset, d)
        cols = w[:, pre.neuron].T
        where = pre.step * batch_size + pre.batch
        du = du.view(-1, n_out).index_add(0, where, ek[:, None] * cols).view_as(grid)
        di = di.view(-1, n_out).index_add(0, where, es[:, None] * cols).view_as(grid)
    u, i, outs = w.new_zeros(batch_size, n_out), w.new_zeros(batch_size, n_out), []
    for n in range(n_steps):
        u, i = a_m * u + rk * i + du[n], a_s * i + di[n]
        outs.append(u)
    v = torch.stack(outs) if outs else grid
    return v + d.v_leak, u, i


def _li_backward(g: Tensor, w: Tensor, d: _Dyn, dt: float, x: Tensor | None,
                 pre: _Events | None) -> tuple[Tensor, Tensor, Tensor | None]:
    """Readout adjoint: ``(dL/dW, dL/db, dL/dt_k of each input event)``."""
    a_m, a_s, rk = _flow(torch.tensor(dt, dtype=F64), d)
    lam_v, lam_i = g.new_zeros(g.shape[1:]), g.new_zeros(g.shape[1:])
    end_v, end_i, start_i = torch.empty_like(g), torch.empty_like(g), torch.empty_like(g)
    for n in range(g.shape[0] - 1, -1, -1):
        lam_v = lam_v + g[n]
        end_v[n], end_i[n] = lam_v, lam_i  # at (n + 1) dt, before the sample
        lam_v, lam_i = a_m * lam_v, rk * lam_v + a_s * lam_i
        start_i[n] = lam_i  # at n dt
    grad_b = start_i.sum(dim=(0, 1))
    grad_w = torch.zeros_like(w)
    if x is not None:
        grad_w = torch.einsum("tbo,tbi->oi", start_i, x.to(F64))
    if pre is None:
        return grad_w, grad_b, None
    em, es, ek = _flow(dt - pre.offset, d)
    lv, li = end_v[pre.step, pre.batch], end_i[pre.step, pre.batch]
    lam_v_e, lam_i_e = em[:, None] * lv, ek[:, None] * lv + es[:, None] * li
    grad_w = grad_w.T.index_add(0, pre.neuron, lam_i_e).T
    dl_dt = (w[:, pre.neuron].T * (lam_i_e / d.tau_syn - d.r * lam_v_e / d.tau_mem)).sum(1)
    return grad_w, grad_b, dl_dt


def _lif_backward(w: Tensor, d: _Dyn, dt: float, own: _Events, dl_dt_own: Tensor,
                  x: Tensor | None, pre: _Events | None, batch_size: int
                  ) -> tuple[Tensor, Tensor, Tensor | None]:
    """Adjoint of one LIF layer: ``(dL/dW, dL/db, dL/dt_k of each input event)``.

    A hidden layer has no loss source, so ``lambda`` is zero after a neuron's last spike and
    between two spikes it is ``Phi(s_next - t)^T lambda^-(s_next)``: one backward sweep over
    each neuron's spikes (vectorised over neurons) gives ``lambda^-`` at every spike, and every
    other value (input events, the grid sum for the bias) follows in closed form.
    """
    n = w.shape[0]
    if x is not None:
        q_step, q_b, q_j = x.nonzero(as_tuple=True)
        amp, q_off = x[q_step, q_b, q_j].to(F64), w.new_zeros(q_step.numel())
    else:
        q_step, q_off, q_b, q_j = pre.step, pre.offset, pre.batch, pre.neuron
        amp = w.new_ones(q_step.numel())
    grad_w, grad_b = torch.zeros_like(w), w.new_zeros(n)
    dl_dt_pre = None if x is not None else w.new_zeros(q_step.numel())
    if own.step.numel() == 0:
        return grad_w, grad_b, dl_dt_pre
    # own spikes padded per neuron [B * N, K] in time order (+inf / 0 beyond each count)
    row = own.batch * n + own.neuron
    order = torch.argsort(own.step.to(F64) * dt + own.offset, stable=True)
    order = order[torch.argsort(row[order], stable=True)]
    counts = torch.bincount(row, minlength=batch_size * n)
    rank = torch.arange(order.numel()) - (torch.cumsum(counts, 0) - counts)[row[order]]
    width = int(counts.max())

    def pad(values: Tensor, fill: float) -> Tensor:
        out = torch.full((batch_size * n, width), fill, dtype=values.dtype)
        out[row[order], rank] = values[order]
        return out

    time, offset = pad(own.step.to(F64) * dt + own.offset, math.inf), pad(own.offset, 0.0)
    step = pad(own.step, -1)
    jump = (pad(d.r * own.current - d.u_reset, 1.0), pad(d.r * own.current - d.theta, 1.0),
            pad(dl_dt_own, 0.0))  # tau_m du+/dt, tau_m du-/dt, dL/dt_s
    lam_v, lam_i = torch.zeros_like(time), torch.zeros_like(time)  # lambda^- at each spike
    lv, li = lam_v[:, 0].clone(), lam_i[:, 0].clone()
    for k in range(width - 1, -1, -1):
        has, nxt = k < counts, k + 1 < counts
        h = torch.where(nxt, time[:, min(k + 1, width - 1)] - time[:, k], 0.0)
        a_m, a_s, rk = _flow(h, d)
        lv, li = torch.where(nxt, a_m * lv, 0.0), torch.where(nxt, rk * lv + a_s * li, 0.0)
        lv = torch.where(has, (jump[0][:, k] * lv - d.tau_mem * jump[2][:, k]) / jump[1][:, k],
                         0.0)
        lam_v[:, k], lam_i[:, k] = lv, li
    # bias: sum of lambda_I over the grid times n dt in (s_prev, s) of every spike s
    prev = torch.cat([step.new_full((step.shape[0], 1), -1), step[:, :-1]], dim=1)
    m = (step - prev).clamp(min=0).to(F64)
    one = torch.tensor(dt, dtype=F64)
    a, s_, r = _flow(one, d)
    big_a, big_s, big_r = _flow(m * dt, d)
    g22 = (1 - big_s) / (1 - s_)
    g12 = (1 - big_a) * r / ((1 - a) * (1 - s_)) - big_r / (1 - s_)
    a_m, a_s, rk = _flow(offset, d)
    valid = step >= 0
    total = torch.where(valid, (a_m * g12 + rk * g22) * lam_v + a_s * g22 * lam_i, 0.0)
    grad_b = total.sum(1).view(batch_size, n).sum(0)
    # input events: lambda(s_q) from the neuron's next spike after s_q, in chunks of events so
    # that the [events, N, max spikes] comparison stays bounded (about 2**22 elements)
    t_all = q_step.to(F64) * dt + q_off
    chunk = max(1, (1 << 22) // max(1, n * width))
    for lo in range(0, q_step.numel(), chunk):
        sl = slice(lo, lo + chunk)
        rows = q_b[sl, None] * n + torch.arange(n)
        t_q = t_all[sl, None]
        nxt = (time[rows] <= t_q[..., None]).sum(-1)
        exists = nxt < counts[rows]
        nxt = nxt.clamp(max=width - 1)
        h = torch.where(exists, time[rows, nxt] - t_q, 0.0)
        a_m, a_s, rk = _flow(h, d)
        lv = torch.where(exists, a_m * lam_v[rows, nxt], 0.0)
        li = torch.where(exists, rk * lam_v[rows, nxt] + a_s * lam_i[rows, nxt], 0.0)
        grad_w = grad_w.T.index_add(0, q_j[sl], amp[sl, None] * li).T
        if dl_dt_pre is not None:
            dl_dt_pre[sl] = (w[:, q_j[sl]].T * (li / d.tau_syn - d.r * lv / d.tau_mem)).sum(1)
    return grad_w, grad_b, dl_dt_pre


class _EventPropFunction(torch.autograd.Function):
    """Forward: event-exact simulation. Backward: the EventProp adjoint (module docstring)."""

    @staticmethod
    def forward(ctx: Any, spec: tuple[Any, ...], x: Tensor, *params: Tensor
                ) -> tuple[Tensor, ...]:
        dyns, has_bias, dt = spec
        n_steps, batch_size = x.shape[0], x.shape[1]
        weights, biases = _unflatten(params, has_bias)
        pre, events, finals, membranes, out = None, [], [], [], None
        for k, (w, b, d) in enumerate(zip(weights, biases, dyns, strict=True)):
            args = (w.to(F64), None if b is None else b.to(F64), d, dt,
                    x if k == 0 else None, pre, n_steps, batch_size)
            if k == len(dyns) - 1:
                out, u, i = _li_forward(*args)
            else:
                pre, grid, i = _lif_forward(*args)
                events.append(pre)
                membranes.append(grid + d.v_leak)
                u = grid[-1] if n_steps else torch.zeros_like(i)
            finals += [u + d.v_leak, i]
        ctx.spec = spec
        ctx.save_for_backward(x, *params, *(t for ev in events for t in ev))
        rasters = []
        for ev, w in zip(events, weights, strict=False):
            r = x.new_zeros(n_steps, batch_size, w.shape[0])
            r.index_put_((ev.step, ev.batch, ev.neuron), r.new_ones(ev.step.numel()),
                         accumulate=True)
            rasters.append(r)
            rasters.append(ev.step.to(F64) * dt + ev.offset)
            rasters += [ev.batch, ev.neuron]
        outputs = (out.to(x.dtype), *rasters, *(f.to(x.dtype) for f in (*finals, *membranes)))
        ctx.mark_non_differentiable(*outputs[1:])
        return outputs

    @staticmethod
    def backward(ctx: Any, g_out: Tensor, *_: Any) -> tuple[Tensor | None, ...]:
        dyns, has_bias, dt = ctx.spec
        x, *rest = ctx.saved_tensors
        n_par = len(dyns) + sum(has_bias)
        params, flat = rest[:n_par], rest[n_par:]
        events = [_Events(*flat[5 * k:5 * k + 5]) for k in range(len(dyns) - 1)]
        weights, _ = _unflatten(params, has_bias)
        w64 = [w.to(F64) for w in weights]
        batch_size = x.shape[1]
        last = len(dyns) - 1
        gw, gb, dl_dt = _li_backward(g_out.to(F64), w64[last], dyns[last], dt,
                                     x if last == 0 else None, events[-1] if last else None)
        grads = [(gw, gb)]
        for k in range(last - 1, -1, -1):
            gw, gb, dl_dt = _lif_backward(w64[k], dyns[k], dt, events[k], dl_dt,
                                          x if k == 0 else None, events[k - 1] if k else None,
                                          batch_size)
            grads.append((gw, gb))
        out: list[Tensor | None] = []
        for (gw, gb), w, bias in zip(reversed(grads), weights, has_bias, strict=True):
            out.append(gw.to(w.dtype))
            if bias:
                out.append(gb.to(w.dtype))
        return (None, None, *out)


def _unflatten(params: tuple[Tensor, ...], has_bias: tuple[bool, ...]
               ) -> tuple[list[Tensor], list[Tensor | None]]:
    weights, biases, k = [], [], 0
    for bias in has_bias:
        weights.append(params[k])
        biases.append(params[k + 1] if bias else None)
        k += 2 if bias else 1
    return weights, biases


Mode = Literal["grid", "exact"]


class EventProp(LearningRule):
    """EventProp (Wunderlich & Pehle 2021): adjoint gradients through the spike times.

    Two modes (``mode``, ``--rule-option mode=...``):

    - ``"grid"`` (default): the network's own discrete model (``unroll``, spikes on the grid)
      forward; backward, the EventProp adjoint integrated on the same grid with the exact
      jumps at the spike steps, as mlGeNN does (equations in
      :mod:`snnlearn.learning._eventprop_grid`). Recurrent layers are supported; the cost is that
      of one ``unroll`` plus one backward scan, like BPTT.
    - ``"exact"``: the continuous-time network with event-exact spike times (not quantised; see
      the module docstring) inside a custom autograd Function whose backward pass is the
      EventProp adjoint: the exact gradient of that model. Feed-forward layers only;
      ``rollout.extras["spike_times"]`` holds the exact times (:class:`SpikeTimes`, one per
      spiking layer).

    In both, ``rollout.outputs`` (readout membrane at the grid points, ``[T, B, n_out]``)
    carries the gradients to every weight and bias, and ``rollout.spikes`` the spike counts per
    step (no gradient). Evaluate a trained network with this rule's ``simulate`` (the runner
    does): the exact mode's model is not ``unroll``'s.

    Args:
        mode: ``"grid"`` or ``"exact"``.

    Raises:
        ValueError: an unknown ``mode``; from ``simulate``, a network EventProp does not support
            (see :func:`check_eventprop_network`) or an invalid input.

    Example:
        >>> import torch
        >>> from snnlearn.layers import build_network
        >>> from snnlearn.neurons import LIFParams, LIParams
        >>> net = build_network(3, [8], 2, dt=1e-3, gain=3.0,
        ...                     neuron=LIFParams(tau_syn=5e-3, reset="hard"),
        ...                     readout=LIParams(tau_syn=5e-3),
        ...                     generator=torch.Generator().manual_seed(0))
        >>> rule = EventProp(mode="exact")
        >>> r = rule.simulate(net, (torch.rand(20, 4, 3) < 0.3).float())
        >>> rule.assign_grads(net, r, r.outputs.amax(0).sum())
        >>> tuple(r.outputs.shape), net.layers[-1].weight.grad.shape
        ((20, 4, 2), torch.Size([2, 8]))

    References:
        Wunderlich, T. C. & Pehle, C. (2021). Event-based backpropagation can compute exact
        gradients for spiking neural networks. Scientific Reports 11, 12829.
        doi:10.1038/s41598-021-91786-z

        Nowotny, T., Turner, J. P. & Knight, J. C. Loss shaping enhances exact gradient learning
        with Eventprop in spiking neural networks. arXiv:2212.01232 (the mlGeNN implementation).
    """

    name = "eventprop"
    supports = Support(recurrent=True)

    def __init__(self, mode: Mode = "grid") -> None:
        if mode not in get_args(Mode):
            raise ValueError(f"EventProp mode must be one of {list(get_args(Mode))}, got {mode!r}")
        self.mode = mode
        self.supports = Support(recurrent=mode == "grid")

    def prepare(self, net: Network, *, generator: torch.Generator | None = None) -> None:
        """Check that ``net`` is supported (no random state to draw)."""
        check_eventprop_network(net, recurrent=self.mode == "grid")

    def simulate(self, net: Network, x: Tensor) -> Rollout:
        dyns = check_eventprop_network(net, recurrent=self.mode == "grid")
        check_input_sequence(x, net.n_in, net.layers[0].weight.dtype)
        if self.mode == "grid":
            if not torch.is_grad_enabled():
                return unroll(net, x, check=False)
            return grid_simulate(net, x)
        has_bias = tuple(layer.bias is not None for layer in net.layers)
        params = [t for layer in net.layers
                  for t in (layer.weight, layer.bias) if t is not None]
        res = _EventPropFunction.apply((tuple(dyns), has_bias, net.dt), x, *params)
        n_hidden = len(net.layers) - 1
        rasters = res[1:1 + 4 * n_hidden:4]
        times = tuple(SpikeTimes(*res[2 + 4 * k:5 + 4 * k]) for k in range(n_hidden))
        finals = res[1 + 4 * n_hidden:3 + 6 * n_hidden]
        membranes = (*res[3 + 6 * n_hidden:], res[0].detach())
        state: list[Any] = [
            LIFState(v=finals[2 * k], i=finals[2 * k + 1],
                     refractory=torch.zeros_like(finals[2 * k]),
                     z=(rasters[k][-1] if x.shape[0] else torch.zeros_like(finals[2 * k])))
            for k in range(n_hidden)]
        state.append(LIState(v=finals[-2], i=finals[-1]))
        return Rollout(outputs=res[0], spikes=tuple(rasters), membranes=membranes,
                       final_state=tuple(state), extras={"spike_times": times})

    def assign_grads(
        self, net: Network, rollout: Rollout, loss: Tensor, *, target: Tensor | None = None
    ) -> None:
        """Write the exact ``d loss / d p`` (the EventProp adjoint) into ``p.grad``, not adding."""
        for p in net.parameters():
            p.grad = None
        loss.backward()

