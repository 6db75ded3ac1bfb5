"""Spike rasters: one tick per spike at its time and row, one panel per layer, in order."""

from __future__ import annotations

import pytest
import torch

from snnlearn.plot.raster import spike_raster


def test_one_tick_per_spike_at_its_time_and_neuron() -> None:
    z = torch.zeros(20, 4)
    spikes = [(3, 0), (3, 3), (10, 1), (19, 2)]
    for t, n in spikes:
        z[t, n] = 1.0
    fig = spike_raster([("hidden", z)], dt=1e-3, title="a<b")
    ax = fig.axes[0]
    ticks = sorted(map(tuple, ax.collections[0].get_offsets().tolist()))
    expected = sorted(((t + 1) * 1.0, float(n)) for t, n in spikes)  # (ms, neuron)
    assert ticks == [pytest.approx(p) for p in expected]
    assert ax.get_xlim() == (0.0, 20.0) and ax.get_xlabel() == "time (ms)"
    assert ax.get_ylim()[0] > ax.get_ylim()[1]  # neuron 0 at the top
    assert fig.get_suptitle() == "a<b" and "4 spikes" in [t.get_text() for t in ax.texts]


def test_layers_are_stacked_in_order_and_silent_layers_have_no_ticks() -> None:
    z_in, z_hid = torch.zeros(5, 2), torch.zeros(5, 30)
    z_in[0, 0] = 1.0
    fig = spike_raster([("input", z_in), ("hidden 1", z_hid)], dt=2e-3)
    top, bottom = fig.axes
    assert top.get_ylabel() == "input\n(2 units)" and bottom.get_ylabel() == "hidden 1\n(30 units)"
    assert top.get_position().y0 > bottom.get_position().y0
    assert top.get_position().height < bottom.get_position().height  # bigger layer, taller panel
    assert len(top.collections) == 1 and not bottom.collections
    assert bottom.get_xlim() == (0.0, 10.0)  # 5 steps of 2 ms


@pytest.mark.parametrize(("layers", "match"), [
    ([], "at least one"),
    ([("x", torch.zeros(5, 2, 3))], r"must be a \[T, N\] tensor"),
    ([("a", torch.zeros(5, 2)), ("b", torch.zeros(6, 2))], "same number of time steps"),
])
def test_raster_errors(layers, match) -> None:
    with pytest.raises(ValueError, match=match):
        spike_raster(layers, dt=1e-3)
    if layers:
        with pytest.raises(ValueError, match="dt must be > 0"):
            spike_raster([("a", torch.zeros(5, 2))], dt=0.0)
