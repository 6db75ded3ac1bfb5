"""The run page and the per-rule section of the comparison report (pure HTML)."""

from __future__ import annotations

from snnlearn.plot.report import comparison_html
from snnlearn.plot.run_page import run_page_html


def test_run_page_holds_summary_sections_and_rates() -> None:
    html = run_page_html("runs/x", {"test_accuracy": 0.91234, "rule": "bptt",
                                    "train_seconds": 12.3456},
                         [("Training curves", ["<svg>a</svg>", "<svg>b</svg>"])],
                         rate_table={"hidden 1": 12.345})
    assert "<td>91.2%</td>" in html and "<td>12.35</td>" in html  # accuracies in percent
    assert "<h2>Training curves</h2>" in html and html.count("<svg") == 2
    assert "<td>12.35</td>" in html and "Mean firing rate per layer" in html


def test_comparison_report_embeds_per_rule_figures_and_links() -> None:
    run = {"rule": "bptt", "test_accuracy": 0.9, "spikes_per_sample": 10.0, "curve": []}
    plain = comparison_html("t", [run], charts=[])
    html = comparison_html("t", [run], charts=[],
                           figures={"bptt": ["<svg>r</svg>", "<svg>m</svg>"]})
    assert html.count("<svg") == plain.count("<svg") + 2
    assert "href='bptt/plots/index.html'" in html
