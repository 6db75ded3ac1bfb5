"""Membrane-potential traces as dependency-free SVG line charts, with the firing threshold."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from snnlearn.plot.svg import line_chart

__all__ = ["membrane_traces"]


def membrane_traces(
    v: Tensor, *, dt: float, neurons: Sequence[int] | None = None, v_th: float | None = None,
    title: str = "Membrane potential", unit_name: str = "neuron",
) -> str:
    """An SVG chart of ``v[t, n]`` against time for a few neurons of one sample.

    Args:
        v: membrane potentials ``[T, N]`` of one sample (dimensionless, ``v_th = 1`` unless the
            model says otherwise).
        dt: the time step (s); the axis is labelled in ms.
        neurons: which neurons to draw (default: the first ``min(N, 4)``).
        v_th: draw the firing threshold as a line (``None``: no line, e.g. for a readout).
        title: the chart title.
        unit_name: the legend's word for a unit (e.g. ``"class"`` for a readout).

    Returns:
        A self-contained ``<svg>`` string.

    Raises:
        ValueError: ``v`` is not ``[T, N]``, a neuron index is out of range, or ``dt <= 0``.

    Example:
        >>> v = torch.linspace(0, 1, 5).unsqueeze(1).repeat(1, 2)  # [T=5, N=2]
        >>> svg = membrane_traces(v, dt=1e-3, v_th=1.0)
        >>> svg.count("<polyline")  # two neurons and the threshold
        3
    """
    if not isinstance(v, Tensor) or v.ndim != 2:
        shape = tuple(v.shape) if isinstance(v, Tensor) else type(v).__name__
        raise ValueError(f"v must be a [T, N] tensor of one sample's membrane potentials "
                         f"(index the batch first, e.g. v[:, 0]), got {shape}")
    if not dt > 0:
        raise ValueError(f"dt must be > 0 seconds, got {dt!r}")
    n_steps, n = v.shape
    chosen = list(range(min(n, 4))) if neurons is None else list(neurons)
    bad = [i for i in chosen if not 0 <= i < n]
    if bad:
        raise ValueError(f"neurons {bad} out of range for a layer of {n} neurons (0..{n - 1})")
    v = v.detach().to("cpu", torch.float64)
    times = [(t + 1) * dt * 1e3 for t in range(n_steps)]
    series = {f"{unit_name} {i}": list(zip(times, v[:, i].tolist(), strict=True)) for i in chosen}
    if v_th is not None:
        series["threshold"] = [(times[0], v_th), (times[-1], v_th)]
    return line_chart(series, title=title, xlabel="time (ms)", ylabel="membrane potential v")
