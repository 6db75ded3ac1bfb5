"""Triton kernels of the fused LIF and feed-forward ALIF sequence (private; the ``"triton"``
backend of :mod:`snnlearn.kernels.lif_scan`).

The same recursion and adjoint as ``_torch_forward`` / ``_torch_backward`` there, operation for
operation (equations in that module's docstring), in one launch each: a program holds the state
of ``BLOCK`` neurons in registers and loops over the ``T`` steps. Data of any floating dtype is
read as it is (strided, no copy where a ``[T, M]`` view exists), computed in float32, and the
spikes are written in the input's dtype. The backward pass reads only the float32 pre-reset
membrane ``u`` (and the refractory mask when ``t_ref > 0``): the spikes are recomputed from it
(``z = [u > v_th]`` and active, the very comparison of the forward pass), so they need not be
kept for it. float64 data and empty sequences run the torch loops instead.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from snnlearn.kernels import _triton_common as tc
from snnlearn.kernels._adjoint import adaptation_constants, leak_constants
from snnlearn.kernels.dispatch import surrogate_code
from snnlearn.neurons.alif import ALIFParams
from snnlearn.neurons.lif import LIFParams

try:
    import triton.language as tl
except ImportError:  # pragma: no cover - the module is importable without Triton
    tl = None

__all__ = ["lif_backward", "lif_forward"]


def _forward_kernel(
    cur_ptr, s_ct, s_cm, v0_ptr, i0_ptr, ref0_ptr, a0_ptr, z_ptr, u_ptr, act_ptr, as_ptr, v_ptr,
    i_ptr, ref_ptr, a_ptr, T, M, a_m, a_s, c, v_leak, v_th, v_reset, jump, beta, rho, one_m_rho,
    t_ref, dt, half_dt, SYNAPSE: tl.constexpr, HARD: tl.constexpr, REFRACTORY: tl.constexpr,
    ADAPTIVE: tl.constexpr, BLOCK: tl.constexpr,
):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < M
    steps = tl.where(mask, T, 0)  # T, or 0 past the end of the population: the load masks
    v = tl.load(v0_ptr + offs, mask=mask, other=0.0).to(tl.float32)
    i = tl.load(i0_ptr + offs, mask=mask, other=0.0).to(tl.float32)
    ref = tl.load(ref0_ptr + offs, mask=mask, other=0.0).to(tl.float32)
    a = tl.full([BLOCK], 0.0, tl.float32)
    if ADAPTIVE:
        a = tl.load(a0_ptr + offs, mask=mask, other=0.0).to(tl.float32)
    as_p = as_ptr + offs
    z_p = z_ptr + offs
    u_p = u_ptr + offs
    act_p = act_ptr + offs
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
        u = v_leak + a_m * (v - v_leak) + c * i
        threshold = v_th
        if ADAPTIVE:
            threshold = v_th + beta * a
        if REFRACTORY:
            active = ref <= half_dt
            u = tl.where(active, u, v)
            spiking = (u > threshold) & active
            ref = tl.where(spiking, t_ref, tl.maximum(ref - dt, 0.0))
            tl.store(act_p, active.to(tl.uint8), mask=mask)
            act_p += M
        else:
            spiking = u > threshold
        z = spiking.to(tl.float32)
        if ADAPTIVE:
            tl.store(as_p, a, mask=mask)
            as_p += M
            a = rho * a + one_m_rho * z
        if HARD:
            v = u - z * (u - v_reset)
        else:
            v = u - z * jump
        tl.store(u_p, u, mask=mask)
        tl.store(z_p, z.to(z_ptr.dtype.element_ty), mask=mask)
        x0, x1, x2, x3 = x1, x2, x3, x_next
        cur_p += s_ct
        z_p += M
        u_p += M
    tl.store(v_ptr + offs, v.to(v_ptr.dtype.element_ty), mask=mask)
    tl.store(i_ptr + offs, i.to(i_ptr.dtype.element_ty), mask=mask)
    tl.store(ref_ptr + offs, ref.to(ref_ptr.dtype.element_ty), mask=mask)
    if ADAPTIVE:
        tl.store(a_ptr + offs, a.to(a_ptr.dtype.element_ty), mask=mask)


def _backward_kernel(
    u_ptr, act_ptr, as_ptr, gz_ptr, s_gt, s_gm, gv0_ptr, gi0_ptr, ga0_ptr, gx_ptr, gv_ptr,
    gi_ptr, ga_ptr, T, M, last_row, last_gz, a_m, a_s, c, v_th, v_reset, jump, beta, rho,
    one_m_rho, scale, SYNAPSE: tl.constexpr, HARD: tl.constexpr, DETACH: tl.constexpr,
    REFRACTORY: tl.constexpr, ADAPTIVE: tl.constexpr, KIND: tl.constexpr, HAS_GZ: tl.constexpr,
    HAS_GI: tl.constexpr, HAS_GA: tl.constexpr, BLOCK: tl.constexpr,
):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < M
    steps = tl.where(mask, T, 0)  # T, or 0 past the end of the population: the load masks
    gv = tl.load(gv0_ptr + offs, mask=mask, other=0.0).to(tl.float32)
    gi = tl.full([BLOCK], 0.0, tl.float32)
    if HAS_GI:
        gi = tl.load(gi0_ptr + offs, mask=mask, other=0.0).to(tl.float32)
    ga = tl.full([BLOCK], 0.0, tl.float32)
    if HAS_GA:
        ga = tl.load(ga0_ptr + offs, mask=mask, other=0.0).to(tl.float32)
    as_p = as_ptr + last_row + offs
    # start at step T - 1 (offsets from the host: 64-bit safe) and walk back; as in the forward
    # kernel the data of steps t..t-3 are in flight at step t
    gx_p = gx_ptr + last_row + offs
    u_p = u_ptr + last_row + offs
    u0 = tl.load(u_p, mask=0 < steps, other=0.0)
    u1 = tl.load(u_p - M, mask=1 < steps, other=0.0)
    u2 = tl.load(u_p - 2 * M, mask=2 < steps, other=0.0)
    u3 = tl.load(u_p - 3 * M, mask=3 < steps, other=0.0)
    u_p -= 4 * M
    if REFRACTORY:
        act_p = act_ptr + last_row + offs
        a0 = tl.load(act_p, mask=0 < steps, other=0)
        a1 = tl.load(act_p - M, mask=1 < steps, other=0)
        a2 = tl.load(act_p - 2 * M, mask=2 < steps, other=0)
        a3 = tl.load(act_p - 3 * M, mask=3 < steps, other=0)
        act_p -= 4 * M
    if HAS_GZ:
        gz_p = gz_ptr + last_gz + offs * s_gm
        g0 = tl.load(gz_p, mask=0 < steps, other=0.0)
        g1 = tl.load(gz_p - s_gt, mask=1 < steps, other=0.0)
        g2 = tl.load(gz_p - 2 * s_gt, mask=2 < steps, other=0.0)
        g3 = tl.load(gz_p - 3 * s_gt, mask=3 < steps, other=0.0)
        gz_p -= 4 * s_gt
    for t in range(0, T):
        ahead = t + 4 < steps
        u = u0
        u_next = tl.load(u_p, mask=ahead, other=0.0)
        threshold = v_th
        if ADAPTIVE:
            threshold = v_th + beta * tl.load(as_p, mask=0 < steps, other=0.0)
            as_p -= M
        x = u - threshold
        if KIND == 0:
            d = tl.math.div_rn(1.0, scale * tl.abs(x) + 1.0)
            sg = d * d
        elif KIND == 1:
            y = scale * x
            sg = tl.math.div_rn(1.0, 1.0 + y * y)
        else:
            sg = tl.maximum(1.0 - scale * tl.abs(x), 0.0)
        spiking = u > threshold
        if REFRACTORY:
            a_next = tl.load(act_p, mask=ahead, other=0)
            active = a0 != 0
            a = active.to(tl.float32)
            sg = sg * a
            spiking = spiking & active
        gz = tl.full([BLOCK], 0.0, tl.float32)
        if HAS_GZ:
            g_next = tl.load(gz_p, mask=ahead, other=0.0)
            gz = g0.to(tl.float32)
        if ADAPTIVE:
            gz = gz + one_m_rho * ga
        if HARD:
            z = spiking.to(tl.float32)
            if DETACH:
                gz = gz + gv * 0.0
            else:
                gz = gz + gv * -(u - v_reset)
            gu = gv * (1.0 - z) + gz * sg
        else:
            if DETACH:
                gz = gz + gv * 0.0
            else:
                gz = gz + gv * -jump
            gu = gv + gz * sg
        if ADAPTIVE:
            ga = rho * ga - beta * gz * sg
        if REFRACTORY:
            g_cur = c * gu * a
            gv = gu * (a_m * a + (1.0 - a))
        else:
            g_cur = c * gu
            gv = a_m * gu
        if SYNAPSE:
            g_cur = g_cur + gi
            gi = a_s * g_cur
        elif HAS_GI:
            g_cur = g_cur + gi  # the final current is the last input: only at t = T - 1
            gi = tl.full([BLOCK], 0.0, tl.float32)
        tl.store(gx_p, g_cur.to(gx_ptr.dtype.element_ty), mask=mask)
        gx_p -= M
        u0, u1, u2, u3 = u1, u2, u3, u_next
        u_p -= M
        if REFRACTORY:
            a0, a1, a2, a3 = a1, a2, a3, a_next
            act_p -= M
        if HAS_GZ:
            g0, g1, g2, g3 = g1, g2, g3, g_next
            gz_p -= s_gt
    tl.store(gv_ptr + offs, gv, mask=mask)
    tl.store(gi_ptr + offs, gi, mask=mask)
    if ADAPTIVE:
        tl.store(ga_ptr + offs, ga, mask=mask)


def _spikes(u_seq: Tensor, active_seq: Tensor, p: LIFParams) -> Tensor:
    """The forward pass's spikes, recomputed from its membrane and refractory mask."""
    z = u_seq > p.v_th
    return (z & active_seq if p.t_ref > 0 else z).to(u_seq.dtype)


