"""The NeuroBench path: the stepped twin of a network, NeuroBench's metrics checked against
counts made independently from snnlearn's own simulation, and `snnlearn evaluate --neurobench`."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch

from snnlearn.layers import build_network
from snnlearn.neurobench import SteppedNetwork
from snnlearn.neurons import LIFParams, LIParams
from snnlearn.simulate import unroll


def _net(recurrent: bool = False, conv: bool = False) -> object:
    layers = [{"kind": "conv2d", "channels": 3, "kernel": 3}, {"kind": "pool", "size": 2},
              {"kind": "dense", "size": 12}] if conv else None
    extra = {"layers": layers, "in_shape": (1, 8, 8)} if conv else {}
    return build_network(64, [24], 10, dt=1e-3, gain=3.0, recurrent=recurrent,
                         neuron=LIFParams(tau_mem=20e-3, tau_syn=5e-3, reset="hard"),
                         readout=LIParams(tau_mem=20e-3, tau_syn=5e-3),
                         generator=torch.Generator().manual_seed(0), **extra)


def _x(steps: int = 25, batch: int = 6) -> torch.Tensor:
    g = torch.Generator().manual_seed(3)
    return (torch.rand(steps, batch, 64, generator=g) < 0.2).float()


@pytest.mark.parametrize(("recurrent", "conv"), [(False, False), (True, False), (False, True)])
def test_stepped_network_reproduces_the_network(recurrent: bool, conv: bool) -> None:
    net, x = _net(recurrent, conv), _x()
    with torch.no_grad():
        ours = unroll(net, x)
    out = SteppedNetwork(net)(x.transpose(0, 1)).transpose(0, 1)
    assert float(ours.spikes[0].sum()) > 20
    assert torch.allclose(out, ours.outputs, atol=1e-5)


def test_stepped_network_refuses_delays() -> None:
    from snnlearn.layers import DelayParams

    net = build_network(4, [5], 2, dt=1e-3, delays=DelayParams(max_delay=3e-3))
    with pytest.raises(ValueError, match="delays"):
        SteppedNetwork(net)


class _Task:
    """Fixed spike trains as the 'encoding' of indices (so the test knows every input)."""

    def __init__(self, x: torch.Tensor) -> None:
        self.x = x

    def encode(self, idx: torch.Tensor, *, generator: torch.Generator | None = None) -> object:
        return self.x[:, idx.long()]

    def predict(self, outputs: torch.Tensor) -> torch.Tensor:
        return outputs.mean(0).argmax(-1)


def test_neurobench_metrics_match_independent_counts() -> None:
    pytest.importorskip("neurobench")
    from snnlearn.neurobench import neurobench_metrics
    from snnlearn.tasks.base import TaskData

    net, x = _net(recurrent=True), _x()
    with torch.no_grad():
        net.layers[0].weight[:, :8] = 0.0  # some connection sparsity
        ours = unroll(net, x, record_membrane=True)
    labels = torch.arange(x.shape[1]) % 10
    data = TaskData(torch.arange(x.shape[1]), labels)
    got = neurobench_metrics(net, _Task(x), data, batch_size=4)
    n = x.shape[1]
    z, v = ours.spikes[0], ours.membranes[0]
    layer, readout = net.layers
    weights = [layer.weight, layer.masked_recurrent_weight(), readout.weight]
    assert got["Footprint"] == sum(w.numel() * w.element_size() for w in weights)
    zeros = sum(int((w == 0).sum()) for w in weights)
    assert got["ConnectionSparsity"] == pytest.approx(zeros / sum(w.numel() for w in weights),
                                                      abs=1e-3)
    assert got["ActivationSparsity"] == pytest.approx(1 - float(z.sum()) / z.numel())
    nz = [(w != 0).float() for w in weights]
    previous = torch.cat([torch.zeros_like(z[:1]), z[:-1]])
    acs = float((x @ nz[0].T).sum() + (previous @ nz[1].T).sum() + (z @ nz[2].T).sum())
    assert got["SynapticOperations"]["Effective_ACs"] == pytest.approx(acs / n)
    assert got["SynapticOperations"]["Effective_MACs"] == 0
    # batches of 4 and 2: the first step of each batch counts every neuron
    updates = sum(v[0, b].numel() + int((v[1:, b] - v[:-1, b] != 0).sum())
                  for b in (slice(0, 4), slice(4, 6)))
    assert got["MembraneUpdates"] == pytest.approx(updates / n)
    accuracy = float((ours.outputs.mean(0).argmax(-1) == labels).float().mean())
    assert got["ClassificationAccuracy"] == pytest.approx(accuracy)


def test_missing_neurobench_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    from snnlearn.neurobench import SnnlearnModel

    monkeypatch.setitem(sys.modules, "neurobench", None)
    with pytest.raises(ImportError, match=r"snnlearn\[neurobench\]"):
        SnnlearnModel(_net())


@pytest.mark.slow
def test_cli_evaluate_neurobench_prints_the_metrics(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("neurobench")
    from snnlearn.experiments import cli

    run_dir = tmp_path / "run"
    assert cli.main(["train", "--task", "digits", "--epochs", "1", "--hidden", "16",
                     "--out", str(run_dir), "--no-progress"]) == 0
    capsys.readouterr()
    assert cli.main(["evaluate", str(run_dir), "--neurobench"]) == 0
    summary = json.loads(capsys.readouterr().out)
    nb = summary["neurobench"]
    for key in ("Footprint", "ConnectionSparsity", "ActivationSparsity", "SynapticOperations",
                "MembraneUpdates"):
        assert key in nb
    assert nb["ClassificationAccuracy"] == pytest.approx(summary["test_accuracy"])
    assert nb["SynapticOperations"]["Effective_ACs"] == pytest.approx(
        summary["synops_per_sample"], rel=1e-6)
