"""House conventions of every figure: honest percent ranges, integer epochs, valid files."""

from __future__ import annotations

import builtins
import math

import pytest

from snnlearn.plot import figure
from snnlearn.plot.figure import (
    INSTALL_HINT,
    PlotDependencyError,
    drawing,
    figure_svg,
    integer_epochs,
    mean_sd,
    percent_axis,
    save_figure,
)


@pytest.mark.parametrize("values", [[95.1, 96.3], [50.0, 51.2], [0.4, 1.0], [99.0, 99.5],
                                    [97.0], [12.0, 88.0]])
def test_percent_axis_holds_the_values_without_stretching_a_small_gap(values) -> None:
    with drawing() as fig:
        ax = fig.subplots()
        lo, hi = percent_axis(ax, values, label="accuracy (%)")
    assert 0 <= lo < min(values) and max(values) < hi <= 100  # every value inside, not on the edge
    assert hi - lo >= figure.MIN_PERCENT_SPAN and lo % 5 == 0 and hi % 5 == 0
    if max(values) - min(values) < 5:  # a small gap never fills the panel
        assert (max(values) - min(values)) / (hi - lo) < 0.5
    assert tuple(ax.get_ylim()) == (lo, hi) and ax.get_ylabel() == "accuracy (%)"
    texts = [t.get_text() for t in ax.texts]
    assert texts == ([] if (lo, hi) == (0, 100) else [f"axis {lo:g}-{hi:g} %"])


def test_bars_start_at_zero() -> None:
    with drawing() as fig:
        ax = fig.subplots()
        assert percent_axis(ax, [95.0, 96.0], label="a", from_zero=True) == (0.0, 100.0)
    assert not ax.texts


@pytest.mark.parametrize("epochs", [[1], [1, 2, 3], list(range(1, 8)), list(range(1, 41))])
def test_epoch_ticks_are_integers_within_the_run(epochs, valid) -> None:
    with drawing() as fig:
        ax = fig.subplots()
        ax.plot(epochs, [0.0] * len(epochs))
        integer_epochs(ax, epochs)
    ticks = valid.ticks(ax.xaxis)
    assert ticks and all(t == int(t) for t in ticks)
    assert min(epochs) <= min(ticks) and max(ticks) <= max(epochs)
    assert ax.get_xlabel() == "epoch"


def test_mean_sd() -> None:
    assert mean_sd([2.0]) == (2.0, 0.0)
    mean, sd = mean_sd([1.0, 2.0, 3.0, 4.0])
    assert mean == 2.5 and sd == pytest.approx(math.sqrt(5 / 3))  # sample sd (n - 1)
    with pytest.raises(ValueError, match="at least one value"):
        mean_sd([])


def test_files_are_valid_and_reproducible(tmp_path, valid) -> None:
    with drawing() as fig:
        fig.subplots().plot([1, 2], [3, 4])
        fig.suptitle("a<b")
    paths = save_figure(fig, tmp_path / "f", formats=("png", "pdf", "svg"))
    assert [p.name for p in paths] == ["f.png", "f.pdf", "f.svg"]
    valid.png(paths[0])
    valid.pdf(paths[1])
    valid.svg(paths[2].read_text())
    again = save_figure(fig, tmp_path / "g", formats=("png", "pdf", "svg"))
    assert [p.read_bytes() for p in paths] == [p.read_bytes() for p in again]
    inline = figure_svg(fig)
    assert inline.startswith("<svg") and "a&lt;b" in inline  # text kept as (escaped) text
    valid.svg(inline)


def test_without_matplotlib_one_line_says_how_to_install(monkeypatch) -> None:
    real = builtins.__import__

    def no_matplotlib(name, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        if name.split(".")[0] == "matplotlib":
            raise ImportError(f"No module named {name!r}")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
    with pytest.raises(PlotDependencyError) as err, drawing():
        pass
    assert str(err.value) == INSTALL_HINT and "snnlearn[plot]" in INSTALL_HINT
    assert len(INSTALL_HINT.splitlines()) == 1
