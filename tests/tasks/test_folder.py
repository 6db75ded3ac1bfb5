"""The ``folder:<path>`` task: a user's folder of SHD-layout HDF5 files, from Python and the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from snnlearn.experiments import registry
from snnlearn.experiments.cli import main
from snnlearn.tasks.base import SPLITS
from snnlearn.tasks.folder import SpikeFolder

h5py = pytest.importorskip("h5py")


def write_spikes(path: Path, times, units, labels) -> None:  # noqa: ANN001
    """The SHD layout: vlen spikes/times, spikes/units and labels."""
    with h5py.File(path, "w") as f:
        for key, values, dtype in (("times", times, np.float32), ("units", units, np.uint16)):
            ds = f.create_dataset(f"spikes/{key}", (len(values),), dtype=h5py.vlen_dtype(dtype))
            for i, v in enumerate(values):
                ds[i] = np.asarray(v, dtype=dtype)
        f.create_dataset("labels", data=np.asarray(labels, dtype=np.uint8))


def separable(folder: Path, n: dict[str, int], seed: int = 0) -> Path:
    """Class ``c`` of 3 fires units ``8c .. 8c + 7`` of 24 for 0.1 s (a learnable data set)."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for split, count in n.items():
        labels = np.arange(count) % 3
        times = [rng.uniform(0.0, 0.1, 30) for _ in labels]
        units = [rng.integers(0, 8, 30) + 8 * c for c in labels]
        write_spikes(folder / f"mine_{split}.h5", times, units, labels)
    return folder


def test_splits_sizes_and_a_window_that_keeps_every_spike(tmp_path: Path) -> None:
    folder = separable(tmp_path / "d", {"train": 20, "test": 6})
    task = SpikeFolder(folder, dt=2e-3, val_fraction=0.25)
    assert (task.n_in, task.n_out) == (24, 3)
    assert [len(task.split(s)) for s in SPLITS] == [15, 5, 6]
    assert task.n_steps * task.dt > 0.099  # the latest spike is inside the window
    assert float(task.encode(torch.arange(26)).sum()) == 26 * 30
    assert task.summary_metrics()["input_spikes_dropped"] == 0
    assert task.files["train"].name == "mine_train.h5"
    x = task.encode(task.split("test").inputs)
    assert x.shape == (task.n_steps, 6, 24)
    labels = task.split("test").labels
    for b in range(6):  # class c fires only its own 8 units
        c = int(labels[b])
        assert float(x[:, b, 8 * c:8 * c + 8].sum()) == 30


def test_a_validation_file_is_used_and_options_are_checked(tmp_path: Path) -> None:
    folder = separable(tmp_path / "d", {"train": 9, "val": 4, "test": 3})
    task = SpikeFolder(folder, n_units=30, n_classes=5, n_steps=20, n_channels=10)
    assert [len(task.split(s)) for s in SPLITS] == [9, 4, 3]
    assert (task.n_in, task.n_out, task.n_steps) == (10, 5, 20)
    with pytest.raises(ValueError, match=r"files hold label 2, but n_classes is 2"):
        SpikeFolder(folder, n_classes=2)
    with pytest.raises(ValueError, match=r"sample \d+ has unit \d+; units must lie in 0 \.\. 9"):
        SpikeFolder(folder, n_units=10)
    with pytest.raises(ValueError, match="SpikeFolder.n_channels must be an int in 1 .. 24"):
        SpikeFolder(folder, n_channels=25)


def test_missing_and_ambiguous_files(tmp_path: Path) -> None:
    separable(tmp_path / "d", {"train": 4})
    with pytest.raises(FileNotFoundError, match=r"has no test file; .* found mine_train\.h5"):
        SpikeFolder(tmp_path / "d")
    separable(tmp_path / "d", {"test": 2})
    (tmp_path / "d" / "train.h5").write_bytes((tmp_path / "d" / "mine_train.h5").read_bytes())
    with pytest.raises(ValueError, match=r"2 files .* are train files"):
        SpikeFolder(tmp_path / "d")


@pytest.mark.slow
def test_trains_from_the_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = separable(tmp_path / "d", {"train": 60, "test": 30})
    out = tmp_path / "run"
    argv = ["train", "--task", f"folder:{folder}", "--task-option", "dt=0.005", "--epochs", "4",
            "--hidden", "32", "--lr", "0.02", "--batch-size", "4", "--gain", "2.0", "--out",
            str(out), "--no-progress"]
    assert main(argv) == 0, capsys.readouterr().err
    summary = json.loads((out / "summary.json").read_text())
    assert summary["task"] == f"folder:{folder}" and summary["input_spikes_dropped"] == 0
    assert summary["test_accuracy"] >= 0.9  # chance is 1/3
    assert main(["train", "--task", f"folder:{folder}", "--task-option", "n_stepz=3"]) == 2
    assert "valid options: dt, merge, n_channels" in capsys.readouterr().err
    assert main(["train", "--task", "folder:" + str(tmp_path / "nope"), "--out",
                 str(tmp_path / "x")]) == 1
    assert "is not a folder" in capsys.readouterr().err
    assert registry.check_task_id("folder:x") == "folder:x"
