"""Training gives the same result on every kernel backend: ``cpu`` (numba) against ``triton``
(under ``TRITON_INTERPRET=1`` on CPU tensors, natively on a GPU) for BPTT, e-prop and ALIF."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from snnlearn.experiments.config import Config
from snnlearn.experiments.runner import run
from snnlearn.kernels import dispatch

pytest.importorskip("triton")
pytest.importorskip("numba")


def _train(backend: str, rule: str, neuron: str, out: Path, toy: str) -> tuple[dict, dict]:
    dispatch.set_default_backend(backend)
    try:
        result = run(Config(task=toy, rule=rule, neuron=neuron, epochs=2, seed=3, out=str(out)))
    finally:
        dispatch.set_default_backend("auto")
    return result.summary, {k: v.clone() for k, v in result.network.state_dict().items()}


@pytest.mark.parametrize(("rule", "neuron"), [("bptt", "lif"), ("eprop", "lif"),
                                              ("bptt", "alif")])
def test_triton_backend_trains_like_the_cpu_backend(rule, neuron, toy, tmp_path,
                                                    monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("TRITON_INTERPRET", "1")
    cpu_summary, cpu_weights = _train("cpu", rule, neuron, tmp_path / "cpu", toy)
    tri_summary, tri_weights = _train("triton", rule, neuron, tmp_path / "triton", toy)
    assert cpu_summary["test_accuracy"] == tri_summary["test_accuracy"] > 0.5
    assert cpu_summary["best_epoch"] == tri_summary["best_epoch"]
    assert cpu_weights.keys() == tri_weights.keys()
    for key, w in cpu_weights.items():
        torch.testing.assert_close(tri_weights[key], w, rtol=1e-4, atol=1e-5, msg=key)
