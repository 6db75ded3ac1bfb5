"""Argument validation shared by the encoders (private).

Every helper raises ``ValueError`` naming the parameter, the expected value and the received one.
"""

from __future__ import annotations

import math
import numbers

import torch
from torch import Tensor


def check_n_steps(n_steps: object, name: str = "n_steps") -> int:
    """Return ``n_steps`` as an ``int``, or raise unless it is an integer >= 1."""
    if isinstance(n_steps, bool) or not isinstance(n_steps, numbers.Integral):
        raise ValueError(f"{name} must be an integer >= 1, got {n_steps!r}")
    if n_steps < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {n_steps!r}")
    return int(n_steps)


def check_real(value: object, name: str, *, positive: bool = False,
               non_negative: bool = False) -> float:
    """Return ``value`` as a finite ``float`` (optionally > 0 or >= 0), or raise."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a finite real number, got {value!r}")
    out = float(value)
    if not math.isfinite(out):
        raise ValueError(f"{name} must be a finite real number, got {value!r}")
    if positive and not out > 0:
        raise ValueError(f"{name} must be > 0, got {value!r}")
    if non_negative and not out >= 0:
        raise ValueError(f"{name} must be >= 0, got {value!r}")
    return out


def check_dt(dt: object) -> float:
    """Return the time step ``dt`` (s) as a ``float``, or raise unless it is finite and > 0."""
    if isinstance(dt, bool) or not isinstance(dt, numbers.Real) or not (
        math.isfinite(float(dt)) and float(dt) > 0
    ):
        raise ValueError(f"dt must be a finite time step > 0 seconds, got {dt!r}")
    return float(dt)


def check_tensor(x: object, name: str, *, ndim: int | None = None, min_ndim: int = 0,
                 layout: str = "") -> Tensor:
    """Return ``x`` if it is a real tensor with the required number of dimensions, or raise.

    Args:
        x: the candidate tensor.
        name: the parameter's name in error messages.
        ndim: the exact number of dimensions required, or ``None``.
        min_ndim: the least number of dimensions required.
        layout: the expected layout for error messages, e.g. ``"[T, B, N]"``.
    """
    if not isinstance(x, Tensor):
        raise ValueError(f"{name} must be a torch.Tensor {layout}, got {type(x).__name__}")
    if x.is_complex():
        raise ValueError(f"{name} must be real, got dtype {x.dtype}")
    if (ndim is not None and x.ndim != ndim) or x.ndim < min_ndim:
        want = f"{ndim}" if ndim is not None else f">= {min_ndim}"
        raise ValueError(
            f"{name} must have {want} dimensions {layout}, got shape {tuple(x.shape)}"
        )
    return x


def check_finite_tensor(x: Tensor, name: str) -> None:
    """Raise if ``x`` holds any NaN or infinite value."""
    if x.is_floating_point() and not bool(torch.isfinite(x).all()):
        bad = int((~torch.isfinite(x)).sum())
        raise ValueError(f"{name} must be finite, got {bad} NaN or infinite values")


def float_dtype(x: Tensor) -> torch.dtype:
    """The floating dtype of ``x``, or ``torch.float32`` for integer and boolean tensors."""
    return x.dtype if x.is_floating_point() else torch.float32
