"""The HTML page of one run (``snnlearn plot RUN_DIR``): its summary table and sections of
inline SVG figures; pure (the caller draws the figures and writes the files).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

__all__ = ["run_page_html", "PAGE_STYLE"]

PAGE_STYLE = ("body{font-family:sans-serif;margin:2em;color:#222}"
              "table{border-collapse:collapse;margin-bottom:1em}"
              "td,th{border:1px solid #ccc;padding:4px 10px;text-align:right}"
              "td:first-child,th:first-child{text-align:left;white-space:nowrap}"
              ".charts{display:flex;flex-wrap:wrap}.charts>div{margin:8px}"
              ".charts svg{display:block;max-width:100%;height:auto}h2{margin-top:1.5em}"
              ".hint{color:#a00}")
"""The CSS of the run page and of the comparison report."""


def _cell(key: str, value: Any) -> str:
    if isinstance(value, float) and "accuracy" in key and 0.0 <= value <= 1.0:
        return f"{100 * value:.1f}%"  # accuracies in percent, as in the figures
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
    rows = "".join(f"<tr><td>{escape(str(k))}</td><td>{escape(_cell(str(k), v))}</td></tr>"
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
