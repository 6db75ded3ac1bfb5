"""Plots and reports: dependency-free SVG charts and the comparison report."""

from snnlearn.plot.report import comparison_html, comparison_markdown
from snnlearn.plot.svg import line_chart, nice_ticks, scatter_chart

__all__ = ["comparison_html", "comparison_markdown", "line_chart", "nice_ticks", "scatter_chart"]
