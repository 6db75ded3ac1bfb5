"""Encoders: turn data into time-first spike trains ``[T, B, N]`` and read them back.

All encoders are pure functions; times are in seconds, ``dt`` is explicit, and every sampling
encoder takes a keyword-only ``generator: torch.Generator | None``.
"""

from snnlearn.encoders.delta import delta_decode, delta_encode
from snnlearn.encoders.latency import (
    LatencyKind,
    first_spike_times,
    latency_decode,
    latency_encode,
    times_to_spikes,
)
from snnlearn.encoders.population import population_decode, population_encode, population_rates
from snnlearn.encoders.rate import poisson_encode, rate_decode

__all__ = [
    "poisson_encode", "rate_decode",
    "LatencyKind", "times_to_spikes", "latency_encode", "latency_decode", "first_spike_times",
    "population_rates", "population_encode", "population_decode",
    "delta_encode", "delta_decode",
]
