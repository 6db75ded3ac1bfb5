"""Layers hold weights only; neuron state is passed in and returned."""

from snnlearn.layers.delay import DelayedDense, DelayParams
from snnlearn.layers.dense import SpikingDense
from snnlearn.layers.network import Network, Record, build_network
from snnlearn.layers.readout import Readout

__all__ = ["SpikingDense", "Readout", "Network", "Record", "build_network", "DelayedDense",
           "DelayParams"]
