"""The self-contained HTML report of a method comparison (tables and inline SVG charts)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape
from typing import Any
from urllib.parse import quote

from snnlearn.plot.svg import line_chart, scatter_chart

__all__ = ["COLUMNS", "comparison_markdown", "comparison_html"]

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
    rows = [f"| {r['rule']} | " + " | ".join(_cells(r)) + " |" for r in runs]
    return "\n".join([f"# Comparison on `{task}`", "", head, rule, *rows])


def comparison_html(task: str, runs: Sequence[Mapping[str, Any]], *,
                    figures: Mapping[str, Sequence[str]] | None = None) -> str:
    """The report page: the table, learning curves and the accuracy-vs-spikes trade-off.

    ``figures`` adds a section per rule with its SVG charts (e.g. the spike raster and
    membrane traces of a test sample, see :mod:`snnlearn.plot.raster`) and a link to the run's
    own page ``<rule>/plots/index.html`` (written by ``snnlearn plot``).
    """
    ok = [r for r in runs if not r.get("error")]
    val = {r["rule"]: [(c["epoch"], c["val_accuracy"]) for c in r.get("curve", [])
                       if c.get("val_accuracy") is not None] for r in ok}
    loss = {r["rule"]: [(c["epoch"], c["train_loss"]) for c in r.get("curve", [])] for r in ok}
    trade = {r["rule"]: [(r["spikes_per_sample"], r["test_accuracy"])] for r in ok}
    header = "".join(f"<th>{escape(h)}</th>" for _, h, _ in COLUMNS)
    body = "".join(
        f"<tr><td>{escape(str(r['rule']))}</td>"
        + "".join(f"<td>{escape(c)}</td>" for c in _cells(r)) + "</tr>" for r in runs
    )
    charts = [
        line_chart(val, title="Validation accuracy", xlabel="epoch", ylabel="accuracy"),
        line_chart(loss, title="Training loss", xlabel="epoch", ylabel="loss"),
        scatter_chart(trade, title="Accuracy vs activity", xlabel="spikes per sample",
                      ylabel="test accuracy"),
    ]
    style = ("body{font-family:sans-serif;margin:2em;color:#222}table{border-collapse:collapse}"
             "td,th{border:1px solid #ccc;padding:4px 10px;text-align:right}"
             "td:first-child,th:first-child{text-align:left}"
             ".charts{display:flex;flex-wrap:wrap}.charts svg{margin:8px}")
    return (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>snnlearn comparison: "
        f"{escape(task)}</title><style>{style}</style></head><body>"
        f"<h1>Learning rules on <code>{escape(task)}</code></h1>"
        f"<table><tr><th>rule</th>{header}</tr>{body}</table>"
        f"<div class='charts'>{''.join(charts)}</div>{_per_rule(figures or {})}</body></html>"
    )


def _per_rule(figures: Mapping[str, Sequence[str]]) -> str:
    return "".join(
        f"<h2>{escape(rule)} <small><a href='{escape(quote(rule))}/plots/index.html'>run page"
        f"</a></small></h2><div class='charts'>{''.join(svgs)}</div>"
        for rule, svgs in figures.items()
    )
