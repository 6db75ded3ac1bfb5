"""A digest-valid checkpoint that does not fit the run is refused in one line, never trained on."""

from __future__ import annotations

import hashlib
import io
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from snnlearn.experiments import Config, cli, resume, run
from snnlearn.experiments.checkpoint import CheckpointError, sidecar_path
from snnlearn.experiments.runner import load_network


def _edit(path: Path, change: Callable[[dict], None]) -> None:
    """Change the checkpoint's payload and write it back with a matching digest."""
    payload = torch.load(path, weights_only=True)
    change(payload)
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    path.write_bytes(buffer.getvalue())
    digest = hashlib.sha256(buffer.getvalue()).hexdigest()
    sidecar_path(path).write_text(f"{digest}  {path.name}\n")


def _one_epoch_of_two(task: str, factory: pytest.TempPathFactory) -> Path:
    """A run of 2 epochs stopped after the first (trained once per session, then copied)."""
    folder = factory.getbasetemp() / "payload-base"
    if not (folder / "checkpoint.pt").exists():
        def stop(record: dict) -> None:
            raise KeyboardInterrupt

        with pytest.raises(KeyboardInterrupt):
            run(Config(task=task, epochs=2, out=str(folder)), on_epoch=stop)
    return folder


def _nan_weight(p: dict) -> None:
    key = next(iter(p["model"]))
    p["model"][key] = torch.full_like(p["model"][key], float("nan"))


def _grown(p: dict) -> None:
    key = next(iter(p["model"]))
    p["model"][key] = torch.zeros(3, 3)


def _renamed(p: dict) -> None:
    key = next(iter(p["model"]))
    p["model"]["old." + key] = p["model"].pop(key)


@pytest.mark.parametrize(("change", "match"), [
    (_nan_weight, r"model\['.*'\] holds \d+ NaN or Inf values"),
    (lambda p: p.update(epoch=-5), "epoch -5 is outside the run's 1 .. 2"),
    (lambda p: p.update(epoch=99), "epoch 99 is outside the run's 1 .. 2"),
    (lambda p: p.update(epoch="1"), "epoch '1' is outside"),
    (lambda p: p.update(best_epoch=7), "best_epoch 7 is outside 0 .. 1"),
    (lambda p: p.update(history={"a": 1}), "'history' is not the list of the 1 epoch records"),
    (lambda p: p.update(train_seconds=float("nan")), "train_seconds nan is not a finite"),
    (_grown, r"has shape \(3, 3\), but this run's network has"),
    (_renamed, "does not fit this run's network .missing .*; unexpected old."),
    (lambda p: p.update(optimizer={"state": {}, "param_groups": []}),
     "its optimizer state does not fit this run"),
    (lambda p: p.update(config=[1]), "holds no config dict"),
])
def test_a_checkpoint_that_does_not_fit_the_run_is_refused(
    toy: str, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory,
    capsys: pytest.CaptureFixture[str], change: Callable, match: str
) -> None:
    folder = tmp_path / "r"
    shutil.copytree(_one_epoch_of_two(toy, tmp_path_factory), folder)
    _edit(folder / "checkpoint.pt", change)
    with pytest.raises(CheckpointError, match=match):
        resume(folder)
    assert cli.main(["resume", str(folder), "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "checkpoint.pt" in err and "Traceback" not in err


def test_load_network_refuses_nan_weights(toy: str, tmp_path: Path) -> None:
    folder = tmp_path / "r"
    run(Config(task=toy, epochs=1, out=str(folder)))
    _edit(folder / "checkpoint.pt", lambda p: p["best_model"].update(
        {k: v * float("nan") for k, v in p["best_model"].items()}))
    with pytest.raises(CheckpointError, match=r"best_model\['.*'\] holds"):
        load_network(folder)
