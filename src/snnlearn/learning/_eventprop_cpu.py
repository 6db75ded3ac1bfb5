"""Compiled kernels of EventProp (private; numba, CPU): the event-exact forward pass of one LIF
layer (exact mode) and the backward adjoint scan of one layer on the grid (grid mode,
:func:`grid_adjoint_compiled`; equations in :mod:`snnlearn.learning._eventprop_grid`).

Exact forward:
The same computation as ``eventprop._lif_forward`` (see the equations in
:mod:`snnlearn.learning.eventprop`), one neuron at a time: for each grid step the input current
jumps by the projected grid input (summed over the nonzero inputs of that step, so nothing of size
``T x N`` is allocated), then the neuron is advanced exactly from event to event of
its presynaptic layer (time order within its batch element), each crossing of ``theta`` found by
the same safeguarded Newton iteration, the reset applied there and integration continued. The
neurons are independent given their inputs, so the loop runs in parallel over ``B * N``. The
Newton iteration stops per neuron (the torch loop stops when all candidates have converged), so
spike times agree with the torch loop to the tolerance ``1e-13 dt``, not bit for bit.
"""

from __future__ import annotations

import math

import numba
import numpy as np
import torch
from torch import Tensor

from snnlearn.kernels._numba_cpu import _dual

__all__ = ["lif_forward_compiled", "grid_adjoint_compiled"]

_MAX_ITER = 100


@numba.njit(inline="always")
def _flow(h, tau_m, tau_s, r):  # type: ignore[no-untyped-def]
    a_m = math.exp(-h / tau_m)
    a_s = math.exp(-h / tau_s)
    kappa = 1.0 / tau_s - 1.0 / tau_m
    if kappa == 0.0:
        return a_m, a_s, r * a_m * h / tau_m
    return a_m, a_s, r * a_m * (-math.expm1(-kappa * h)) / (kappa * tau_m)


@numba.njit(inline="always")
def _detect(u, i, h, tau_m, tau_s, r, theta):  # type: ignore[no-untyped-def]
    a_m, _, rk = _flow(h, tau_m, tau_s, r)
    ri = r * i
    q = u / (ri if ri != 0 else 1.0)
    kappa = 1.0 / tau_s - 1.0 / tau_m
    if kappa == 0.0:
        t_star = tau_s * (1.0 - q)
    else:
        arg = kappa * tau_s * (q - 1.0)
        t_star = -math.log1p(arg) / kappa if arg > -1.0 else math.inf
    interior = (ri > u) and (ri != 0) and (t_star > 0) and (t_star < h) and math.isfinite(t_star)
    if not interior:
        t_star = 0.0
    a_m2, _, rk2 = _flow(t_star, tau_m, tau_s, r)
    peak = interior and (a_m2 * u + rk2 * i > theta)
    return (a_m * u + rk * i > theta) or peak, (t_star if peak else h)


@numba.njit(inline="always")
def _root(u, i, hi, tau_m, tau_s, r, theta, tol):  # type: ignore[no-untyped-def]
    lo = 0.0
    f_lo = u - theta
    a_m, _, rk = _flow(hi, tau_m, tau_s, r)
    f_hi = a_m * u + rk * i - theta
    t = hi * (-f_lo) / (f_hi - f_lo)
    for _ in range(_MAX_ITER):
        a_m, a_s, rk = _flow(t, tau_m, tau_s, r)
        ut = a_m * u + rk * i
        f = ut - theta
        df = (r * a_s * i - ut) / tau_m
        if f <= 0:
            lo = t
        else:
            hi = t
        new = t - f / df
        if not (new >= lo and new <= hi):
            new = 0.5 * (lo + hi)
        done = abs(new - t) <= tol
        t = new
        if done:
            break
    return t


