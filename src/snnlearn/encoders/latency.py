"""Latency (time-to-first-spike) coding: one spike per channel, earlier for a larger intensity.

Time grid: step ``k`` (``k = 0, ..., T-1``) of a raster stands for the time ``t = k dt`` seconds,
so a spike time ``t`` is written into step ``k = round(t / dt)`` (nearest step, ties to the later
step, i.e. ``floor(t/dt + 1/2)``) and read back as ``k dt``. The quantisation error is at most
``dt / 2``.
"""

from __future__ import annotations

import math
from typing import Literal, get_args

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

__all__ = ["LatencyKind", "times_to_spikes", "latency_encode", "latency_decode",
           "first_spike_times"]

LatencyKind = Literal["linear", "log"]

# Firing threshold of the RC (LIF-charging) latency code, in units of the input intensity.
_LOG_THETA = 0.2


def times_to_spikes(times: Tensor, n_steps: int, dt: float) -> Tensor:
    """Turn spike times into a raster with at most one spike per channel.

    .. math::

        z_{k,b,n} = [k = \\lfloor t_{b,n} / \\Delta t + 1/2 \\rfloor], \\qquad k = 0, \\dots, T-1

    A time that rounds to a step ``>= n_steps`` (``t >= (n_steps - 1/2) dt``), ``+inf`` or NaN
    gives no spike.

    Args:
        times: spike times (s, ``>= 0``; ``+inf`` or NaN for no spike).
        n_steps: number of time steps ``T`` (>= 1).
        dt: time step (s, > 0).

    Shapes:
        ``times [B, N] -> spikes [T, B, N]`` (any trailing shape works).

    Returns:
        Spikes (0/1) with the dtype of ``times`` (``float32`` for integer times).

    Raises:
        ValueError: ``times`` not a real tensor, a negative time (including ``-inf``),
            ``n_steps < 1`` or ``dt <= 0``.

    Example:
        >>> import torch
        >>> times_to_spikes(torch.tensor([[0.0, 2e-3, float("inf")]]), n_steps=3, dt=1e-3)[:, 0]
        tensor([[1., 0., 0.],
                [0., 0., 0.],
                [0., 1., 0.]])
    """
    times = check_tensor(times, "times", min_ndim=1, layout="[B, N] of spike times in seconds")
    n_steps = check_n_steps(n_steps)
    dt = check_dt(dt)
    dtype = float_dtype(times)
    times = times.to(dtype)
    negative = times < 0
    if bool(negative.any()):
        raise ValueError(
            f"times must be >= 0 seconds (+inf or NaN for no spike), got {int(negative.sum())} "
            f"negative values, the smallest {times.min().item()!r}"
        )
    step = torch.floor(times / dt + 0.5)
    valid = torch.isfinite(step) & (step < n_steps)
    grid = torch.arange(n_steps, device=times.device, dtype=dtype).view(
        n_steps, *([1] * times.ndim)
    )
    return ((grid == step) & valid).to(dtype)


def latency_encode(
    x: Tensor, n_steps: int, dt: float, *, t_min: float = 0.0, t_max: float | None = None,
    kind: LatencyKind = "linear", tau: float = 5e-3, skip_zero: bool = False,
) -> Tensor:
    """Time-to-first-spike code: each intensity in ``[0, 1]`` becomes a single spike.

    Spike times (larger intensities fire earlier):

    - ``kind="linear"``: :math:`t = t_{min} + (1 - x)(t_{max} - t_{min})`, so ``x = 1`` fires at
      ``t_min`` and ``x = 0`` at ``t_max``;
    - ``kind="log"``: the time an RC circuit (a LIF membrane with time constant ``tau``, starting
      at rest and driven by the constant current ``x``) takes to reach the threshold
      :math:`\\theta = 0.2`: :math:`v(t) = x (1 - e^{-t/\\tau})`, hence
      :math:`t = t_{min} + \\tau \\ln\\frac{x}{x - \\theta}`, clipped to ``t_max``;
      ``x <= theta`` never reaches the threshold and gives no spike.

    The times are then written into the raster by :func:`times_to_spikes` (nearest step);
    times at or beyond ``(n_steps - 1/2) dt`` give no spike, so a ``t_max`` beyond the window
    silences the weakest inputs.

    Args:
        x: intensities (dimensionless, finite, in ``[0, 1]``).
        n_steps: number of time steps ``T`` (>= 1).
        dt: time step (s, > 0).
        t_min: spike time of the strongest input (s, >= 0).
        t_max: latest spike time (s, >= ``t_min``); default ``(n_steps - 1) dt``, the last step.
        kind: ``"linear"`` or ``"log"`` (see above).
        tau: RC time constant of the ``"log"`` code (s, > 0); unused by ``"linear"``.
        skip_zero: if true, ``x == 0`` emits no spike (by default it fires at ``t_max`` in the
            linear code).

    Shapes:
        ``x [B, N] -> spikes [T, B, N]`` (any trailing shape works).

    Returns:
        Spikes (0/1), at most one per channel, with the dtype of ``x`` (``float32`` for integer
        input).

    Raises:
        ValueError: ``x`` not a real tensor, a value outside ``[0, 1]`` or NaN/Inf, an unknown
            ``kind``, ``n_steps < 1``, ``dt <= 0``, ``tau <= 0``, ``t_min < 0`` or
            ``t_max < t_min``.

    Example:
        >>> import torch
        >>> z = latency_encode(torch.tensor([[1.0, 0.5, 0.0]]), n_steps=5, dt=1e-3)
        >>> first_spike_times(z, dt=1e-3)
        tensor([[0.0000, 0.0020, 0.0040]])

    References:
        Thorpe, S., Delorme, A. & Van Rullen, R. (2001). Spike-based strategies for rapid
        processing. Neural Networks 14(6-7), 715-725. doi:10.1016/S0893-6080(01)00083-1

        Zenke, F. & Vogels, T. P. (2021). The remarkable robustness of surrogate gradient
        learning for instilling complex function in spiking neural networks. Neural
        Computation 33(4), 899-925. doi:10.1162/neco_a_01367 (RC latency code with
        threshold 0.2, as in the SpyTorch tutorials and snnTorch's ``spikegen.latency``).
    """
    x = check_tensor(x, "x", min_ndim=1, layout="[B, N] of intensities in [0, 1]")
    n_steps = check_n_steps(n_steps)
    dt = check_dt(dt)
    t_min = check_real(t_min, "t_min", non_negative=True)
    t_max = (n_steps - 1) * dt if t_max is None else check_real(t_max, "t_max")
    if t_max < t_min:
        raise ValueError(f"t_max must be >= t_min, got t_max={t_max!r} s, t_min={t_min!r} s")
    tau = check_real(tau, "tau", positive=True)
    if kind not in get_args(LatencyKind):
        raise ValueError(f"kind must be one of {list(get_args(LatencyKind))}, got {kind!r}")
    x = x.to(float_dtype(x))
    check_finite_tensor(x, "x")
    if x.numel() > 0 and (bool((x < 0).any()) or bool((x > 1).any())):
        raise ValueError(
            f"x must lie in [0, 1], got values in [{x.min().item()!r}, {x.max().item()!r}]; "
            "normalise the input first, e.g. x / x.max()"
        )
    inf = torch.full_like(x, math.inf)
    if kind == "linear":
        times = t_min + (1.0 - x) * (t_max - t_min)
    else:
        above = x > _LOG_THETA
        safe = torch.where(above, x, torch.ones_like(x))
        charge = t_min + tau * torch.log(safe / (safe - _LOG_THETA))
        times = torch.where(above, charge.clamp(max=t_max), inf)
    if skip_zero:
        times = torch.where(x == 0, inf, times)
    return times_to_spikes(times, n_steps, dt)


