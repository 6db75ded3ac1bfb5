"""``compare``: every rule trained on the same task and seed; tables, JSON and the HTML report."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from snnlearn.experiments import compare as compare_module
from snnlearn.experiments import registry
from snnlearn.experiments.cli import main
from snnlearn.experiments.compare import compare, load_run
from snnlearn.experiments.config import Config
from snnlearn.experiments.runner import run


def _in_process(task, rule, run_dir, epochs, seed, device):
    run(Config(task=task, rule=rule, epochs=epochs, seed=seed, device=device, out=str(run_dir)))


def test_compare_writes_json_markdown_and_report(toy: str, tmp_path: Path):
    seen = []
    records = compare(toy, ["bptt"], out=tmp_path, epochs=2, seed=3, train=_in_process,
                      on_rule=seen.append)
    assert [r["rule"] for r in records] == ["bptt"] and seen == records
    payload = json.loads((tmp_path / "comparison.json").read_text())
    run_record = payload["runs"][0]
    summary = json.loads((tmp_path / "bptt" / "summary.json").read_text())
    assert run_record["test_accuracy"] == summary["test_accuracy"]
    assert [c["epoch"] for c in run_record["curve"]] == [1, 2]
    md = (tmp_path / "comparison.md").read_text()
    assert "| bptt |" in md and f"{summary['test_accuracy']:.1%}" in md
    html = (tmp_path / "report.html").read_text()
    # 4 figures of the comparison, plus the run's embedded raster, membrane traces and readout
    assert html.startswith("<!DOCTYPE html>") and html.count("<svg") == 7
    n_train = len(registry.make_task(toy).split("train"))
    assert summary["weight_updates"] == 2 * math.ceil(n_train / 8)  # epochs x batches (size 8)
    assert "weight updates" in md


def test_finished_runs_are_reused(toy: str, tmp_path: Path):
    compare(toy, ["bptt"], out=tmp_path, epochs=1, train=_in_process)

    def must_not_train(*args):
        raise AssertionError("a finished run was trained again")

    records = compare(toy, ["bptt"], out=tmp_path, epochs=1, train=must_not_train)
    assert records[0] == {"rule": "bptt", **load_run(tmp_path / "bptt")}


def test_a_failing_rule_is_recorded_and_the_others_still_run(toy: str, tmp_path: Path):
    def failing(task, rule, run_dir, epochs, seed, device):
        raise RuntimeError("snnlearn: error: boom")

    records = compare(toy, ["bptt"], out=tmp_path, train=failing)
    assert records == [{"rule": "bptt", "error": "snnlearn: error: boom"}]
    assert "failed: snnlearn: error: boom" in (tmp_path / "comparison.md").read_text()


@pytest.mark.parametrize(
    ("rules", "match"), [(["nope"], "unknown rule 'nope'"), ([], "no rules"),
                         (["bptt", "bptt"], "once")],
)
def test_bad_rule_lists_raise(toy: str, tmp_path: Path, rules, match):
    with pytest.raises(ValueError, match=match):
        compare(toy, rules, out=tmp_path, train=_in_process)


def test_cli_compare_errors_are_one_line(capsys, tmp_path: Path):
    assert main(["compare", "--task", "nope", "--rules", "bptt", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "valid tasks" in err[0]
    assert main(["compare", "--task", "yinyang", "--rules", "bptt,xx"]) == 2
    assert "valid rules" in capsys.readouterr().err


def test_subprocess_training_reports_the_cli_error(tmp_path: Path):
    # epochs=0 is rejected by `snnlearn train` itself: the error line comes back verbatim
    with pytest.raises(RuntimeError, match="epochs must be an int >= 1"):
        compare_module.train_in_subprocess("yinyang", "bptt", tmp_path / "r", 0, 0, "cpu")
