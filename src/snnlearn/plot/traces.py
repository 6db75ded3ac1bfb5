"""Membrane-potential traces of a few hidden neurons (with the threshold), and the readout of
every class next to its per-class score."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from snnlearn.plot.figure import colours, drawing

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["membrane_traces", "readout_chart"]


def _as_matrix(v: Tensor, dt: float) -> Tensor:
    if not isinstance(v, Tensor) or v.ndim != 2:
        shape = tuple(v.shape) if isinstance(v, Tensor) else type(v).__name__
        raise ValueError(f"v must be a [T, N] tensor of one sample's membrane potentials "
                         f"(index the batch first, e.g. v[:, 0]), got {shape}")
    if not dt > 0:
        raise ValueError(f"dt must be > 0 seconds, got {dt!r}")
    return v.detach().to("cpu", torch.float64)


def _times(n_steps: int, dt: float) -> list[float]:
    return [(t + 1) * dt * 1e3 for t in range(n_steps)]


def membrane_traces(
    v: Tensor, *, dt: float, neurons: Sequence[int] | None = None, v_th: float | None = None,
    title: str = "Membrane potential",
) -> Figure:
    """``v[t, n]`` against time for a few neurons of one sample, and the firing threshold.

    Args:
        v: membrane potentials ``[T, N]`` of one sample (dimensionless, ``v_th = 1`` unless the
            model says otherwise).
        dt: the time step (s); the axis is in ms.
        neurons: which neurons to draw (default: the first ``min(N, 4)``).
        v_th: draw the firing threshold as a dashed line (``None``: no line).
        title: the figure title.

    Returns:
        A matplotlib figure: one line per neuron, then the threshold line.

    Raises:
        ValueError: ``v`` is not ``[T, N]``, a neuron index is out of range, or ``dt <= 0``.

    Example:
        >>> v = torch.linspace(0, 1, 5).unsqueeze(1).repeat(1, 2)  # [T=5, N=2]
        >>> len(membrane_traces(v, dt=1e-3, v_th=1.0).axes[0].lines)  # two neurons, threshold
        3
    """
    v = _as_matrix(v, dt)
    n_steps, n = v.shape
    chosen = list(range(min(n, 4))) if neurons is None else list(neurons)
    bad = [i for i in chosen if not 0 <= i < n]
    if bad:
        raise ValueError(f"neurons {bad} out of range for a layer of {n} neurons (0..{n - 1})")
    times = _times(n_steps, dt)
    with drawing() as fig:
        ax = fig.subplots()
        for i, colour in zip(chosen, colours(len(chosen)), strict=True):
            ax.plot(times, v[:, i].tolist(), color=colour, linewidth=1.2, label=f"neuron {i}")
        if v_th is not None:
            ax.axhline(v_th, color="#444", linestyle="--", linewidth=1.0,
                       label=f"threshold v_th = {v_th:g}")
        ax.set_xlim(0.0, n_steps * dt * 1e3)
        ax.set_xlabel("time (ms)")
        ax.set_ylabel("membrane potential v")
        ax.set_title(title)
        if ax.lines:
            ax.legend(loc="best", fontsize=7)
    return fig


def readout_chart(v: Tensor, *, dt: float, label: int | None = None,
                  predicted: int | None = None, title: str = "Readout") -> Figure:
    """Every class's readout membrane against time, and each class's score as a bar.

    The score of a class is its readout's maximum over time (the prediction is the highest
    bar). The bar of the true ``label`` is outlined in black and that of the ``predicted`` class
    hatched; the bars' colours are those of the traces.

    Args:
        v: readout membrane potentials ``[T, n_classes]`` of one sample.
        dt: the time step (s); the axis is in ms.
        label: the sample's class (``None``: not marked).
        predicted: the predicted class (``None``: not marked).
        title: the figure title.

    Returns:
        A matplotlib figure of two axes: the traces (one line per class) and the bars (one per
        class).

    Raises:
        ValueError: ``v`` is not ``[T, N]``, ``dt <= 0``, or a class out of range.

    Example:
        >>> fig = readout_chart(torch.rand(20, 10), dt=1e-3, label=3, predicted=3)
        >>> len(fig.axes[0].lines), len(fig.axes[1].patches)
        (10, 10)
    """
    v = _as_matrix(v, dt)
    n_steps, n = v.shape
    for name, k in (("label", label), ("predicted", predicted)):
        if k is not None and not 0 <= k < n:
            raise ValueError(f"{name} class {k} out of range for {n} readout units (0..{n - 1})")
    times, palette = _times(n_steps, dt), colours(n)
    score = v.amax(0).tolist()
    with drawing(7.0, 3.0) as fig:
        traces, bars = fig.subplots(1, 2, width_ratios=[3, 2])
        for k in range(n):
            traces.plot(times, v[:, k].tolist(), color=palette[k],
                        linewidth=2.0 if k in (label, predicted) else 0.9)
        traces.set_xlim(0.0, n_steps * dt * 1e3)
        traces.set_xlabel("time (ms)")
        traces.set_ylabel("readout membrane v")
        traces.set_title("every class (colours as the bars)", fontsize=8)
        drawn = bars.bar(range(n), score, color=palette)
        for k, bar in enumerate(drawn):
            if k == label:
                bar.set_edgecolor("black")
                bar.set_linewidth(1.5)
            if k == predicted:
                bar.set_hatch("//")
        bars.set_xticks(range(n), [str(k) for k in range(n)],
                        fontsize=7 if n <= 20 else 5, rotation=0 if n <= 20 else 90)
        bars.set_xlabel("class")
        bars.set_ylabel("max over time of v")
        marks = ", ".join(m for m in ("label outlined" if label is not None else "",
                                      "prediction hatched" if predicted is not None else "") if m)
        bars.set_title("score per class" + (f"\n({marks})" if marks else ""), fontsize=8)
        fig.suptitle(title)
    return fig
