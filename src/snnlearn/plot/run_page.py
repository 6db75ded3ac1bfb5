"""The HTML page of one run (``snnlearn plot RUN_DIR``): training curves, a spike raster,
membrane traces and per-layer firing rates, as inline SVG; pure (the caller writes the files).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

from snnlearn.plot.svg import line_chart

__all__ = ["training_curves", "firing_rate_chart", "run_page_html", "PAGE_STYLE"]

PAGE_STYLE = ("body{font-family:sans-serif;margin:2em;color:#222}"
              "table{border-collapse:collapse;margin-bottom:1em}"
              "td,th{border:1px solid #ccc;padding:4px 10px;text-align:right}"
              "td:first-child,th:first-child{text-align:left}"
              ".charts{display:flex;flex-wrap:wrap}.charts>div{margin:8px}"
              ".charts svg{display:block}h2{margin-top:1.5em}")
"""The CSS of the run page and of the comparison report."""


def training_curves(history: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """Loss and accuracy per epoch from ``metrics.jsonl`` records, as SVG charts.

    Returns:
        ``{"loss": svg, "accuracy": svg}``; the accuracy chart has a training series and a
        validation series (epochs without validation are skipped).

    Example:
        >>> charts = training_curves([{"epoch": 1, "train_loss": 0.7, "train_accuracy": 0.5,
        ...     "val_accuracy": 0.6}, {"epoch": 2, "train_loss": 0.4, "train_accuracy": 0.8,
        ...     "val_accuracy": None}])
        >>> sorted(charts), charts["loss"].count("<polyline")
        (['accuracy', 'loss'], 1)
    """
    def points(key: str) -> list[tuple[float, float]]:
        return [(float(r["epoch"]), float(r[key])) for r in history
                if isinstance(r.get(key), (int, float))]

    return {
        "loss": line_chart({"train": points("train_loss")}, title="Training loss",
                           xlabel="epoch", ylabel="loss"),
        "accuracy": line_chart({"train": points("train_accuracy"),
                                "validation": points("val_accuracy")},
                               title="Accuracy", xlabel="epoch", ylabel="accuracy"),
    }


def firing_rate_chart(rates: Mapping[str, Sequence[float]]) -> str:
    """Each layer's per-neuron firing rates (Hz), sorted from high to low, one line per layer.

    The x axis is the neuron's rank as a fraction of its layer (0 = the most active), so layers
    of different sizes share one chart; a flat line at 0 on the right shows silent neurons.

    Example:
        >>> firing_rate_chart({"hidden 1": [10.0, 0.0, 5.0]}).count("<polyline")
        1
    """
    series = {}
    for name, values in rates.items():
        ranked = sorted((float(r) for r in values), reverse=True)
        n = len(ranked)
        series[name] = [(k / max(n - 1, 1), r) for k, r in enumerate(ranked)]
    return line_chart(series, title="Firing rates per neuron", xlabel="neuron rank (fraction)",
                      ylabel="rate (Hz)")


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def run_page_html(
    title: str, summary: Mapping[str, Any], sections: Sequence[tuple[str, Sequence[str]]],
    *, rate_table: Mapping[str, float] | None = None,
) -> str:
    """A self-contained HTML page: the summary as a table, then titled sections of SVG charts.

    Args:
        title: the page heading (e.g. the run folder).
        summary: the run's ``summary.json`` (one table row per key).
        sections: ``(heading, [svg, ...])`` in page order.
        rate_table: mean firing rate (Hz) per layer, shown as a table in its own section.

    Example:
        >>> html = run_page_html("run <1>", {"test_accuracy": 0.9}, [("Curves", ["<svg></svg>"])])
        >>> "run &lt;1&gt;" in html and html.count("<svg") == 1
        True
    """
    rows = "".join(f"<tr><td>{escape(str(k))}</td><td>{escape(_cell(v))}</td></tr>"
                   for k, v in summary.items())
    parts = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>snnlearn run: "
             f"{escape(title)}</title><style>{PAGE_STYLE}</style></head><body>",
             f"<h1>Run <code>{escape(title)}</code></h1>",
             f"<table><tr><th>summary</th><th>value</th></tr>{rows}</table>"]
    for heading, charts in sections:
        parts.append(f"<h2>{escape(heading)}</h2><div class='charts'>"
                     + "".join(f"<div>{svg}</div>" for svg in charts) + "</div>")
    if rate_table:
        rows = "".join(f"<tr><td>{escape(k)}</td><td>{v:.2f}</td></tr>"
                       for k, v in rate_table.items())
        parts.append(f"<h2>Mean firing rate per layer</h2><table><tr><th>layer</th>"
                     f"<th>rate (Hz)</th></tr>{rows}</table>")
    parts.append("</body></html>")
    return "".join(parts)