def lif_forward(
    current: Tensor, v0: Tensor, i0: Tensor, ref0: Tensor, a0: Tensor | None,
    p: LIFParams | ALIFParams, dt: float,
) -> tuple[Tensor, ...]:
    """``(z_seq, v, i, refractory, a, u_seq, active_seq, a_seq)`` as ``_LIFSequence`` returns
    them: spikes and final state in ``current``'s dtype, ``u_seq`` (and ``a_seq``, the
    adaptation before each step) in float32 (float64 for float64 data), ``active_seq`` a bool
    ``[T, ...]`` mask (``[1, 1]`` and unused when ``t_ref == 0``); ``a``, ``a_seq`` empty for
    LIF."""
    T, shape = current.shape[0], current.shape[1:]
    M = math.prod(shape)
    adaptive = isinstance(p, ALIFParams)
    if not tc.runs_natively(current):
        if adaptive:
            raise ValueError("the Triton ALIF kernel needs float32/16 data and T, N > 0")
        from snnlearn.kernels.lif_scan import _torch_run

        return _torch_run(current, v0, i0, ref0, a0, p, dt)
    lif, beta, rho = adaptation_constants(p, dt)
    dev, dtype = current.device, current.dtype
    refractory = lif.t_ref > 0
    cur, s_ct, s_cm = tc.rows(current, T, M)
    z = torch.empty((T, M), dtype=dtype, device=dev)
    u = torch.empty((T, M), dtype=torch.float32, device=dev)
    act = torch.empty((T, M) if refractory else (1, 1), dtype=torch.bool, device=dev)
    a_seq = torch.empty((T, M) if adaptive else (1, 1), dtype=torch.float32, device=dev)
    v, i, ref, a = (torch.empty(M, dtype=dtype, device=dev) for _ in range(4))
    a_m, a_s, c = leak_constants(lif, dt)
    tc.launch(
        _forward_kernel, M, cur, s_ct, s_cm, tc.flat(v0, M, current), tc.flat(i0, M, current),
        tc.flat(ref0, M, current), tc.flat(a0 if adaptive else None, M, current), z, u,
        act.view(torch.uint8), a_seq, v, i, ref, a, T, M, a_m, a_s, c, lif.v_leak, lif.v_th,
        lif.v_reset, lif.v_th - lif.v_reset, beta, rho, 1.0 - rho, lif.t_ref, dt, 0.5 * dt,
        SYNAPSE=lif.tau_syn is not None, HARD=lif.reset == "hard", REFRACTORY=refractory,
        ADAPTIVE=adaptive)
    full = (T, *shape)
    empty = current.new_zeros(0)
    return (z.reshape(full), v.reshape(shape), i.reshape(shape), ref.reshape(shape),
            a.reshape(shape) if adaptive else empty, u.reshape(full),
            act.reshape(full) if refractory else act,
            a_seq.reshape(full) if adaptive else u.new_zeros(0))


