from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from snnlearn.experiments import Config, TrainingError, resume, run
from snnlearn.experiments.checkpoint import CheckpointError, load_checkpoint
from snnlearn.experiments.runner import default_run_dir

CONTRACT = {"task": str, "rule": str, "test_accuracy": float, "epochs": int, "seed": int,
            "train_seconds": float, "peak_memory_mb": float, "spikes_per_sample": float,
            "synops_per_sample": float}


class Interrupt:
    """An ``on_epoch`` callback that presses Ctrl-C after epoch ``after``."""

    def __init__(self, after: int) -> None:
        self.after = after

    def __call__(self, record: dict) -> None:
        if record["epoch"] == self.after:
            raise KeyboardInterrupt


def test_run_writes_the_run_folder(toy: str, tmp_path: Path) -> None:
    records: list[dict] = []
    result = run(Config(task=toy, epochs=3, out=str(tmp_path / "r")), on_epoch=records.append)
    folder = tmp_path / "r"
    assert result.run_dir == folder
    assert {p.name for p in folder.iterdir()} == {
        "config.json", "env.json", "metrics.jsonl", "summary.json", "checkpoint.pt",
        "checkpoint.pt.sha256"}
    summary = json.loads((folder / "summary.json").read_text())
    assert summary == result.summary
    for key, kind in CONTRACT.items():
        assert type(summary[key]) is kind, key
    assert set(summary) == set(CONTRACT) | {"val_accuracy", "best_epoch", "final_test_accuracy",
                                            "weight_updates", "silent_epochs"}
    assert (summary["task"], summary["rule"], summary["epochs"], summary["seed"]) == (
        "toy", "bptt", 3, 0)
    assert 0.0 <= summary["test_accuracy"] <= 1.0 and 1 <= summary["best_epoch"] <= 3
    assert summary["peak_memory_mb"] > 0 and summary["spikes_per_sample"] >= 0
    lines = (folder / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line) for line in lines] == records
    assert [r["epoch"] for r in records] == [1, 2, 3]
    assert set(records[0]) >= {"epoch", "train_loss", "train_accuracy", "val_accuracy",
                               "epoch_seconds"}
    env = json.loads((folder / "env.json").read_text())
    assert {"snnlearn", "torch", "python", "platform", "device", "git_sha"} <= set(env)
    config = json.loads((folder / "config.json").read_text())
    assert config["hidden"] == [16] and config["epochs"] == 3 and config["lr"] == 3e-2


def test_toy_task_is_learned(toy: str, tmp_path: Path) -> None:
    result = run(Config(task=toy, epochs=6, out=str(tmp_path / "r")))
    assert result.summary["test_accuracy"] >= 0.9


def test_seed_determines_the_run(toy: str, tmp_path: Path) -> None:
    a = run(Config(task=toy, epochs=2, out=str(tmp_path / "a")))
    b = run(Config(task=toy, epochs=2, out=str(tmp_path / "b")))
    c = run(Config(task=toy, epochs=2, seed=1, out=str(tmp_path / "c")))
    sa, sb, sc = (r.network.state_dict() for r in (a, b, c))
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not all(torch.equal(sa[k], sc[k]) for k in sa)


@pytest.mark.parametrize("overrides", [{}, {"recurrent": True, "neuron": "alif",
                                            "activity_reg": 0.1, "grad_clip": 1.0}])
def test_resume_is_bitwise_identical_to_an_uninterrupted_run(
    toy: str, tmp_path: Path, overrides: dict
) -> None:
    full = run(Config(task=toy, epochs=4, out=str(tmp_path / "full"), **overrides))
    cut = Config(task=toy, epochs=4, out=str(tmp_path / "cut"), **overrides)
    with pytest.raises(KeyboardInterrupt):
        run(cut, on_epoch=Interrupt(after=2))
    assert load_checkpoint(tmp_path / "cut" / "checkpoint.pt")["epoch"] == 2
    assert not (tmp_path / "cut" / "summary.json").exists()
    seen: list[int] = []
    resumed = resume(tmp_path / "cut", on_epoch=lambda r: seen.append(r["epoch"]))
    assert seen == [3, 4]
    a, b = full.network.state_dict(), resumed.network.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    final_a = load_checkpoint(tmp_path / "full" / "checkpoint.pt")["model"]
    final_b = load_checkpoint(tmp_path / "cut" / "checkpoint.pt")["model"]
    assert all(torch.equal(final_a[k], final_b[k]) for k in final_a)
    for key in ("test_accuracy", "final_test_accuracy", "val_accuracy", "best_epoch",
                "spikes_per_sample", "synops_per_sample", "epochs"):
        assert full.summary[key] == resumed.summary[key], key
    metrics, full_metrics = (
        [json.loads(x) for x in (tmp_path / name / "metrics.jsonl").read_text().splitlines()]
        for name in ("cut", "full"))
    strip = [{k: v for k, v in m.items() if k != "epoch_seconds"} for m in metrics]
    assert strip == [{k: v for k, v in m.items() if k != "epoch_seconds"} for m in full_metrics]
    assert resumed.summary["train_seconds"] == pytest.approx(
        sum(m["epoch_seconds"] for m in metrics))


