from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from snnlearn.experiments import Config, cli, resume, run
from snnlearn.experiments.checkpoint import load_checkpoint
from snnlearn.learning.hebbian import (
    Hebbian,
    HebbianParams,
    bcm_trajectory,
    oja_delta,
)


def _patterns() -> torch.Tensor:
    x = torch.rand(2, 10, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    return x / x.norm(dim=1, keepdim=True)


def _trajectory(tau_theta: float) -> torch.Tensor:
    return bcm_trajectory(_patterns(), torch.full((10,), 0.3, dtype=torch.float64),
                          HebbianParams(lr=10.0, tau_theta=tau_theta), 1e-3, 5000,
                          generator=torch.Generator().manual_seed(1))


def test_slow_homeostasis_diverges_and_fast_homeostasis_is_stable() -> None:
    """Same input, same learning rate: only the threshold's time constant differs."""
    slow, fast = _trajectory(10.0), _trajectory(0.05)
    assert math.isinf(float(slow[-1])) and int(torch.isfinite(slow).sum()) < 500
    assert bool(torch.isfinite(fast).all()) and float(fast.max()) < 10.0


def test_oja_converges_to_the_unit_principal_component() -> None:
    g = torch.Generator().manual_seed(0)
    cov_root = torch.tensor([[2.0, 0.5, 0.0], [0.0, 1.0, 0.3], [0.0, 0.0, 0.4]],
                            dtype=torch.float64)
    x = torch.randn(4000, 3, generator=g, dtype=torch.float64) @ cov_root
    w, p = torch.full((1, 3), 0.1, dtype=torch.float64), HebbianParams(lr=2.0)
    for batch in x.split(8):
        w = w + oja_delta(w, batch, batch @ w.T, p, 1e-2)
    eigvec = torch.linalg.eigh(x.T @ x / len(x)).eigenvectors[:, -1]
    assert float(w.norm()) == pytest.approx(1.0, abs=0.02)
    assert abs(float(w[0] @ eigvec)) > 0.99


def test_params_and_kind_are_validated() -> None:
    with pytest.raises(ValueError, match="tau_theta"):
        HebbianParams(tau_theta=-1.0)
    with pytest.raises(ValueError, match="lr must be > 0"):
        HebbianParams(lr=0.0)
    with pytest.raises(ValueError, match=r"kind must be one of \['bcm', 'oja'\]"):
        Hebbian(kind="stdp")  # type: ignore[arg-type]


def test_resume_is_exact(toy: str, tmp_path: Path) -> None:
    full = run(Config(task=toy, rule="hebbian", epochs=2, out=str(tmp_path / "full")))
    cut = Config(task=toy, rule="hebbian", epochs=2, out=str(tmp_path / "cut"))

    def stop(record: dict) -> None:
        if record["epoch"] == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run(cut, on_epoch=stop)
    resumed = resume(tmp_path / "cut")
    a, b = full.network.state_dict(), resumed.network.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    ca, cb = (load_checkpoint(tmp_path / n / "checkpoint.pt") for n in ("full", "cut"))
    assert all(torch.equal(ca["model"][k], cb["model"][k]) for k in ca["model"])
    assert torch.equal(ca["rule_state"]["theta"], cb["rule_state"]["theta"])
    assert ca["rule_state"]["updates"] == cb["rule_state"]["updates"] == 2 * 4
    for key in ("test_accuracy", "final_test_accuracy", "weight_updates"):
        assert full.summary[key] == resumed.summary[key], key


def test_cli_trains_hebbian(toy: str, tmp_path: Path) -> None:
    out = tmp_path / "cli"
    assert cli.main(["train", "--task", toy, "--rule", "hebbian", "--epochs", "2",
                     "--out", str(out), "--no-progress"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["rule"] == "hebbian" and summary["weight_updates"] == 8.0
    assert summary["test_accuracy"] >= 0.75
