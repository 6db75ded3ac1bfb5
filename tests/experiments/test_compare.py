"""``compare``: every rule trained on the same task and seed; tables, JSON and the HTML report."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from snnlearn.experiments import compare as compare_module
from snnlearn.experiments import registry
from snnlearn.experiments.cli import main
from snnlearn.experiments.compare import (
    compare,
    load_run,
    seed_statistics,
    split_rule_options,
    to_toml,
)
from snnlearn.experiments.config import Config
from snnlearn.experiments.runner import run


def _in_process(cfg: Config) -> None:
    run(cfg)


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
    run_record = load_run(tmp_path / "bptt")
    assert records[0] == {"rule": "bptt", **run_record, "seed": 0, "label": "bptt",
                          "epoch_seconds": run_record["train_seconds"] / 1}


def test_a_failing_rule_is_recorded_and_the_others_still_run(toy: str, tmp_path: Path):
    def failing(cfg):
        raise RuntimeError("snnlearn: error: boom")

    records = compare(toy, ["bptt"], out=tmp_path, train=failing)
    assert records == [{"rule": "bptt", "seed": 0, "label": "bptt",
                        "error": "snnlearn: error: boom"}]
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


T_975 = {2: 4.302652729911275, 4: 2.7764451051977987}
"""Student-t 0.975 quantiles for 2 and 4 degrees of freedom (statistical tables)."""


def test_seed_statistics_match_the_closed_forms():
    values = [0.80, 0.84, 0.90]
    s = seed_statistics(values)
    mean = sum(values) / 3
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / 2)
    assert s["mean"] == pytest.approx(mean) and s["sd"] == pytest.approx(sd)
    half = T_975[2] * sd / math.sqrt(3)
    assert s["ci95"] == pytest.approx([mean - half, mean + half])
    five = seed_statistics([1.0, 2.0, 3.0, 4.0, 5.0])
    assert five["ci95"][1] - 3.0 == pytest.approx(T_975[4] * math.sqrt(2.5) / math.sqrt(5))
    assert seed_statistics([0.5]) == {"mean": 0.5, "sd": None, "ci95": None}


def test_several_seeds_and_train_options_reach_every_run(toy: str, tmp_path: Path):
    options = {"hidden": [6, 5], "lr": 0.05, "batch_size": 16, "lr_schedule": "constant",
               "rule_options": {"dfa.error": "output"}}
    records = compare(toy, ["bptt", "dfa"], out=tmp_path, seeds=[0, 1, 2], epochs=1,
                      options=options, train=_in_process)
    assert [(r["rule"], r["seed"], r["label"]) for r in records] == [
        (rule, s, f"{rule} s{s}") for rule in ("bptt", "dfa") for s in (0, 1, 2)]
    for rule in ("bptt", "dfa"):
        for s in (0, 1, 2):
            cfg = json.loads((tmp_path / f"{rule}-s{s}" / "config.json").read_text())
            assert (cfg["seed"], cfg["hidden"], cfg["lr"], cfg["batch_size"]) == (s, [6, 5],
                                                                                   0.05, 16)
            assert cfg["rule_options"] == ({"error": "output"} if rule == "dfa" else None)
    payload = json.loads((tmp_path / "comparison.json").read_text())
    assert payload["seeds"] == [0, 1, 2] and payload["rules_compared"] == ["bptt", "dfa"]
    fa = payload["rules"]["dfa"]
    assert fa["n"] == 3 and [s["seed"] for s in fa["seeds"]] == [0, 1, 2]
    accuracies = [json.loads((tmp_path / f"dfa-s{s}" / "summary.json").read_text())[
        "test_accuracy"] for s in (0, 1, 2)]
    assert [s["test_accuracy"] for s in fa["seeds"]] == accuracies
    expected = seed_statistics(accuracies)
    assert fa["mean"]["test_accuracy"] == pytest.approx(expected["mean"])
    assert fa["sd"]["test_accuracy"] == pytest.approx(expected["sd"])
    assert fa["ci95"]["test_accuracy"] == pytest.approx(expected["ci95"])
    for key in ("epoch_seconds", "peak_memory_mb", "spikes_per_sample", "synops_per_sample"):
        assert fa["mean"][key] is not None and fa["sd"][key] is not None
    bptt = [json.loads((tmp_path / f"bptt-s{s}" / "summary.json").read_text())[
        "test_accuracy"] for s in (0, 1, 2)]
    paired = seed_statistics([a - b for a, b in zip(accuracies, bptt, strict=True)])
    diff = fa["paired_difference"]
    assert (diff["reference"], diff["n"]) == ("bptt", 3)
    assert diff["mean"] == pytest.approx(paired["mean"])
    assert diff["sd"] == pytest.approx(paired["sd"]) and "paired_difference" not in payload[
        "rules"]["bptt"]
    md = (tmp_path / "comparison.md").read_text()
    assert "95 % interval" in md and "| dfa | 3 |" in md and "| dfa s2 |" in md
    assert "paired difference to bptt" in md


def test_rule_options_with_a_rule_prefix_go_to_that_rule_only():
    options = {"eprop.feedback": "random", "threshold": 2.0, "eprop": {"x": 1}}
    assert split_rule_options(["eprop", "error_triggered"], options) == {
        "eprop": {"feedback": "random", "threshold": 2.0, "x": 1},
        "error_triggered": {"threshold": 2.0}}
    with pytest.raises(ValueError, match="for rule 'fa', which is not compared"):
        split_rule_options(["bptt"], {"fa.feedback_scale": 1.0})


def test_invalid_options_fail_before_anything_trains(toy: str, tmp_path: Path):
    def must_not_train(cfg):
        raise AssertionError("trained despite a bad option")

    with pytest.raises(ValueError, match=r"no option 'feedback'.*write bptt\.KEY=VALUE"):
        compare(toy, ["eprop", "bptt"], out=tmp_path, train=must_not_train,
                options={"rule_options": {"feedback": "random"}})
    with pytest.raises(ValueError, match="lr must be"):
        compare(toy, ["bptt"], out=tmp_path, train=must_not_train, options={"lr": -1.0})
    with pytest.raises(ValueError, match="may not set seed"):
        compare(toy, ["bptt"], out=tmp_path, train=must_not_train, options={"seed": 1})
    with pytest.raises(ValueError, match="each seed may be listed once"):
        compare(toy, ["bptt"], out=tmp_path, seeds=[1, 1], train=must_not_train)


def test_a_folder_holding_another_config_is_refused(toy: str, tmp_path: Path):
    compare(toy, ["bptt"], out=tmp_path, epochs=1, train=_in_process)
    with pytest.raises(FileExistsError, match=r"another config \(lr: .* there, 0.5 asked\)"):
        compare(toy, ["bptt"], out=tmp_path, epochs=1, options={"lr": 0.5}, train=_in_process)


def test_to_toml_round_trips_every_config_field(tmp_path: Path):
    cfg = Config(task="yinyang", rule="eprop", epochs=3, seed=2, hidden=[7, 5], lr=0.01,
                 layers=[{"kind": "dense", "size": 9, "recurrent": True}],
                 rule_options={"feedback": "random"}, task_options={"n_train": 40, "dt": 1e-3},
                 out=str(tmp_path / "r"), grad_clip=1.5)
    path = tmp_path / "c.toml"
    path.write_text(to_toml(cfg.to_dict()))
    assert Config.from_toml(path) == cfg
    with pytest.raises(ValueError, match="cannot be written"):
        to_toml({"lr": math.inf})


def test_cli_compare_passes_every_train_option(toy: str, tmp_path: Path, monkeypatch, capsys):
    monkeypatch.setattr(compare_module, "run_in_subprocess", _in_process)
    config = tmp_path / "c.toml"
    config.write_text('rules = ["bptt", "eprop"]\nseeds = [4, 5]\nlr = 0.2\n'
                      '[rule_options.eprop]\nfeedback = "random"\n')
    out = tmp_path / "cmp"
    argv = ["compare", "--task", toy, "--config", str(config), "--epochs", "1", "--lr", "0.04",
            "--layers", "dense:5:rec", "--batch-size", "32", "--task-option", "nan_loss=false",
            "--grad-clip", "2.0", "--out", str(out)]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "eprop s5: test accuracy" in printed and "2 rules x 2 seeds" in printed
    cfg = json.loads((out / "eprop-s5" / "config.json").read_text())
    assert (cfg["lr"], cfg["batch_size"], cfg["grad_clip"], cfg["epochs"]) == (0.04, 32, 2.0, 1)
    assert cfg["layers"] == [{"kind": "dense", "size": 5, "recurrent": True}]
    assert cfg["rule_options"] == {"feedback": "random"} and cfg["task_options"] == {
        "nan_loss": False}
    assert json.loads((out / "bptt-s4" / "config.json").read_text())["rule_options"] is None
    assert main(["compare", "--task", toy, "--rules", "bptt", "--seeds", "0", "--seed", "1"]) == 2
    assert "not both" in capsys.readouterr().err
    assert main(["compare", "--task", toy, "--rules", "bptt", "--seeds", "a"]) == 2
    assert main(["compare", "--task", toy]) == 2
    assert "no rules given" in capsys.readouterr().err


def test_run_in_subprocess_writes_a_config_that_train_reads(tmp_path: Path):
    cfg = Config(task="yinyang", epochs=1, hidden=[4], lr=0.02, out=str(tmp_path / "r"),
                 task_options={"n_train": 16, "n_val": 8, "n_test": 8})
    compare_module.run_in_subprocess(cfg)
    assert Config.from_toml(tmp_path / "configs" / "r.toml") == cfg
    saved = json.loads((tmp_path / "r" / "config.json").read_text())
    assert (saved["hidden"], saved["lr"], saved["task_options"]["n_train"]) == ([4], 0.02, 16)
    assert json.loads((tmp_path / "r" / "summary.json").read_text())["epochs"] == 1
