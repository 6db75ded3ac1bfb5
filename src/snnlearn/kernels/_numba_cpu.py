"""Compiled CPU loops (numba): the fused LIF/ALIF and LI sequences, the event-driven projection.

Each function runs the whole time loop of one population in compiled code, parallel over the
``M = B * N`` neurons (``prange``); the arithmetic mirrors the torch loops of
:mod:`snnlearn.kernels.lif_scan` and :mod:`snnlearn.kernels.li_scan` operation for operation, in
the dtype of the data (the constants are cast to it by the caller), so that the spikes are
identical and the gradients equal to rounding. Arrays are ``[T, M]`` and C-contiguous.

Surrogate codes: 0 fast sigmoid ``1/(s|x|+1)^2``, 1 arctan ``1/(1+(pi/2 s x)^2)``, 2 triangle
``max(0, 1-s|x|)`` (see :mod:`snnlearn.surrogate`).

Threads: a loop runs in parallel (``prange``) only when its arrays hold at least
``PARALLEL_MIN_WORK`` elements; below that it runs a serial compilation of the same code, since
on a few cores shared with torch's own thread pool the parallel region's start-up and its idle
threads cost more than they save. Parallel loops use numba's ``workqueue`` threading layer unless
``NUMBA_THREADING_LAYER`` says otherwise: its threads do not spin between regions (the OpenMP
layer's do, which made training beside other multi-threaded jobs collapse far past a fair share).
"""

from __future__ import annotations

import os
import types
from collections.abc import Callable
from typing import Any

import numba
import numpy as np

if "NUMBA_THREADING_LAYER" not in os.environ:
    numba.config.THREADING_LAYER = "workqueue"

PARALLEL_MIN_WORK = 1 << 22
"""Elements (largest array argument) from which a loop runs in parallel threads."""


