"""Every bad file or folder the CLI meets is one line; an unexpected error names a log file."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from snnlearn.experiments import Config, cli, run


def _one_line(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    status = cli.main(list(argv))
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.count("\n") == 1, err
    assert err.startswith("snnlearn: error: ")
    return status, err


@pytest.fixture
def finished(toy: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.getbasetemp() / "failures-base"
    if not (base / "summary.json").exists():
        run(Config(task=toy, epochs=1, out=str(base)))
    return base


def _copy(folder: Path, tmp_path: Path) -> Path:
    import shutil

    return Path(shutil.copytree(folder, tmp_path / "r"))


@pytest.mark.parametrize("config", ["dir", "/dev/zero", "binary", "missing"])
def test_a_bad_config_file_is_one_line_naming_it(
    toy: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], config: str
) -> None:
    path = {"dir": tmp_path, "binary": tmp_path / "c.toml", "missing": tmp_path / "no.toml"}.get(
        config, Path(config))
    if config == "binary":
        path.write_bytes(b"\x00\xff\xfe task = 1")
    status, err = _one_line(capsys, "train", "--config", str(path), "--out", str(tmp_path / "o"))
    assert status == 2 and str(path) in err


def test_an_out_that_cannot_be_written_is_one_line(
    toy: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    status, err = _one_line(capsys, "train", "--task", toy, "--epochs", "1", "--out",
                            str(blocker / "run"), "--no-progress")
    assert status == 1 and "Not a directory" in err and str(blocker) in err
    status, err = _one_line(capsys, "train", "--task", toy, "--epochs", "1", "--out",
                            str(blocker), "--no-progress")
    assert status == 1 and "exists and is not a folder" in err


@pytest.mark.parametrize(("name", "content", "command", "match"), [
    ("config.json", "[1, 2]", "resume", "holds a JSON list, expected a JSON object"),
    ("config.json", "null", "resume", "holds a JSON NoneType"),
    ("summary.json", "[]", "evaluate", "summary.json' holds a JSON list"),
    ("summary.json", None, "evaluate", "summary.json' is a folder"),
    ("summary.json", '{"a": NaN}', "evaluate", "is not valid JSON (NaN"),
    ("metrics.jsonl", None, "plot", "metrics.jsonl' is a folder"),
    ("metrics.jsonl", "{oops\n", "plot", "metrics.jsonl', line 1, is not valid JSON"),
    ("checkpoint.pt", "/dev/zero", "resume", "checkpoint.pt' is not a regular file"),
])
def test_a_broken_run_file_is_one_line_naming_it(
    finished: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str,
    content: str | None, command: str, match: str,
) -> None:
    folder = _copy(finished, tmp_path)
    path = folder / name
    path.unlink()
    if content is None:
        path.mkdir()
    elif content.startswith("/dev/"):
        path.symlink_to(content)
    else:
        path.write_text(content)
    status, err = _one_line(capsys, command, str(folder))
    assert status == 1 and match in err, err


def test_an_unexpected_error_is_one_line_with_a_log_of_the_traceback(
    toy: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise KeyError("a bug")

    from snnlearn.experiments import runner

    monkeypatch.setattr(runner, "run", broken)  # the CLI imports it when a command runs
    status, err = _one_line(capsys, "train", "--task", toy, "--out", str(tmp_path / "r"))
    assert status == 1 and "unexpected KeyError: 'a bug' (a bug in snnlearn" in err
    log = Path(err.split("the traceback is in ")[1].split(";")[0])
    try:
        text = log.read_text()
        assert "Traceback (most recent call last)" in text and "in broken" in text
    finally:
        os.unlink(log)
