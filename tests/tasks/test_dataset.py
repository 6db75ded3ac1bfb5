"""The ``py:<module>:<Class>`` task: a user's torch Dataset by import path."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch

from snnlearn.experiments.cli import main
from snnlearn.tasks.base import SPLITS
from snnlearn.tasks.dataset import UserDataset

MODULE = '''
import torch
from torch.utils.data import Dataset


class Pulses(Dataset):
    """Class c of 2: a pulse train on inputs 3c .. 3c + 2 (T = 12 or 15, 6 inputs)."""

    def __init__(self, split, n=None, bad=""):
        self.n = {"train": 40, "val": 6, "test": 20}[split] if n is None else n
        self.bad, self.g = bad, torch.Generator().manual_seed(len(split))

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        c = i % 2
        x = torch.zeros(12 + 3 * (i % 2), 6)
        x[::2, 3 * c:3 * c + 3] = (torch.rand(x[::2].shape[0], 3, generator=self.g) < 0.8).float()
        if self.bad == "shape":
            return x[0], c
        if self.bad == "label":
            return x, -1
        return x, c
'''


@pytest.fixture
def module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    (tmp_path / "pulses_data.py").write_text(MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield "pulses_data"
    sys.modules.pop("pulses_data", None)


def test_items_are_read_padded_and_split(module: str) -> None:
    task = UserDataset(f"{module}:Pulses", val_fraction=0.25)
    assert (task.n_in, task.n_out, task.n_steps, task.name) == (6, 2, 15, f"py:{module}:Pulses")
    assert [len(task.split(s)) for s in SPLITS] == [30, 10, 20]
    test = task.split("test")
    x = task.encode(test.inputs[:4])
    assert x.shape == (15, 4, 6)
    assert float(x[12:, 0].abs().sum()) == 0  # item 0 (T = 12) is padded with zeros
    for b in range(4):
        c = int(test.labels[b])
        assert float(x[:, b, 3 * (1 - c):3 * (1 - c) + 3].sum()) == 0
    own_val = UserDataset(f"{module}:Pulses", val_split=True, dataset_options={"n": 8})
    assert [len(own_val.split(s)) for s in SPLITS] == [8, 8, 8]


@pytest.mark.parametrize(("target", "options", "match"), [
    ("no_colon", {}, r"expected py:<module>:<Class>"),
    ("missing_mod_xyz:A", {}, r"cannot import 'missing_mod_xyz'"),
    ("{m}:Nope", {}, r"has no class 'Nope'"),
    ("{m}:Pulses", {"dataset_options": {"bad": "shape"}}, r"train item 0 has x of shape \(6,\)"),
    ("{m}:Pulses", {"dataset_options": {"bad": "label"}}, r"train item 0 has label -1"),
    ("{m}:Pulses", {"dataset_options": {"n": 0}}, r"the train data set is empty"),
    ("{m}:Pulses", {"dataset_options": {"colour": 1}}, r"Pulses\(split='train'\) failed"),
    ("{m}:Pulses", {"n_classes": 1}, r"n_classes must be an int >= 2"),
])
def test_bad_targets_and_items_name_the_problem(module: str, target: str, options: dict,
                                                match: str) -> None:
    with pytest.raises((ValueError, ModuleNotFoundError), match=match):
        UserDataset(target.format(m=module), **options)


@pytest.mark.slow
def test_trains_from_the_cli(module: str, tmp_path: Path, capsys) -> None:  # noqa: ANN001
    out = tmp_path / "run"
    argv = ["train", "--task", f"py:{module}:Pulses", "--epochs", "4", "--hidden", "32",
            "--lr", "0.02", "--batch-size", "4", "--gain", "2.0", "--task-option", "dt=0.002",
            "--out", str(out), "--no-progress"]
    assert main(argv) == 0, capsys.readouterr().err
    summary = json.loads((out / "summary.json").read_text())
    assert summary["task"] == f"py:{module}:Pulses" and summary["test_accuracy"] >= 0.9
    assert json.loads((out / "config.json").read_text())["task_options"] == {"dt": 0.002}
    assert torch.cuda.is_available() or summary["peak_memory_mb"] > 0
