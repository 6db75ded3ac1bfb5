"""Comparison figures: a bar per rule at its mean over seeds, ± sd, honest axes."""

from __future__ import annotations

import pytest
from matplotlib.container import ErrorbarContainer

from snnlearn.plot.comparison import accuracy_bars, accuracy_vs_activity


def test_bars_are_means_with_sd_error_bars_and_seed_dots() -> None:
    ax = accuracy_bars({"bptt": [0.90, 0.92, 0.94], "eprop": [0.80], "none": []}).axes[0]
    assert [float(b.get_height()) for b in ax.patches] == pytest.approx([92.0, 80.0])
    assert [t.get_text() for t in ax.get_xticklabels()] == ["bptt", "eprop"]
    (bar,) = [c for c in ax.containers if isinstance(c, ErrorbarContainer)]  # bptt only
    (_, y), = bar.lines[0].get_xydata().tolist()  # the mean marker
    segment = bar.lines[2][0].get_segments()[0]
    assert y == pytest.approx(92.0) and segment[:, 1].tolist() == pytest.approx([90.0, 94.0])
    assert len(ax.collections[-1].get_offsets()) == 3  # one dot per seed
    assert ax.get_ylim() == (0.0, 100.0) and ax.get_ylabel() == "test accuracy (%)"
    labels = [t.get_text() for t in ax.texts]
    assert "92.0 ± 2.0" in labels and "80.0" in labels
    assert "mean ± sd over 1-3 seeds" in ax.get_title()


def test_one_seed_has_no_error_bars() -> None:
    ax = accuracy_bars({"bptt": [0.9], "eprop": [0.8]}).axes[0]
    assert not [c for c in ax.containers if isinstance(c, ErrorbarContainer)]
    assert "one seed" in ax.get_title()


def test_activity_axes_are_honest() -> None:
    ax = accuracy_vs_activity({"bptt": [(100.0, 0.955), (110.0, 0.965)],
                               "eprop": [(40.0, 0.953)]}).axes[0]
    lo, hi = ax.get_ylim()
    assert hi - lo >= 10 and lo < 95.3 and 96.5 < hi  # a 1.2-point gap is not the full panel
    assert ax.get_xlim()[0] == 0.0 and ax.get_xlim()[1] > 110.0
    bptt, eprop = (c for c in ax.containers if isinstance(c, ErrorbarContainer))
    assert bptt.has_xerr and bptt.has_yerr and not eprop.has_yerr
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["bptt (n=2)", "eprop"]