def first_spike_times(spikes: Tensor, dt: float) -> Tensor:
    """Time of the first spike of each channel.

    .. math::

        t_{b,n} = \\Delta t \\, \\min\\{k : z_{k,b,n} \\neq 0\\}, \\quad +\\infty
        \\text{ if there is none}

    Args:
        spikes: spike trains, time first (any non-zero value counts as a spike).
        dt: time step (s, > 0).

    Shapes:
        ``spikes [T, B, N] -> times [B, N]`` (any trailing shape works).

    Returns:
        First-spike times in seconds, ``+inf`` for silent channels; dtype of ``spikes``
        (``float32`` for integer or boolean spikes).

    Raises:
        ValueError: ``spikes`` not a real tensor with at least one dimension, ``T = 0`` or
            ``dt <= 0``.

    Example:
        >>> import torch
        >>> first_spike_times(torch.tensor([[[0.0, 0.0]], [[1.0, 0.0]], [[1.0, 0.0]]]), dt=1e-3)
        tensor([[0.0010,    inf]])
    """
    spikes = check_tensor(spikes, "spikes", min_ndim=1, layout="[T, B, N] (time first)")
    dt = check_dt(dt)
    n_steps = spikes.shape[0]
    if n_steps == 0:
        raise ValueError(f"spikes must have at least one time step, got shape "
                         f"{tuple(spikes.shape)}")
    dtype = float_dtype(spikes)
    grid = (torch.arange(n_steps, device=spikes.device, dtype=torch.float64) * dt).to(dtype)
    grid = grid.view(n_steps, *([1] * (spikes.ndim - 1)))
    inf = torch.tensor(math.inf, device=spikes.device, dtype=dtype)
    return torch.where(spikes != 0, grid, inf).amin(dim=0)


def latency_decode(spikes: Tensor, dt: float, *, t_min: float = 0.0, t_max: float) -> Tensor:
    """Estimate intensities from first-spike times by inverting the linear latency code.

    .. math::

        \\hat x = \\operatorname{clip}\\Big(1 - \\frac{t - t_{min}}{t_{max} - t_{min}},
        0, 1\\Big), \\qquad \\hat x = 0 \\text{ for a channel without spike}

    With the spikes of :func:`latency_encode` (``kind="linear"``, same ``t_min``, ``t_max``) the
    error is at most ``dt / (2 (t_max - t_min))`` for every ``x`` that spikes.

    Args:
        spikes: spike trains, time first.
        dt: time step (s, > 0).
        t_min: spike time of intensity 1 (s, >= 0).
        t_max: spike time of intensity 0 (s, > ``t_min``).

    Shapes:
        ``spikes [T, B, N] -> x [B, N]`` (any trailing shape works).

    Returns:
        Intensities in ``[0, 1]``, dtype of ``spikes`` (``float32`` for integer spikes).

    Raises:
        ValueError: invalid ``spikes`` or ``dt``, ``t_min < 0`` or ``t_max <= t_min``.

    Example:
        >>> import torch
        >>> z = latency_encode(torch.tensor([[1.0, 0.25]]), n_steps=5, dt=1e-3)
        >>> latency_decode(z, dt=1e-3, t_max=4e-3)
        tensor([[1.0000, 0.2500]])
    """
    t_min = check_real(t_min, "t_min", non_negative=True)
    t_max = check_real(t_max, "t_max")
    if not t_max > t_min:
        raise ValueError(f"t_max must be > t_min, got t_max={t_max!r} s, t_min={t_min!r} s")
    times = first_spike_times(spikes, dt)
    x = (1.0 - (times - t_min) / (t_max - t_min)).clamp(0.0, 1.0)
    return torch.where(torch.isfinite(times), x, torch.zeros_like(x))
