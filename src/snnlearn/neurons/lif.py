"""Leaky integrate-and-fire neuron with optional current synapse and absolute refractoriness.

Continuous-time model (NIR ``LIF`` / ``CubaLIF``; times in seconds, voltages dimensionless):

.. math::

    \\tau_{syn} \\dot I = -I + \\tau_{syn} \\sum_k x_k \\delta(t - t_k), \\qquad
    \\tau_{mem} \\dot v = (v_{leak} - v) + R I, \\qquad
    z = H(v - v_{th})

Discretisation per step of length ``dt`` (``a_m = e^{-dt/\\tau_{mem}}``,
``a_s = e^{-dt/\\tau_{syn}}``):

1. integrate (the membrane update is exact for a current held constant over the step; the
   current jumps by the input; the membrane is held while refractory):
   ``I_t = a_s I_{t-1} + x_t`` (or ``I_t = x_t``),
   ``v'_t = v_{leak} + a_m (v_{t-1} - v_{leak}) + (1 - a_m) R I_t``;
2. fire: ``z_t = H(v'_t - v_{th})`` (strict, a membrane exactly at threshold does not fire),
   with the surrogate pseudo-derivative in the backward pass;
3. reset: ``v_t = v'_t - z_t (v_{th} - v_{reset})`` (``reset="subtract"``) or
   ``v_t = (1 - z_t) v'_t + z_t v_{reset}`` (``reset="hard"``);
4. refractoriness: after a spike the membrane is held for ``t_ref`` seconds
   (``round(t_ref/dt)`` steps) and cannot fire.

With a constant current ``I`` above rheobase, a hard reset to ``v_reset = v_leak = 0`` and
``R = 1``, the firing rate is ``1 / (t_ref + tau_mem ln(R I / (R I - v_th)))`` up to the
one-step quantisation of the spike times.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, NamedTuple, get_args

import torch
from torch import Tensor

from snnlearn.neurons._checks import check_dt, check_finite, check_positive_time
from snnlearn.neurons.li import leaky_integrate
from snnlearn.surrogate import FastSigmoid, Surrogate, spike

__all__ = ["LIFParams", "LIFState", "Reset", "lif_initial_state", "lif_integrate", "lif_fire",
           "lif_step"]

Reset = Literal["subtract", "hard"]


@dataclass(frozen=True)
class LIFParams:
    """Parameters of a LIF neuron (times in seconds, voltages dimensionless).

    Args:
        tau_mem: membrane time constant (s, > 0).
        tau_syn: synaptic current time constant (s, > 0), or ``None`` for a neuron without a
            current synapse (the input is the current).
        v_th: firing threshold (> ``v_reset``).
        v_leak: resting potential.
        v_reset: potential after a hard reset; a subtractive reset removes ``v_th - v_reset``.
        r: membrane resistance (dimensionless gain).
        reset: ``"subtract"`` (reset by subtraction) or ``"hard"`` (reset to ``v_reset``).
        t_ref: absolute refractory period (s, >= 0).
        detach_reset: if true, no gradient flows through the reset term.
        surrogate: pseudo-derivative of the spike nonlinearity.

    Raises:
        ValueError: a non-positive or non-finite time constant, ``r = 0``, ``v_th <= v_reset``,
            a negative ``t_ref`` or an unknown ``reset``.

    Example:
        >>> LIFParams(tau_mem=10e-3, reset="hard").reset
        'hard'
    """

    tau_mem: float = 20e-3
    tau_syn: float | None = None
    v_th: float = 1.0
    v_leak: float = 0.0
    v_reset: float = 0.0
    r: float = 1.0
    reset: Reset = "subtract"
    t_ref: float = 0.0
    detach_reset: bool = False
    surrogate: Surrogate = field(default_factory=FastSigmoid)

    def __post_init__(self) -> None:
        name = type(self).__name__
        check_positive_time(name, "tau_mem", self.tau_mem)
        if self.tau_syn is not None:
            check_positive_time(name, "tau_syn", self.tau_syn)
        for attr in ("v_th", "v_leak", "v_reset", "r", "t_ref"):
            check_finite(name, attr, getattr(self, attr))
        if self.r == 0:
            raise ValueError(f"{name}.r must be non-zero (r = 0 makes the neuron deaf to its "
                             "input), got 0")
        if self.v_th <= self.v_reset:
            raise ValueError(
                f"{name}.v_th must be > v_reset, got v_th={self.v_th!r}, v_reset={self.v_reset!r}"
            )
        if self.t_ref < 0:
            raise ValueError(f"{name}.t_ref must be >= 0 seconds, got {self.t_ref!r}")
        if self.reset not in get_args(Reset):
            raise ValueError(
                f"{name}.reset must be one of {list(get_args(Reset))}, got {self.reset!r}"
            )
        if not isinstance(self.surrogate, Surrogate):
            raise ValueError(
                f"{name}.surrogate must be a Surrogate (e.g. FastSigmoid()), got {self.surrogate!r}"
            )

    def initial_state(
        self, shape: tuple[int, ...], *, device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> LIFState:
        """Resting state of the given shape (see :func:`lif_initial_state`)."""
        return lif_initial_state(shape, self, device=device, dtype=dtype)

    def step(self, x: Tensor, state: LIFState, dt: float) -> tuple[Tensor, LIFState]:
        """One step of the model (see :func:`lif_step`)."""
        return lif_step(x, state, self, dt)


class LIFState(NamedTuple):
    """LIF state, each ``[B, N]``: membrane ``v``, current ``i``, remaining refractory time
    ``refractory`` (s) and the spikes ``z`` of the last step."""

    v: Tensor
    i: Tensor
    refractory: Tensor
    z: Tensor


def lif_initial_state(
    shape: tuple[int, ...], p: LIFParams, *, device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
) -> LIFState:
    """Resting state: ``v = v_leak`` and zero current, refractory time and spikes."""
    v = torch.full(shape, p.v_leak, device=device, dtype=dtype)
    zeros = torch.zeros_like(v)
    return LIFState(v=v, i=zeros, refractory=zeros, z=zeros)


def lif_integrate(x: Tensor, state: LIFState, p: LIFParams, dt: float) -> LIFState:
    """Step 1 of the LIF update: the sub-threshold integration (membrane held if refractory).

    Returns the state with the pre-spike membrane ``v'_t`` and the new current; ``refractory``
    and ``z`` are passed through unchanged.
    """
    v, i = leaky_integrate(
        x, state.v, state.i, tau_mem=p.tau_mem, tau_syn=p.tau_syn, r=p.r, v_leak=p.v_leak, dt=dt
    )
    if p.t_ref > 0:
        v = torch.where(state.refractory > 0.5 * dt, state.v, v)
    return LIFState(v=v, i=i, refractory=state.refractory, z=state.z)


def lif_fire(
    state: LIFState, p: LIFParams, dt: float, threshold: Tensor | float | None = None
) -> tuple[Tensor, LIFState]:
    """Steps 2-4 of the LIF update: spike, reset, refractoriness.

    Args:
        state: the state returned by :func:`lif_integrate`.
        p: parameters.
        dt: time step (s).
        threshold: firing threshold overriding ``p.v_th`` (the adaptive threshold of ALIF);
            the subtractive reset still removes ``p.v_th - p.v_reset``.

    Returns:
        ``(z_t, new_state)``.
    """
    v_th = p.v_th if threshold is None else threshold
    z = spike(state.v - v_th, p.surrogate)
    refractory = state.refractory
    if p.t_ref > 0:
        active = refractory <= 0.5 * dt
        z = z * active.to(z.dtype)
        refractory = torch.where(z > 0, torch.full_like(refractory, p.t_ref),
                                 (refractory - dt).clamp(min=0.0))
    z_reset = z.detach() if p.detach_reset else z
    if p.reset == "subtract":
        v = state.v - z_reset * (p.v_th - p.v_reset)
    else:
        v = state.v - z_reset * (state.v - p.v_reset)
    return z, LIFState(v=v, i=state.i, refractory=refractory, z=z)


def lif_step(x: Tensor, state: LIFState, p: LIFParams, dt: float) -> tuple[Tensor, LIFState]:
    """Advance a LIF neuron by one step: integrate, then fire (equations in the module docstring).

    Args:
        x: input current ``[B, N]`` (dimensionless).
        state: previous :class:`LIFState`.
        p: parameters.
        dt: time step (s, > 0).

    Returns:
        ``(z_t, state_t)``: spikes (0/1, dtype of ``x``) and the new state.

    Example:
        >>> import torch
        >>> p = LIFParams(tau_mem=10e-3)
        >>> s = p.initial_state((1, 1))
        >>> z, s = lif_step(torch.full((1, 1), 100.0), s, p, 1e-3)
        >>> z.item(), round(s.v.item(), 4)
        (1.0, 8.5163)
    """
    dt = check_dt(dt)
    return lif_fire(lif_integrate(x, state, p, dt), p, dt)
