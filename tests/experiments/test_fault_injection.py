"""Kill a tiny run at each write point and at random batches; the recovered run must end with the
bitwise-identical summary and weights of an uninterrupted one.

A kill is a ``BaseException`` raised inside the write (nothing in snnlearn catches it), or, once,
a real ``SIGKILL`` of a child process (no ``finally`` runs: leftover temporary files and a stale
lock). Recovery is what a user does: ``resume`` when a checkpoint exists, else train again.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from snnlearn.experiments import Config, checkpoint, resume, run
from snnlearn.experiments.checkpoint import CHECKPOINT_NAME, load_checkpoint

_VOLATILE = ("train_seconds", "peak_memory_mb")


class Killed(BaseException):
    """The process dies here."""


def _outcome(folder: Path) -> tuple[dict, dict, dict]:
    ckpt = load_checkpoint(folder / CHECKPOINT_NAME)
    summary = {k: v for k, v in json.loads((folder / "summary.json").read_text()).items()
               if k not in _VOLATILE}
    return summary, ckpt["model"], ckpt["best_model"]


def _same(a: tuple[dict, dict, dict], b: tuple[dict, dict, dict]) -> None:
    assert a[0] == b[0]
    for x, y in ((a[1], b[1]), (a[2], b[2])):
        assert x.keys() == y.keys() and all(torch.equal(x[k], y[k]) for k in x)


def _recover(cfg: Config, folder: Path) -> None:
    if (folder / CHECKPOINT_NAME).exists():
        resume(folder)
    else:  # killed before the first epoch ended: what is left is an unstarted run
        run(cfg)


def _kill_at(monkeypatch: pytest.MonkeyPatch, point: int) -> list[int]:
    """Make the ``point``-th write (a durable write or a rename) raise :class:`Killed`."""
    calls = [0]
    real_write, real_replace = checkpoint._write_durably, os.replace

    def counted(real):  # noqa: ANN001, ANN202
        def call(*args):  # noqa: ANN002, ANN202
            calls[0] += 1
            if calls[0] == point:
                raise Killed
            return real(*args)
        return call

    monkeypatch.setattr(checkpoint, "_write_durably", counted(real_write))
    monkeypatch.setattr(os, "replace", counted(real_replace))
    return calls


def _config(task: str, rule: str, folder: Path) -> Config:
    return Config(task=task, rule=rule, epochs=2, out=str(folder))


def test_a_kill_at_every_write_point_recovers_bit_identically(
    toy: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reference = tmp_path / "reference"
    with monkeypatch.context() as m:
        n_points = _kill_at(m, 0)  # counts only
        run(_config(toy, "bptt", reference))
    expected = _outcome(reference)
    assert n_points[0] >= 15  # config, env, metrics, two checkpoints of 6 steps each, summary
    for point in range(1, n_points[0] + 1):
        folder = tmp_path / f"k{point}"
        cfg = _config(toy, "bptt", folder)
        with monkeypatch.context() as m:
            _kill_at(m, point)
            with pytest.raises(Killed):
                run(cfg)
        _recover(cfg, folder)
        _same(_outcome(folder), expected)


@pytest.mark.parametrize("rule", ["bptt", "eprop"])
def test_a_kill_at_random_batches_recovers_bit_identically(
    toy: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, rule: str
) -> None:
    run(_config(toy, rule, tmp_path / "reference"))
    expected = _outcome(tmp_path / "reference")
    rng = np.random.default_rng(0)
    folder = tmp_path / "killed"
    cfg = _config(toy, rule, folder)
    real = torch.optim.Adam.step
    per_epoch = 4  # 32 training samples in batches of 8
    for _ in range(3):  # several kills of the same run, each at a random remaining batch
        done = (load_checkpoint(folder / CHECKPOINT_NAME)["epoch"]
                if (folder / CHECKPOINT_NAME).exists() else 0)
        steps, at = [0], int(rng.integers(1, per_epoch * (2 - done) + 1))

        def step(self, *args, steps=steps, at=at, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
            steps[0] += 1
            if steps[0] == at:
                raise Killed
            return real(self, *args, **kwargs)

        with monkeypatch.context() as m:
            m.setattr(torch.optim.Adam, "step", step)
            with pytest.raises(Killed):
                _recover(cfg, folder)
    _recover(cfg, folder)
    _same(_outcome(folder), expected)


_CHILD = """
import os, signal, sys
from snnlearn.experiments import Config, checkpoint, run
real, calls = checkpoint._write_durably, [0]
def write(*args):
    calls[0] += 1
    if calls[0] == int(sys.argv[2]):
        os.kill(os.getpid(), signal.SIGKILL)
    return real(*args)
checkpoint._write_durably = write
run(Config(task="yinyang", epochs=2, out=sys.argv[1], batch_size=16,
           task_options={"n_train": 48, "n_val": 16, "n_test": 16}))
"""


def test_a_real_sigkill_mid_checkpoint_recovers_bit_identically(tmp_path: Path) -> None:
    cfg = Config(task="yinyang", epochs=2, out=str(tmp_path / "reference"), batch_size=16,
                 task_options={"n_train": 48, "n_val": 16, "n_test": 16})
    run(cfg)
    folder = tmp_path / "killed"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    # the 5th durable write is epoch 2's first sidecar rewrite: the old and new digests listed
    proc = subprocess.run([sys.executable, "-c", _CHILD, str(folder), "5"], env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert (folder / "run.lock").exists() and list(folder.glob("*.tmp"))  # as the kill left them
    resume(folder)  # takes over the stale lock, repairs the sidecar
    _same(_outcome(folder), _outcome(tmp_path / "reference"))
    assert not list(folder.glob("*.tmp")) and not (folder / "run.lock").exists()
