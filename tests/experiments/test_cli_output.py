"""What the command line prints: one plain line per epoch without a terminal (a batch job's log
file), progress bars on one, nothing from ranks other than 0, and a ``--help`` without torch."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from snnlearn.experiments import cli

SRC = str(Path(cli.__file__).resolve().parents[2])
TINY = ["--task", "yinyang", "--epochs", "2", "--hidden", "8", "--batch-size", "32",
        "--task-option", "n_train=64", "--task-option", "n_val=32", "--task-option",
        "n_test=32", "--task-option", "dt=0.002"]
ESCAPES = ("\r", "\x1b")


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "LOCAL_RANK")}
    return {**env, "PYTHONPATH": SRC, "OMP_NUM_THREADS": "1"}


def _epoch_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("epoch ")]


@pytest.mark.slow
def test_a_log_file_gets_one_plain_line_per_epoch(tmp_path: Path) -> None:
    log = tmp_path / "log"
    with log.open("w") as f:  # `snnlearn train ... > log 2>&1`
        proc = subprocess.run([sys.executable, "-m", "snnlearn", "train", *TINY, "--out",
                               str(tmp_path / "r")], stdout=f, stderr=subprocess.STDOUT,
                              env=_env(), check=False, timeout=300)
    text = log.read_text()
    assert proc.returncode == 0, text
    assert not any(c in text for c in ESCAPES), repr(text)
    lines = text.splitlines()
    assert len(lines) == 3 and lines[-1].startswith("test accuracy ")
    for k, line in enumerate(_epoch_lines(text), start=1):
        assert line.startswith(f"epoch {k}/2: train loss ")
        assert "train accuracy " in line and "val accuracy " in line and line.endswith(" s")


@pytest.mark.slow
def test_a_terminal_gets_the_progress_bar(tmp_path: Path) -> None:
    import fcntl
    import pty
    import struct
    import termios
    import threading

    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # 100 columns
    chunks: list[bytes] = []

    def read() -> None:  # as a terminal does, while the run writes (a full buffer would block)
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # the run closed the terminal
                return
            if not chunk:
                return
            chunks.append(chunk)

    reader = threading.Thread(target=read)
    reader.start()
    proc = subprocess.run([sys.executable, "-m", "snnlearn", "train", *TINY, "--out",
                           str(tmp_path / "r")], stdout=subprocess.PIPE, stderr=follower,
                          env=_env(), check=False, timeout=300, text=True)
    os.close(follower)
    reader.join(timeout=30)
    os.close(leader)
    bars = b"".join(chunks)
    assert proc.returncode == 0
    assert b"\r" in bars and b"yinyang/bptt" in bars and b"2/2" in bars
    assert b"epoch 1/2:" not in bars  # the bar instead of the plain lines
    assert proc.stdout.startswith("test accuracy ")


def test_no_progress_prints_each_epoch_even_on_a_terminal(
    toy: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    assert cli.main(["train", "--task", toy, "--epochs", "3", "--out", str(tmp_path / "r"),
                     "--no-progress"]) == 0
    out, err = capsys.readouterr()  # the epochs on stderr, as the bars; the result on stdout
    assert [line.split(":")[0] for line in _epoch_lines(err)] == ["epoch 1/3", "epoch 2/3",
                                                                  "epoch 3/3"]
    assert len(err.splitlines()) == 3 and not any(c in err for c in ESCAPES)
    assert out.startswith("test accuracy ") and len(out.splitlines()) == 1
    assert cli.main(["resume", str(tmp_path / "r"), "--no-progress"]) == 0  # finished: no epoch
    assert not _epoch_lines(capsys.readouterr().err)


@pytest.mark.parametrize(("variable", "prints"), [("RANK", False), ("LOCAL_RANK", False),
                                                  (None, True)])
def test_only_rank_zero_prints(toy: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                               monkeypatch: pytest.MonkeyPatch, variable: str | None,
                               prints: bool) -> None:
    monkeypatch.delenv("RANK", raising=False)
    monkeypatch.delenv("LOCAL_RANK", raising=False)
    if variable is not None:
        monkeypatch.setenv(variable, "1")
    assert cli.main(["train", "--task", toy, "--epochs", "1", "--out", str(tmp_path / "r")]) == 0
    out, err = capsys.readouterr()
    assert (out != "") == prints and (err != "") == prints
    if prints:
        assert len(_epoch_lines(err)) == 1 and out.startswith("test accuracy ")


@pytest.mark.parametrize("argv", [["--help"], ["--version"], ["train", "--help"]])
def test_help_and_version_do_not_import_torch(argv: list[str]) -> None:
    code = ("import runpy, sys\n"
            f"sys.argv = ['snnlearn', *{argv!r}]\n"
            "try:\n    runpy.run_module('snnlearn', run_name='__main__')\n"
            "except SystemExit as exit:\n    assert exit.code in (0, None), exit.code\n"
            "print('torch imported' if 'torch' in sys.modules else 'torch not imported')\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=_env(), check=False, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[-1] == "torch not imported"
    if argv == ["--version"]:
        assert proc.stdout.startswith("snnlearn ")
