"""Leaky integrator (LI) neuron, the non-spiking readout, and the shared leaky-membrane update.

Continuous-time model (NIR ``LI`` / ``CubaLI``; times in seconds, voltages dimensionless):

.. math::

    \\tau_{syn} \\dot I = -I + \\tau_{syn} \\sum_k x_k \\delta(t - t_k), \\qquad
    \\tau_{mem} \\dot v = (v_{leak} - v) + R I

(each input ``x_k`` arriving at step ``t_k`` makes the current jump by ``x_k``). Discretisation:
exponential integration over one step ``dt``, exact for the membrane while the current is held
for the step (``a_m = e^{-dt/\\tau_{mem}}``, ``a_s = e^{-dt/\\tau_{syn}}``):

.. math::

    I_{t} = a_s I_{t-1} + x_t \\quad (\\text{or } I_t = x_t \\text{ without a synapse}), \\qquad
    v_t = v_{leak} + a_m (v_{t-1} - v_{leak}) + (1 - a_m) R I_t

With a constant input current the membrane follows ``v(t) = v_leak + R I (1 - e^{-t/tau_mem})``
exactly at the grid points.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import Tensor

from snnlearn.neurons._checks import check_dt, check_finite, check_positive_time, decay

__all__ = ["LIParams", "LIState", "leaky_integrate", "li_initial_state", "li_step"]


@dataclass(frozen=True)
class LIParams:
    """Parameters of a leaky-integrator readout (times in seconds, voltages dimensionless).

    Args:
        tau_mem: membrane time constant (s, > 0).
        tau_syn: synaptic current time constant (s, > 0), or ``None`` for no synaptic filter
            (the input is the current).
        r: membrane resistance (dimensionless gain, finite).
        v_leak: resting potential (dimensionless).

    Raises:
        ValueError: a time constant that is not a finite number > 0, or a non-finite value.

    Example:
        >>> LIParams(tau_mem=10e-3).tau_syn is None
        True
    """

    tau_mem: float = 20e-3
    tau_syn: float | None = None
    r: float = 1.0
    v_leak: float = 0.0

    def __post_init__(self) -> None:
        check_positive_time("LIParams", "tau_mem", self.tau_mem)
        if self.tau_syn is not None:
            check_positive_time("LIParams", "tau_syn", self.tau_syn)
        check_finite("LIParams", "r", self.r)
        check_finite("LIParams", "v_leak", self.v_leak)

    def initial_state(
        self, shape: tuple[int, ...], *, device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> LIState:
        """Resting state of the given shape (see :func:`li_initial_state`)."""
        return li_initial_state(shape, self, device=device, dtype=dtype)

    def step(self, x: Tensor, state: LIState, dt: float) -> tuple[Tensor, LIState]:
        """One step of the model (see :func:`li_step`)."""
        return li_step(x, state, self, dt)


class LIState(NamedTuple):
    """State of a leaky integrator: membrane ``v`` and synaptic current ``i``, each ``[B, N]``."""

    v: Tensor
    i: Tensor


def leaky_integrate(
    x: Tensor, v: Tensor, i: Tensor, *, tau_mem: float, tau_syn: float | None, r: float,
    v_leak: float, dt: float,
) -> tuple[Tensor, Tensor]:
    """The leaky membrane update shared by LI, LIF and ALIF (equation in the module docstring).

    Args:
        x: input current this step ``[B, N]``.
        v: membrane at the previous step ``[B, N]``.
        i: synaptic current at the previous step ``[B, N]`` (ignored without a synapse).
        tau_mem: membrane time constant (s).
        tau_syn: synaptic time constant (s) or ``None``.
        r: resistance (dimensionless).
        v_leak: resting potential.
        dt: time step (s).

    Returns:
        ``(v_t, i_t)``, the membrane and current after the step.
    """
    i_new = x if tau_syn is None else decay(dt, tau_syn) * i + x
    a_mem = decay(dt, tau_mem)
    v_new = v_leak + a_mem * (v - v_leak) + (1.0 - a_mem) * r * i_new
    return v_new, i_new


def li_initial_state(
    shape: tuple[int, ...], p: LIParams, *, device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
) -> LIState:
    """Resting state: ``v = v_leak``, ``i = 0``, tensors of ``shape`` (usually ``(B, N)``)."""
    v = torch.full(shape, p.v_leak, device=device, dtype=dtype)
    return LIState(v=v, i=torch.zeros_like(v))


def li_step(x: Tensor, state: LIState, p: LIParams, dt: float) -> tuple[Tensor, LIState]:
    """Advance a leaky integrator by one step; the output is the membrane ``v``.

    Args:
        x: input current ``[B, N]``.
        state: previous :class:`LIState`.
        p: parameters.
        dt: time step (s, > 0).

    Returns:
        ``(v_t, LIState(v_t, i_t))``.

    Example:
        >>> import torch
        >>> p = LIParams(tau_mem=10e-3)
        >>> s = p.initial_state((1, 1))
        >>> v, s = li_step(torch.ones(1, 1), s, p, 1e-3)
        >>> round(v.item(), 6) == round(1 - 2.718281828459045 ** -0.1, 6)
        True
    """
    dt = check_dt(dt)
    v, i = leaky_integrate(
        x, state.v, state.i, tau_mem=p.tau_mem, tau_syn=p.tau_syn, r=p.r, v_leak=p.v_leak, dt=dt
    )
    return v, LIState(v=v, i=i)
