"""Figures of a method comparison across seeds: test accuracy per rule (bars, mean ± sd) and
accuracy against activity (mean ± sd on both axes).

Each rule maps to its per-seed values; with one seed a rule is drawn without error bars.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from snnlearn.plot.figure import colours, drawing, mean_sd, percent_axis

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["accuracy_bars", "accuracy_vs_activity"]


def _seeds_note(counts: Sequence[int]) -> str:
    n = max(counts, default=1)
    if n < 2:
        return "one seed"
    return f"mean ± sd over {n} seeds" if min(counts) == n else f"mean ± sd over {min(counts)}" \
        f"-{n} seeds"


def accuracy_bars(accuracy: Mapping[str, Sequence[float]], *,
                  title: str = "Test accuracy") -> Figure:
    """One bar per rule: the mean test accuracy (%) over its seeds, ± sd, and each seed a dot.

    Bars start at 0 % (the axis is 0-100 %); each bar is labelled with its value.

    Args:
        accuracy: rule -> its per-seed test accuracies (fractions); empty lists are skipped.
        title: the figure title.

    Example:
        >>> fig = accuracy_bars({"bptt": [0.9, 0.92], "eprop": [0.8]})
        >>> [round(float(b.get_height()), 1) for b in fig.axes[0].patches]
        [91.0, 80.0]
    """
    rules = [(r, [100 * v for v in vals]) for r, vals in accuracy.items() if vals]
    with drawing(max(3.2, 1.0 + 0.7 * len(rules)), 3.2) as fig:
        ax = fig.subplots()
        for k, ((_, vals), colour) in enumerate(zip(rules, colours(len(rules)), strict=True)):
            mean, sd = mean_sd(vals)
            ax.bar(k, mean, color=colour, alpha=0.85, width=0.7)
            if len(vals) > 1:
                ax.errorbar(k, mean, yerr=sd, color="black", capsize=4, linewidth=1.0)
                ax.scatter([k] * len(vals), vals, color="black", s=8, zorder=3)
            text = f"{mean:.1f}" + (f" ± {sd:.1f}" if len(vals) > 1 else "")
            ax.text(k, min(mean + sd, 100) + 1.5, text, ha="center", va="bottom", fontsize=7)
        ax.set_xticks(range(len(rules)), [r for r, _ in rules])
        ax.set_xlim(-0.6, len(rules) - 0.4)
        percent_axis(ax, [], label="test accuracy (%)", from_zero=True)
        ax.grid(axis="x", visible=False)
        ax.set_title(f"{title}\n({_seeds_note([len(v) for _, v in rules])})")
    return fig


def accuracy_vs_activity(points: Mapping[str, Sequence[tuple[float, float]]], *,
                         title: str = "Accuracy vs activity") -> Figure:
    """Each rule at its mean (spikes per sample, test accuracy %), with ± sd bars on both axes.

    Spikes start at 0 (the axis is a count); the accuracy axis spans at least
    :data:`~snnlearn.plot.figure.MIN_PERCENT_SPAN` points and states its range.

    Args:
        points: rule -> its per-seed ``(spikes per sample, test accuracy)`` (accuracy a
            fraction); empty lists are skipped.
        title: the figure title.

    Example:
        >>> fig = accuracy_vs_activity({"bptt": [(100.0, 0.9), (120.0, 0.92)]})
        >>> tuple(float(y) for y in fig.axes[0].get_ylim())  # 91 ± 1.4 %: not stretched
        (85.0, 100.0)
    """
    rules = [(r, list(pts)) for r, pts in points.items() if pts]
    with drawing() as fig:
        ax = fig.subplots()
        ys, right = [], 0.0
        for (rule, pts), colour in zip(rules, colours(len(rules)), strict=True):
            sx, sxd = mean_sd([float(s) for s, _ in pts])
            ay, ayd = mean_sd([100 * float(a) for _, a in pts])
            ax.errorbar(sx, ay, xerr=sxd if len(pts) > 1 else None,
                        yerr=ayd if len(pts) > 1 else None, fmt="o", color=colour, capsize=3,
                        label=rule if len(pts) < 2 else f"{rule} (n={len(pts)})")
            ys += [ay - ayd, ay + ayd]
            right = max(right, sx + sxd)
        ax.set_xlim(0.0, 1.15 * right if right > 0 else 1.0)
        ax.set_xlabel("spikes per sample")
        percent_axis(ax, ys, label="test accuracy (%)")
        if rules:
            ax.legend(loc="best", fontsize=7)
        ax.set_title(f"{title} ({_seeds_note([len(p) for _, p in rules])})")
    return fig
