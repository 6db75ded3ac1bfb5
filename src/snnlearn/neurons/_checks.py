"""Validation helpers shared by the neuron ``Params`` dataclasses (private)."""

from __future__ import annotations

import math


def check_positive_time(owner: str, name: str, value: object) -> None:
    """Raise ``ValueError`` unless ``value`` is a finite number of seconds > 0."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{owner}.{name} must be a number of seconds, got {value!r}")
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{owner}.{name} must be a finite number of seconds > 0, got {value!r}")


def check_finite(owner: str, name: str, value: object) -> None:
    """Raise ``ValueError`` unless ``value`` is a finite real number."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{owner}.{name} must be a finite number, got {value!r}")


def check_dt(dt: object) -> float:
    """Return ``dt`` as a float, or raise ``ValueError`` if it is not a finite time > 0."""
    if isinstance(dt, bool) or not isinstance(dt, (int, float)) or not (
        math.isfinite(dt) and dt > 0
    ):
        raise ValueError(f"dt must be a finite number of seconds > 0, got {dt!r}")
    return float(dt)


def decay(dt: float, tau: float) -> float:
    """Exact per-step decay factor ``exp(-dt / tau)`` of a leaky variable."""
    return math.exp(-dt / tau)
