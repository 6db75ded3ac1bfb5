"""Spike rasters and membrane traces: one tick per spike at its time and row, valid SVG."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest
import torch

from snnlearn.plot.raster import spike_raster
from snnlearn.plot.traces import membrane_traces


def _ticks(svg: str) -> list[tuple[float, float]]:
    path = ET.fromstring(svg).find("{http://www.w3.org/2000/svg}path")
    assert path is not None
    return [(float(x), float(y)) for x, y in re.findall(r"M([\d.]+) ([\d.]+)", path.get("d"))]


def test_one_tick_per_spike_at_its_time_and_neuron() -> None:
    z = torch.zeros(20, 4)
    spikes = [(3, 0), (3, 3), (10, 1), (19, 2)]
    for t, n in spikes:
        z[t, n] = 1.0
    svg = spike_raster([("hidden", z)], dt=1e-3, title="a<b")
    ticks = _ticks(svg)
    assert len(ticks) == len(spikes) and "a&lt;b" in svg
    xs = sorted({x for x, _ in ticks})
    assert len(xs) == 3 and xs[0] < xs[1] < xs[2]  # t = 3, 10, 19 ms: increasing x
    by_t = {x: sorted(y for x2, y in ticks if x2 == x) for x in xs}
    assert by_t[xs[0]][0] < by_t[xs[0]][1]  # neuron 0 above neuron 3 at the same time
    # equal steps in time are equal steps in x
    assert (xs[1] - xs[0]) / 7 == pytest.approx((xs[2] - xs[1]) / 9, rel=1e-2)


def test_layers_are_stacked_in_order_and_silent_layers_have_no_path() -> None:
    z_in, z_hid = torch.zeros(5, 2), torch.zeros(5, 30)
    z_in[0, 0] = 1.0
    svg = spike_raster([("input", z_in), ("hidden 1", z_hid)], dt=1e-3)
    ET.fromstring(svg)  # well-formed
    assert svg.index(">input<") < svg.index(">hidden 1<") and "30 units" in svg
    assert svg.count("<path") == 1


@pytest.mark.parametrize(("layers", "match"), [
    ([], "at least one"),
    ([("x", torch.zeros(5, 2, 3))], r"must be a \[T, N\] tensor"),
    ([("a", torch.zeros(5, 2)), ("b", torch.zeros(6, 2))], "same number of time steps"),
])
def test_raster_errors(layers, match) -> None:
    with pytest.raises(ValueError, match=match):
        spike_raster(layers, dt=1e-3)


def test_membrane_traces_draw_the_threshold_and_validate() -> None:
    v = torch.rand(30, 5)
    svg = membrane_traces(v, dt=1e-3, neurons=[0, 4], v_th=1.0, unit_name="class")
    ET.fromstring(svg)
    assert svg.count("<polyline") == 3 and "class 4" in svg and "threshold" in svg
    assert membrane_traces(v, dt=1e-3).count("<polyline") == 4  # the first four, no threshold
    with pytest.raises(ValueError, match=r"neurons \[5\] out of range"):
        membrane_traces(v, dt=1e-3, neurons=[5])
    with pytest.raises(ValueError, match="dt must be > 0"):
        membrane_traces(v, dt=0.0)
