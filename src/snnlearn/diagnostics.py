"""Warnings for what runs but is probably wrong: silent networks, batch-first inputs, time
constants below the time step, and resumes that cannot be bit-exact.

Each is a ``UserWarning`` subclass, so it can be filtered by type
(``warnings.simplefilter("ignore", TimeConstantWarning)``).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable

__all__ = ["SilentNetworkWarning", "InputLayoutWarning", "TimeConstantWarning",
           "ReproducibilityWarning", "check_time_constants", "check_time_first", "warn_silent",
           "warn_not_exact", "SILENT_SPIKES_PER_SAMPLE"]


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


def warn_silent(spikes_per_sample: float, epoch: int, *, warned: bool) -> bool:
    """Warn (:class:`SilentNetworkWarning`, once: not if ``warned``) that an epoch's hidden layers
    fired fewer than :data:`SILENT_SPIKES_PER_SAMPLE` spikes per sample; return whether it did."""
    if warned or spikes_per_sample >= SILENT_SPIKES_PER_SAMPLE:
        return False
    warnings.warn(
        f"the hidden layers fired {spikes_per_sample:.3g} spikes per training sample in epoch "
        f"{epoch} (almost silent): the network cannot learn through them; raise the initial "
        "weight gain (--gain) or the input rate, or lower the threshold", SilentNetworkWarning,
        stacklevel=3)
    return True


def warn_not_exact(run_dir: str, changed: list[str]) -> None:
    """Warn (:class:`ReproducibilityWarning`) that resuming ``run_dir`` after the environment
    changed (``changed``: ``"key: old -> new"`` entries) may not be bitwise exact."""
    if changed:
        warnings.warn(
            f"resuming {run_dir!r} in another environment than it ran in before "
            f"({'; '.join(changed)}): the result may differ in the last bits from an "
            "uninterrupted run", ReproducibilityWarning, stacklevel=3)
