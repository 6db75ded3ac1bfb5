"""The runner's warnings for silent failures, env.json's history of sessions, strict metrics."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from types import MappingProxyType

import pytest

from snnlearn.diagnostics import (
    InputLayoutWarning,
    ReproducibilityWarning,
    SilentNetworkWarning,
)
from snnlearn.experiments import Config, registry, resume, run
from snnlearn.experiments import runner as runner_module


def test_a_silent_network_warns_once_and_is_counted(toy: str, tmp_path: Path) -> None:
    cfg = Config(task=toy, epochs=2, gain=1e-6, out=str(tmp_path / "r"))  # never reaches v_th
    with pytest.warns(SilentNetworkWarning, match="almost silent") as caught:
        summary = run(cfg).summary
    assert len([w for w in caught if w.category is SilentNetworkWarning]) == 1
    assert summary["silent_epochs"] == 2
    lines = (tmp_path / "r" / "metrics.jsonl").read_text().splitlines()
    metrics = [json.loads(line) for line in lines]
    assert [m["hidden_spikes_per_sample"] for m in metrics] == [0.0, 0.0]


def test_a_spiking_network_does_not_warn(toy: str, tmp_path: Path) -> None:
    summary = run(Config(task=toy, epochs=1, out=str(tmp_path / "r"))).summary  # warnings: errors
    assert summary["silent_epochs"] == 0


def test_batch_first_encoded_input_warns(toy: str, tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    task = registry.TASKS[toy]()
    time_first = task.encode
    task.encode = lambda inputs, generator=None: time_first(  # a task encoding [B, T, n]
        inputs, generator=generator).transpose(0, 1)
    monkeypatch.setattr(registry, "TASKS", MappingProxyType({**registry.TASKS, "bf": lambda: task}))
    with warnings.catch_warnings():
        warnings.simplefilter("error", InputLayoutWarning)
        with pytest.raises(InputLayoutWarning, match=r"shape \(8, 10, 4\), which looks "
                                                     r"batch-first \[B=8, T=10"):
            run(Config(task="bf", epochs=1, out=str(tmp_path / "r")))


def test_resume_in_another_environment_warns_and_appends_to_env_json(
    toy: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "r"

    def stop(record: dict) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run(Config(task=toy, epochs=2, out=str(folder)), on_epoch=stop)
    collect = runner_module.collect_env
    monkeypatch.setattr(runner_module, "collect_env",
                        lambda device: {**collect(device), "cpu_threads": 977})
    with pytest.warns(ReproducibilityWarning, match=r"cpu_threads: \d+ -> 977"):
        resume(folder)
    env = json.loads((folder / "env.json").read_text())
    assert env["cpu_threads"] != 977 and [r["cpu_threads"] for r in env["resumes"]] == [977]
    assert env["resumes"][0]["resumed_after_epoch"] == 1
    monkeypatch.setattr(runner_module, "collect_env", collect)
    resume(folder)  # finished: only its summary again, no warning, one more entry
    env = json.loads((folder / "env.json").read_text())
    assert len(env["resumes"]) == 2


def test_metrics_are_strict_json(toy: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = runner_module._Session.train_epoch

    def nan_accuracy(self, data, epoch):  # noqa: ANN001, ANN202
        loss, _ = real(self, data, epoch)
        return loss, float("nan")  # e.g. a rule reporting no accuracy

    monkeypatch.setattr(runner_module._Session, "train_epoch", nan_accuracy)
    run(Config(task=toy, epochs=1, out=str(tmp_path / "r")))
    line = (tmp_path / "r" / "metrics.jsonl").read_text()
    assert "NaN" not in line and json.loads(line)["train_accuracy"] is None
