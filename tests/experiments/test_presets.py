"""``snnlearn compare --preset NAME``: every preset is a valid comparison; options override it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from snnlearn.experiments import compare as compare_module
from snnlearn.experiments.cli import main
from snnlearn.experiments.compare import compare_spec, split_rule_options
from snnlearn.experiments.config import Config
from snnlearn.experiments.presets import PRESETS, preset
from snnlearn.experiments.runner import run


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_is_a_valid_comparison_of_three_seeds(name: str) -> None:
    plan = compare_spec(preset(name))
    assert len(plan.seeds) >= 3 and len(plan.rules) >= 2
    options = dict(plan.options)
    per_rule = split_rule_options(plan.rules, options.pop("rule_options", None))
    for rule in plan.rules:  # every run's config is valid (ids, options, architecture)
        Config.from_dict({**options, "task": plan.task, "rule": rule, "seed": 0,
                          "rule_options": per_rule[rule] or None})
    assert PRESETS[name]["description"] and "description" not in preset(name)


def test_the_presets_of_the_literature() -> None:
    assert preset("deep-yinyang")["hidden"] == [64, 64, 64]
    assert {"bptt", "fa", "dfa", "decolle"} <= set(preset("deep-yinyang")["rules"])
    assert preset("yinyang-ttfs")["hidden"] == [30]
    shd = preset("shd-eventprop")
    assert (shd["task"], shd["hidden"], shd["recurrent"]) == ("shd", [256], True)
    assert "eventprop" in shd["rules"] and shd["rule_options"] == {"eventprop.mode": "grid"}
    assert preset("randman-long")["task_options"]["n_steps"] == 1000
    with pytest.raises(ValueError, match="unknown preset 'nope'; valid presets: deep-yinyang"):
        preset("nope")


def test_cli_options_override_the_preset(tmp_path: Path, monkeypatch, capsys) -> None:  # noqa: ANN001
    monkeypatch.setattr(compare_module, "run_in_subprocess", run)
    out = tmp_path / "cmp"
    argv = ["compare", "--preset", "deep-yinyang", "--rules", "bptt", "--seeds", "0", "--epochs",
            "1", "--task-option", "n_train=16", "--task-option", "n_val=8", "--task-option",
            "n_test=8", "--out", str(out)]
    assert main(argv) == 0, capsys.readouterr().err
    cfg = json.loads((out / "bptt" / "config.json").read_text())
    assert (cfg["task"], cfg["hidden"], cfg["epochs"]) == ("yinyang", [64, 64, 64], 1)
    assert cfg["task_options"] == {"n_train": 16, "n_val": 8, "n_test": 8}
    assert main(["compare", "--preset", "nope"]) == 2
    assert "valid presets" in capsys.readouterr().err
