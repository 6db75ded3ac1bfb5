"""Warnings raised outside the runner: a time constant below dt."""

from __future__ import annotations

import pytest

from snnlearn.diagnostics import TimeConstantWarning
from snnlearn.layers import build_network
from snnlearn.neurons import LIFParams


def test_a_time_constant_below_dt_warns() -> None:
    with pytest.warns(TimeConstantWarning, match=r"tau_syn=0.0001 s is below the time step"):
        build_network(3, [4], 2, dt=1e-3, neuron=LIFParams(tau_mem=20e-3, tau_syn=1e-4))
