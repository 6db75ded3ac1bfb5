"""Run-folder files: foreign files refused, exports never over run files, one strict reader."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from snnlearn.experiments import Config, cli, resume, run
from snnlearn.experiments.runfiles import (
    ForeignFilesError,
    RunFileError,
    check_fresh_folder,
    json_text,
    read_json,
    read_jsonl,
)


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    status = cli.main(list(argv))
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.count("\n") <= 1, err
    return status, err


@pytest.mark.parametrize("files", [
    {"notes.txt": "mine"},
    {"config.json": '{"lr": 1}'},  # not a run's config
    {"config.json": "[1, 2]"},
    {"metrics.jsonl": '{"epoch": 1}\n'},  # a run's metrics but no checkpoint: not ours to drop
])
def test_out_refuses_a_folder_with_foreign_files(toy: str, tmp_path: Path,
                                                 files: dict[str, str]) -> None:
    folder = tmp_path / "r"
    folder.mkdir()
    for name, text in files.items():
        (folder / name).write_text(text)
    with pytest.raises(ForeignFilesError, match="choose an empty or new folder"):
        run(Config(task=toy, epochs=1, out=str(folder)))
    assert {p.name: p.read_text() for p in folder.iterdir()} == files  # untouched


def test_out_accepts_an_unstarted_run(toy: str, tmp_path: Path) -> None:
    class Stop(Exception):
        pass

    def stop(record: dict) -> None:
        raise Stop

    folder = tmp_path / "r"
    with pytest.raises(Stop):
        run(Config(task=toy, epochs=2, out=str(folder)), on_epoch=stop)
    for name in ("checkpoint.pt", "checkpoint.pt.sha256"):
        (folder / name).unlink()
    (folder / "metrics.jsonl").write_text("")
    check_fresh_folder(folder)  # what an interrupted first epoch leaves may be restarted
    assert run(Config(task=toy, epochs=1, out=str(folder))).summary["epochs"] == 1


def test_export_never_overwrites_run_files_and_existing_files_need_force(
    toy: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("nir")
    folder = tmp_path / "r"
    run(Config(task=toy, epochs=1, out=str(folder), reset="hard"))
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    for name in ("checkpoint.pt", "config.json", "summary.json", "checkpoint.pt.sha256"):
        status, err = _cli(capsys, "export", str(folder), "--nir", str(folder / name), "--force")
        assert status == 2 and "is a file of the run folder" in err
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before
    assert resume(folder).summary["epochs"] == 1
    target = tmp_path / "model.nir"
    target.write_text("keep")
    status, err = _cli(capsys, "export", str(folder), "--nir", str(target))
    assert status == 2 and "already exists; pass --force" in err and target.read_text() == "keep"
    status, err = _cli(capsys, "export", str(folder), "--nir", str(target), "--force")
    assert status == 0 and target.read_bytes()[:4] == b"\x89HDF"
    assert not (tmp_path / "model.nir.tmp").exists()


def test_json_text_writes_null_for_nan() -> None:
    text = json_text({"a": float("nan"), "b": [1.0, float("inf")], "c": 2})
    assert json.loads(text) == {"a": None, "b": [1.0, None], "c": 2}


@pytest.mark.parametrize(("content", "message"), [
    (b'{"a": NaN}', "is not valid JSON (NaN is not valid JSON"),
    (b"[1]", "holds a JSON list, expected a JSON object"),
    (b"null", "holds a JSON NoneType, expected a JSON object"),
    (b"\xff\xfe\x00", "is not UTF-8 text"),
    (b'{"a": ', "is not valid JSON"),
])
def test_read_json_names_the_file(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "summary.json"
    path.write_bytes(content)
    with pytest.raises(RunFileError, match="summary.json") as info:
        read_json(path)
    assert message in str(info.value)


def test_read_json_of_a_folder_or_missing_file(tmp_path: Path) -> None:
    with pytest.raises(RunFileError, match="is a folder"):
        read_json(tmp_path)
    with pytest.raises(RunFileError, match="does not exist"):
        read_json(tmp_path / "nothing.json")
    path = tmp_path / "metrics.jsonl"
    path.write_text('{"epoch": 1}\n\n[2]\n')
    with pytest.raises(RunFileError, match="line 3, holds a JSON list"):
        read_jsonl(path)
