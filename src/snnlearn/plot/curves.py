"""Learning curves (loss or accuracy per epoch), the mean over seeds with a ± sd band.

A curve is a sequence of ``(epoch, value)`` points; each named series holds one curve per seed
(a single run is a series of one curve). Accuracies are plotted in percent.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from snnlearn.plot.figure import colours, drawing, integer_epochs, mean_sd, percent_axis

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["Curve", "curve_chart", "training_curves"]

Curve = Sequence[tuple[float, float]]
"""``(epoch, value)`` points of one run."""


def _by_epoch(curves: Sequence[Curve], scale: float) -> list[tuple[float, list[float]]]:
    values: dict[float, list[float]] = {}
    for curve in curves:
        for epoch, value in curve:
            if math.isfinite(value):
                values.setdefault(float(epoch), []).append(scale * float(value))
    return sorted(values.items())


def curve_chart(series: Mapping[str, Sequence[Curve]], *, title: str, ylabel: str,
                percent: bool = False) -> Figure:
    """One line per series: the mean over its curves at each epoch, with a ± sd band where an
    epoch has values from two or more curves. Non-finite values are skipped.

    Args:
        series: name -> the curves of its seeds (fractions if ``percent``).
        title: the figure title.
        ylabel: the y axis label (its unit in brackets).
        percent: values are fractions, plotted in percent on an honest range
            (:func:`~snnlearn.plot.figure.percent_axis`).

    Returns:
        A matplotlib figure with one line per non-empty series.

    Example:
        >>> fig = curve_chart({"bptt": [[(1, 0.5), (2, 0.8)], [(1, 0.6), (2, 0.9)]]},
        ...                   title="t", ylabel="accuracy (%)", percent=True)
        >>> [line.get_ydata().tolist() for line in fig.axes[0].lines]  # the mean of two seeds
        [[55.0, 85.0]]
    """
    scale = 100.0 if percent else 1.0
    with drawing() as fig:
        ax = fig.subplots()
        epochs, shown = [], []
        n_seeds = max((len(c) for c in series.values()), default=0)
        for (name, curves), colour in zip(series.items(), colours(len(series)), strict=True):
            points = _by_epoch(curves, scale)
            if not points:
                continue
            xs = [e for e, _ in points]
            stats = [mean_sd(v) for _, v in points]
            means = [m for m, _ in stats]
            ax.plot(xs, means, color=colour, marker="o" if len(xs) < 30 else None,
                    markersize=3, label=name if len(curves) < 2 else f"{name} (n={len(curves)})")
            if any(len(v) > 1 for _, v in points):
                ax.fill_between(xs, [m - s for m, s in stats], [m + s for m, s in stats],
                                color=colour, alpha=0.2, linewidth=0)
            epochs += xs
            shown += [m for m, _ in stats] + [m + s for m, s in stats] + [m - s for m, s in stats]
        integer_epochs(ax, epochs)
        if percent:
            percent_axis(ax, shown, label=ylabel)
        else:
            ax.set_ylabel(ylabel)
            if shown and min(shown) >= 0:
                ax.set_ylim(bottom=0.0)  # a loss that falls by 10 % does not fill the panel
        if ax.lines:
            ax.legend(loc="best")
        else:
            ax.text(0.5, 0.5, "no epochs recorded", transform=ax.transAxes, ha="center")
        note = f" (mean ± sd over {n_seeds} seeds)" if n_seeds > 1 else ""
        ax.set_title(title + note)
    return fig


def training_curves(history: Sequence[Mapping[str, Any]]) -> dict[str, Figure]:
    """The loss and the accuracy per epoch of one run, from its ``metrics.jsonl`` records.

    Returns:
        ``{"loss": figure, "accuracy": figure}``; the accuracy figure has a training and a
        validation line (epochs without validation are skipped), in percent.

    Example:
        >>> figs = training_curves([{"epoch": 1, "train_loss": 0.7, "train_accuracy": 0.5,
        ...     "val_accuracy": 0.6}, {"epoch": 2, "train_loss": 0.4, "train_accuracy": 0.8,
        ...     "val_accuracy": None}])
        >>> sorted(figs), len(figs["accuracy"].axes[0].lines)
        (['accuracy', 'loss'], 2)
    """
    def points(key: str) -> list[tuple[float, float]]:
        return [(float(r["epoch"]), float(r[key])) for r in history
                if isinstance(r.get(key), (int, float))]

    return {
        "loss": curve_chart({"train": [points("train_loss")]}, title="Training loss",
                            ylabel="loss"),
        "accuracy": curve_chart({"train": [points("train_accuracy")],
                                 "validation": [points("val_accuracy")]},
                                title="Accuracy", ylabel="accuracy (%)", percent=True),
    }
