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

import math
from typing import Any

import numpy as np
import torch
from torch import Tensor

from snnlearn.kernels._adjoint import current_adjoint, finish_current_adjoint, leak_constants
from snnlearn.kernels.dispatch import compute_dtype, resolve_backend
from snnlearn.neurons._checks import check_dt
from snnlearn.neurons.li import LIParams, LIState, li_step

__all__ = ["li_sequence"]


def _cpu_forward(current: Tensor, v0: Tensor, i0: Tensor, p: LIParams,
                 dt: float) -> tuple[Tensor, Tensor]:
    from snnlearn.kernels import _numba_cpu as nb

    cd = compute_dtype(current.dtype)
    T, shape = current.shape[0], current.shape[1:]
    M = math.prod(shape)
    cur = current.detach().to(cd).reshape(T, M).contiguous()
    a_m, a_s, c = leak_constants(p, dt)
    consts = nb.as_dtype(np.dtype(str(cd).removeprefix("torch.")), a_m, a_s, c, p.v_leak)
    v_seq, i = torch.empty((T, M), dtype=cd), torch.empty(M, dtype=cd)
    nb.li_forward(cur.numpy(), v0.detach().to(cd).reshape(M).contiguous().numpy(),
                  i0.detach().to(cd).reshape(M).contiguous().numpy(), *consts,
                  p.tau_syn is not None, v_seq.numpy(), i.numpy())
    return v_seq.to(current.dtype).reshape(T, *shape), i.to(i0.dtype).reshape(shape)


def _cpu_backward(g_v: Tensor, g_i: Tensor | None, p: LIParams,
                  dt: float) -> tuple[Tensor, Tensor, Tensor | None]:
    from snnlearn.kernels import _numba_cpu as nb

    cd = compute_dtype(g_v.dtype)
    T, shape = g_v.shape[0], g_v.shape[1:]
    M = math.prod(shape)
    gvs = g_v.detach().to(cd).reshape(T, M).contiguous()
    synapse = p.tau_syn is not None
    a_m, a_s, c = leak_constants(p, dt)
    consts = nb.as_dtype(np.dtype(str(cd).removeprefix("torch.")), a_m, a_s, c)
    gi0 = (g_i.detach().to(cd).reshape(M).contiguous() if synapse and g_i is not None
           else torch.zeros(M, dtype=cd))
    g_x, gv, gi = torch.empty((T, M), dtype=cd), torch.empty(M, dtype=cd), torch.empty(M, dtype=cd)
    nb.li_backward(gvs.numpy(), gi0.numpy(), *consts, synapse, g_x.numpy(), gv.numpy(),
                   gi.numpy())
    if not synapse and g_i is not None and T > 0:
        g_x[-1] += g_i.detach().to(cd).reshape(M)
    return g_x.reshape(T, *shape), gv.reshape(shape), gi.reshape(shape) if synapse else None


def _torch_forward(current: Tensor, v0: Tensor, i0: Tensor, p: LIParams,
                   dt: float) -> tuple[Tensor, Tensor]:
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


def _torch_backward(g_v: Tensor, g_i: Tensor | None, p: LIParams,
                    dt: float) -> tuple[Tensor, Tensor, Tensor | None]:
    a_m, a_s, c = leak_constants(p, dt)
    T = g_v.shape[0]
    g_x = torch.empty_like(g_v)
    gv = g_v.new_zeros(g_v.shape[1:])
    gi = g_i if g_i is not None else g_v.new_zeros(g_v.shape[1:])
    for t in range(T - 1, -1, -1):
        gv = a_m * gv + g_v[t]
        g_cur = c * gv
        g_x[t], gi = current_adjoint(g_cur, gi, a_s, p.tau_syn is not None)
    g_i0 = finish_current_adjoint(g_x, g_i, gi, p.tau_syn is not None)
    return g_x, a_m * gv, g_i0


class _LISequence(torch.autograd.Function):
    @staticmethod
    def forward(  # type: ignore[override]
        current: Tensor, v0: Tensor, i0: Tensor, p: LIParams, dt: float, backend: str
    ) -> tuple[Tensor, Tensor]:
        if backend == "triton":
            from snnlearn.kernels._triton_li import li_forward as run
        else:
            run = _cpu_forward if backend == "cpu" else _torch_forward
        return run(current, v0, i0, p, dt)

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Any, ...], output: tuple[Tensor, ...]) -> None:
        current, v0, i0, ctx.p, ctx.dt, ctx.backend = inputs
        ctx.dtypes = (current.dtype, v0.dtype, i0.dtype)

    @staticmethod
    def backward(  # type: ignore[override]
        ctx: Any, g_v: Tensor | None, g_i: Tensor | None
    ) -> tuple[Tensor | None, ...]:
        if g_v is None:
            raise RuntimeError("li_sequence backward needs the gradient of the membrane sequence")
        if ctx.backend == "triton":
            from snnlearn.kernels._triton_li import li_backward as run
        else:
            run = _cpu_backward if ctx.backend == "cpu" else _torch_backward
        g_x, g_v0, g_i0 = run(g_v, g_i, ctx.p, ctx.dt)
        d_x, d_v, d_i = ctx.dtypes
        return (g_x.to(d_x), g_v0.to(d_v), None if g_i0 is None else g_i0.to(d_i),
                None, None, None)


def _reference(current: Tensor, state: LIState, p: LIParams,
               dt: float) -> tuple[Tensor, LIState]:
    """The specification: :func:`~snnlearn.neurons.li.li_step` once per step, under autograd."""
    out = []
    for t in range(current.shape[0]):
        v, state = li_step(current[t], state, p, dt)
        out.append(v)
    return (torch.stack(out) if out else current.new_zeros(current.shape)), state


def li_sequence(
    current: Tensor, state: LIState, p: LIParams, dt: float, *, backend: str | None = None
) -> tuple[Tensor, LIState]:
    """Run leaky integrators over a whole input sequence in one fused operation.

    Args:
        current: input current ``[T, B, N]``.
        state: initial :class:`LIState`.
        p: LI parameters.
        dt: time step (s, > 0).
        backend: ``"auto"``, ``"reference"``, ``"torch"``, ``"cpu"`` or ``"triton"``
            (:mod:`snnlearn.kernels.dispatch`); ``None`` takes the process default.

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
    name = resolve_backend(backend, current)
    if name == "reference":
        return _reference(current, state, p, dt)
    v_seq, i = _LISequence.apply(current, state.v, state.i, p, dt, name)
    v_last = v_seq[-1] if current.shape[0] > 0 else state.v
    return v_seq, LIState(v=v_last, i=i)
