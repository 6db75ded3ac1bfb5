"""Fused leaky-integrator sequence: the LI readout's time loop in one autograd Function.

The LI update (:mod:`snnlearn.neurons.li`) is linear, ``I_t = a_s I_{t-1} + x_t``,
``v_t = v_leak + a_m (v_{t-1} - v_leak) + c I_t`` with ``c = (1 - a_m) R``, so its adjoint is the
same filter run backwards in time:

.. math::

    \\bar v_t \\mathrel{+}= a_m \\bar v_{t+1}, \\qquad
    \\bar I_t = a_s \\bar I_{t+1} + c \\bar v_t, \\qquad \\bar x_t = \\bar I_t .

Identical (to rounding) to autograd through :func:`snnlearn.neurons.li.li_step`; memory: none
beyond the output.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from snnlearn.kernels._adjoint import current_adjoint, finish_current_adjoint, leak_constants
from snnlearn.neurons._checks import check_dt
from snnlearn.neurons.li import LIParams, LIState

__all__ = ["li_sequence"]


class _LISequence(torch.autograd.Function):
    @staticmethod
    def forward(  # type: ignore[override]
        current: Tensor, v0: Tensor, i0: Tensor, p: LIParams, dt: float
    ) -> tuple[Tensor, Tensor]:
        a_m, a_s, c = leak_constants(p, dt)
        v_seq = torch.empty_like(current)
        v, i = v0, i0
        for t in range(current.shape[0]):
            i = a_s * i + current[t] if p.tau_syn is not None else current[t]
            v = p.v_leak + a_m * (v - p.v_leak) + c * i
            v_seq[t] = v
        if current.shape[0] == 0:
            i = i0
        return v_seq, i

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Any, ...], output: tuple[Tensor, ...]) -> None:
        ctx.p, ctx.dt = inputs[3], inputs[4]

    @staticmethod
    def backward(  # type: ignore[override]
        ctx: Any, g_v: Tensor | None, g_i: Tensor | None
    ) -> tuple[Tensor | None, ...]:
        p: LIParams = ctx.p
        a_m, a_s, c = leak_constants(p, ctx.dt)
        if g_v is None:
            raise RuntimeError("li_sequence backward needs the gradient of the membrane sequence")
        T = g_v.shape[0]
        g_x = torch.empty_like(g_v)
        gv = g_v.new_zeros(g_v.shape[1:])
        gi = g_i if g_i is not None else g_v.new_zeros(g_v.shape[1:])
        for t in range(T - 1, -1, -1):
            gv = a_m * gv + g_v[t]
            g_cur = c * gv
            g_x[t], gi = current_adjoint(g_cur, gi, a_s, p.tau_syn is not None)
        g_i0 = finish_current_adjoint(g_x, g_i, gi, p.tau_syn is not None)
        return g_x, a_m * gv, g_i0, None, None


def li_sequence(current: Tensor, state: LIState, p: LIParams, dt: float) -> tuple[Tensor, LIState]:
    """Run leaky integrators over a whole input sequence in one fused operation.

    Args:
        current: input current ``[T, B, N]``.
        state: initial :class:`LIState`.
        p: LI parameters.
        dt: time step (s, > 0).

    Returns:
        ``(v_seq, final_state)`` with ``v_seq`` ``[T, B, N]``.

    Example:
        >>> import torch
        >>> p = LIParams(tau_mem=10e-3)
        >>> v, s = li_sequence(torch.ones(3, 1, 1), p.initial_state((1, 1)), p, 1e-3)
        >>> [round(x, 4) for x in v.flatten().tolist()]
        [0.0952, 0.1813, 0.2592]
    """
    dt = check_dt(dt)
    v_seq, i = _LISequence.apply(current, state.v, state.i, p, dt)
    v_last = v_seq[-1] if current.shape[0] > 0 else state.v
    return v_seq, LIState(v=v_last, i=i)
