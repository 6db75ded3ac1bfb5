"""Fused LIF sequence: the whole time loop of a feed-forward LIF layer in one autograd Function.

Forward (no autograd graph): the equations of :mod:`snnlearn.neurons.lif`, step by step, keeping
only the pre-reset membrane ``u_t`` (and the refractory mask when ``t_ref > 0``). Backward: the
exact adjoint of that recursion with the surrogate pseudo-derivative, computed in one reverse loop
(``x_t`` is the input current, ``c = (1 - a_m) R``, ``theta = v_th``):

.. math::

    \\bar u_t &= \\bar v_t \\, \\partial v_t / \\partial u_t
               + (\\bar z_t + \\bar v_t \\, \\partial v_t / \\partial z_t)
                 \\, \\sigma'(u_t - \\theta) \\\\
    \\bar I_t &= a_s \\bar I_{t+1} + c \\, \\bar u_t, \\qquad \\bar x_t = \\bar I_t, \\qquad
    \\bar v_{t-1} = a_m \\bar u_t

(while refractory the membrane is held: ``\\bar v_{t-1} = \\bar u_t`` and no current flows in).
The result equals BPTT through :func:`snnlearn.neurons.lif.lif_step` to rounding; the tests check
this against the step-by-step reference, including refractoriness, both resets and
``detach_reset``. Memory: one ``[T, B, N]`` tensor (plus a bool mask with refractoriness).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import Tensor

from snnlearn.kernels._adjoint import (
    adaptation_constants,
    current_adjoint,
    finish_current_adjoint,
    leak_constants,
)
from snnlearn.kernels.dispatch import compute_dtype, resolve_backend, surrogate_code
from snnlearn.neurons._checks import check_dt
from snnlearn.neurons.alif import ALIFParams
from snnlearn.neurons.lif import LIFParams, LIFState, lif_step

__all__ = ["lif_sequence"]


def _torch_forward(
    current: Tensor, v0: Tensor, i0: Tensor, ref0: Tensor, p: LIFParams, dt: float
) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor, Tensor]:
    a_m, a_s, c = leak_constants(p, dt)
    jump = p.v_th - p.v_reset
    T = current.shape[0]
    u_seq = torch.empty_like(current)
    z_seq = torch.empty_like(current)
    active_seq = torch.empty(current.shape, dtype=torch.bool, device=current.device)
    v, i, ref = v0, i0, ref0
    for t in range(T):
        i = a_s * i + current[t] if p.tau_syn is not None else current[t]
        u = p.v_leak + a_m * (v - p.v_leak) + c * i
        if p.t_ref > 0:
            active = ref <= 0.5 * dt
            u = torch.where(active, u, v)
            z = ((u > p.v_th) & active).to(u.dtype)
            ref = torch.where(z > 0, torch.full_like(ref, p.t_ref), (ref - dt).clamp(min=0.0))
            active_seq[t] = active
        else:
            z = (u > p.v_th).to(u.dtype)
        v = u - z * jump if p.reset == "subtract" else u - z * (u - p.v_reset)
        u_seq[t] = u
        z_seq[t] = z
    if T == 0:
        i = i0
    return z_seq, v, i, ref, u_seq, active_seq


def _torch_backward(
    u_seq: Tensor, z_seq: Tensor, active_seq: Tensor, g_z: Tensor | None, g_v: Tensor | None,
    g_i: Tensor | None, p: LIFParams, dt: float,
) -> tuple[Tensor, Tensor, Tensor | None]:
    a_m, a_s, c = leak_constants(p, dt)
    jump = p.v_th - p.v_reset
    T = u_seq.shape[0]
    shape = u_seq.shape[1:]
    zeros = u_seq.new_zeros(shape)
    gv = g_v if g_v is not None else zeros
    gi = g_i if g_i is not None else zeros
    g_x = torch.empty_like(u_seq)
    for t in range(T - 1, -1, -1):
        u, z = u_seq[t], z_seq[t]
        sg = p.surrogate.derivative(u - p.v_th)
        if p.t_ref > 0:
            sg = sg * active_seq[t].to(u.dtype)
        gz = gv.new_zeros(shape) if g_z is None else g_z[t]
        if p.reset == "subtract":
            dv_du = 1.0
            dv_dz = 0.0 if p.detach_reset else -jump
        else:
            dv_du = 1.0 - z
            dv_dz = 0.0 if p.detach_reset else -(u - p.v_reset)
        gu = gv * dv_du + (gz + gv * dv_dz) * sg
        if p.t_ref > 0:
            active = active_seq[t].to(u.dtype)
            g_cur = c * gu * active
            gv = gu * (a_m * active + (1.0 - active))
        else:
            g_cur = c * gu
            gv = a_m * gu
        g_x[t], gi = current_adjoint(g_cur, gi, a_s, p.tau_syn is not None)
    g_i0 = finish_current_adjoint(g_x, g_i, gi, p.tau_syn is not None)
    return g_x, gv, g_i0


def _empty(like: Tensor) -> Tensor:
    return like.new_zeros(0)


def _cpu_forward(
    current: Tensor, v0: Tensor, i0: Tensor, ref0: Tensor, a0: Tensor | None,
    p: LIFParams | ALIFParams, dt: float,
) -> tuple[Tensor, ...]:
    from snnlearn.kernels import _numba_cpu as nb

    cd = compute_dtype(current.dtype)
    T, shape = current.shape[0], current.shape[1:]
    M = math.prod(shape)
    cur = current.detach().to(cd).reshape(T, M).contiguous()

    def flat(x: Tensor) -> Tensor:
        return x.detach().to(cd).reshape(M).contiguous()

    lif, beta, rho = adaptation_constants(p, dt)
    adaptive = isinstance(p, ALIFParams)
    a_m, a_s, c = leak_constants(lif, dt)
    refractory = lif.t_ref > 0
    z, u = torch.empty((T, M), dtype=cd), torch.empty((T, M), dtype=cd)
    act = torch.empty((T, M) if refractory else (1, 1), dtype=torch.bool)
    a_seq = torch.empty((T, M) if adaptive else (1, 1), dtype=cd)
    v, i, ref, a = (torch.empty(M, dtype=cd) for _ in range(4))
    a_init = flat(a0) if adaptive and a0 is not None else torch.zeros(M, dtype=cd)
    consts = nb.as_dtype(np.dtype(str(cd).removeprefix("torch.")), a_m, a_s, c, lif.v_leak,
                         lif.v_th, lif.v_reset, lif.v_th - lif.v_reset, beta, rho, 1.0 - rho)
    times = nb.as_dtype(consts[0].dtype, lif.t_ref, dt, 0.5 * dt)
    nb.lif_forward(
        cur.numpy(), flat(v0).numpy(), flat(i0).numpy(), flat(ref0).numpy(), a_init.numpy(),
        *consts, lif.tau_syn is not None, lif.reset == "hard", adaptive, *times,
        z.numpy(), u.numpy(), act.numpy(), a_seq.numpy(), v.numpy(), i.numpy(), ref.numpy(),
        a.numpy())
    dtype = current.dtype
    full = (T, *shape)
    return (z.to(dtype).reshape(full), v.to(dtype).reshape(shape), i.to(dtype).reshape(shape),
            ref.to(dtype).reshape(shape),
            a.to(dtype).reshape(shape) if adaptive else _empty(current), u.reshape(full),
            act.reshape(full) if refractory else act,
            a_seq.reshape(full) if adaptive else _empty(u))


def _cpu_backward(
    u_seq: Tensor, z_seq: Tensor, active_seq: Tensor, a_seq: Tensor, g_z: Tensor | None,
    g_v: Tensor | None, g_i: Tensor | None, g_a: Tensor | None, p: LIFParams | ALIFParams,
    dt: float,
) -> tuple[Tensor, Tensor, Tensor | None, Tensor | None]:
    from snnlearn.kernels import _numba_cpu as nb

    cd = u_seq.dtype
    T, shape = u_seq.shape[0], u_seq.shape[1:]
    M = math.prod(shape)

    def flat(x: Tensor | None, rows: int | None = None) -> Tensor:
        if x is None:
            return torch.zeros((rows, M) if rows is not None else M, dtype=cd)
        return x.detach().to(cd).reshape((rows, M) if rows is not None else M).contiguous()

    lif, beta, rho = adaptation_constants(p, dt)
    adaptive = isinstance(p, ALIFParams)
    synapse = lif.tau_syn is not None
    a_m, a_s, c = leak_constants(lif, dt)
    code = surrogate_code(lif.surrogate)
    assert code is not None  # resolve_backend only picks "cpu" for built-in surrogates
    consts = nb.as_dtype(np.dtype(str(cd).removeprefix("torch.")), a_m, a_s, c, lif.v_th,
                         lif.v_reset, lif.v_th - lif.v_reset, beta, rho, 1.0 - rho)
    g_x = torch.empty((T, M), dtype=cd)
    gv, gi, ga = (torch.empty(M, dtype=cd) for _ in range(3))
    gz = flat(g_z, T) if g_z is not None else torch.zeros((1, 1), dtype=cd)
    gi0 = flat(g_i) if synapse else torch.zeros(M, dtype=cd)
    a_rows = a_seq.reshape(T, M) if adaptive else torch.zeros((1, 1), dtype=cd)
    nb.lif_backward(
        u_seq.reshape(T, M).numpy(), z_seq.detach().to(cd).reshape(T, M).contiguous().numpy(),
        active_seq.reshape(T, M).numpy() if lif.t_ref > 0 else active_seq.numpy(),
        a_rows.numpy(), gz.numpy(), g_z is not None, flat(g_v).numpy(), gi0.numpy(),
        flat(g_a).numpy(), *consts, synapse, lif.reset == "hard", lif.detach_reset,
        lif.t_ref > 0, adaptive, code[0], nb.as_dtype(consts[0].dtype, code[1])[0],
        g_x.numpy(), gv.numpy(), gi.numpy(), ga.numpy())
    if not synapse and g_i is not None and T > 0:
        g_x[-1] += flat(g_i)
    return (g_x.reshape(T, *shape), gv.reshape(shape), gi.reshape(shape) if synapse else None,
            ga.reshape(shape) if adaptive else None)


def _torch_run(current: Tensor, v0: Tensor, i0: Tensor, ref0: Tensor, a0: Tensor | None,
               p: LIFParams, dt: float) -> tuple[Tensor, ...]:
    z, v, i, ref, u, act = _torch_forward(current, v0, i0, ref0, p, dt)
    return z, v, i, ref, _empty(current), u, act, _empty(u)


def _torch_grads(u_seq: Tensor, z_seq: Tensor, active_seq: Tensor, a_seq: Tensor,
                 g_z: Tensor | None, g_v: Tensor | None, g_i: Tensor | None, g_a: Tensor | None,
                 p: LIFParams, dt: float) -> tuple[Tensor, Tensor, Tensor | None, None]:
    return (*_torch_backward(u_seq, z_seq, active_seq, g_z, g_v, g_i, p, dt), None)


class _LIFSequence(torch.autograd.Function):
    """A feed-forward LIF population's whole loop; with :class:`ALIFParams` (``"cpu"`` and
    ``"triton"`` backends only) the adaptive threshold ``v_th + beta a_{t-1}`` too.

    Outputs ``(z, v, i, refractory, a, u, active, a_seq)``: spikes, the final state (``a`` empty
    for LIF), the pre-reset membrane, the refractory mask and the adaptation before each step
    (empty for LIF)."""

    @staticmethod
    def forward(  # type: ignore[override]
        current: Tensor, v0: Tensor, i0: Tensor, ref0: Tensor, a0: Tensor | None,
        p: LIFParams | ALIFParams, dt: float, backend: str,
    ) -> tuple[Tensor, ...]:
        if backend == "triton":
            from snnlearn.kernels._triton_lif import lif_forward as run
        elif backend == "cpu":
            run = _cpu_forward
        elif isinstance(p, ALIFParams):
            raise ValueError("the fused ALIF loop runs on the 'cpu' and 'triton' backends; "
                             "use snnlearn.kernels.alif_scan for others")
        else:
            run = _torch_run
        return run(current, v0, i0, ref0, a0, p, dt)

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Any, ...], output: tuple[Tensor, ...]) -> None:
        current, v0, i0, _, a0, p, dt, backend = inputs
        z_seq, _, _, _, _, u_seq, active_seq, a_seq = output
        ctx.p, ctx.dt, ctx.backend = p, dt, backend
        ctx.dtypes = (current.dtype, v0.dtype, i0.dtype, None if a0 is None else a0.dtype)
        ctx.save_for_backward(u_seq, None if backend == "triton" else z_seq, active_seq, a_seq)
        ctx.mark_non_differentiable(output[3], u_seq, active_seq, a_seq)

    @staticmethod
    def backward(  # type: ignore[override]
        ctx: Any, g_z: Tensor | None, g_v: Tensor | None, g_i: Tensor | None, _g_ref: Any,
        g_a: Tensor | None, *_: Any
    ) -> tuple[Tensor | None, ...]:
        u_seq, z_seq, active_seq, a_seq = ctx.saved_tensors
        if ctx.backend == "triton":
            from snnlearn.kernels._triton_lif import lif_backward as run
        else:
            run = _cpu_backward if ctx.backend == "cpu" else _torch_grads
        if g_a is not None and g_a.numel() == 0:
            g_a = None
        g_x, g_v0, g_i0, g_a0 = run(u_seq, z_seq, active_seq, a_seq, g_z, g_v, g_i, g_a,
                                    ctx.p, ctx.dt)
        d_x, d_v, d_i, d_a = ctx.dtypes
        return (g_x.to(d_x), g_v0.to(d_v), None if g_i0 is None else g_i0.to(d_i), None,
                None if g_a0 is None or d_a is None else g_a0.to(d_a), None, None, None)


def _reference(
    current: Tensor, state: LIFState, p: LIFParams, dt: float
) -> tuple[Tensor, LIFState]:
    """The specification: :func:`~snnlearn.neurons.lif.lif_step` once per step, under autograd."""
    out = []
    for t in range(current.shape[0]):
        z, state = lif_step(current[t], state, p, dt)
        out.append(z)
    return (torch.stack(out) if out else current.new_zeros(current.shape)), state


def lif_sequence(
    current: Tensor, state: LIFState, p: LIFParams, dt: float, *, backend: str | None = None
) -> tuple[Tensor, LIFState]:
    """Run a feed-forward LIF population over a whole input sequence in one fused operation.

    Equivalent to calling :func:`snnlearn.neurons.lif.lif_step` for every step (same spikes, same
    surrogate gradients) but without building a per-step autograd graph.

    Args:
        current: input current ``[T, B, N]`` (dimensionless).
        state: initial :class:`LIFState` (each ``[B, N]``).
        p: LIF parameters.
        dt: time step (s, > 0).
        backend: ``"auto"``, ``"reference"``, ``"torch"``, ``"cpu"`` or ``"triton"``
            (:mod:`snnlearn.kernels.dispatch`); ``None`` takes the process default.

    Shapes:
        ``current [T, B, N] -> spikes [T, B, N]``.

    Returns:
        ``(spikes, final_state)``.

    Example:
        >>> import torch
        >>> p = LIFParams(tau_mem=10e-3)
        >>> z, s = lif_sequence(torch.full((5, 1, 1), 30.0), p.initial_state((1, 1)), p, 1e-3)
        >>> z.flatten().tolist()
        [1.0, 1.0, 1.0, 1.0, 1.0]
    """
    dt = check_dt(dt)
    name = resolve_backend(backend, current, p.surrogate)
    if name == "reference":
        return _reference(current, state, p, dt)
    z_seq, v, i, ref, *_ = _LIFSequence.apply(
        current, state.v, state.i, state.refractory, None, p, dt, name)
    z_last = z_seq[-1] if current.shape[0] > 0 else state.z
    return z_seq, LIFState(v=v, i=i, refractory=ref, z=z_last)
