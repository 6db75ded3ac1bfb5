"""Hodgkin-Huxley (1952) neuron with m, h, n gates, exponential-Euler integration.

Parameterisation: the squid giant axon at 6.3 degrees C with the membrane potential shifted so
that rest is about -65 mV (Dayan & Abbott 2001, Sec. 5.6; the same set as Brian2's and NEURON's
``hh`` examples). Time is in seconds (SI); the physiological units are kept for the rest: ``v`` in
mV, the input current density ``I`` in uA/cm^2, ``C`` in uF/cm^2, conductances in mS/cm^2 (so
``C dv/dt`` is in uA/cm^2 when ``dt`` is in ms; the step converts ``dt`` to ms internally).

.. math::

    C \\dot v = I - \\bar g_{Na} m^3 h (v - E_{Na}) - \\bar g_K n^4 (v - E_K) - g_L (v - E_L),
    \\qquad \\dot x = \\alpha_x(v) (1 - x) - \\beta_x(v) x \\quad (x = m, h, n)

with the rates in 1/ms (``v`` in mV, ``exprel(y) = (e^y - 1) / y``, continuous at ``y = 0``):

.. math::

    \\alpha_m = 1 / \\mathrm{exprel}(-(v + 40)/10), \\quad \\beta_m = 4 e^{-(v + 65)/18}, \\quad
    \\alpha_h = 0.07 e^{-(v + 65)/20}, \\quad \\beta_h = 1 / (1 + e^{-(v + 35)/10}),

    \\alpha_n = 0.1 / \\mathrm{exprel}(-(v + 55)/10), \\quad \\beta_n = 0.125 e^{-(v + 65)/80}.

Discretisation: **exponential Euler** (Brian2's ``method="exponential_euler"``). Each variable
is linear in itself given the others, ``\\dot y = A y + B``; with ``A, B`` evaluated at the start
of the step, every variable takes the exact step of that frozen linear equation,
``y_t = -B/A + (y_{t-1} + B/A) e^{A dt}``:

- gates: ``x_t = x_inf + (x_{t-1} - x_inf) e^{-(alpha_x + beta_x) dt}``, with
  ``x_inf = alpha_x / (alpha_x + beta_x)``, all rates at ``v_{t-1}``;
- membrane: ``v_t = v_inf + (v_{t-1} - v_inf) e^{-g dt / C}``, with the total conductance
  ``g = g_Na m^3 h + g_K n^4 + g_L`` and
  ``v_inf = (g_Na m^3 h E_Na + g_K n^4 E_K + g_L E_L + I_t) / g``, gates at ``t - 1``.

Each update is a convex combination of the old value and a bounded target, so gates stay in
``[0, 1]`` and ``v`` between the reversal potentials (shifted by ``I / g``) for **any** ``dt``: the
scheme cannot blow up. It is first-order accurate: at 10 uA/cm^2 the first spike is 0.09 ms late
at ``dt = 0.025 ms`` and 0.03 ms late at 0.01 ms against ``dt = 0.0025 ms``, and the firing rate is
1.2 % (0.4 %) low (docs/neurons.md).

A spike is an upward crossing of ``v_th`` (0 mV by default):
``z_t = H((v_t - v_th) / v_scale) [v_{t-1} <= v_th]``; the surrogate pseudo-derivative of
``(v_t - v_th) / v_scale`` is used in the backward pass, and no gradient flows through the
crossing gate ``[v_{t-1} <= v_th]``. There is no reset: the spike does not act back on ``v``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import torch
from torch import Tensor

from snnlearn.neurons._checks import check_dt, check_finite
from snnlearn.surrogate import FastSigmoid, Surrogate, spike

__all__ = ["HHParams", "HHState", "hh_rates", "hh_initial_state", "hh_integrate", "hh_fire",
           "hh_step"]

_MS = 1e-3  # the rates are in 1/ms: dt in seconds is converted with dt / _MS


@dataclass(frozen=True)
class HHParams:
    """Parameters of a Hodgkin-Huxley neuron (times in seconds, ``v`` in mV, ``I`` in uA/cm^2).

    Args:
        c_mem: membrane capacitance ``C`` (uF/cm^2, > 0).
        g_na: peak sodium conductance (mS/cm^2, >= 0).
        g_k: peak potassium conductance (mS/cm^2, >= 0).
        g_leak: leak conductance (mS/cm^2, > 0).
        e_na: sodium reversal potential (mV).
        e_k: potassium reversal potential (mV).
        e_leak: leak reversal potential (mV); -54.387 mV puts rest at -65.0 mV.
        v_th: spike-detection threshold, crossed upwards (mV).
        v_init: initial membrane potential (mV); the gates start at their steady state there.
        v_scale: voltage scale of the surrogate, which sees ``(v - v_th) / v_scale`` (mV, > 0).
        surrogate: pseudo-derivative of the spike nonlinearity.

    Raises:
        ValueError: a non-finite value, ``c_mem``, ``g_leak`` or ``v_scale`` not > 0, a negative
            peak conductance, or a non-``Surrogate``.

    Example:
        >>> HHParams().g_na
        120.0

    References:
        Hodgkin, A. L. & Huxley, A. F. (1952). A quantitative description of membrane current
        and its application to conduction and excitation in nerve. J. Physiol. 117(4), 500-544.
        doi:10.1113/jphysiol.1952.sp004764

        Dayan, P. & Abbott, L. F. (2001). Theoretical Neuroscience, Sec. 5.6. MIT Press.
    """

    c_mem: float = 1.0
    g_na: float = 120.0
    g_k: float = 36.0
    g_leak: float = 0.3
    e_na: float = 50.0
    e_k: float = -77.0
    e_leak: float = -54.387
    v_th: float = 0.0
    v_init: float = -65.0
    v_scale: float = 10.0
    surrogate: Surrogate = field(default_factory=FastSigmoid)

    def __post_init__(self) -> None:
        name = type(self).__name__
        for attr in ("c_mem", "g_na", "g_k", "g_leak", "e_na", "e_k", "e_leak", "v_th", "v_init",
                     "v_scale"):
            check_finite(name, attr, getattr(self, attr))
        for attr, unit in (("c_mem", "uF/cm^2"), ("g_leak", "mS/cm^2"), ("v_scale", "mV")):
            if getattr(self, attr) <= 0:
                raise ValueError(f"{name}.{attr} must be > 0 {unit}, got {getattr(self, attr)!r}")
        for attr in ("g_na", "g_k"):
            if getattr(self, attr) < 0:
                raise ValueError(f"{name}.{attr} must be >= 0 mS/cm^2, got {getattr(self, attr)!r}")
        if not isinstance(self.surrogate, Surrogate):
            raise ValueError(
                f"{name}.surrogate must be a Surrogate (e.g. FastSigmoid()), got {self.surrogate!r}"
            )

    def initial_state(
        self, shape: tuple[int, ...], *, device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> HHState:
        """Initial state of the given shape (see :func:`hh_initial_state`)."""
        return hh_initial_state(shape, self, device=device, dtype=dtype)

    def step(self, x: Tensor, state: HHState, dt: float) -> tuple[Tensor, HHState]:
        """One step of the model (see :func:`hh_step`)."""
        return hh_step(x, state, self, dt)


class HHState(NamedTuple):
    """Hodgkin-Huxley state, each ``[B, N]``: membrane ``v`` (mV), gates ``m``, ``h``, ``n``
    (in [0, 1]) and the spikes ``z`` of the last step."""

    v: Tensor
    m: Tensor
    h: Tensor
    n: Tensor
    z: Tensor


def _inverse_exprel(y: Tensor) -> Tensor:
    """``y / (1 - e^{-y}) = 1 / exprel(-y)``, continuous (value 1) and differentiable at 0."""
    small = y.abs() < 1e-6
    y_safe = torch.where(small, 1.0, y)
    return torch.where(small, 1.0 + 0.5 * y, y_safe / -torch.expm1(-y_safe))


def hh_rates(v: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor, Tensor]:
    """Opening and closing rates of the gates at membrane ``v`` (equations in the module doc).

    Args:
        v: membrane potential (mV), any shape.

    Returns:
        ``(alpha_m, beta_m, alpha_h, beta_h, alpha_n, beta_n)`` in 1/ms, shaped like ``v``.

    Example:
        >>> import torch
        >>> a_m, b_m, *_ = hh_rates(torch.tensor([-40.0]))
        >>> a_m.item(), round(b_m.item(), 4)
        (1.0, 0.9974)
    """
    from_rest = v + 65.0
    alpha_m = _inverse_exprel((v + 40.0) / 10.0)
    beta_m = 4.0 * torch.exp(from_rest / -18.0)
    alpha_h = 0.07 * torch.exp(from_rest / -20.0)
    beta_h = torch.sigmoid((v + 35.0) / 10.0)
    alpha_n = 0.1 * _inverse_exprel((v + 55.0) / 10.0)
    beta_n = 0.125 * torch.exp(from_rest / -80.0)
    return alpha_m, beta_m, alpha_h, beta_h, alpha_n, beta_n


def hh_initial_state(
    shape: tuple[int, ...], p: HHParams, *, device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
) -> HHState:
    """Initial state: ``v = v_init``, each gate at its steady state ``alpha / (alpha + beta)``."""
    v = torch.full(shape, p.v_init, device=device, dtype=dtype)
    a_m, b_m, a_h, b_h, a_n, b_n = hh_rates(v)
    return HHState(v=v, m=a_m / (a_m + b_m), h=a_h / (a_h + b_h), n=a_n / (a_n + b_n),
                   z=torch.zeros_like(v))


def _relax(y: Tensor, target: Tensor, rate: Tensor, dt_ms: float) -> Tensor:
    """Exact step of ``dy/dt = rate (target - y)`` with ``rate`` (1/ms) held for ``dt_ms``."""
    return target + (y - target) * torch.exp(rate * -dt_ms)


def hh_integrate(x: Tensor, state: HHState, p: HHParams, dt: float) -> HHState:
    """One exponential-Euler step of ``v``, ``m``, ``h``, ``n`` (``z`` passed through unchanged).

    Args:
        x: input current density ``I_t`` ``[B, N]`` (uA/cm^2).
        state: previous state.
        p: parameters.
        dt: time step (s).

    Returns:
        The state after the step, every variable advanced from the values at ``t - 1``.
    """
    dt_ms = dt / _MS
    v, m, h, n = state.v, state.m, state.h, state.n
    a_m, b_m, a_h, b_h, a_n, b_n = hh_rates(v)
    g_na = p.g_na * m.pow(3) * h
    g_k = p.g_k * n.pow(4)
    g_total = g_na + g_k + p.g_leak
    v_inf = (g_na * p.e_na + g_k * p.e_k + p.g_leak * p.e_leak + x) / g_total
    rate_m, rate_h, rate_n = a_m + b_m, a_h + b_h, a_n + b_n
    return HHState(
        v=_relax(v, v_inf, g_total / p.c_mem, dt_ms),
        m=_relax(m, a_m / rate_m, rate_m, dt_ms),
        h=_relax(h, a_h / rate_h, rate_h, dt_ms),
        n=_relax(n, a_n / rate_n, rate_n, dt_ms),
        z=state.z,
    )


def hh_fire(state: HHState, v_previous: Tensor, p: HHParams) -> tuple[Tensor, HHState]:
    """Spike on an upward crossing of ``v_th`` between ``v_previous`` and ``state.v``.

    Args:
        state: the state returned by :func:`hh_integrate`.
        v_previous: the membrane at the start of the step ``[B, N]`` (mV).
        p: parameters.

    Returns:
        ``(z_t, new_state)``; only ``z`` changes (no reset).
    """
    below = (v_previous <= p.v_th).to(state.v.dtype)
    z = spike((state.v - p.v_th) / p.v_scale, p.surrogate) * below
    return z, state._replace(z=z)


def hh_step(x: Tensor, state: HHState, p: HHParams, dt: float) -> tuple[Tensor, HHState]:
    """Advance a Hodgkin-Huxley neuron by one exponential-Euler step (see the module docstring).

    Args:
        x: input current density ``I_t`` ``[B, N]`` (uA/cm^2).
        state: previous :class:`HHState`.
        p: parameters.
        dt: time step (s, > 0; 1e-5 to 2.5e-5 s keeps spike times within 0.1 ms of a fine grid).

    Shapes:
        ``x``, every state field and ``z_t``: ``[B, N]``.

    Returns:
        ``(z_t, state_t)``: spikes (0/1, dtype of ``x``) and the new state.

    Raises:
        ValueError: ``dt`` is not a finite number of seconds > 0.

    Example:
        >>> import torch
        >>> p = HHParams()
        >>> s = p.initial_state((1, 1), dtype=torch.float64)
        >>> x = torch.full((1, 1), 10.0, dtype=torch.float64)  # 10 uA/cm^2 for 3 ms
        >>> spikes = []
        >>> for _ in range(120):
        ...     z, s = hh_step(x, s, p, 25e-6)
        ...     spikes.append(int(z.item()))
        >>> spikes.index(1), sum(spikes)  # one action potential, crossing 0 mV after 2 ms
        (79, 1)
    """
    dt = check_dt(dt)
    return hh_fire(hh_integrate(x, state, p, dt), state.v, p)
