"""from_nir and to_nir refuse non-finite parameters, r = 0 and empty layers in one line."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from snnlearn.export import from_nir, to_nir
from snnlearn.layers import build_network
from snnlearn.neurons import LIFParams

nir = pytest.importorskip("nir")


def _graph(w: np.ndarray | None = None, r: np.ndarray | None = None, n: int = 3) -> object:
    w = np.ones((n, 2)) if w is None else w
    return nir.NIRGraph.from_list(
        nir.Input(np.array([2])), nir.Affine(w, np.zeros(n)),
        nir.LIF(tau=np.full(n, 0.01), r=np.ones(n) if r is None else r, v_leak=np.zeros(n),
                v_threshold=np.ones(n)),
        nir.Output(np.array([n])))


@pytest.mark.parametrize(("graph", "match"), [
    (lambda: _graph(w=np.full((3, 2), np.nan)), "Affine node's weight holds 6 NaN or Inf"),
    (lambda: _graph(w=np.full((3, 2), np.inf)), "Affine node's weight holds 6 NaN or Inf"),
    (lambda: _graph(r=np.full(3, np.nan)), "LIF node's r holds 3 NaN or Inf"),
    (lambda: _graph(r=np.zeros(3)), "r must be non-zero"),
    (lambda: _graph(w=np.ones((0, 2)), n=0), "has 0 outputs"),
])
def test_from_nir_refuses_bad_parameters(graph: object, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        from_nir(graph(), dt=1e-3)  # type: ignore[operator]


def test_to_nir_refuses_nan_weights() -> None:
    net = build_network(3, [4], 2, dt=1e-3, neuron=LIFParams(reset="hard"))
    with torch.no_grad():
        net.layers[0].synapse.weight[0, 0] = float("nan")
    with pytest.raises(ValueError, match=r"'layers.0.synapse.weight' holds 1 NaN or Inf"):
        to_nir(net, dt=1e-3)
