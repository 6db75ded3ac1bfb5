"""Population coding: each real value drives a bank of neurons with Gaussian tuning curves.

Every input dimension ``d`` has ``n`` neurons with preferred values (centres) evenly spaced on
``[x_min, x_max]``, ``c_j = x_min + j (x_max - x_min) / (n - 1)``, and a common tuning width
``sigma``. The neurons of dimension ``d`` are contiguous in the output: channel ``d n + j``.
"""

from __future__ import annotations

import numbers

import torch
from torch import Tensor

from snnlearn.encoders._checks import (
    check_dt,
    check_finite_tensor,
    check_n_steps,
    check_real,
    check_tensor,
    float_dtype,
)
from snnlearn.encoders.rate import poisson_encode

__all__ = ["population_rates", "population_encode", "population_decode"]


def population_rates(
    x: Tensor, n_neurons: int, *, x_min: float = 0.0, x_max: float = 1.0,
    width: float | None = None, max_rate: float = 100.0,
) -> Tensor:
    """Firing rates of Gaussian tuning curves evaluated at ``x``.

    .. math::

        r_{b, d n + j} = r_{max} \\exp\\Big(-\\frac{(x_{b,d} - c_j)^2}{2 \\sigma^2}\\Big),
        \\qquad c_j = x_{min} + j \\frac{x_{max} - x_{min}}{n - 1}

    Values outside ``[x_min, x_max]`` are allowed; they drive the edge neurons most.

    Args:
        x: real values (finite, same units as ``x_min``/``x_max``).
        n_neurons: neurons per input dimension ``n`` (>= 2).
        x_min: centre of the first neuron.
        x_max: centre of the last neuron (> ``x_min``).
        width: tuning standard deviation ``sigma`` (> 0, units of ``x``); default the spacing
            ``(x_max - x_min) / (n - 1)`` between centres.
        max_rate: peak rate ``r_max`` at a neuron's centre (Hz, >= 0).

    Shapes:
        ``x [B, D] -> rates [B, D * n]``.

    Returns:
        Rates in Hz with the dtype of ``x`` (``float32`` for integer input).

    Raises:
        ValueError: ``x`` not a finite real ``[B, D]`` tensor, ``n_neurons < 2``,
            ``x_max <= x_min``, ``width <= 0`` or ``max_rate < 0``.

    Example:
        >>> import torch
        >>> population_rates(torch.tensor([[0.0]]), 3, max_rate=100.0)
        tensor([[100.0000,  60.6531,  13.5335]])

    References:
        Bohte, S. M., Kok, J. N. & La Poutre, H. (2002). Error-backpropagation in temporally
        encoded networks of spiking neurons. Neurocomputing 48, 17-37.
        doi:10.1016/S0925-2312(01)00658-0
    """
    x = check_tensor(x, "x", ndim=2, layout="[B, D]")
    x = x.to(float_dtype(x))
    check_finite_tensor(x, "x")
    centres = _centres(n_neurons, x_min, x_max, x)
    spacing = (float(x_max) - float(x_min)) / (n_neurons - 1)
    sigma = spacing if width is None else check_real(width, "width", positive=True)
    max_rate = check_real(max_rate, "max_rate", non_negative=True)
    rates = max_rate * torch.exp(-(x.unsqueeze(-1) - centres).square() / (2.0 * sigma**2))
    return rates.reshape(x.shape[0], -1)


