"""Layers hold weights and buffers only; neuron state is passed in and returned.

A spiking layer is a synapse (:class:`Dense`, :class:`Conv1d`, :class:`Conv2d`, :class:`Delayed`)
and a neuron model (:class:`SpikingLayer`); :class:`Readout` is dense synapses into leaky
integrators; :class:`Pool`, :class:`Flatten`, :class:`Dropout`, :class:`Norm` and any torch module
(:class:`TorchModule`) are stateless layers between them.
"""

from snnlearn.layers.delay import Delayed, DelayParams
from snnlearn.layers.module import SpikingModule
from snnlearn.layers.network import LAYER_KINDS, Network, Record, build_network
from snnlearn.layers.readout import Readout
from snnlearn.layers.spiking import SpikingLayer
from snnlearn.layers.synapses import SYNAPSE_KINDS, Conv1d, Conv2d, Dense
from snnlearn.layers.transforms import Dropout, Flatten, Norm, Pool, TorchModule

__all__ = ["SpikingLayer", "Readout", "Network", "Record", "build_network", "Delayed",
           "DelayParams", "Dense", "Conv1d", "Conv2d", "Pool", "Flatten", "Dropout", "Norm",
           "TorchModule", "SpikingModule", "LAYER_KINDS", "SYNAPSE_KINDS"]
