"""The torch pieces of EventProp's exact event simulation (private; see
:mod:`snnlearn.learning.eventprop` for the equations): the propagator, crossing detection, the
safeguarded Newton root, the exact advance with resets and the event schedule."""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import Tensor

_MAX_ITER = 100


class _Dyn(NamedTuple):
    """Constants of one layer's dynamics (voltages relative to ``v_leak``)."""

    tau_mem: float
    tau_syn: float
    r: float
    theta: float
    u_reset: float
    v_leak: float


class _Events(NamedTuple):
    step: Tensor      # int64, grid step n with spike time in (n dt, (n + 1) dt]
    offset: Tensor    # float64, time since n dt
    batch: Tensor
    neuron: Tensor
    current: Tensor   # float64, I(t_s)


def _flow(h: Tensor, d: _Dyn) -> tuple[Tensor, Tensor, Tensor]:
    """Entries ``(a_m, a_s, R k)`` of the propagator ``Phi(h)`` (``h >= 0``, seconds)."""
    a_m, a_s = torch.exp(-h / d.tau_mem), torch.exp(-h / d.tau_syn)
    kappa = 1.0 / d.tau_syn - 1.0 / d.tau_mem
    if kappa == 0.0:
        return a_m, a_s, d.r * a_m * h / d.tau_mem
    return a_m, a_s, d.r * a_m * (-torch.expm1(-kappa * h)) / (kappa * d.tau_mem)


def _detect(u: Tensor, i: Tensor, h: Tensor, d: _Dyn) -> tuple[Tensor, Tensor]:
    """Whether ``u`` crosses ``theta`` within ``(0, h]``, and a bracket end with one crossing."""
    a_m, _, rk = _flow(h, d)
    ri = d.r * i
    q = u / torch.where(ri != 0, ri, torch.ones_like(ri))
    kappa = 1.0 / d.tau_syn - 1.0 / d.tau_mem
    if kappa == 0.0:
        t_star = d.tau_syn * (1.0 - q)
    else:
        arg = kappa * d.tau_syn * (q - 1.0)
        t_star = -torch.log1p(torch.where(arg > -1.0, arg, torch.zeros_like(arg))) / kappa
        t_star = torch.where(arg > -1.0, t_star, torch.full_like(t_star, math.inf))
    interior = (ri > u) & (ri != 0) & (t_star > 0) & (t_star < h) & torch.isfinite(t_star)
    t_star = torch.where(interior, t_star, torch.zeros_like(t_star))
    a_m2, _, rk2 = _flow(t_star, d)
    peak = interior & (a_m2 * u + rk2 * i > d.theta)
    return (a_m * u + rk * i > d.theta) | peak, torch.where(peak, t_star, h)


def _root(u: Tensor, i: Tensor, hi: Tensor, d: _Dyn, tol: float) -> Tensor:
    """First crossing time in ``(0, hi]`` (``u(0) <= theta < u(hi)``): safeguarded Newton."""
    lo = torch.zeros_like(hi)
    f_lo = u - d.theta
    a_m, _, rk = _flow(hi, d)
    f_hi = a_m * u + rk * i - d.theta
    t = hi * (-f_lo) / (f_hi - f_lo)
    for _ in range(_MAX_ITER):
        a_m, a_s, rk = _flow(t, d)
        ut = a_m * u + rk * i
        f, df = ut - d.theta, (d.r * a_s * i - ut) / d.tau_mem
        lo, hi = torch.where(f <= 0, t, lo), torch.where(f > 0, t, hi)
        new = t - f / df
        bad = ~((new >= lo) & (new <= hi))  # also NaN
        new = torch.where(bad, 0.5 * (lo + hi), new)
        done = bool(((new - t).abs() <= tol).all())
        t = new
        if done:
            break
    return t


def _advance(u: Tensor, i: Tensor, t0: Tensor, t1: Tensor, d: _Dyn, tol: float,
             out: list[tuple[Tensor, Tensor, Tensor]]) -> tuple[Tensor, Tensor]:
    """Integrate from offsets ``t0`` to ``t1`` ``[B, 1]`` with exact spikes, resets included.

    Only candidates are searched: for ``R I >= 0`` the membrane is concave while it rises, so
    ``u(t) <= u(0) + h max(du/dt(0), 0)``; for ``R I < 0`` it never exceeds ``max(u(0), 0)``.
    """
    elapsed = t0.expand_as(u).clone()
    end = t1.expand_as(u)
    while True:
        rem = end - elapsed
        bound = u + rem * (d.r * i - u).clamp(min=0.0) / d.tau_mem
        cand = (bound > d.theta * (1.0 - 1e-9)).flatten().nonzero().squeeze(1)
        if cand.numel():
            cross, hi = _detect(u.flatten()[cand], i.flatten()[cand], rem.flatten()[cand], d)
            flat, hi = cand[cross], hi[cross]
        if not cand.numel() or not flat.numel():
            a_m, a_s, rk = _flow(rem, d)
            return a_m * u + rk * i, a_s * i
        uc, ic = u.flatten()[flat], i.flatten()[flat]
        tau = _root(uc, ic, hi, d, tol)
        rem.view(-1)[flat] = 0.0
        a_m, a_s, rk = _flow(rem, d)
        u, i = a_m * u + rk * i, a_s * i
        i_spike = ic * torch.exp(-tau / d.tau_syn)
        u.view(-1)[flat] = d.u_reset
        i.view(-1)[flat] = i_spike
        t_spike = torch.minimum(elapsed.flatten()[flat] + tau, end.flatten()[flat])
        elapsed = end.clone()
        elapsed.view(-1)[flat] = t_spike
        out.append((flat, t_spike, i_spike))


def _schedule(ev: _Events, n_steps: int, batch_size: int) -> list[list[Tensor]]:
    """Per step, event indices grouped by rank within their batch element (time order)."""
    sched: list[list[Tensor]] = [[] for _ in range(n_steps)]
    if ev.step.numel() == 0:
        return sched
    order = torch.argsort(ev.offset, stable=True)
    order = order[torch.argsort(ev.step[order] * batch_size + ev.batch[order], stable=True)]
    _, counts = torch.unique_consecutive(ev.step[order] * batch_size + ev.batch[order],
                                         return_counts=True)
    rank = torch.arange(order.numel()) - torch.repeat_interleave(
        torch.cumsum(counts, 0) - counts, counts)
    width = int(rank.max()) + 1
    key = ev.step[order] * width + rank
    perm = torch.argsort(key, stable=True)
    keys, counts = torch.unique_consecutive(key[perm], return_counts=True)
    for k, chunk in zip(keys.tolist(), torch.split(order[perm], counts.tolist()), strict=True):
        sched[k // width].append(chunk)
    return sched
