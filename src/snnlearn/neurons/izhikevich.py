"""Izhikevich (2003) simple spiking neuron, with the paper's firing-pattern presets.

Continuous-time model, written with explicit time constants so that time is in seconds (SI) while
the voltage-like quantities keep the paper's millivolt scale (``v``, ``u``, the input ``I``,
``c`` and ``d`` in mV; ``b`` dimensionless):

.. math::

    \\tau_v \\dot v = 0.04 v^2 + 5 v + 140 - u + I, \\qquad
    \\tau_u \\dot u = b v - u, \\qquad
    \\text{if } v > v_{peak}: \\; v \\leftarrow c, \\; u \\leftarrow u + d

with ``tau_v = 1 ms`` (the paper's time unit, which fixes the coefficients 0.04, 5 and 140) and
``tau_u = 1 / a`` (the paper's ``a`` is in 1/ms, so ``a = 0.02`` is ``tau_u = 50 ms``).

Discretisation: **forward Euler** with step ``dt``, both variables advanced from the values at the
start of the step (Brian2's ``method="euler"``; not the paper's two 0.5 ms half-steps for ``v``):

1. integrate:
   ``v'_t = v_{t-1} + (dt / tau_v) (0.04 v_{t-1}^2 + 5 v_{t-1} + 140 - u_{t-1} + I_t)``,
   ``u'_t = u_{t-1} + (dt / tau_u) (b v_{t-1} - u_{t-1})``;
2. fire: ``z_t = H((v'_t - v_peak) / v_scale)`` (strict), with the surrogate pseudo-derivative
   of ``(v'_t - v_peak) / v_scale`` in the backward pass;
3. reset: ``v_t = v'_t - z_t (v'_t - c)`` and ``u_t = u'_t + z_t d``.

Forward Euler is first order; the upstroke ``0.04 v^2`` is stiff near the peak, so use
``dt <= 0.1 ms`` (spike times then move by well under 1 ms against a 10x finer step over a few
hundred ms of tonic firing). Between resets ``v`` stays below ``v_peak``, so one step can overshoot
the peak but never diverges. Euler keeps the fixed points of the continuous model: without input
``v`` rests at ``v* = (-(5 - b) - sqrt((5 - b)^2 - 22.4)) / 0.08`` mV (-70 mV for ``b = 0.2``).
A constant input ``I`` moves the rest along ``0.04 v^2 + (5 - b) v + 140 + I = 0``; for ``b > a``
(``a = tau_v / tau_u`` in units of 1/ms) it loses stability where the trace of the Jacobian
vanishes, at ``v_H = (a - 5) / 0.08`` and ``I_H = -(0.04 v_H^2 + (5 - b) v_H + 140)`` (3.80 mV for
RS), before it would vanish in the saddle-node at ``I = (5 - b)^2 / 0.16 - 140`` (4 mV). Above
``I_H`` the neuron fires repetitively.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, NamedTuple, get_args

import torch
from torch import Tensor

from snnlearn.neurons._checks import check_dt, check_finite, check_positive_time
from snnlearn.surrogate import FastSigmoid, Surrogate, spike

__all__ = ["IzhikevichParams", "IzhikevichState", "IzhikevichPattern", "izhikevich_preset",
           "izhikevich_initial_state", "izhikevich_integrate", "izhikevich_fire",
           "izhikevich_step"]

IzhikevichPattern = Literal["RS", "IB", "CH", "FS", "LTS", "TC", "RZ"]


@dataclass(frozen=True)
class IzhikevichParams:
    """Parameters of an Izhikevich neuron (times in seconds; ``v``, ``u``, input in mV).

    The defaults are the regular-spiking (RS) cell; :func:`izhikevich_preset` gives the others.

    Args:
        tau_recovery: recovery time constant ``tau_u = 1/a`` (s, > 0; ``a = 0.02/ms`` is 50 ms).
        sensitivity: ``b``, coupling of the recovery variable to ``v`` (dimensionless, finite).
        v_reset: ``c``, membrane potential after a spike (mV, < ``v_peak``).
        recovery_jump: ``d``, increment of ``u`` after a spike (mV, finite).
        v_peak: spike cut-off; a spike is emitted when ``v`` exceeds it (mV).
        tau_mem: ``tau_v``, the time unit of the ``v`` equation (s, > 0); the paper's
            coefficients assume 1 ms.
        v_init: initial membrane potential (mV); the initial recovery is ``b * v_init``.
        v_scale: voltage scale of the surrogate, which sees ``(v - v_peak) / v_scale`` (mV, > 0).
        detach_reset: if true (the default, unlike LIF), no gradient flows through the reset
            of ``v`` and ``u``. The reset term ``z (v' - c)`` multiplies the surrogate by a jump of
            about 100 mV, which makes spike-count gradients change sign and explode (measured in
            docs/neurons.md); detached, they are positive and bounded.
        surrogate: pseudo-derivative of the spike nonlinearity.

    Raises:
        ValueError: a time constant or ``v_scale`` that is not a finite number > 0, a non-finite
            value, ``v_reset >= v_peak``, ``v_init > v_peak`` or a non-``Surrogate``.

    Example:
        >>> IzhikevichParams().tau_recovery
        0.05

    References:
        Izhikevich, E. M. (2003). Simple model of spiking neurons. IEEE Transactions on Neural
        Networks 14(6), 1569-1572. doi:10.1109/TNN.2003.820440
    """

    tau_recovery: float = 50e-3
    sensitivity: float = 0.2
    v_reset: float = -65.0
    recovery_jump: float = 8.0
    v_peak: float = 30.0
    tau_mem: float = 1e-3
    v_init: float = -65.0
    v_scale: float = 10.0
    detach_reset: bool = True
    surrogate: Surrogate = field(default_factory=FastSigmoid)

    def __post_init__(self) -> None:
        name = type(self).__name__
        check_positive_time(name, "tau_recovery", self.tau_recovery)
        check_positive_time(name, "tau_mem", self.tau_mem)
        for attr in ("sensitivity", "v_reset", "recovery_jump", "v_peak", "v_init", "v_scale"):
            check_finite(name, attr, getattr(self, attr))
        if self.v_scale <= 0:
            raise ValueError(f"{name}.v_scale must be > 0 mV, got {self.v_scale!r}")
        if self.v_reset >= self.v_peak:
            raise ValueError(
                f"{name}.v_reset must be < v_peak, got v_reset={self.v_reset!r}, "
                f"v_peak={self.v_peak!r}"
            )
        if self.v_init > self.v_peak:
            raise ValueError(
                f"{name}.v_init must be <= v_peak, got v_init={self.v_init!r}, "
                f"v_peak={self.v_peak!r}"
            )
        if not isinstance(self.surrogate, Surrogate):
            raise ValueError(
                f"{name}.surrogate must be a Surrogate (e.g. FastSigmoid()), got {self.surrogate!r}"
            )

    def initial_state(
        self, shape: tuple[int, ...], *, device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> IzhikevichState:
        """Initial state of the given shape (see :func:`izhikevich_initial_state`)."""
        return izhikevich_initial_state(shape, self, device=device, dtype=dtype)

    def step(self, x: Tensor, state: IzhikevichState, dt: float) -> tuple[Tensor, IzhikevichState]:
        """One step of the model (see :func:`izhikevich_step`)."""
        return izhikevich_step(x, state, self, dt)


class IzhikevichState(NamedTuple):
    """Izhikevich state, each ``[B, N]``: membrane ``v`` (mV), recovery ``u`` (mV) and the
    spikes ``z`` of the last step."""

    v: Tensor
    u: Tensor
    z: Tensor


def izhikevich_preset(
    name: IzhikevichPattern, *, surrogate: Surrogate | None = None, detach_reset: bool = True
) -> IzhikevichParams:
    """Parameters of one of the cortical and thalamic cell classes of Izhikevich (2003), Fig. 2.

    ======  ============================  ========  ======  =====  ====
    name    cell class                    a (1/ms)  b       c      d
    ======  ============================  ========  ======  =====  ====
    RS      regular spiking               0.02      0.2     -65    8
    IB      intrinsically bursting        0.02      0.2     -55    4
    CH      chattering                    0.02      0.2     -50    2
    FS      fast spiking                  0.1       0.2     -65    2
    LTS     low-threshold spiking         0.02      0.25    -65    2
    TC      thalamo-cortical              0.02      0.25    -65    0.05
    RZ      resonator                     0.1       0.26    -65    2
    ======  ============================  ========  ======  =====  ====

    Args:
        name: the cell class (one of the names above).
        surrogate: pseudo-derivative of the spike (default :class:`FastSigmoid`).
        detach_reset: see :class:`IzhikevichParams`.

    Returns:
        The :class:`IzhikevichParams` with ``tau_recovery = 1e-3 / a`` seconds.

    Raises:
        ValueError: an unknown ``name``, listing the valid ones.

    Example:
        >>> p = izhikevich_preset("FS")
        >>> round(p.tau_recovery, 6), p.recovery_jump
        (0.01, 2.0)
    """
    table = {  # a (1/ms), b, c (mV), d (mV)
        "RS": (0.02, 0.2, -65.0, 8.0),
        "IB": (0.02, 0.2, -55.0, 4.0),
        "CH": (0.02, 0.2, -50.0, 2.0),
        "FS": (0.1, 0.2, -65.0, 2.0),
        "LTS": (0.02, 0.25, -65.0, 2.0),
        "TC": (0.02, 0.25, -65.0, 0.05),
        "RZ": (0.1, 0.26, -65.0, 2.0),
    }
    if name not in table:
        raise ValueError(
            f"izhikevich_preset: name must be one of {list(get_args(IzhikevichPattern))}, "
            f"got {name!r}"
        )
    a, b, c, d = table[name]
    return IzhikevichParams(
        tau_recovery=1e-3 / a, sensitivity=b, v_reset=c, recovery_jump=d,
        surrogate=FastSigmoid() if surrogate is None else surrogate, detach_reset=detach_reset,
    )


def izhikevich_initial_state(
    shape: tuple[int, ...], p: IzhikevichParams, *, device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
) -> IzhikevichState:
    """Initial state as in the paper: ``v = v_init``, ``u = b * v_init``, no spikes."""
    v = torch.full(shape, p.v_init, device=device, dtype=dtype)
    return IzhikevichState(v=v, u=p.sensitivity * v, z=torch.zeros_like(v))


def izhikevich_integrate(
    x: Tensor, state: IzhikevichState, p: IzhikevichParams, dt: float
) -> IzhikevichState:
    """Step 1: one forward-Euler step of ``v`` and ``u`` (``z`` passed through unchanged).

    Args:
        x: input ``I_t`` ``[B, N]`` (mV).
        state: previous state.
        p: parameters.
        dt: time step (s).

    Returns:
        The state with the pre-spike ``v'_t`` and ``u'_t``.
    """
    v, u = state.v, state.u
    dv = (0.04 * v + 5.0) * v + 140.0 - u + x
    du = p.sensitivity * v - u
    return IzhikevichState(v=v + (dt / p.tau_mem) * dv, u=u + (dt / p.tau_recovery) * du,
                           z=state.z)


def izhikevich_fire(state: IzhikevichState, p: IzhikevichParams) -> tuple[Tensor, IzhikevichState]:
    """Steps 2-3: spike where ``v'_t > v_peak``, then reset ``v <- c`` and ``u <- u + d``.

    Args:
        state: the state returned by :func:`izhikevich_integrate`.
        p: parameters.

    Returns:
        ``(z_t, new_state)``.
    """
    z = spike((state.v - p.v_peak) / p.v_scale, p.surrogate)
    z_reset = z.detach() if p.detach_reset else z
    v = state.v - z_reset * (state.v - p.v_reset)
    return z, IzhikevichState(v=v, u=state.u + z_reset * p.recovery_jump, z=z)


def izhikevich_step(
    x: Tensor, state: IzhikevichState, p: IzhikevichParams, dt: float
) -> tuple[Tensor, IzhikevichState]:
    """Advance an Izhikevich neuron by one forward-Euler step (equations in the module docstring).

    Args:
        x: input ``I_t`` ``[B, N]`` (mV; the paper's patterns use a step to ``I = 10``).
        state: previous :class:`IzhikevichState`.
        p: parameters.
        dt: time step (s, > 0; use ``dt <= 1e-4``).

    Shapes:
        ``x``, every state field and ``z_t``: ``[B, N]``.

    Returns:
        ``(z_t, state_t)``: spikes (0/1, dtype of ``x``) and the new state.

    Raises:
        ValueError: ``dt`` is not a finite number of seconds > 0.

    Example:
        >>> import torch
        >>> p = izhikevich_preset("RS")
        >>> s = p.initial_state((1, 1))
        >>> z, s = izhikevich_step(torch.full((1, 1), 10.0), s, p, 1e-4)
        >>> # dv = (dt / tau_v) (0.04 * 65^2 - 5 * 65 + 140 + 13 + 10) = 0.1 * 7 mV; du = 0
        >>> z.item(), round(s.v.item(), 4), round(s.u.item(), 4)
        (0.0, -64.3, -13.0)
    """
    dt = check_dt(dt)
    return izhikevich_fire(izhikevich_integrate(x, state, p, dt), p)
