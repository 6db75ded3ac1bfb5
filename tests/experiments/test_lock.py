"""One process per run folder: a second run names the holder; a dead holder's lock is taken."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from snnlearn.experiments import Config, cli, resume, run
from snnlearn.experiments.lock import LOCK_NAME, RunLockedError, lock_holder, run_lock


def test_a_second_run_in_a_held_folder_names_the_holder(toy: str, tmp_path: Path) -> None:
    folder = tmp_path / "r"
    with run_lock(folder):
        assert lock_holder(folder)["pid"] == os.getpid()
        with pytest.raises(RunLockedError, match=f"in use by process {os.getpid()} on "):
            run(Config(task=toy, epochs=1, out=str(folder)))
        assert {p.name for p in folder.iterdir()} == {LOCK_NAME}  # nothing of the refused run
    assert not folder.exists()  # the lock created the folder and removed it, empty, on exit


def test_resume_of_a_held_run_is_refused(toy: str, tmp_path: Path) -> None:
    folder = tmp_path / "r"
    run(Config(task=toy, epochs=1, out=str(folder)))
    metrics = (folder / "metrics.jsonl").read_text()
    with run_lock(folder), pytest.raises(RunLockedError, match="wait for it to end"):
        resume(folder)
    assert (folder / "metrics.jsonl").read_text() == metrics
    assert not (folder / LOCK_NAME).exists()


def test_a_stale_lock_of_a_dead_process_is_taken_over(toy: str, tmp_path: Path) -> None:
    folder = tmp_path / "r"
    folder.mkdir()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    (folder / LOCK_NAME).write_text(json.dumps({"pid": int(dead.stdout), "host": "h"}) + "\n")
    result = run(Config(task=toy, epochs=1, out=str(folder)))
    assert result.summary["epochs"] == 1 and not (folder / LOCK_NAME).exists()


def test_cli_second_run_exits_1_naming_the_pid(
    toy: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "r"
    with run_lock(folder):
        status = cli.main(["train", "--task", toy, "--epochs", "1", "--out", str(folder),
                           "--no-progress"])
    err = capsys.readouterr().err
    assert status == 1 and err.count("\n") == 1
    assert f"is in use by process {os.getpid()}" in err