def population_encode(
    x: Tensor, n_neurons: int, n_steps: int, dt: float, *, x_min: float = 0.0,
    x_max: float = 1.0, width: float | None = None, max_rate: float = 100.0,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Encode real values as Poisson spike trains of Gaussian-tuned populations.

    The rates of :func:`population_rates` are turned into Bernoulli spikes by
    :func:`~snnlearn.encoders.rate.poisson_encode`:
    ``P(z_{t,b,d n + j} = 1) = r_{b, d n + j} dt`` independently per step.

    Args:
        x: real values (finite).
        n_neurons: neurons per input dimension ``n`` (>= 2).
        n_steps: number of time steps ``T`` (>= 1).
        dt: time step (s, > 0).
        x_min: centre of the first neuron.
        x_max: centre of the last neuron (> ``x_min``).
        width: tuning standard deviation (> 0); default the spacing between centres.
        max_rate: peak rate (Hz, ``0 <= max_rate <= 1/dt``).
        generator: random generator (on the device of ``x``); ``None`` uses torch's default.

    Shapes:
        ``x [B, D] -> spikes [T, B, D * n]`` (the ``n`` neurons of dimension ``d`` are channels
        ``d n, ..., d n + n - 1``).

    Returns:
        Spikes (0/1) with the dtype of ``x`` (``float32`` for integer input).

    Raises:
        ValueError: as :func:`population_rates`, plus ``n_steps < 1``, ``dt <= 0`` or
            ``max_rate > 1/dt``.

    Example:
        >>> import torch
        >>> g = torch.Generator().manual_seed(0)
        >>> z = population_encode(torch.rand(4, 2, generator=g), 8, 100, 1e-3, generator=g)
        >>> tuple(z.shape)
        (100, 4, 16)

    References:
        Pouget, A., Dayan, P. & Zemel, R. (2000). Information processing with population
        codes. Nature Reviews Neuroscience 1, 125-132. doi:10.1038/35039062
    """
    n_steps = check_n_steps(n_steps)
    dt = check_dt(dt)
    max_rate = check_real(max_rate, "max_rate", non_negative=True)
    if max_rate * dt > 1.0:
        raise ValueError(
            f"max_rate must be <= 1/dt = {1.0 / dt!r} Hz (at most one spike per step), got "
            f"{max_rate!r} Hz"
        )
    rates = population_rates(x, n_neurons, x_min=x_min, x_max=x_max, width=width,
                             max_rate=max_rate)
    return poisson_encode(rates, n_steps, dt, generator=generator)


def population_decode(
    spikes: Tensor, n_neurons: int, *, x_min: float = 0.0, x_max: float = 1.0
) -> Tensor:
    """Estimate the encoded values as the centre of mass of each population's spike counts.

    .. math::

        \\hat x_{b,d} = \\frac{\\sum_j c_j N_{b, d n + j}}{\\sum_j N_{b, d n + j}},
        \\qquad N_{b,i} = \\sum_t z_{t,b,i}

    A population without spikes gives the midpoint ``(x_min + x_max) / 2``. The estimate lies
    in ``[x_min, x_max]`` and is biased towards the middle for values within about two tuning
    widths of an edge, where the tuning curves are cut off.

    Args:
        spikes: spike trains from :func:`population_encode`, time first.
        n_neurons: neurons per input dimension ``n`` (>= 2).
        x_min: centre of the first neuron (as used to encode).
        x_max: centre of the last neuron (as used to encode, > ``x_min``).

    Shapes:
        ``spikes [T, B, D * n] -> x [B, D]``.

    Returns:
        Estimates with the dtype of ``spikes`` (``float32`` for integer spikes).

    Raises:
        ValueError: ``spikes`` not a real ``[T, B, D * n]`` tensor (last dimension not a
            multiple of ``n_neurons``), ``n_neurons < 2`` or ``x_max <= x_min``.

    Example:
        >>> import torch
        >>> z = torch.zeros(2, 1, 6)
        >>> z[0, 0, 1] = z[1, 0, 2] = 1.0  # dimension 0: neurons at 0.5 and 1.0
        >>> population_decode(z, 3)
        tensor([[0.7500, 0.5000]])
    """
    spikes = check_tensor(spikes, "spikes", ndim=3, layout="[T, B, D * n_neurons]")
    dtype = float_dtype(spikes)
    centres = _centres(n_neurons, x_min, x_max, spikes.to(dtype))
    n_channels = spikes.shape[-1]
    if n_channels % n_neurons != 0:
        raise ValueError(
            f"spikes must have D * n_neurons channels in its last dimension, got "
            f"{n_channels} channels, not a multiple of n_neurons={n_neurons}"
        )
    counts = spikes.to(dtype).sum(dim=0).reshape(spikes.shape[1], -1, n_neurons)
    total = counts.sum(dim=-1)
    weighted = (counts * centres).sum(dim=-1)
    midpoint = torch.full_like(total, 0.5 * (float(x_min) + float(x_max)))
    return torch.where(total > 0, weighted / total.clamp(min=1e-30), midpoint)


def _centres(n_neurons: int, x_min: float, x_max: float, like: Tensor) -> Tensor:
    """Validate the population layout and return the ``n`` evenly spaced centres."""
    if isinstance(n_neurons, bool) or not isinstance(n_neurons, numbers.Integral) or n_neurons < 2:
        raise ValueError(f"n_neurons must be an integer >= 2, got {n_neurons!r}")
    x_min = check_real(x_min, "x_min")
    x_max = check_real(x_max, "x_max")
    if not x_max > x_min:
        raise ValueError(f"x_max must be > x_min, got x_min={x_min!r}, x_max={x_max!r}")
    return torch.linspace(x_min, x_max, n_neurons, device=like.device, dtype=like.dtype)
