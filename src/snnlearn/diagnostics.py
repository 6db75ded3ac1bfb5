"""Warnings for what runs but is probably wrong: silent networks, batch-first inputs, time
constants below the time step, and resumes that cannot be bit-exact.

Each is a ``UserWarning`` subclass, so it can be filtered by type
(``warnings.simplefilter("ignore", TimeConstantWarning)``).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable

__all__ = ["SilentNetworkWarning", "InputLayoutWarning", "TimeConstantWarning",
           "ReproducibilityWarning", "check_time_constants"]


class SilentNetworkWarning(UserWarning):
    """The hidden layers of a network (almost) never spiked during an epoch."""


class InputLayoutWarning(UserWarning):
    """An input looks batch-first ``[B, T, n]`` where time-first ``[T, B, n]`` is expected."""


class TimeConstantWarning(UserWarning):
    """A time constant is below the time step ``dt``: the variable forgets within one step."""


class ReproducibilityWarning(UserWarning):
    """A resumed run cannot be bitwise identical to an uninterrupted one (another environment)."""


def check_time_constants(layers: Iterable[object], dt: float) -> None:
    """Warn (:class:`TimeConstantWarning`) for every layer's ``tau_mem``/``tau_syn``/``tau_adapt``
    below ``dt``: the exact decay ``exp(-dt / tau)`` stays stable, but the state keeps less than
    ``1/e`` of itself from one step to the next, which is rarely meant."""
    for k, layer in enumerate(layers):
        neuron = getattr(layer, "neuron", None)
        if neuron is None:
            continue
        for params in (neuron, getattr(neuron, "lif", None)):
            for name in ("tau_mem", "tau_syn", "tau_adapt"):
                tau = getattr(params, name, None) if params is not None else None
                if isinstance(tau, (int, float)) and 0 < tau < dt:
                    warnings.warn(
                        f"layer {k} ({type(layer).__name__}): {name}={tau!r} s is below the time "
                        f"step dt={dt!r} s, so it decays by exp(-dt/{name}) per step; use a "
                        f"smaller dt or a larger {name}", TimeConstantWarning, stacklevel=3)


def check_time_first(x: object, *, n_steps: int, batch: int, owner: str) -> None:
    """Warn (:class:`InputLayoutWarning`) if ``x`` is ``[batch, n_steps, ...]`` rather than
    ``[n_steps, batch, ...]`` (only where the two differ, so the layout is unambiguous)."""
    shape = tuple(getattr(x, "shape", ()))
    if len(shape) >= 2 and batch != n_steps and shape[:2] == (batch, n_steps):
        warnings.warn(
            f"{owner} returned shape {shape}, which looks batch-first [B={batch}, T={n_steps}, "
            f"...]; snnlearn is time-first [T, B, ...]: transpose it with x.transpose(0, 1)",
            InputLayoutWarning, stacklevel=2)


SILENT_SPIKES_PER_SAMPLE = 1.0
"""An epoch whose hidden layers fire fewer spikes than this per sample (all layers together)
counts as silent."""
