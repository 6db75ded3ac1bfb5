r"""Fused LIF/ALIF sequence with optional recurrence: one autograd Function for all ``T`` steps.

Forward (no autograd graph), per step, with ``a_m, a_s, c = (1 - a_m) R`` as in
:mod:`snnlearn.neurons.lif`, the adaptation decay ``\rho = e^{-dt/\tau_{adapt}}`` and strength
``\beta`` (``\beta = 0`` for LIF) and recurrent weights ``W`` (diagonal already zero):

.. math::

    I_t &= a_s I_{t-1} + x_t + W z_{t-1}, \qquad
    u_t = v_{leak} + a_m (v_{t-1} - v_{leak}) + c I_t \quad (u_t = v_{t-1}
    \text{ while refractory}) \\
    z_t &= H(u_t - v_{th} - \beta a_{t-1}), \qquad
    v_t = u_t - z_t (v_{th} - v_{reset}) \;\text{or}\; u_t - z_t (u_t - v_{reset}), \qquad
    a_t = \rho a_{t-1} + (1 - \rho) z_t

Backward: the exact adjoint of that recursion with the surrogate pseudo-derivative ``\sigma'``
in one reverse loop (``\bar z_t`` collects the output error, the recurrent error
``(W^\top \bar I_{t+1})``, the adaptation ``(1 - \rho) \bar a_t`` and the reset term):

.. math::

    \bar u_t &= \bar v_t \partial v_t / \partial u_t + \bar z_t \sigma'_t, \qquad
    \bar a_{t-1} = \rho \bar a_t - \beta \bar z_t \sigma'_t, \qquad
    \bar I_t = c \bar u_t + a_s \bar I_{t+1}, \\
    \bar x_t &= \bar I_t, \qquad \bar W \mathrel{+}= \bar I_t^\top z_{t-1}, \qquad
    \bar v_{t-1} = a_m \bar u_t \;(\bar u_t \text{ while refractory})

It equals autograd through :func:`snnlearn.neurons.alif.alif_step` (or ``lif_step`` with the
recurrent current added) to rounding; the tests check every option. Memory: ``u``, ``z`` (and
``a``, the refractory mask) ``[T, B, N]``, no per-step autograd nodes. The loop runs torch
operations per step (a matrix product for the recurrence), on any device.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from snnlearn.kernels._adjoint import adaptation_constants, leak_constants
from snnlearn.neurons import ALIFParams, ALIFState, LIFParams, LIFState

__all__ = ["adaptive_sequence"]


def _forward(x: Tensor, v0: Tensor, i0: Tensor, ref0: Tensor, z0: Tensor, a0: Tensor,
             w: Tensor | None, p: LIFParams | ALIFParams, dt: float) -> tuple[Tensor, ...]:
    lif, beta, rho = adaptation_constants(p, dt)
    a_m, a_s, c = leak_constants(lif, dt)
    jump = lif.v_th - lif.v_reset
    T = x.shape[0]
    u_seq, z_seq = torch.empty_like(x), torch.empty_like(x)
    a_seq = torch.empty_like(x) if beta else x.new_zeros(0)
    act_seq = torch.empty(x.shape, dtype=torch.bool, device=x.device) if lif.t_ref > 0 \
        else x.new_zeros(0, dtype=torch.bool)
    v, i, ref, z, a = v0, i0, ref0, z0, a0
    for t in range(T):
        drive = x[t] if w is None else torch.addmm(x[t], z, w.t())
        i = a_s * i + drive if lif.tau_syn is not None else drive
        u = lif.v_leak + a_m * (v - lif.v_leak) + c * i
        threshold = lif.v_th + beta * a if beta else lif.v_th
        if lif.t_ref > 0:
            active = ref <= 0.5 * dt
            u = torch.where(active, u, v)
            z = ((u > threshold) & active).to(u.dtype)
            ref = torch.where(z > 0, torch.full_like(ref, lif.t_ref), (ref - dt).clamp(min=0.0))
            act_seq[t] = active
        else:
            z = (u > threshold).to(u.dtype)
        if beta:
            a_seq[t] = a
            a = rho * a + (1.0 - rho) * z
        v = u - z * jump if lif.reset == "subtract" else u - z * (u - lif.v_reset)
        u_seq[t], z_seq[t] = u, z
    return (z_seq, v.clone() if T == 0 else v, i.clone() if T == 0 else i, ref.clone(), z.clone(),
            a.clone(), u_seq, a_seq, act_seq)


class _AdaptiveSequence(torch.autograd.Function):
    @staticmethod
    def forward(  # type: ignore[override]
        x: Tensor, v0: Tensor, i0: Tensor, ref0: Tensor, z0: Tensor, a0: Tensor,
        w: Tensor | None, p: LIFParams | ALIFParams, dt: float,
    ) -> tuple[Tensor, ...]:
        return _forward(x, v0, i0, ref0, z0, a0, w, p, dt)

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Any, ...], output: tuple[Tensor, ...]) -> None:
        x, _, _, _, z0, a0, w, p, dt = inputs
        z_seq, _, _, _, _, _, u_seq, a_seq, act_seq = output
        ctx.p, ctx.dt, ctx.has_w = p, dt, w is not None
        ctx.save_for_backward(u_seq, z_seq, a_seq, act_seq, z0, a0,
                              w if w is not None else x.new_zeros(0))
        ctx.mark_non_differentiable(output[3], u_seq, a_seq, act_seq)

    @staticmethod
    def backward(  # type: ignore[override]
        ctx: Any, g_z: Tensor | None, g_v: Tensor | None, g_i: Tensor | None, _g_ref: Any,
        g_zl: Tensor | None, g_a: Tensor | None, *_: Any,
    ) -> tuple[Tensor | None, ...]:
        u_seq, z_seq, a_seq, act_seq, z0, a0, w = ctx.saved_tensors
        p, dt = ctx.p, ctx.dt
        lif, beta, rho = adaptation_constants(p, dt)
        a_m, a_s, c = leak_constants(lif, dt)
        jump = lif.v_th - lif.v_reset
        T, shape = u_seq.shape[0], u_seq.shape[1:]
        zeros = u_seq.new_zeros(shape)
        gv = g_v if g_v is not None else zeros
        carry = g_i if g_i is not None else zeros  # what flows into I_t from outside or I_{t+1}
        ga = g_a if g_a is not None else zeros
        grec = g_zl if g_zl is not None else zeros  # dL/dz_t through step t+1
        g_x = torch.empty_like(u_seq)
        g_w = torch.zeros_like(w) if ctx.has_w else None
        refractory = lif.t_ref > 0
        synapse = lif.tau_syn is not None
        for t in range(T - 1, -1, -1):
            u, z = u_seq[t], z_seq[t]
            a_prev = a_seq[t] if beta else None
            threshold = lif.v_th + beta * a_prev if beta else lif.v_th
            sg = lif.surrogate.derivative(u - threshold)
            if refractory:
                active = act_seq[t].to(u.dtype)
                sg = sg * active
            gz = grec.clone() if g_z is None else g_z[t] + grec
            if beta:
                gz = gz + (1.0 - rho) * ga
            if lif.reset == "subtract":
                dv_du, dv_dz = 1.0, (0.0 if lif.detach_reset else -jump)
            else:
                dv_du = 1.0 - z
                dv_dz = 0.0 if lif.detach_reset else -(u - lif.v_reset)
            gz = gz + gv * dv_dz
            gu = gv * dv_du + gz * sg
            if beta:
                ga = rho * ga - beta * gz * sg
            if refractory:
                g_cur = c * gu * active
                gv = gu * (a_m * active + (1.0 - active))
            else:
                g_cur, gv = c * gu, a_m * gu
            gI = g_cur + carry
            carry = a_s * gI if synapse else zeros
            g_x[t] = gI
            z_prev = z_seq[t - 1] if t > 0 else z0
            if ctx.has_w:
                g_w += gI.reshape(-1, gI.shape[-1]).t() @ z_prev.reshape(-1, z_prev.shape[-1])
                grec = gI @ w
            else:
                grec = zeros
        g_i0 = carry if synapse else None
        return (g_x, gv, g_i0, None, grec if ctx.has_w else None,
                ga if beta else None, g_w, None, None)


def adaptive_sequence(p: LIFParams | ALIFParams, current: Tensor, state: LIFState | ALIFState,
                      dt: float, recurrent_weight: Tensor | None = None
                      ) -> tuple[Tensor, LIFState | ALIFState, Tensor, Tensor | None]:
    """Run a LIF or ALIF population (optionally recurrent) over ``current [T, B, N]``.

    ``recurrent_weight`` is used as given (zero its diagonal first for no self-connections).

    Returns:
        ``(spikes, final_state, u, adaptation)``: the pre-reset membrane ``u`` and, for ALIF,
        the adaptation ``a_{t-1}`` used at each step (both detached).
    """
    a0 = state.a if isinstance(p, ALIFParams) else state.v.new_zeros(state.v.shape)
    z, v, i, ref, z_last, a, u, a_seq, _ = _AdaptiveSequence.apply(
        current, state.v, state.i, state.refractory, state.z, a0, recurrent_weight, p, dt)
    if current.shape[0] == 0:
        z_last = state.z
    if isinstance(p, ALIFParams):
        return z, ALIFState(v=v, i=i, refractory=ref, z=z_last, a=a), u, a_seq
    return z, LIFState(v=v, i=i, refractory=ref, z=z_last), u, None
