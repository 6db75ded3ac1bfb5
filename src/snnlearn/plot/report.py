"""The self-contained HTML report of a method comparison: the table, and its figures as inline
SVG (drawn with matplotlib; without it the page says how to install it)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from snnlearn.plot.comparison import accuracy_bars, accuracy_vs_activity
from snnlearn.plot.curves import curve_chart
from snnlearn.plot.figure import INSTALL_HINT
from snnlearn.plot.run_page import PAGE_STYLE

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["COLUMNS", "comparison_markdown", "seed_groups", "comparison_figures",
           "comparison_html"]

COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("test_accuracy", "test accuracy", "{:.1%}"),
    ("train_seconds", "train time (s)", "{:.1f}"),
    ("peak_memory_mb", "peak memory (MiB)", "{:.0f}"),
    ("spikes_per_sample", "spikes / sample", "{:.1f}"),
    ("synops_per_sample", "synaptic ops / sample", "{:.0f}"),
    ("weight_updates", "weight updates", "{:.0f}"),
    ("epochs", "epochs", "{}"),
)
"""Summary keys shown for each rule, with their heading and format."""


def _cells(run: Mapping[str, Any]) -> list[str]:
    if run.get("error"):
        return [f"failed: {run['error']}"] + [""] * (len(COLUMNS) - 1)
    return [fmt.format(run[key]) if run.get(key) is not None else "—" for key, _, fmt in COLUMNS]


def _names(runs: Sequence[Mapping[str, Any]]) -> list[str]:
    """Each record's row name: its ``label`` if it has one, else its rule, with its seed where
    the rule has several records."""
    counts: dict[str, int] = {}
    for r in runs:
        counts[str(r["rule"])] = counts.get(str(r["rule"]), 0) + 1
    return [str(r["label"]) if "label" in r
            else f"{r['rule']} (seed {r['seed']})" if counts[str(r["rule"])] > 1 and "seed" in r
            else str(r["rule"]) for r in runs]


def comparison_markdown(task: str, runs: Sequence[Mapping[str, Any]]) -> str:
    """A markdown table: one row per rule, the columns of :data:`COLUMNS`.

    Example:
        >>> print(comparison_markdown("t", [{"rule": "bptt", "test_accuracy": 0.9,
        ...     "train_seconds": 1.0, "peak_memory_mb": 10.0, "spikes_per_sample": 2.0,
        ...     "synops_per_sample": 3.0, "weight_updates": 7, "epochs": 1}]).splitlines()[-1])
        | bptt | 90.0% | 1.0 | 10 | 2.0 | 3 | 7 | 1 |
    """
    head = "| rule | " + " | ".join(h for _, h, _ in COLUMNS) + " |"
    rule = "|---" * (len(COLUMNS) + 1) + "|"
    rows = [f"| {name} | " + " | ".join(_cells(r)) + " |"
            for name, r in zip(_names(runs), runs, strict=True)]
    return "\n".join([f"# Comparison on `{task}`", "", head, rule, *rows])


def seed_groups(runs: Sequence[Mapping[str, Any]]) -> dict[str, list[Mapping[str, Any]]]:
    """The finished records of each rule (several records of one rule: its seeds), in order.

    Example:
        >>> groups = seed_groups([{"rule": "a", "seed": 0}, {"rule": "b", "error": "x"},
        ...                       {"rule": "a", "seed": 1}])
        >>> {rule: [r["seed"] for r in records] for rule, records in groups.items()}
        {'a': [0, 1]}
    """
    groups: dict[str, list[Mapping[str, Any]]] = {}
    for r in runs:
        if not r.get("error"):
            groups.setdefault(str(r["rule"]), []).append(r)
    return groups


def comparison_figures(runs: Sequence[Mapping[str, Any]]) -> dict[str, Figure]:
    """The comparison's figures, each rule drawn as the mean ± sd over its seeds' records.

    Returns:
        ``{"val_accuracy": ..., "loss": ..., "test_accuracy": ..., "activity": ...}``:
        validation accuracy (%) and training loss per epoch, test accuracy (%) per rule as bars,
        and test accuracy against spikes per sample.

    Raises:
        PlotDependencyError: matplotlib is not installed.
    """
    groups = seed_groups(runs)

    def curves(key: str) -> dict[str, list[list[tuple[float, float]]]]:
        return {rule: [[(float(c["epoch"]), float(c[key])) for c in r.get("curve", [])
                        if isinstance(c.get(key), (int, float))] for r in records]
                for rule, records in groups.items()}

    return {
        "val_accuracy": curve_chart(curves("val_accuracy"), title="Validation accuracy",
                                    ylabel="validation accuracy (%)", percent=True),
        "loss": curve_chart(curves("train_loss"), title="Training loss", ylabel="loss"),
        "test_accuracy": accuracy_bars({rule: [float(r["test_accuracy"]) for r in records]
                                        for rule, records in groups.items()}),
        "activity": accuracy_vs_activity({
            rule: [(float(r["spikes_per_sample"]), float(r["test_accuracy"])) for r in records]
            for rule, records in groups.items()}),
    }


def comparison_html(task: str, runs: Sequence[Mapping[str, Any]], *,
                    charts: Sequence[str] | None = None,
                    figures: Mapping[str, Sequence[str]] | None = None) -> str:
    """The report page: the table, then the comparison's charts and a section per rule.

    Args:
        task: the task id.
        runs: the comparison's records (``comparison.json``'s ``runs``).
        charts: inline ``<svg>`` charts of the whole comparison (see
            :func:`comparison_figures`); ``None`` (matplotlib missing) shows one line saying how
            to install it.
        figures: rule -> its inline ``<svg>`` charts (e.g. the spike raster of a test sample),
            each section linking to the run's own page ``<rule>/plots/index.html``.
    """
    header = "".join(f"<th>{escape(h)}</th>" for _, h, _ in COLUMNS)
    body = "".join(
        f"<tr><td>{escape(name)}</td>"
        + "".join(f"<td>{escape(c)}</td>" for c in _cells(r)) + "</tr>"
        for name, r in zip(_names(runs), runs, strict=True)
    )
    shown = (f"<div class='charts'>{''.join(f'<div>{c}</div>' for c in charts)}</div>"
             if charts is not None else f"<p class='hint'>{escape(INSTALL_HINT)}</p>")
    return (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>snnlearn comparison: "
        f"{escape(task)}</title><style>{PAGE_STYLE}</style></head><body>"
        f"<h1>Learning rules on <code>{escape(task)}</code></h1>"
        f"<table><tr><th>rule</th>{header}</tr>{body}</table>"
        f"{shown}{_per_rule(figures or {})}</body></html>"
    )


def _per_rule(figures: Mapping[str, Sequence[str]]) -> str:
    return "".join(
        f"<h2>{escape(rule)} <small><a href='{escape(quote(rule))}/plots/index.html'>run page"
        f"</a></small></h2><div class='charts'>{''.join(f'<div>{s}</div>' for s in svgs)}</div>"
        for rule, svgs in figures.items()
    )
