"""The comparison report: a markdown and an HTML row per record, figures over seeds."""

from __future__ import annotations

import pytest
from matplotlib.container import ErrorbarContainer

from snnlearn.plot.figure import INSTALL_HINT
from snnlearn.plot.report import comparison_figures, comparison_html, comparison_markdown

RUN = {"rule": "bptt", "test_accuracy": 0.955, "train_seconds": 12.0, "peak_memory_mb": 300.0,
       "spikes_per_sample": 120.0, "synops_per_sample": 4000.0, "epochs": 2,
       "curve": [{"epoch": 1, "train_loss": 0.9, "val_accuracy": 0.8},
                 {"epoch": 2, "train_loss": 0.5, "val_accuracy": 0.9}]}


def _seed(run: dict, seed: int, accuracy: float) -> dict:
    curve = [{**c, "val_accuracy": c["val_accuracy"] + 0.01 * seed} for c in run["curve"]]
    return {**run, "seed": seed, "test_accuracy": accuracy, "curve": curve}


def test_markdown_rows() -> None:
    md = comparison_markdown("yinyang", [RUN, {"rule": "eprop", "error": "x"}])
    lines = md.splitlines()
    assert lines[-2] == "| bptt | 95.5% | 12.0 | 300 | 120.0 | 4000 | — | 2 |"
    assert lines[-1].startswith("| eprop | failed: x |")


def test_html_has_table_and_charts() -> None:
    html = comparison_html("yin<yang", [RUN], charts=["<svg>a</svg>", "<svg>b</svg>"])
    assert "yin&lt;yang" in html and "<td>95.5%</td>" in html
    assert html.count("<svg") == 2 and INSTALL_HINT not in html


def test_without_charts_the_report_says_how_to_install_matplotlib() -> None:
    html = comparison_html("t", [RUN])
    assert "<svg" not in html and "snnlearn[plot]" in html and "<td>95.5%</td>" in html


def test_figures_draw_each_rule_over_its_seeds() -> None:
    runs = [_seed(RUN, 0, 0.95), _seed(RUN, 1, 0.97), {**RUN, "rule": "eprop"},
            {"rule": "fa", "error": "boom"}]
    figs = comparison_figures(runs)
    assert sorted(figs) == ["activity", "loss", "test_accuracy", "val_accuracy"]
    bars = figs["test_accuracy"].axes[0]
    assert [float(b.get_height()) for b in bars.patches] == pytest.approx([96.0, 95.5])
    assert [t.get_text() for t in bars.get_xticklabels()] == ["bptt", "eprop"]  # fa failed
    assert len([c for c in bars.containers if isinstance(c, ErrorbarContainer)]) == 1
    val = figs["val_accuracy"].axes[0]
    assert val.lines[0].get_ydata().tolist() == pytest.approx([80.5, 90.5])  # mean of 2 seeds
    assert [line.get_label() for line in val.lines] == ["bptt (n=2)", "eprop"]


def test_rows_of_several_seeds_name_their_seed() -> None:
    runs = [_seed(RUN, 0, 0.95), _seed(RUN, 1, 0.97), {**RUN, "rule": "eprop", "seed": 0}]
    rows = comparison_markdown("t", runs).splitlines()[-3:]
    assert [r.split(" | ")[0] for r in rows] == ["| bptt (seed 0)", "| bptt (seed 1)", "| eprop"]
    assert "<td>bptt (seed 1)</td>" in comparison_html("t", runs, charts=[])
    labelled = comparison_markdown("t", [{**runs[0], "label": "bptt s0"}]).splitlines()[-1]
    assert labelled.startswith("| bptt s0 |")


def test_figures_of_a_comparison_whose_runs_all_failed_are_empty() -> None:
    figs = comparison_figures([{"rule": "bptt", "error": "boom"}])
    assert not figs["test_accuracy"].axes[0].patches and not figs["loss"].axes[0].lines
