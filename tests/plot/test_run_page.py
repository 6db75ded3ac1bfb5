"""The run page and the per-rule section of the comparison report (pure HTML)."""

from __future__ import annotations

from snnlearn.plot.report import comparison_html
from snnlearn.plot.run_page import firing_rate_chart, run_page_html, training_curves

HISTORY = [{"epoch": 1, "train_loss": 0.9, "train_accuracy": 0.5, "val_accuracy": 0.6},
           {"epoch": 2, "train_loss": 0.5, "train_accuracy": 0.7, "val_accuracy": None},
           {"epoch": 3, "train_loss": float("nan"), "train_accuracy": 0.8, "val_accuracy": 0.9}]


def test_curves_skip_missing_and_non_finite_values() -> None:
    charts = training_curves(HISTORY)
    assert charts["loss"].count("<polyline") == 1  # epochs 1 and 2 (NaN dropped)
    assert charts["accuracy"].count("<polyline") == 2 and "validation" in charts["accuracy"]
    assert training_curves([])["loss"].startswith("<svg")  # no epochs yet: an empty chart


def test_firing_rates_are_sorted_per_layer() -> None:
    svg = firing_rate_chart({"hidden 1": [0.0, 20.0, 10.0], "hidden 2": [5.0]})
    assert svg.count("<polyline") == 1 and svg.count("<circle") == 1  # one point: a dot


def test_run_page_holds_summary_sections_and_rates() -> None:
    html = run_page_html("runs/x", {"test_accuracy": 0.91234, "rule": "bptt"},
                         [("Training curves", list(training_curves(HISTORY).values()))],
                         rate_table={"hidden 1": 12.345})
    assert "<td>0.9123</td>" in html and "<h2>Training curves</h2>" in html
    assert html.count("<svg") == 2 and "<td>12.35</td>" in html


def test_comparison_report_embeds_per_rule_figures_and_links() -> None:
    run = {"rule": "bptt", "test_accuracy": 0.9, "spikes_per_sample": 10.0, "curve": []}
    plain = comparison_html("t", [run])
    html = comparison_html("t", [run], figures={"bptt": ["<svg>r</svg>", "<svg>m</svg>"]})
    assert html.count("<svg") == plain.count("<svg") + 2
    assert "href='bptt/plots/index.html'" in html