@numba.njit(cache=True, parallel=True, nogil=True)
def _forward(x_ptr, x_idx, x_val, has_grid, bias, has_bias, ev_ptr, ev_step, ev_off, ev_neu, w,
             n_steps,
             tau_m, tau_s, r, theta, u_reset, dt, tol, out_count, out_step, out_off, out_cur,
             u_grid, i_fin):  # type: ignore[no-untyped-def]
    B, N = i_fin.shape
    cap = out_step.shape[1]
    for bn in numba.prange(B * N):
        b, n = bn // N, bn % N
        u, i, cnt = 0.0, 0.0, 0
        p, p_end = ev_ptr[b], ev_ptr[b + 1]
        for s in range(n_steps):
            if has_grid:  # the projection W x_s + b of the nonzero inputs only
                acc = 0.0
                for q in range(x_ptr[s * B + b], x_ptr[s * B + b + 1]):
                    acc += w[n, x_idx[q]] * x_val[q]
                if has_bias:
                    acc += bias[n]
                i += acc
            elif has_bias:
                i += bias[n]
            t = 0.0
            while True:
                last = not (p < p_end and ev_step[p] == s)
                end = dt if last else ev_off[p]
                # advance exactly from t to end, spiking where u crosses theta
                elapsed = t
                while True:
                    rem = end - elapsed
                    bound = u + rem * max(r * i - u, 0.0) / tau_m
                    cross = False
                    hi = rem
                    if bound > theta * (1.0 - 1e-9):
                        cross, hi = _detect(u, i, rem, tau_m, tau_s, r, theta)
                    if not cross:
                        a_m, a_s, rk = _flow(rem, tau_m, tau_s, r)
                        u, i = a_m * u + rk * i, a_s * i
                        break
                    tau = _root(u, i, hi, tau_m, tau_s, r, theta, tol)
                    i = i * math.exp(-tau / tau_s)
                    u = u_reset
                    t_spike = min(elapsed + tau, end)
                    if cnt < cap:
                        out_step[bn, cnt] = s
                        out_off[bn, cnt] = t_spike
                        out_cur[bn, cnt] = i
                    cnt += 1
                    elapsed = t_spike
                if last:
                    break
                t = end
                i += w[n, ev_neu[p]]
                p += 1
            u_grid[s, b, n] = u
        i_fin[b, n] = i
        out_count[bn] = cnt


