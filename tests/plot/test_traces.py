"""Membrane traces (with the threshold) and the readout chart, which shows every class."""

from __future__ import annotations

import pytest
import torch

from snnlearn.plot.traces import membrane_traces, readout_chart


def test_membrane_traces_draw_the_threshold_and_validate() -> None:
    v = torch.rand(30, 5)
    ax = membrane_traces(v, dt=1e-3, neurons=[0, 4], v_th=1.0).axes[0]
    labels = [line.get_label() for line in ax.lines]
    assert labels == ["neuron 0", "neuron 4", "threshold v_th = 1"]
    assert ax.lines[1].get_ydata().tolist() == pytest.approx(v[:, 4].tolist())
    assert ax.lines[0].get_xdata().tolist() == pytest.approx([t + 1.0 for t in range(30)])
    assert len(membrane_traces(v, dt=1e-3).axes[0].lines) == 4  # the first four, no threshold
    with pytest.raises(ValueError, match=r"neurons \[5\] out of range"):
        membrane_traces(v, dt=1e-3, neurons=[5])
    with pytest.raises(ValueError, match="dt must be > 0"):
        membrane_traces(v, dt=0.0)


@pytest.mark.parametrize("n_classes", [2, 6, 10, 12, 35])
def test_readout_shows_every_class(n_classes: int) -> None:
    v = torch.randn(25, n_classes, generator=torch.Generator().manual_seed(n_classes))
    winner = int(v.amax(0).argmax())
    fig = readout_chart(v, dt=1e-3, label=n_classes - 1, predicted=winner)
    traces, bars = fig.axes
    assert len(traces.lines) == n_classes and len(bars.patches) == n_classes
    heights = [float(b.get_height()) for b in bars.patches]
    assert heights == pytest.approx(v.amax(0).tolist())  # the score: max over time
    assert max(range(n_classes), key=heights.__getitem__) == winner
    assert [t.get_text() for t in bars.get_xticklabels()] == [str(k) for k in range(n_classes)]
    assert bars.patches[winner].get_hatch() == "//"
    assert bars.patches[n_classes - 1].get_linewidth() == 1.5  # the label, outlined
    colours = [tuple(line.get_color()) for line in traces.lines]
    assert colours == [tuple(b.get_facecolor()[:3]) + (1.0,) for b in bars.patches]
    assert len(set(colours)) == n_classes


def test_readout_validates_classes() -> None:
    with pytest.raises(ValueError, match="label class 10 out of range for 10 readout units"):
        readout_chart(torch.zeros(5, 10), dt=1e-3, label=10)