def test_resume_after_a_crash_past_the_checkpoint_drops_stale_metrics(
    toy: str, tmp_path: Path
) -> None:
    cut = Config(task=toy, epochs=3, out=str(tmp_path / "cut"))
    with pytest.raises(KeyboardInterrupt):
        run(cut, on_epoch=Interrupt(after=1))
    with (tmp_path / "cut" / "metrics.jsonl").open("a") as f:
        f.write('{"epoch": 2, "half-written": true}\n')
    resume(tmp_path / "cut")
    epochs = [json.loads(x)["epoch"] for x in
              (tmp_path / "cut" / "metrics.jsonl").read_text().splitlines()]
    assert epochs == [1, 2, 3]


def test_resume_of_a_finished_run_gives_its_summary(toy: str, tmp_path: Path) -> None:
    first = run(Config(task=toy, epochs=2, out=str(tmp_path / "r")))
    again = resume(tmp_path / "r")
    assert again.summary["test_accuracy"] == first.summary["test_accuracy"]
    assert again.summary["train_seconds"] == first.summary["train_seconds"]


def test_resume_refuses_a_corrupt_checkpoint_or_edited_config(toy: str, tmp_path: Path) -> None:
    folder = tmp_path / "r"
    with pytest.raises(KeyboardInterrupt):
        run(Config(task=toy, epochs=3, out=str(folder)), on_epoch=Interrupt(after=1))
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "epochs": 9}))
    with pytest.raises(CheckpointError, match=r"differs from the config in its checkpoint.*epochs"):
        resume(folder)
    (folder / "config.json").write_text(json.dumps(config))
    ckpt = folder / "checkpoint.pt"
    ckpt.write_bytes(ckpt.read_bytes()[:100])
    with pytest.raises(CheckpointError, match="checkpoint.pt"):
        resume(folder)
    with pytest.raises(CheckpointError, match="config.json"):
        resume(tmp_path / "nowhere")


def test_run_refuses_to_overwrite_a_run(toy: str, tmp_path: Path) -> None:
    cfg = Config(task=toy, epochs=1, out=str(tmp_path / "r"))
    run(cfg)
    with pytest.raises(FileExistsError, match="snnlearn resume"):
        run(cfg)


def test_non_finite_loss_aborts_with_a_clear_error(toy: str, tmp_path: Path) -> None:
    with pytest.raises(TrainingError, match=r"loss became nan at epoch 1, batch 1"):
        run(Config(task="toy_nan", epochs=2, out=str(tmp_path / "r")))
    assert not (tmp_path / "r" / "checkpoint.pt").exists()


def test_eval_every_skips_validation(toy: str, tmp_path: Path) -> None:
    records: list[dict] = []
    run(Config(task=toy, epochs=3, eval_every=2, out=str(tmp_path / "r")),
        on_epoch=records.append)
    assert [r["val_accuracy"] is None for r in records] == [True, False, False]


def test_default_run_dir() -> None:
    assert default_run_dir(Config(task="yinyang", seed=3)) == Path("runs/yinyang-bptt-s3")
    assert default_run_dir(Config(task="yinyang", out="x/y")) == Path("x/y")


def test_cuda_without_a_device_is_refused(toy: str, tmp_path: Path) -> None:
    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present")
    with pytest.raises(ValueError, match="no CUDA device"):
        run(Config(task=toy, device="cuda", out=str(tmp_path / "r")))
