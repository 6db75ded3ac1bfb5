"""Tests for snnlearn.learning.error_triggered: writes happen exactly when the integrated update
crosses +-theta, oscillating updates are never written, counts, the options mechanism, fewer
updates at close accuracy on a small Yin-Yang, exact resume and a CLI run."""

from __future__ import annotations

import json
from pathlib import Path
from types import MappingProxyType

import pytest
import torch

from snnlearn.experiments import Config, registry, resume, run
from snnlearn.experiments.cli import main
from snnlearn.layers import build_network
from snnlearn.learning import BPTT
from snnlearn.learning.error_triggered import ErrorTriggered
from snnlearn.tasks.yinyang import YinYang


def test_a_synapse_is_written_when_its_integrated_update_crosses_the_threshold() -> None:
    net = build_network(2, [2], 1, dt=1e-3, generator=torch.Generator().manual_seed(0))
    rule = ErrorTriggered(BPTT(), threshold=1.5)
    rule.prepare(net)
    params = list(net.parameters())
    start = [p.detach().clone() for p in params]
    sgd = torch.optim.SGD(params, lr=0.1)  # u = -0.1 g; threshold 1.5 * 0.1 = 0.15
    w_hidden = params[0]  # [2, 2]
    grad = torch.tensor([[1.0, -0.4], [1.0, 0.0]])
    history = []
    for step in range(4):
        for p in params:
            p.grad = torch.zeros_like(p)
        w_hidden.grad = grad.clone()
        w_hidden.grad[1, 0] = 1.0 if step % 2 == 0 else -1.0  # oscillates: cancels in A
        rule.optimizer_step(net, sgd)
        history.append(w_hidden.detach().clone() - start[0])
    # entry (0, 0): -0.1 per step, written at steps 2 and 4 (|A| = 0.2 each time)
    assert [float(h[0, 0]) for h in history] == pytest.approx([0.0, -0.2, -0.2, -0.4], abs=1e-6)
    # entry (0, 1): +0.04 per step, written at step 4 (|A| = 0.16)
    assert [float(h[0, 1]) for h in history] == pytest.approx([0.0, 0.0, 0.0, 0.16], abs=1e-6)
    assert torch.count_nonzero(torch.stack(history)[:, 1]) == 0  # oscillating and zero rows
    assert all(torch.equal(p, s) for p, s in zip(params[1:], start[1:], strict=True))
    assert torch.allclose(rule.accumulators[0], torch.tensor([[0.0, 0.0], [0.0, 0.0]]))
    m = rule.summary_metrics()
    assert m["synapse_writes"] == 3 and m["update_steps"] == 2 and m["update_steps_unwrapped"] == 4
    n = sum(p.numel() for p in params)
    assert m["synapse_writes_unwrapped"] == 4 * n and m["weight_updates"] == pytest.approx(3 / n)


def test_options_choose_the_wrapped_rule_and_the_threshold() -> None:
    rule = registry.make_rule("error_triggered", {"inner": "superspike", "threshold": 3})
    assert rule.inner.name == "superspike" and rule.threshold == 3.0
    assert registry.make_rule("error_triggered").inner.name == "bptt"
    with pytest.raises(ValueError, match="has no option"):
        registry.make_rule("error_triggered", {"thresh": 1.0})
    with pytest.raises(ValueError, match="unknown rule 'nope'"):
        registry.make_rule("error_triggered", {"inner": "nope"})
    with pytest.raises(ValueError, match="trains whole epochs itself"):
        registry.make_rule("error_triggered", {"inner": "conversion"})
    with pytest.raises(ValueError, match="threshold must be a finite number > 0"):
        ErrorTriggered(BPTT(), threshold=0.0)
    with pytest.raises(ValueError, match="'bptt' has no option"):
        registry.make_rule("bptt", {"threshold": 1.0})
    cfg = Config(task="yinyang", rule="error_triggered", rule_options={"inner": "superspike"})
    assert Config.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError, match="has no option"):
        Config(task="yinyang", rule="error_triggered", rule_options={"x": 1})


@pytest.fixture
def small_yinyang(monkeypatch: pytest.MonkeyPatch) -> str:
    tasks = {**registry.TASKS, "yinyang": lambda: YinYang(n_train=480, n_val=300, n_test=300)}
    monkeypatch.setattr(registry, "TASKS", MappingProxyType(tasks))
    return "yinyang"


def test_fewer_weight_updates_at_close_accuracy(small_yinyang: str, tmp_path: Path) -> None:
    """A small honest version of the documented run (docs/rules/error_triggered.md)."""
    common = {"task": small_yinyang, "epochs": 3, "hidden": [32]}
    dense = run(Config(rule="bptt", out=str(tmp_path / "bptt"), **common)).summary
    sparse = run(Config(rule="error_triggered", out=str(tmp_path / "et"), **common)).summary
    assert sparse["update_steps_unwrapped"] == dense["weight_updates"] == 3 * 15
    # 45 minibatches are too few for the full run's >= 10x (docs); theta = 3 gives ~6x here
    assert sparse["weight_updates"] * 4 <= dense["weight_updates"]
    assert sparse["test_accuracy"] >= dense["test_accuracy"] - 0.05, (sparse, dense)


class Interrupt:
    def __init__(self, after: int) -> None:
        self.after = after

    def __call__(self, record: dict) -> None:
        if record["epoch"] == self.after:
            raise KeyboardInterrupt


def test_resume_is_exact(small_yinyang: str, tmp_path: Path) -> None:
    common = {"task": small_yinyang, "rule": "error_triggered", "epochs": 2, "hidden": [16],
              "rule_options": {"threshold": 2.0}}
    full = run(Config(out=str(tmp_path / "full"), **common))
    with pytest.raises(KeyboardInterrupt):
        run(Config(out=str(tmp_path / "cut"), **common), on_epoch=Interrupt(after=1))
    resumed = resume(tmp_path / "cut")
    a, b = full.network.state_dict(), resumed.network.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    for key in ("test_accuracy", "weight_updates", "synapse_writes", "update_steps"):
        assert full.summary[key] == resumed.summary[key], key
    assert 0 < full.summary["synapse_writes"] < full.summary["synapse_writes_unwrapped"]


def test_cli_wraps_superspike(small_yinyang: str, tmp_path: Path) -> None:
    out = tmp_path / "run"
    assert main(["train", "--task", "yinyang", "--rule", "error_triggered", "--epochs", "1",
                 "--hidden", "16", "--out", str(out), "--rule-option", "inner=superspike",
                 "--rule-option", "threshold=4", "--no-progress"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["rule"] == "error_triggered" and summary["update_steps_unwrapped"] == 15
    config = json.loads((out / "config.json").read_text())
    assert config["rule_options"] == {"inner": "superspike", "threshold": 4}
