"""Triton kernels of the fused leaky-integrator sequence (private; the ``"triton"`` backend of
:mod:`snnlearn.kernels.li_scan`).

The linear filter of ``_torch_forward`` there and its adjoint, the same filter run backwards in
time (``_torch_backward``), operation for operation, each in one launch: a program holds
``BLOCK`` neurons' state in registers and loops over the ``T`` steps. Inputs are read strided in
their own dtype and computed in float32; the membrane sequence and ``dL/dx`` are written in the
dtype of the input and of the incoming gradient. float64 data and empty sequences run the torch
loops instead.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from snnlearn.kernels import _triton_common as tc
from snnlearn.kernels._adjoint import leak_constants
from snnlearn.neurons.li import LIParams

try:
    import triton.language as tl
except ImportError:  # pragma: no cover - the module is importable without Triton
    tl = None

__all__ = ["li_backward", "li_forward"]


def _forward_kernel(
    cur_ptr, s_ct, s_cm, v0_ptr, i0_ptr, v_seq_ptr, i_ptr, T, M, a_m, a_s, c, v_leak,
    SYNAPSE: tl.constexpr, BLOCK: tl.constexpr,
):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < M
    steps = tl.where(mask, T, 0)  # T, or 0 past the end of the population: the load masks
    v = tl.load(v0_ptr + offs, mask=mask, other=0.0).to(tl.float32)
    i = tl.load(i0_ptr + offs, mask=mask, other=0.0).to(tl.float32)
    v_p = v_seq_ptr + offs
    # the inputs of steps t..t+3 are in flight at step t (x0..x3): the loop is latency-bound
    cur_p = cur_ptr + offs * s_cm
    x0 = tl.load(cur_p, mask=0 < steps, other=0.0)
    x1 = tl.load(cur_p + s_ct, mask=1 < steps, other=0.0)
    x2 = tl.load(cur_p + 2 * s_ct, mask=2 < steps, other=0.0)
    x3 = tl.load(cur_p + 3 * s_ct, mask=3 < steps, other=0.0)
    cur_p += 4 * s_ct
    for t in range(0, T):
        x_next = tl.load(cur_p, mask=t + 4 < steps, other=0.0)
        x = x0.to(tl.float32)
        if SYNAPSE:
            i = a_s * i + x
        else:
            i = x
        v = v_leak + a_m * (v - v_leak) + c * i
        tl.store(v_p, v.to(v_seq_ptr.dtype.element_ty), mask=mask)
        x0, x1, x2, x3 = x1, x2, x3, x_next
        cur_p += s_ct
        v_p += M
    tl.store(i_ptr + offs, i.to(i_ptr.dtype.element_ty), mask=mask)


def _backward_kernel(
    g_ptr, s_gt, s_gm, gi0_ptr, gx_ptr, gv_ptr, gi_ptr, T, M, last_row, last_g, a_m, a_s, c,
    SYNAPSE: tl.constexpr, HAS_GI: tl.constexpr, BLOCK: tl.constexpr,
):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < M
    steps = tl.where(mask, T, 0)  # T, or 0 past the end of the population: the load masks
    gv = tl.full([BLOCK], 0.0, tl.float32)
    gi = tl.full([BLOCK], 0.0, tl.float32)
    if HAS_GI:
        gi = tl.load(gi0_ptr + offs, mask=mask, other=0.0).to(tl.float32)
    gx_p = gx_ptr + last_row + offs  # start at step T - 1, steps t..t-3 in flight at step t
    g_p = g_ptr + last_g + offs * s_gm
    g0 = tl.load(g_p, mask=0 < steps, other=0.0)
    g1 = tl.load(g_p - s_gt, mask=1 < steps, other=0.0)
    g2 = tl.load(g_p - 2 * s_gt, mask=2 < steps, other=0.0)
    g3 = tl.load(g_p - 3 * s_gt, mask=3 < steps, other=0.0)
    g_p -= 4 * s_gt
    for t in range(0, T):
        g_next = tl.load(g_p, mask=t + 4 < steps, other=0.0)
        gv = a_m * gv + g0.to(tl.float32)
        g_cur = c * gv
        if SYNAPSE:
            g_cur = g_cur + gi
            gi = a_s * g_cur
        elif HAS_GI:
            g_cur = g_cur + gi  # the final current is the last input: only at t = T - 1
            gi = tl.full([BLOCK], 0.0, tl.float32)
        tl.store(gx_p, g_cur.to(gx_ptr.dtype.element_ty), mask=mask)
        g0, g1, g2, g3 = g1, g2, g3, g_next
        g_p -= s_gt
        gx_p -= M
    tl.store(gv_ptr + offs, a_m * gv, mask=mask)
    tl.store(gi_ptr + offs, gi, mask=mask)


def li_forward(current: Tensor, v0: Tensor, i0: Tensor, p: LIParams,
               dt: float) -> tuple[Tensor, Tensor]:
    """``(v_seq, i)`` as ``_torch_forward`` returns them (``v_seq`` in ``current``'s dtype, the
    final current in ``i0``'s)."""
    T, shape = current.shape[0], current.shape[1:]
    M = math.prod(shape)
    if T == 0 or M == 0 or current.dtype == torch.float64:
        from snnlearn.kernels.li_scan import _torch_forward

        return _torch_forward(current, v0, i0, p, dt)
    cur, s_ct, s_cm = tc.rows(current, T, M)
    v_seq = torch.empty((T, M), dtype=current.dtype, device=current.device)
    i = torch.empty(M, dtype=i0.dtype, device=current.device)
    a_m, a_s, c = leak_constants(p, dt)
    tc.launch(_forward_kernel, M, cur, s_ct, s_cm, tc.flat(v0, M, current),
              tc.flat(i0, M, current), v_seq, i, T, M, a_m, a_s, c, p.v_leak,
              SYNAPSE=p.tau_syn is not None)
    return v_seq.reshape(T, *shape), i.reshape(shape)


def li_backward(g_v: Tensor, g_i: Tensor | None, p: LIParams,
                dt: float) -> tuple[Tensor, Tensor, Tensor | None]:
    """``(dL/dx, dL/dv0, dL/di0 or None)`` as ``_torch_backward`` returns them (``dL/dx`` in
    ``g_v``'s dtype, the initial-state gradients in float32)."""
    T, shape = g_v.shape[0], g_v.shape[1:]
    M = math.prod(shape)
    if T == 0 or M == 0 or g_v.dtype == torch.float64:
        from snnlearn.kernels.li_scan import _torch_backward

        return _torch_backward(g_v, g_i, p, dt)
    dev = g_v.device
    synapse = p.tau_syn is not None
    g, s_gt, s_gm = tc.rows(g_v, T, M)
    g_x = torch.empty((T, M), dtype=g_v.dtype, device=dev)
    gv, gi = (torch.empty(M, dtype=torch.float32, device=dev) for _ in range(2))
    a_m, a_s, c = leak_constants(p, dt)
    tc.launch(_backward_kernel, M, g, s_gt, s_gm, tc.flat(g_i, M, g_v), g_x, gv, gi, T, M,
              (T - 1) * M, (T - 1) * s_gt, a_m, a_s, c, SYNAPSE=synapse, HAS_GI=g_i is not None)
    return g_x.reshape(T, *shape), gv.reshape(shape), gi.reshape(shape) if synapse else None