def lif_backward(
    u_seq: Tensor, z_seq: Tensor | None, active_seq: Tensor, a_seq: Tensor, g_z: Tensor | None,
    g_v: Tensor | None, g_i: Tensor | None, g_a: Tensor | None, p: LIFParams | ALIFParams,
    dt: float,
) -> tuple[Tensor, Tensor, Tensor | None, Tensor | None]:
    """``(dL/dx, dL/dv0, dL/di0 or None, dL/da0 or None)``; ``z_seq`` is not read (may be
    None). ``dL/dx`` is in ``g_z``'s dtype (else ``u_seq``'s)."""
    T, shape = u_seq.shape[0], u_seq.shape[1:]
    M = math.prod(shape)
    adaptive = isinstance(p, ALIFParams)
    if not tc.runs_natively(u_seq):
        from snnlearn.kernels.lif_scan import _torch_grads

        z = _spikes(u_seq, active_seq, p) if z_seq is None else z_seq
        return _torch_grads(u_seq, z, active_seq, a_seq, g_z, g_v, g_i, g_a, p, dt)
    lif, beta, rho = adaptation_constants(p, dt)
    code = surrogate_code(lif.surrogate)
    if code is None:
        raise ValueError(f"kernel backend 'triton' needs a built-in surrogate, got "
                         f"{type(lif.surrogate).__name__}; use backend 'torch'")
    dev = u_seq.device
    synapse = lif.tau_syn is not None
    gz, s_gt, s_gm = tc.rows(g_z, T, M) if g_z is not None else (u_seq, 0, 0)
    g_x = torch.empty((T, M), dtype=g_z.dtype if g_z is not None else u_seq.dtype, device=dev)
    gv, gi, ga = (torch.empty(M, dtype=torch.float32, device=dev) for _ in range(3))
    a_m, a_s, c = leak_constants(lif, dt)
    act = active_seq.view(torch.uint8)
    tc.launch(
        _backward_kernel, M, u_seq, act, a_seq if adaptive else u_seq, gz, s_gt, s_gm,
        tc.flat(g_v, M, u_seq), tc.flat(g_i, M, u_seq), tc.flat(g_a, M, u_seq), g_x, gv, gi,
        ga, T, M, (T - 1) * M, (T - 1) * s_gt, a_m, a_s, c, lif.v_th, lif.v_reset,
        lif.v_th - lif.v_reset, beta, rho, 1.0 - rho, code[1],
        SYNAPSE=synapse, HARD=lif.reset == "hard", DETACH=lif.detach_reset,
        REFRACTORY=lif.t_ref > 0, ADAPTIVE=adaptive, KIND=code[0], HAS_GZ=g_z is not None,
        HAS_GI=g_i is not None, HAS_GA=adaptive and g_a is not None)
    return (g_x.reshape(T, *shape), gv.reshape(shape), gi.reshape(shape) if synapse else None,
            ga.reshape(shape) if adaptive else None)
