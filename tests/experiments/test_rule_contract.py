"""One contract over every registered rule: it trains a tiny net, resumes bit-exactly, refuses
what its support matrix refuses, and the saved run is the model that was scored."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from types import MappingProxyType

import pytest
import torch

from snnlearn.experiments import registry
from snnlearn.experiments.config import Config
from snnlearn.experiments.runner import evaluate, load_network, resume, run
from snnlearn.layers import build_network
from snnlearn.learning.base import check_support
from snnlearn.neurons import ALIFParams, LIFParams, LIParams

from .conftest import ToyTask

RULES = sorted(registry.RULES)
# rules whose tiny run needs other than the toy task's defaults
OVERRIDES: dict[str, dict] = {
    "meta_plasticity": {"task": "digits", "hidden": [16]},
    "conversion": {"task": "digits", "hidden": [16]},
    "stdp": {"task": "digits", "hidden": [16]},
    "hebbian": {"task": "digits", "hidden": [16]},
    "maml": {"rule_options": {"n_way": 2, "n_query": 2, "inner_steps": 1, "meta_batch": 2,
                              "episodes_per_epoch": 4, "n_eval_episodes": 4}},
    "darts": {"rule_options": {"search_epochs": 1}},  # one epoch of search, one of retraining
}


def _toy_with_synapses() -> ToyTask:
    task = ToyTask()
    task.defaults = dataclasses.replace(task.defaults, neuron=LIFParams(tau_syn=5e-3),
                                        readout=LIParams(tau_syn=5e-3), gain=2.0)
    return task


@pytest.fixture
def toy_syn(toy, monkeypatch: pytest.MonkeyPatch) -> str:
    """The toy task with current synapses (EventProp needs them) under the id ``toy_syn``."""
    tasks = {**registry.TASKS, "toy_syn": _toy_with_synapses}
    monkeypatch.setattr(registry, "TASKS", MappingProxyType(tasks))
    return "toy_syn"


def _config(rule: str, out: Path, **extra) -> Config:
    base = {"task": "toy_syn", "rule": rule, "epochs": 2, "out": str(out)}
    base.update(OVERRIDES.get(rule, {}))
    base.update(extra)
    return Config(**base)


@pytest.mark.parametrize("rule", RULES)
def test_every_rule_trains_resumes_exactly_and_saves_what_it_scored(rule, toy_syn, tmp_path):
    full = run(_config(rule, tmp_path / "full"))

    def stop(record: dict) -> None:
        if record["epoch"] == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run(_config(rule, tmp_path / "cut"), on_epoch=stop)
    resumed = resume(tmp_path / "cut")
    a, b = full.network.state_dict(), resumed.network.state_dict()
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a), rule
    for key in ("test_accuracy", "final_test_accuracy", "val_accuracy", "best_epoch"):
        assert full.summary[key] == resumed.summary[key], (rule, key)
    # the saved model is the scored one: reloading it and scoring it again gives the summary
    net, cfg = load_network(tmp_path / "full")
    task = registry.make_task(cfg.task)
    rule_obj = registry.make_rule(cfg.rule, cfg.rule_options)
    rule_obj.prepare(net, generator=torch.Generator().manual_seed(0))
    again = evaluate(net, task, task.split("test"), seed=cfg.seed, simulate=rule_obj.simulate,
                     rule=rule_obj)
    assert again.accuracy == pytest.approx(full.summary["test_accuracy"], abs=1e-12), rule


@pytest.mark.parametrize("rule", RULES)
def test_every_rule_refuses_what_its_matrix_refuses(rule):
    support = registry.make_rule(rule).supports
    probes = []
    if not support.recurrent:
        probes.append(build_network(4, [6], 2, dt=1e-3, recurrent=True))
    if "alif" not in support.neurons:
        probes.append(build_network(4, [6], 2, dt=1e-3, neuron=ALIFParams()))
    if "conv2d" not in support.synapses:
        probes.append(build_network(16, [], 2, dt=1e-3, in_shape=(1, 4, 4),
                                    layers=[{"kind": "conv2d", "channels": 2, "kernel": 3}]))
    if not support.dale:
        probes.append(build_network(4, [6], 2, dt=1e-3, dale=0.8))
    for net in probes:
        with pytest.raises(ValueError, match=f"rule '{rule}' cannot train"):
            check_support(rule, support, net)
    # and what it supports passes the check
    check_support(rule, support, build_network(4, [6], 2, dt=1e-3))
