"""Plots and reports: dependency-free SVG charts and the comparison report."""

from snnlearn.plot.raster import spike_raster
from snnlearn.plot.report import comparison_html, comparison_markdown
from snnlearn.plot.run_page import firing_rate_chart, run_page_html, training_curves
from snnlearn.plot.svg import line_chart, nice_ticks, scatter_chart
from snnlearn.plot.traces import membrane_traces

__all__ = ["comparison_html", "comparison_markdown", "line_chart", "nice_ticks", "scatter_chart",
           "spike_raster", "membrane_traces", "training_curves", "firing_rate_chart",
           "run_page_html"]
