"""Initialisation helpers shared by the layer kinds (kept for the rules that draw matrices of a
layer's shape, e.g. fixed random feedback)."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from snnlearn.layers.spiking import NeuronParams, NeuronState
from snnlearn.layers.synapses import init_uniform_

__all__ = ["NeuronParams", "NeuronState", "check_layer_args", "init_uniform_"]


def check_layer_args(owner: str, n_in: object, n_out: object, weight_scale: float) -> None:
    """Raise ``ValueError`` unless the sizes are positive ints and ``weight_scale`` is > 0."""
    for name, value in (("n_in", n_in), ("n_out", n_out)):
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise ValueError(f"{owner}.{name} must be a positive int, got {value!r}")
    if not (math.isfinite(weight_scale) and weight_scale > 0):
        raise ValueError(f"{owner}.weight_scale must be > 0, got {weight_scale!r}")


def init_feedforward_(
    weight: Tensor, bias: Tensor | None, scale: float, generator: torch.Generator | None
) -> None:
    """Draw ``weight`` (see :func:`init_uniform_`) and zero ``bias``, in place."""
    init_uniform_(weight, scale, generator)
    if bias is not None:
        with torch.no_grad():
            bias.zero_()
