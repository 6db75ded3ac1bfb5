"""Pieces shared by the image tasks (digits, MNIST): checking the coding options and turning
intensities in ``[0, 1]`` into rate- or latency-coded spikes (private)."""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

import torch
from torch import Tensor

from snnlearn.encoders import latency_encode, poisson_encode
from snnlearn.neurons._checks import check_dt


def check_image_coding(task: str, coding: object, choices: Sequence[str], n_steps: object,
                       dt: float, max_rate: object) -> float:
    """Raise ``ValueError`` naming ``task`` for a bad coding option; return the checked ``dt``."""
    if coding not in choices:
        raise ValueError(f"{task}.coding must be one of {list(choices)}, got {coding!r}")
    if isinstance(n_steps, bool) or not isinstance(n_steps, numbers.Integral) or n_steps < 2:
        raise ValueError(f"{task}.n_steps must be an int >= 2, got {n_steps!r}")
    dt = check_dt(dt)
    if (isinstance(max_rate, bool) or not isinstance(max_rate, numbers.Real)
            or not (0 < max_rate and max_rate * dt <= 1 and math.isfinite(max_rate))):
        raise ValueError(
            f"{task}.max_rate must be a rate > 0 Hz with max_rate * dt <= 1, got "
            f"max_rate={max_rate!r} with dt={dt!r}; lower max_rate or dt"
        )
    return dt


def encode_intensities(p: Tensor, coding: str, n_steps: int, dt: float, max_rate: float,
                       generator: torch.Generator | None) -> Tensor:
    """Spikes ``[n_steps, B, N]`` for intensities ``p`` ``[B, N]``: Poisson at ``p * max_rate``
    (drawn from ``generator``) or one latency-coded spike per nonzero intensity."""
    if coding == "rate":
        return poisson_encode(p * max_rate, n_steps, dt, generator=generator)
    return latency_encode(p, n_steps, dt, skip_zero=True)
