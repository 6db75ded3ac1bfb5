from __future__ import annotations

import pytest

from snnlearn.experiments import registry
from snnlearn.learning import BPTT, LearningRule
from snnlearn.neurons import ALIFParams, LIFParams, LIParams

RULE_IDS = ("bptt", "decolle", "dfa", "eprop", "eventprop", "fa", "superspike")


def test_registries_are_explicit_and_read_only() -> None:
    assert set(registry.TASKS) == {"yinyang", "randman", "digits"}
    assert set(registry.RULES) == set(RULE_IDS)
    assert dict(registry.NEURONS) == {"lif": LIFParams, "alif": ALIFParams, "li": LIParams}
    with pytest.raises(TypeError):
        registry.TASKS["new"] = lambda: None  # type: ignore[index]


@pytest.mark.parametrize("rule_id", RULE_IDS)
def test_every_rule_builds_with_its_id(rule_id: str) -> None:
    rule = registry.make_rule(rule_id)
    assert isinstance(rule, LearningRule) and rule.name == rule_id


def test_make_rule() -> None:
    assert isinstance(registry.make_rule("bptt"), BPTT)
    with pytest.raises(ValueError, match=r"unknown rule 'sgd'; valid rules: bptt, "):
        registry.make_rule("sgd")


def test_make_task_unknown_lists_choices() -> None:
    match = r"unknown task 'foo'; valid tasks: digits, randman, yinyang"
    with pytest.raises(ValueError, match=match):
        registry.make_task("foo")


def test_tonic_prefix_is_recognised_but_unsupported() -> None:
    with pytest.raises(ValueError, match=r"tonic.*not supported.*valid tasks: digits"):
        registry.make_task("tonic:NMNIST")


def test_neuron_ids() -> None:
    assert registry.check_neuron_id("alif") == "alif"
    with pytest.raises(ValueError, match="does not spike"):
        registry.check_neuron_id("li")
    with pytest.raises(ValueError, match="valid neurons: alif, lif"):
        registry.check_neuron_id("hh")


def test_make_task_builds_injected_task(toy: str) -> None:
    task = registry.make_task(toy)
    assert task.name == "toy" and task.n_in == 4
