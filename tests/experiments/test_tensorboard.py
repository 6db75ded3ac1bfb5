"""TensorBoard logging: optional; with the package installed, a run writes an event file."""

from __future__ import annotations

import builtins
from pathlib import Path

import pytest

from snnlearn.experiments.config import Config
from snnlearn.experiments.runner import run


def test_a_run_writes_event_files(toy: str, tmp_path: Path) -> None:
    pytest.importorskip("tensorboard")
    run(Config(task=toy, epochs=2, out=str(tmp_path / "r"), tensorboard=True))
    events = list((tmp_path / "r" / "tensorboard").glob("events.out.tfevents.*"))
    assert len(events) == 1 and events[0].stat().st_size > 0


def test_without_the_package_the_error_names_it(
    toy: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_import = builtins.__import__

    def no_tensorboard(name, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        if name.startswith("torch.utils.tensorboard") or name.startswith("tensorboard"):
            raise ModuleNotFoundError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_tensorboard)
    with pytest.raises(ModuleNotFoundError, match="needs the 'tensorboard' package"):
        run(Config(task=toy, epochs=1, out=str(tmp_path / "r"), tensorboard=True))
    assert not (tmp_path / "r").exists()  # refused before the run folder was made