def _dual(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Compile ``fn`` twice, parallel and serial, and pick by the size of the work."""
    parallel = numba.njit(nogil=True, cache=True, parallel=True)(fn)
    copy = types.FunctionType(fn.__code__, fn.__globals__, fn.__name__ + "_serial",
                              fn.__defaults__, fn.__closure__)
    copy.__qualname__ = fn.__qualname__ + "_serial"
    serial = numba.njit(nogil=True, cache=True)(copy)

    def call(*args: Any) -> Any:
        work = max((a.size for a in args if isinstance(a, np.ndarray)), default=0)
        return (parallel if work >= PARALLEL_MIN_WORK else serial)(*args)

    call.__name__, call.__doc__ = fn.__name__, fn.__doc__
    call.parallel, call.serial = parallel, serial  # type: ignore[attr-defined]
    return call

__all__ = ["lif_forward", "lif_backward", "adaptation_fold", "li_forward", "li_backward",
           "csr_count", "csr_fill", "csr_to_csc", "csr_matmul", "csc_matmul_t"]

_BLOCK = 256  # neurons per parallel task: the inner loop runs over contiguous memory


@_dual
def lif_forward(cur, v0, i0, ref0, a0, a_m, a_s, c, v_leak, v_th, v_reset, jump, beta, rho,
                one_m_rho, synapse, hard, adaptive, t_ref, dt, half_dt, z_out, u_out, act_out,
                a_out, v_fin, i_fin, ref_fin, a_fin):
    """Forward LIF (``adaptive``: ALIF) loop; writes spikes, pre-reset membranes, the active
    mask, the adaptation before each step and the final state."""
    T, M = cur.shape
    zero = v0.dtype.type(0.0)
    one = v0.dtype.type(1.0)
    refractory = t_ref > 0
    for blk in numba.prange((M + _BLOCK - 1) // _BLOCK):
        lo, hi = blk * _BLOCK, min(blk * _BLOCK + _BLOCK, M)
        for m in range(lo, hi):
            v_fin[m], i_fin[m], ref_fin[m] = v0[m], i0[m], ref0[m]
            if adaptive:
                a_fin[m] = a0[m]
        for t in range(T):
            for m in range(lo, hi):
                v, i, ref = v_fin[m], i_fin[m], ref_fin[m]
                if synapse:
                    i = a_s * i + cur[t, m]
                else:
                    i = cur[t, m]
                u = v_leak + a_m * (v - v_leak) + c * i
                threshold = v_th
                a = zero
                if adaptive:
                    a = a_fin[m]
                    threshold = v_th + beta * a
                if refractory:
                    active = ref <= half_dt
                    if not active:
                        u = v
                    spiking = (u > threshold) and active
                    if spiking:
                        ref = t_ref
                    else:
                        ref = ref - dt
                        if ref < zero:
                            ref = zero
                    act_out[t, m] = active
                else:
                    spiking = u > threshold
                z = one if spiking else zero
                if adaptive:
                    a_out[t, m] = a
                    a_fin[m] = rho * a + one_m_rho * z
                if hard:
                    v = u - z * (u - v_reset)
                else:
                    v = u - z * jump
                u_out[t, m] = u
                z_out[t, m] = z
                v_fin[m], i_fin[m], ref_fin[m] = v, i, ref


@_dual
def lif_backward(u_seq, z_seq, act_seq, a_seq, g_z, has_gz, gv0, gi0, ga0, a_m, a_s, c, v_th,
                 v_reset, jump, beta, rho, one_m_rho, synapse, hard, detach, refractory,
                 adaptive, kind, scale, g_x, gv_out, gi_out, ga_out):
    """Reverse LIF/ALIF loop (the adjoint of :func:`lif_forward`); writes ``dL/dx`` and the
    initial-state gradients."""
    T, M = u_seq.shape
    zero = gv0.dtype.type(0.0)
    one = gv0.dtype.type(1.0)
    for blk in numba.prange((M + _BLOCK - 1) // _BLOCK):
        lo, hi = blk * _BLOCK, min(blk * _BLOCK + _BLOCK, M)
        for m in range(lo, hi):
            gv_out[m], gi_out[m] = gv0[m], gi0[m]
            if adaptive:
                ga_out[m] = ga0[m]
        for t in range(T - 1, -1, -1):
            for m in range(lo, hi):
                gv, gi = gv_out[m], gi_out[m]
                u, z = u_seq[t, m], z_seq[t, m]
                ga = zero
                if adaptive:
                    ga = ga_out[m]
                    x = u - (v_th + beta * a_seq[t, m])
                else:
                    x = u - v_th
                if kind == 0:
                    d = one / (scale * abs(x) + one)
                    sg = d * d
                elif kind == 1:
                    y = scale * x
                    sg = one / (one + y * y)
                else:
                    sg = one - scale * abs(x)
                    if sg < zero:
                        sg = zero
                if refractory:
                    a = one if act_seq[t, m] else zero
                    sg = sg * a
                gz = g_z[t, m] if has_gz else zero
                if adaptive:
                    gz = gz + one_m_rho * ga
                if hard:
                    dv_du = one - z
                    dv_dz = zero if detach else -(u - v_reset)
                else:
                    dv_du = one
                    dv_dz = zero if detach else -jump
                gz = gz + gv * dv_dz
                gu = gv * dv_du + gz * sg
                if adaptive:
                    ga_out[m] = rho * ga - beta * gz * sg
                if refractory:
                    g_cur = c * gu * a
                    gv = gu * (a_m * a + (one - a))
                else:
                    g_cur = c * gu
                    gv = a_m * gu
                if synapse:
                    g_cur = g_cur + gi
                    gi = a_s * g_cur
                g_x[t, m] = g_cur
                gv_out[m], gi_out[m] = gv, gi


@_dual
def adaptation_fold(delta, psi, beta_c, rho, coef, out):
    """``out[t] = delta[t] - beta_c psi[t] h[t]`` with the reverse scan
    ``h[t-1] = delta[t] + (rho - coef psi[t]) h[t]``, ``h[T-1] = 0``, per column of ``[T, M]``
    (e-prop's ALIF adaptation trace folded into the learning signal)."""
    T, M = delta.shape
    for blk in numba.prange((M + _BLOCK - 1) // _BLOCK):
        lo, hi = blk * _BLOCK, min(blk * _BLOCK + _BLOCK, M)
        h = np.zeros(hi - lo, dtype=delta.dtype)
        for t in range(T - 1, -1, -1):
            for k in range(hi - lo):
                m = lo + k
                out[t, m] = delta[t, m] - beta_c * psi[t, m] * h[k]
                h[k] = delta[t, m] + (rho - coef * psi[t, m]) * h[k]


@_dual
def li_forward(cur, v0, i0, a_m, a_s, c, v_leak, synapse, v_out, i_fin):
    """Forward LI loop; writes the membrane sequence and the final current."""
    T, M = cur.shape
    for blk in numba.prange((M + _BLOCK - 1) // _BLOCK):
        lo, hi = blk * _BLOCK, min(blk * _BLOCK + _BLOCK, M)
        v = v0[lo:hi].copy()
        i = i0[lo:hi].copy()
        for t in range(T):
            for k in range(hi - lo):
                if synapse:
                    i[k] = a_s * i[k] + cur[t, lo + k]
                else:
                    i[k] = cur[t, lo + k]
                v[k] = v_leak + a_m * (v[k] - v_leak) + c * i[k]
                v_out[t, lo + k] = v[k]
        i_fin[lo:hi] = i


@_dual
def li_backward(g_v, gi0, a_m, a_s, c, synapse, g_x, gv_out, gi_out):
    """Reverse LI loop: the same filter run backwards in time."""
    T, M = g_v.shape
    for blk in numba.prange((M + _BLOCK - 1) // _BLOCK):
        lo, hi = blk * _BLOCK, min(blk * _BLOCK + _BLOCK, M)
        gv = np.zeros(hi - lo, dtype=g_v.dtype)
        gi = gi0[lo:hi].copy()
        for t in range(T - 1, -1, -1):
            for k in range(hi - lo):
                gv[k] = a_m * gv[k] + g_v[t, lo + k]
                g_cur = c * gv[k]
                if synapse:
                    g_cur = g_cur + gi[k]
                    gi[k] = a_s * g_cur
                g_x[t, lo + k] = g_cur
        for k in range(hi - lo):
            gv_out[lo + k] = a_m * gv[k]
            gi_out[lo + k] = gi[k]


@_dual
def csr_count(x, counts):
    """Nonzeros of each row of ``x [R, K]`` into ``counts [R]``."""
    R, K = x.shape
    for r in numba.prange(R):
        n = 0
        for k in range(K):
            n += x[r, k] != 0
        counts[r] = n


@_dual
def csr_fill(x, row_ptr, cols, vals):
    """Column indices and values of the nonzeros of ``x [R, K]`` (CSR, ``row_ptr`` given)."""
    R, K = x.shape
    for r in numba.prange(R):
        p = row_ptr[r]
        for k in range(K):
            v = x[r, k]
            if v != 0:
                cols[p] = k
                vals[p] = v
                p += 1


@numba.njit(nogil=True, cache=True)
def csr_to_csc(row_ptr, cols, vals, K, col_ptr, rows, cvals):
    """Transpose a CSR matrix to CSC by a stable counting sort (rows ascending per column)."""
    R = row_ptr.shape[0] - 1
    col_ptr[:] = 0
    for p in range(row_ptr[R]):
        col_ptr[cols[p] + 1] += 1
    for k in range(K):
        col_ptr[k + 1] += col_ptr[k]
    fill = col_ptr[:K].copy()
    for r in range(R):
        for p in range(row_ptr[r], row_ptr[r + 1]):
            q = fill[cols[p]]
            rows[q] = r
            cvals[q] = vals[p]
            fill[cols[p]] = q + 1


@_dual
def csr_matmul(row_ptr, cols, vals, wt, out):
    """``out [R, N] = X wt`` for a CSR ``X [R, K]`` and a dense ``wt [K, N]``: each output row is
    the weighted sum of the weight rows of that input row's nonzeros, in column order."""
    R, N = out.shape
    for r in numba.prange(R):
        for n in range(N):
            out[r, n] = 0
        for p in range(row_ptr[r], row_ptr[r + 1]):
            k = cols[p]
            v = vals[p]
            for n in range(N):
                out[r, n] += v * wt[k, n]


@_dual
def csc_matmul_t(col_ptr, rows, cvals, g, dwt):
    """``dwt [K, N] = X^T g`` for a CSC ``X [R, K]`` and a dense ``g [R, N]``: row ``k`` sums the
    gradient rows of the steps where input ``k`` is nonzero, in row order."""
    K, N = dwt.shape
    for k in numba.prange(K):
        for n in range(N):
            dwt[k, n] = 0
        for p in range(col_ptr[k], col_ptr[k + 1]):
            r = rows[p]
            v = cvals[p]
            for n in range(N):
                dwt[k, n] += v * g[r, n]


def as_dtype(dtype: np.dtype, *values: float) -> tuple[np.generic, ...]:
    """Cast scalar constants to ``dtype`` so the compiled loops compute in the data's precision."""
    return tuple(dtype.type(v) for v in values)
