"""Pieces shared by the fused LIF and LI sequence kernels (private)."""

from __future__ import annotations

from typing import Any

from torch import Tensor

from snnlearn.neurons._checks import decay


def leak_constants(p: object, dt: float) -> tuple[float, float, float]:
    """``(a_m, a_s, c)``: membrane and synaptic decays and the input gain ``(1 - a_m) R``.

    ``p`` has ``tau_mem``, ``tau_syn`` (or ``None``, then ``a_s = 0``) and ``r``.
    """
    a_m = decay(dt, p.tau_mem)  # type: ignore[attr-defined]
    tau_syn = p.tau_syn  # type: ignore[attr-defined]
    a_s = 0.0 if tau_syn is None else decay(dt, tau_syn)
    return a_m, a_s, (1.0 - a_m) * p.r  # type: ignore[attr-defined]


def adaptation_constants(p: object, dt: float) -> tuple[Any, float, float]:
    """``(lif, beta, rho)``: the LIF parameters of an ALIF (or LIF) population, its adaptation
    strength ``beta`` (0 for LIF) and the adaptation decay ``rho = exp(-dt / tau_adapt)``."""
    from snnlearn.neurons import ALIFParams

    if isinstance(p, ALIFParams):
        return p.lif, p.adaptation, decay(dt, p.tau_adapt)
    return p, 0.0, 1.0


def current_adjoint(g_cur: Tensor, gi: Tensor, a_s: float, synapse: bool) -> tuple[Tensor, Tensor]:
    """One reverse step of the synaptic current ``I_t = a_s I_{t-1} + x_t``.

    ``g_cur`` is what flows into ``I_t`` from the membrane, ``gi`` what flows into it from the
    output and from ``I_{t+1}``. Returns ``(dL/dx_t, gi for step t-1)``.
    """
    if not synapse:
        return g_cur, gi
    g_cur = g_cur + gi
    return g_cur, a_s * g_cur


def finish_current_adjoint(g_x: Tensor, g_i: Tensor | None, gi: Tensor,
                           synapse: bool) -> Tensor | None:
    """Gradient w.r.t. the initial current; without a synapse the final current is the last
    input, so its output gradient goes to ``g_x[-1]`` (in place)."""
    if synapse:
        return gi
    if g_i is not None and g_x.shape[0] > 0:
        g_x[-1] += g_i
    return None
