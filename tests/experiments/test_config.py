from __future__ import annotations

import json
from pathlib import Path

import pytest

from snnlearn.experiments import Config


def test_defaults_and_normalisation() -> None:
    cfg = Config(task="yinyang", hidden=[16, 8])
    assert cfg.rule == "bptt" and cfg.epochs is None and cfg.seed == 0 and cfg.device == "cpu"
    assert cfg.hidden == (16, 8)


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"task": "foo"},
     r"unknown task 'foo'; valid tasks: autoencoder, digits, evidence, mnist, randman, shd, "
     r"spike_pattern, ssc, yinyang"),
    ({"task": "yinyang", "rule": "sgd"}, r"unknown rule 'sgd'; valid rules: bptt"),
    ({"task": "yinyang", "neuron": "qif"}, r"unknown neuron 'qif'"),
    ({"task": "yinyang", "device": "tpu"}, r"unknown device 'tpu'; valid devices: cpu, cuda"),
    ({"task": "yinyang", "epochs": 0}, r"epochs must be an int >= 1, got 0"),
    ({"task": "yinyang", "epochs": True}, r"epochs must be an int >= 1"),
    ({"task": "yinyang", "batch_size": 2.5}, r"batch_size"),
    ({"task": "yinyang", "lr": -1.0}, r"lr must be a finite number > 0"),
    ({"task": "yinyang", "lr": float("nan")}, r"lr must be a finite number > 0"),
    ({"task": "yinyang", "seed": -1}, r"seed must be an int"),
    ({"task": "yinyang", "hidden": []}, r"hidden must be a non-empty list"),
    ({"task": "yinyang", "hidden": "128"}, r"hidden must be a list"),
    ({"task": "yinyang", "activity_reg": -0.1}, r"activity_reg must be"),
    ({"task": "yinyang", "grad_clip": 0}, r"grad_clip must be"),
    ({"task": "yinyang", "eval_every": 0}, r"eval_every must be"),
    ({"task": "yinyang", "recurrent": 1}, r"recurrent must be true or false"),
])
def test_invalid_values_raise(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        Config(**kwargs)


def test_dict_round_trip_is_json_safe() -> None:
    cfg = Config(task="digits", epochs=3, hidden=(32,), lr=1e-3, neuron="alif", grad_clip=1.0)
    d = json.loads(json.dumps(cfg.to_dict()))
    assert Config.from_dict(d) == cfg
    assert set(d) == set(Config.keys())


def test_from_dict_unknown_keys_are_named() -> None:
    match = r"unknown config key\(s\) 'epoch', 'lr_'.*valid keys: task"
    with pytest.raises(ValueError, match=match):
        Config.from_dict({"task": "yinyang", "epoch": 3, "lr_": 1.0})
    with pytest.raises(ValueError, match="no 'task'"):
        Config.from_dict({"epochs": 3})


def test_toml_round_trip_and_overrides(tmp_path: Path) -> None:
    path = tmp_path / "run.toml"
    path.write_text('task = "randman"\nepochs = 5\nhidden = [64, 32]\nlr = 0.002\nseed = 3\n')
    cfg = Config.from_toml(path)
    assert cfg == Config(task="randman", epochs=5, hidden=(64, 32), lr=0.002, seed=3)
    merged = Config.from_toml(path, {"epochs": 2, "seed": None, "task": "digits"})
    assert (merged.task, merged.epochs, merged.seed) == ("digits", 2, 3)
    assert cfg.merged({"lr": 0.1, "hidden": None}) == Config(
        task="randman", epochs=5, hidden=(64, 32), lr=0.1, seed=3)


def test_toml_errors_name_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("task = \n")
    with pytest.raises(ValueError, match=r"bad.toml.*not valid TOML"):
        Config.from_toml(bad)
    with pytest.raises(ValueError, match=r"missing.toml.*does not exist"):
        Config.from_toml(tmp_path / "missing.toml")
    unknown = tmp_path / "unknown.toml"
    unknown.write_text('task = "yinyang"\nepocs = 3\n')
    with pytest.raises(ValueError, match=r"unknown config key\(s\) 'epocs'"):
        Config.from_toml(unknown)


def test_config_is_frozen() -> None:
    cfg = Config(task="yinyang")
    with pytest.raises(AttributeError):
        cfg.epochs = 3  # type: ignore[misc]