def lif_forward_compiled(
    w: Tensor, b: Tensor | None, tau_m: float, tau_s: float, r: float, theta: float,
    u_reset: float, dt: float, x: Tensor | None, pre: tuple[Tensor, ...] | None, n_steps: int,
    batch_size: int,
) -> tuple[tuple[Tensor, Tensor, Tensor, Tensor, Tensor], Tensor, Tensor]:
    """Event-exact forward of one LIF layer (float64 CPU tensors).

    ``pre`` is the presynaptic layer's ``(step, offset, batch, neuron)``; ``x`` the grid input
    of the first layer. Returns ``((step, offset, batch, neuron, current), u, i_final)`` with
    ``u`` ``[T, B, N]`` the membrane (relative to ``v_leak``) at the end of every step,
    with the spikes ordered by (batch, neuron, time).
    """
    n_out = w.shape[0]
    wn = w.detach().contiguous().numpy()
    if x is not None:  # the grid input as a list of nonzero entries: memory O(input events)
        xd = x.detach()
        nz = xd.nonzero()  # [nnz, 3] in (step, batch, input) order
        x_idx, x_val = nz[:, 2].contiguous(), xd[nz[:, 0], nz[:, 1], nz[:, 2]].to(torch.float64)
        x_ptr = torch.zeros(n_steps * batch_size + 1, dtype=torch.int64)
        x_ptr[1:] = torch.cumsum(torch.bincount(nz[:, 0] * batch_size + nz[:, 1],
                                                minlength=n_steps * batch_size), 0)
    else:
        x_ptr = torch.zeros(1, dtype=torch.int64)
        x_idx, x_val = x_ptr, torch.zeros(1, dtype=torch.float64)
    bias = (b.detach().contiguous() if b is not None else torch.zeros(1, dtype=torch.float64))
    if pre is not None and pre[0].numel() > 0:
        step, offset, batch, neuron = pre
        order = torch.argsort(offset, stable=True)
        order = order[torch.argsort(step[order], stable=True)]
        order = order[torch.argsort(batch[order], stable=True)]
        ptr = torch.zeros(batch_size + 1, dtype=torch.int64)
        ptr[1:] = torch.cumsum(torch.bincount(batch, minlength=batch_size), 0)
        ev = (step[order].contiguous(), offset[order].contiguous(), neuron[order].contiguous())
    else:
        ptr = torch.zeros(batch_size + 1, dtype=torch.int64)
        ev = (torch.zeros(0, dtype=torch.int64), torch.zeros(0, dtype=torch.float64),
              torch.zeros(0, dtype=torch.int64))
    u_grid = torch.empty(n_steps, batch_size, n_out, dtype=torch.float64)
    i_fin = torch.empty(batch_size, n_out, dtype=torch.float64)
    count = torch.empty(batch_size * n_out, dtype=torch.int64)
    cap = max(4, n_steps // 4)
    while True:
        out_step = torch.empty(batch_size * n_out, cap, dtype=torch.int64)
        out_off = torch.empty(batch_size * n_out, cap, dtype=torch.float64)
        out_cur = torch.empty_like(out_off)
        _forward(x_ptr.numpy(), x_idx.numpy(), x_val.numpy(), x is not None, bias.numpy(),
                 b is not None, ptr.numpy(),
                 ev[0].numpy(), ev[1].numpy(), ev[2].numpy(), wn, n_steps, tau_m, tau_s, r,
                 theta, u_reset, dt, 1e-13 * dt, count.numpy(), out_step.numpy(),
                 out_off.numpy(), out_cur.numpy(), u_grid.numpy(), i_fin.numpy())
        most = int(count.max()) if count.numel() else 0
        if most <= cap:
            break
        cap = most
    mask = torch.arange(cap)[None, :] < count[:, None]
    flat = torch.arange(batch_size * n_out)[:, None].expand(-1, cap)[mask]
    events = (out_step[mask], out_off[mask], flat // n_out, flat % n_out, out_cur[mask])
    return events, u_grid, i_fin


@_dual
def _grid_adjoint(u, z, d, wt, has_rec, readout, a_m, a_s, g, inv_tau_s, r_tau_m, r, tau_m,
                  v_leak, theta, u_reset, subtract, lam_i,
                  lam_up):  # type: ignore[no-untyped-def]
    T, B, N = d.shape
    for b in numba.prange(B):
        lu = np.zeros_like(d[0, 0])  # lambda_u after the step, a_m Lambda_u'[n + 1]
        li = np.zeros_like(d[0, 0])  # Lambda_I[n + 1]
        q = np.zeros_like(d[0, 0])
        for n in range(T - 1, -1, -1):
            if readout:
                for k in range(N):
                    lup = lu[k] + d[n, b, k]
                    lam_up[n, b, k] = lup
                    lam_i[n, b, k] = g * lup + a_s * li[k]
                    li[k] = lam_i[n, b, k]
                    lu[k] = a_m * lup
                continue
            if has_rec:
                fired = False
                for k in range(N):
                    if z[n, b, k] > 0:
                        fired = True
                        break
                if fired:  # recurrent events of step n arrive at step n + 1
                    for k in range(N):
                        q[k] = li[k] * inv_tau_s - r_tau_m * lu[k]
            for k in range(N):
                lup = lu[k]
                if z[n, b, k] > 0:  # the jump at a spike reached from below
                    prev = 0.0
                    if n > 0:
                        prev = u[n - 1, b, k] - v_leak
                        if z[n - 1, b, k] > 0:
                            prev = prev - (theta - u_reset) if subtract else u_reset
                    current = (u[n, b, k] - v_leak - a_m * prev) / g
                    den = r * current - theta
                    if prev <= theta and den > 0:
                        dn = d[n, b, k]
                        if has_rec:
                            for j in range(N):
                                dn += wt[k, j] * q[j]
                        lup = ((r * current - u_reset) * lu[k] - tau_m * dn) / den
                lam_up[n, b, k] = lup
                lam_i[n, b, k] = g * lup + a_s * li[k]
            for k in range(N):
                li[k] = lam_i[n, b, k]
                lu[k] = a_m * lam_up[n, b, k]


def grid_adjoint_compiled(u: Tensor | None, z: Tensor | None, d: Tensor, w_rec: Tensor | None,
                          c: object) -> tuple[Tensor, Tensor]:
    """The grid adjoint scan of one layer (CPU tensors ``[T, B, N]`` of one dtype; ``c`` the
    layer's grid constants): ``(Lambda_I, Lambda_u')``. ``u`` (pre-reset membrane) and ``z``
    ``None`` for the readout, whose source ``dL/dv`` is ``d``."""
    readout = u is None
    d = d.contiguous()
    u = d if u is None else u.contiguous()
    z = d if z is None else z.contiguous()
    wt = (w_rec.T.contiguous() if w_rec is not None else d.new_zeros(1, 1))
    lam_i, lam_up = torch.empty_like(d), torch.empty_like(d)
    theta = c.theta if math.isfinite(c.theta) else 0.0
    _grid_adjoint(u.numpy(), z.numpy(), d.numpy(), wt.numpy(), w_rec is not None, readout,
                  c.a_m, c.a_s, c.g, 1.0 / c.tau_syn, c.r / c.tau_mem, c.r, c.tau_mem,
                  c.v_leak, theta, c.u_reset, c.subtract, lam_i.numpy(), lam_up.numpy())
    return lam_i, lam_up


def available() -> bool:
    """Always true once this module imported (numba present)."""
    return bool(np.__version__)
