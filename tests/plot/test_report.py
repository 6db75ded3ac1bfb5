"""The comparison report: a markdown row and an HTML table row per rule, three charts."""

from __future__ import annotations

from snnlearn.plot.report import comparison_html, comparison_markdown

RUN = {"rule": "bptt", "test_accuracy": 0.955, "train_seconds": 12.0, "peak_memory_mb": 300.0,
       "spikes_per_sample": 120.0, "synops_per_sample": 4000.0, "epochs": 2,
       "curve": [{"epoch": 1, "train_loss": 0.9, "val_accuracy": 0.8},
                 {"epoch": 2, "train_loss": 0.5, "val_accuracy": 0.9}]}


def test_markdown_rows():
    md = comparison_markdown("yinyang", [RUN, {"rule": "eprop", "error": "x"}])
    lines = md.splitlines()
    assert lines[-2] == "| bptt | 95.5% | 12.0 | 300 | 120.0 | 4000 | — | 2 |"
    assert lines[-1].startswith("| eprop | failed: x |")


def test_html_has_table_and_charts():
    html = comparison_html("yin<yang", [RUN])
    assert "yin&lt;yang" in html and "<td>95.5%</td>" in html
    assert html.count("<svg") == 3 and html.count("<polyline") == 2
