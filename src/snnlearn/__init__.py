"""snnlearn: learning in spiking neural networks, one network description and many learning rules.

Conventions used throughout the package:

- tensors are time-first: a sequence is ``[T, B, *features]``, a single step ``[B, *features]``;
- every time quantity (``dt``, ``tau_mem``, ``tau_syn``, ``t_ref``) is in seconds (SI), and
  ``dt`` is always an explicit argument;
- voltages and currents are dimensionless (threshold ``v_th = 1``, resistance ``R = 1``);
- neuron parameters store physical constants (``tau_mem``), never per-step decays; the decay
  ``exp(-dt / tau)`` is computed in the step.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from snnlearn.layers import Network, Readout, SpikingLayer, build_network
    from snnlearn.simulate import Rollout, unroll
    from snnlearn.surrogate import ATan, FastSigmoid, Triangle, spike

__version__ = "0.1.0"

__all__ = [
    "Network", "Readout", "SpikingLayer", "build_network", "Rollout", "unroll",
    "ATan", "FastSigmoid", "Triangle", "spike", "__version__",
]

_LAZY = {"Network": "snnlearn.layers", "Readout": "snnlearn.layers",
         "SpikingLayer": "snnlearn.layers", "build_network": "snnlearn.layers",
         "Rollout": "snnlearn.simulate", "unroll": "snnlearn.simulate",
         "ATan": "snnlearn.surrogate", "FastSigmoid": "snnlearn.surrogate",
         "Triangle": "snnlearn.surrogate", "spike": "snnlearn.surrogate"}
"""Public name -> its module, imported on first use (PEP 562): importing ``snnlearn`` (and so
the ``snnlearn`` command's ``--help``) does not import torch."""


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'snnlearn' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
