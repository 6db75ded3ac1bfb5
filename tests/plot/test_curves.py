"""Learning curves: the mean over seeds with a ± sd band, integer epochs, percent accuracy."""

from __future__ import annotations

import pytest
from matplotlib.collections import PolyCollection

from snnlearn.plot.curves import curve_chart, training_curves

HISTORY = [{"epoch": 1, "train_loss": 0.9, "train_accuracy": 0.5, "val_accuracy": 0.6},
           {"epoch": 2, "train_loss": 0.5, "train_accuracy": 0.7, "val_accuracy": None},
           {"epoch": 3, "train_loss": float("nan"), "train_accuracy": 0.8, "val_accuracy": 0.9}]


def test_curves_skip_missing_and_non_finite_values(valid) -> None:
    figs = training_curves(HISTORY)
    (loss,) = figs["loss"].axes[0].lines
    assert loss.get_xdata().tolist() == [1.0, 2.0]  # NaN dropped
    train, val = figs["accuracy"].axes[0].lines
    assert val.get_label() == "validation" and val.get_xdata().tolist() == [1.0, 3.0]
    assert train.get_ydata().tolist() == pytest.approx([50.0, 70.0, 80.0])  # percent
    for fig in figs.values():
        ticks = valid.ticks(fig.axes[0].xaxis)
        assert ticks and all(t == int(t) for t in ticks)  # no tick at 1.5 or 2.5
    assert figs["loss"].axes[0].get_ylim()[0] == 0.0
    empty = training_curves([])["loss"].axes[0]
    assert not empty.lines and "no epochs recorded" in [t.get_text() for t in empty.texts]


def test_seeds_give_the_mean_and_a_band_of_one_sd() -> None:
    seeds = [[(1, 0.50), (2, 0.80)], [(1, 0.60), (2, 0.90)], [(1, 0.70), (2, 0.85)]]
    ax = curve_chart({"bptt": seeds, "eprop": [[(1, 0.4), (2, 0.5)]]}, title="Validation",
                     ylabel="accuracy (%)", percent=True).axes[0]
    bptt, eprop = ax.lines
    assert bptt.get_ydata().tolist() == pytest.approx([60.0, 85.0])
    assert bptt.get_label() == "bptt (n=3)" and eprop.get_label() == "eprop"
    (band,) = [c for c in ax.collections if isinstance(c, PolyCollection)]  # bptt only
    ys = band.get_paths()[0].vertices[:, 1]
    assert min(ys) == pytest.approx(50.0) and max(ys) == pytest.approx(90.0)  # mean ± sd = 10
    assert ax.get_title() == "Validation (mean ± sd over 3 seeds)"
    assert ax.get_ylim()[1] <= 100.0
