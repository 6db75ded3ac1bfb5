"""The energy/performance trade-off of an activity-regulariser sweep: a figure and a table.

Each run of the sweep is one point ``(spikes per sample, test accuracy)``; the runs of one rule
are joined in order of increasing spikes and each point is labelled with its regulariser
strength ``activity_reg``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from snnlearn.plot.figure import colours, drawing, percent_axis

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["tradeoff_chart", "tradeoff_markdown"]


def _ok(runs: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return [r for r in runs if not r.get("error")]


def tradeoff_chart(runs: Sequence[Mapping[str, Any]], *, title: str = "Accuracy vs activity "
                   "(activity-regulariser sweep)") -> Figure:
    """Test accuracy (%) against spikes per sample, one marker per finished run.

    Args:
        runs: records with ``rule``, ``activity_reg``, ``spikes_per_sample`` and
            ``test_accuracy`` (failed runs, which have an ``error``, are skipped).
        title: the figure's title.

    Returns:
        A matplotlib figure: per rule, one line through its runs (markers at the runs), each
        marker annotated ``reg=<strength>``.

    Example:
        >>> fig = tradeoff_chart([
        ...     {"rule": "bptt", "activity_reg": 0.0, "spikes_per_sample": 90.0,
        ...      "test_accuracy": 0.9},
        ...     {"rule": "bptt", "activity_reg": 0.1, "spikes_per_sample": 20.0,
        ...      "test_accuracy": 0.8}])
        >>> ax = fig.axes[0]
        >>> ax.lines[0].get_xydata().tolist(), [t.get_text() for t in ax.texts][:2]
        ([[20.0, 80.0], [90.0, 90.0]], ['reg=0.1', 'reg=0'])
    """
    by_rule: dict[str, list[tuple[float, float, float]]] = {}
    for r in _ok(runs):
        by_rule.setdefault(str(r["rule"]), []).append(
            (float(r["spikes_per_sample"]), 100 * float(r["test_accuracy"]),
             float(r["activity_reg"])))
    with drawing() as fig:
        ax = fig.subplots()
        ys, right = [], 0.0
        for (rule, pts), colour in zip(by_rule.items(), colours(len(by_rule)), strict=True):
            ordered = sorted(pts)
            ax.plot([p[0] for p in ordered], [p[1] for p in ordered], marker="o", color=colour,
                    label=rule)
            for k, (x, y, reg) in enumerate(ordered):  # neighbours above and below
                ax.annotate(f"reg={reg:g}", (x, y), textcoords="offset points",
                            xytext=(4, 5) if k % 2 == 0 else (4, -11), fontsize=7)
            ys += [p[1] for p in pts]
            right = max(right, *(p[0] for p in pts))
        ax.set_xlim(0.0, 1.15 * right if right > 0 else 1.0)
        ax.set_xlabel("spikes per sample")
        percent_axis(ax, ys, label="test accuracy (%)")
        if by_rule:
            ax.legend(loc="best", fontsize=7)
        ax.set_title(title)
    return fig


def tradeoff_markdown(task: str, runs: Sequence[Mapping[str, Any]]) -> str:
    """A markdown table of the sweep: one row per run, in the order given.

    Example:
        >>> print(tradeoff_markdown("t", [{"rule": "bptt", "activity_reg": 0.01,
        ...     "test_accuracy": 0.9, "spikes_per_sample": 12.5,
        ...     "synops_per_sample": 300.0}]).splitlines()[-1])
        | bptt | 0.01 | 90.0% | 12.5 | 300 |
    """
    rows = []
    for r in runs:
        if r.get("error"):
            rows.append(f"| {r['rule']} | {r.get('activity_reg', '')} | failed: {r['error']} "
                        "| | |")
            continue
        rows.append(f"| {r['rule']} | {r['activity_reg']:g} | {r['test_accuracy']:.1%} | "
                    f"{r['spikes_per_sample']:.1f} | {r['synops_per_sample']:.0f} |")
    return "\n".join([
        f"# Activity-regulariser sweep on `{task}`", "",
        "| rule | activity_reg | test accuracy | spikes / sample | synaptic ops / sample |",
        "|---|---|---|---|---|", *rows])
