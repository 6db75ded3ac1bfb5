"""Firing rates: sorted per layer, on a rate axis from 0 Hz."""

from __future__ import annotations

from snnlearn.plot.rates import firing_rate_chart


def test_firing_rates_are_sorted_per_layer_and_start_at_zero() -> None:
    ax = firing_rate_chart({"hidden 1": [0.0, 20.0, 10.0], "hidden 2": [5.0]}).axes[0]
    one, two = ax.lines
    assert one.get_ydata().tolist() == [20.0, 10.0, 0.0]
    assert one.get_xdata().tolist() == [0.0, 0.5, 1.0]  # rank as a fraction of the layer
    assert two.get_marker() == "o" and two.get_ydata().tolist() == [5.0]  # one neuron: a dot
    assert ax.get_ylim()[0] == 0.0 and ax.get_ylabel() == "firing rate (Hz)"
    assert one.get_label() == "hidden 1 (3 units, mean 10.0 Hz)"
