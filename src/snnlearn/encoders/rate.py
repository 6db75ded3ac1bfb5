"""Rate coding: Bernoulli (discretised Poisson) spike trains and their firing-rate read-out.

A Poisson process of rate ``r`` (Hz) is discretised on a grid of steps of ``dt`` seconds by
drawing at most one spike per step, independently, with probability ``p = r dt``. This is exact
for the discrete process and approaches the Poisson process as ``dt -> 0``; it needs
``r dt <= 1``, so the largest representable rate is ``1 / dt``.
"""

from __future__ import annotations

import torch
from torch import Tensor

from snnlearn.encoders._checks import (
    check_dt,
    check_finite_tensor,
    check_n_steps,
    check_tensor,
    float_dtype,
)

__all__ = ["poisson_encode", "rate_decode"]

# Slack on ``rate * dt <= 1`` for a rate of exactly ``1 / dt`` rounded to the tensor's dtype.
_P_TOLERANCE = 1e-6


def poisson_encode(
    rates: Tensor, n_steps: int, dt: float, *, generator: torch.Generator | None = None
) -> Tensor:
    """Encode firing rates as independent Bernoulli spike trains (discretised Poisson).

    For every step ``t``, batch element ``b`` and channel ``n``:

    .. math::

        z_{t,b,n} = [u_{t,b,n} < r_{b,n} \\, \\Delta t], \\qquad u_{t,b,n} \\sim U[0, 1)

    so ``P(z = 1) = r dt`` independently per step; the expected count over the sequence is
    ``r n_steps dt``.

    Args:
        rates: firing rates (Hz, finite, ``>= 0`` and ``<= 1/dt``).
        n_steps: number of time steps ``T`` (>= 1).
        dt: time step (s, > 0).
        generator: random generator (on the device of ``rates``); ``None`` uses torch's
            default generator.

    Shapes:
        ``rates [B, N] -> spikes [T, B, N]`` (any trailing shape ``[B, *features]`` works).

    Returns:
        Spikes (0/1) with the dtype of ``rates`` (``float32`` for integer rates), on its device.

    Raises:
        ValueError: ``rates`` not a real tensor, a negative or NaN/Inf rate, a rate above
            ``1/dt``, ``n_steps < 1`` or ``dt <= 0``.

    Example:
        >>> import torch
        >>> g = torch.Generator().manual_seed(0)
        >>> z = poisson_encode(torch.tensor([[0.0, 1000.0]]), n_steps=3, dt=1e-3, generator=g)
        >>> z[:, 0]
        tensor([[0., 1.],
                [0., 1.],
                [0., 1.]])

    References:
        Dayan, P. & Abbott, L. F. (2001). Theoretical Neuroscience, section 1.4 (Poisson spike
        generator). MIT Press. ISBN 978-0-262-04199-7.
    """
    rates = check_tensor(rates, "rates", min_ndim=1, layout="[B, N] of rates in Hz")
    n_steps = check_n_steps(n_steps)
    dt = check_dt(dt)
    dtype = float_dtype(rates)
    rates = rates.to(dtype)
    check_finite_tensor(rates, "rates")
    if rates.numel() > 0:
        r_min = rates.min().item()
        if r_min < 0:
            raise ValueError(f"rates must be >= 0 Hz, got a minimum rate of {r_min!r} Hz")
        r_max = rates.max().item()
        if r_max * dt > 1.0 + _P_TOLERANCE:
            raise ValueError(
                f"rates must be <= 1/dt = {1.0 / dt!r} Hz (at most one spike per step of "
                f"dt = {dt!r} s), got a maximum rate of {r_max!r} Hz; reduce the rates or dt"
            )
    p = (rates * dt).clamp(max=1.0)
    u = torch.rand((n_steps, *rates.shape), generator=generator, dtype=dtype,
                   device=rates.device)
    return (u < p).to(dtype)


def rate_decode(spikes: Tensor, dt: float) -> Tensor:
    """Firing rate of each channel: the spike count divided by the sequence duration.

    .. math::

        \\hat r_{b,n} = \\frac{1}{T \\Delta t} \\sum_{t=0}^{T-1} z_{t,b,n}

    Args:
        spikes: spike trains (spike counts per step, usually 0/1), time first.
        dt: time step (s, > 0).

    Shapes:
        ``spikes [T, B, N] -> rates [B, N]`` (any trailing shape works).

    Returns:
        Rates in Hz, dtype of ``spikes`` (``float32`` for integer or boolean spikes).

    Raises:
        ValueError: ``spikes`` not a real tensor with at least one dimension, ``T = 0`` or
            ``dt <= 0``.

    Example:
        >>> import torch
        >>> rate_decode(torch.tensor([[[1.0, 0.0]], [[1.0, 1.0]]]), dt=1e-3)
        tensor([[1000.,  500.]])
    """
    spikes = check_tensor(spikes, "spikes", min_ndim=1, layout="[T, B, N] (time first)")
    dt = check_dt(dt)
    n_steps = spikes.shape[0]
    if n_steps == 0:
        raise ValueError(f"spikes must have at least one time step, got shape "
                         f"{tuple(spikes.shape)}")
    return spikes.to(float_dtype(spikes)).sum(dim=0) * (1.0 / (n_steps * dt))
