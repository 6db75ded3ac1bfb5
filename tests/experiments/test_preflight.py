"""The memory estimate refuses what cannot fit before any epoch; evaluation runs in chunks."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from snnlearn.experiments import Config, cli, registry, run
from snnlearn.experiments import preflight as preflight_module
from snnlearn.experiments.preflight import MemoryBudgetError, check_memory, estimate_memory
from snnlearn.experiments.runner import evaluate
from snnlearn.layers import build_network


def test_estimate_counts_weights_and_activations_on_the_meta_device() -> None:
    with torch.device("meta"):
        net = build_network(4, [10_000_000], 2, dt=1e-3)  # 60 M weights: nothing allocated
    est = estimate_memory(net, n_steps=10, batch_size=8)
    n_params = 4 * 10_000_000 + 10_000_000 * 2
    assert est.weights == 6 * 4 * n_params
    assert est.train_batch == 4 * 10 * 8 * (4 + 5 * (10_000_000 + 2))
    assert est.evaluation(3) == est.weights + 3 * 4 * 10 * (4 + 3 * (10_000_000 + 2))


def test_check_memory_refuses_or_chunks_evaluation() -> None:
    def build() -> torch.nn.Module:
        return build_network(100, [1000], 10, dt=1e-3)

    est = estimate_memory(build_network(100, [1000], 10, dt=1e-3), n_steps=50, batch_size=16)
    need = est.weights + est.train_batch
    with pytest.raises(MemoryBudgetError, match=r"needs about .* but .* is available"):
        check_memory(build, n_steps=50, batch_size=16, device="cpu", eval_batch=512,
                     what="hidden [1000]", available=need - 1)
    chunk = check_memory(build, n_steps=50, batch_size=16, device="cpu", eval_batch=512,
                         what="hidden [1000]", available=need)
    assert 1 <= chunk < 512 and est.evaluation(chunk) <= need < est.evaluation(chunk + 1)
    assert check_memory(build, n_steps=50, batch_size=16, device="cpu", eval_batch=512,
                        what="", available=10**15) == 512


def test_a_run_that_cannot_fit_is_refused_before_any_epoch(
    toy: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(preflight_module, "available_memory", lambda device: 2**30)
    epochs: list[dict] = []
    with pytest.raises(MemoryBudgetError, match="--hidden 10000000, 4 inputs"):
        run(Config(task=toy, epochs=1, hidden=[10_000_000], out=str(tmp_path / "r")),
            on_epoch=epochs.append)
    assert epochs == [] and not (tmp_path / "r").exists()
    status = cli.main(["train", "--task", toy, "--hidden", "10000000", "--out",
                       str(tmp_path / "r"), "--no-progress"])
    err = capsys.readouterr().err
    assert status == 2 and err.count("\n") == 1 and "is available" in err


def test_evaluation_in_chunks_equals_one_chunk(toy: str) -> None:
    task = registry.make_task(toy)
    net = build_network(task.n_in, [16], task.n_out, dt=task.dt, gain=3.0,
                        generator=torch.Generator().manual_seed(0))
    data = task.split("test")
    whole = evaluate(net, task, data, seed=3)
    parts = evaluate(net, task, data, seed=3, chunk=5)
    assert parts.accuracy == whole.accuracy and parts.spikes_per_sample > 0
    assert parts.spikes_per_sample == pytest.approx(whole.spikes_per_sample, rel=1e-6)
    assert parts.loss == pytest.approx(whole.loss, rel=1e-5)


def test_a_task_with_an_empty_split_is_refused(toy: str, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    from types import MappingProxyType

    from snnlearn.tasks.base import TaskData

    task = registry.TASKS[toy]()
    full = task.split
    task.split = lambda s: TaskData(torch.zeros(0, 4), torch.zeros(0, dtype=torch.int64)) \
        if s == "test" else full(s)
    monkeypatch.setattr(registry, "TASKS", MappingProxyType({**registry.TASKS, "e": lambda: task}))
    with pytest.raises(ValueError, match="the test split holds no samples"):
        run(Config(task="e", epochs=1, out=str(tmp_path / "r")))
    assert not (tmp_path / "r").exists()
