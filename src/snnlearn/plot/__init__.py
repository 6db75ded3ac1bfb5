"""Figures and reports: matplotlib figures (the optional ``plot`` extra, imported when a figure
is drawn), the HTML run page and the comparison report."""

from snnlearn.plot.comparison import accuracy_bars, accuracy_vs_activity
from snnlearn.plot.curves import curve_chart, training_curves
from snnlearn.plot.figure import PlotDependencyError, figure_svg, save_figure
from snnlearn.plot.raster import spike_raster
from snnlearn.plot.rates import firing_rate_chart
from snnlearn.plot.report import comparison_figures, comparison_html, comparison_markdown
from snnlearn.plot.run_page import run_page_html
from snnlearn.plot.traces import membrane_traces, readout_chart
from snnlearn.plot.tradeoff import tradeoff_chart, tradeoff_markdown

__all__ = ["accuracy_bars", "accuracy_vs_activity", "curve_chart", "training_curves",
           "PlotDependencyError", "figure_svg", "save_figure", "spike_raster",
           "firing_rate_chart", "comparison_figures", "comparison_html", "comparison_markdown",
           "run_page_html", "membrane_traces", "readout_chart", "tradeoff_chart",
           "tradeoff_markdown"]
