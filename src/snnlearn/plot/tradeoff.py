"""The energy/performance trade-off of an activity-regulariser sweep: a chart and a table.

Each run of the sweep is one point ``(spikes per sample, test accuracy)``; the runs of one rule
are joined in order of increasing spikes and each point is labelled with its regulariser
strength ``activity_reg``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from snnlearn.plot.svg import line_chart

__all__ = ["tradeoff_chart", "tradeoff_markdown"]


def _ok(runs: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return [r for r in runs if not r.get("error")]


def tradeoff_chart(runs: Sequence[Mapping[str, Any]], *, title: str = "Accuracy vs activity "
                   "(activity-regulariser sweep)") -> str:
    """An SVG chart of test accuracy against spikes per sample, one marker per finished run.

    Args:
        runs: records with ``rule``, ``activity_reg``, ``spikes_per_sample`` and
            ``test_accuracy`` (failed runs, which have an ``error``, are skipped).
        title: the chart's title.

    Returns:
        A self-contained ``<svg>`` string with one ``<circle>`` per finished run.

    Example:
        >>> svg = tradeoff_chart([
        ...     {"rule": "bptt", "activity_reg": 0.0, "spikes_per_sample": 90.0,
        ...      "test_accuracy": 0.9},
        ...     {"rule": "bptt", "activity_reg": 0.1, "spikes_per_sample": 20.0,
        ...      "test_accuracy": 0.8}])
        >>> svg.count("<circle"), "reg=0.1" in svg
        (2, True)
    """
    ok = _ok(runs)
    lines: dict[str, list[tuple[float, float]]] = {}
    for r in ok:
        lines.setdefault(str(r["rule"]), []).append(
            (float(r["spikes_per_sample"]), float(r["test_accuracy"])))
    # a polyline per rule through its runs (in order of spikes), then one single-point series
    # per run, which line_chart draws as a marker with its own legend entry
    series = {rule: sorted(pts) for rule, pts in lines.items() if len(pts) > 1}
    for r in ok:
        label = f"{r['rule']} reg={float(r['activity_reg']):g}"
        series[label] = [(float(r["spikes_per_sample"]), float(r["test_accuracy"]))]
    return line_chart(series, title=title, xlabel="spikes per sample", ylabel="test accuracy")


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
