"""Adaptive LIF (ALIF) neuron: a LIF neuron whose threshold rises after each spike.

Model of Bellec et al. (2018) (times in seconds, voltages dimensionless):

.. math::

    A_t = v_{th} + \\beta_a a_{t-1}, \\qquad z_t = H(v'_t - A_t), \\qquad
    a_t = \\rho a_{t-1} + (1 - \\rho) z_t, \\quad \\rho = e^{-dt/\\tau_{adapt}}

where ``v'_t`` is the LIF sub-threshold update (:func:`snnlearn.neurons.lif.lif_integrate`) and the
reset, refractoriness and surrogate are those of the LIF (:func:`snnlearn.neurons.lif.lif_fire`);
a subtractive reset removes ``v_th - v_reset`` (Bellec et al. 2020).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import torch
from torch import Tensor

from snnlearn.neurons._checks import check_dt, check_finite, check_positive_time, decay
from snnlearn.neurons.lif import LIFParams, LIFState, lif_fire, lif_initial_state, lif_integrate

__all__ = ["ALIFParams", "ALIFState", "alif_initial_state", "alif_step"]


@dataclass(frozen=True)
class ALIFParams:
    """Parameters of an adaptive LIF neuron (times in seconds, voltages dimensionless).

    Args:
        lif: the underlying LIF parameters (membrane, threshold baseline, reset, surrogate).
        tau_adapt: adaptation time constant (s, > 0).
        adaptation: threshold increase per unit of adaptation variable, ``beta_a`` (>= 0).

    Raises:
        ValueError: a non-positive ``tau_adapt`` or a negative ``adaptation``.

    Example:
        >>> ALIFParams(tau_adapt=0.5).lif.tau_mem
        0.02

    References:
        Bellec, G. et al. (2018). Long short-term memory and learning-to-learn in networks of
        spiking neurons. NeurIPS. arXiv:1803.09574
    """

    lif: LIFParams = field(default_factory=LIFParams)
    tau_adapt: float = 200e-3
    adaptation: float = 1.8

    def __post_init__(self) -> None:
        if not isinstance(self.lif, LIFParams):
            raise ValueError(f"ALIFParams.lif must be a LIFParams, got {self.lif!r}")
        check_positive_time("ALIFParams", "tau_adapt", self.tau_adapt)
        check_finite("ALIFParams", "adaptation", self.adaptation)
        if self.adaptation < 0:
            raise ValueError(f"ALIFParams.adaptation must be >= 0, got {self.adaptation!r}")

    def initial_state(
        self, shape: tuple[int, ...], *, device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> ALIFState:
        """Resting state of the given shape (see :func:`alif_initial_state`)."""
        return alif_initial_state(shape, self, device=device, dtype=dtype)

    def step(self, x: Tensor, state: ALIFState, dt: float) -> tuple[Tensor, ALIFState]:
        """One step of the model (see :func:`alif_step`)."""
        return alif_step(x, state, self, dt)


class ALIFState(NamedTuple):
    """ALIF state, each ``[B, N]``: the LIF variables plus the adaptation variable ``a``."""

    v: Tensor
    i: Tensor
    refractory: Tensor
    z: Tensor
    a: Tensor


def alif_initial_state(
    shape: tuple[int, ...], p: ALIFParams, *, device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
) -> ALIFState:
    """Resting state: the LIF resting state and ``a = 0``."""
    s = lif_initial_state(shape, p.lif, device=device, dtype=dtype)
    return ALIFState(*s, a=torch.zeros_like(s.v))


def alif_step(x: Tensor, state: ALIFState, p: ALIFParams, dt: float) -> tuple[Tensor, ALIFState]:
    """Advance an ALIF neuron by one step (equations in the module docstring).

    Args:
        x: input current ``[B, N]``.
        state: previous :class:`ALIFState`.
        p: parameters.
        dt: time step (s, > 0).

    Returns:
        ``(z_t, state_t)``.

    Example:
        >>> import torch
        >>> p = ALIFParams()
        >>> z, s = alif_step(torch.full((1, 1), 100.0), p.initial_state((1, 1)), p, 1e-3)
        >>> z.item(), round(s.a.item(), 6)
        (1.0, 0.004988)
    """
    dt = check_dt(dt)
    lif_state = lif_integrate(x, LIFState(*state[:4]), p.lif, dt)
    threshold = p.lif.v_th + p.adaptation * state.a
    z, lif_state = lif_fire(lif_state, p.lif, dt, threshold=threshold)
    rho = decay(dt, p.tau_adapt)
    return z, ALIFState(*lif_state, a=rho * state.a + (1.0 - rho) * z)
