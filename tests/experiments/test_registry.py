from __future__ import annotations

import pytest

from snnlearn.experiments import registry
from snnlearn.learning import BPTT, LearningRule
from snnlearn.neurons import ALIFParams, HHParams, IzhikevichParams, LIFParams, LIParams

RULE_IDS = ("bptt", "conversion", "darts", "decolle", "dfa", "eprop", "eqprop", "error_triggered",
            "eventprop", "evolution", "fa", "hebbian", "maml", "meta_plasticity", "rstdp", "stdp",
            "superspike")
"""Every rule id of the design, each with its own file in ``learning/``."""


def test_registries_are_explicit_and_read_only() -> None:
    assert set(registry.TASKS) == {"yinyang", "randman", "digits", "shd", "ssc", "mnist",
                                   "spike_pattern", "autoencoder", "evidence"}
    assert set(registry.RULES) == set(RULE_IDS)
    assert dict(registry.NEURONS) == {"lif": LIFParams, "alif": ALIFParams, "li": LIParams,
                                      "izhikevich": IzhikevichParams, "hh": HHParams}
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
    match = (r"unknown task 'foo'; valid tasks: autoencoder, digits, evidence, mnist, randman, "
             r"shd, spike_pattern, ssc, yinyang, tonic:")
    with pytest.raises(ValueError, match=match):
        registry.make_task("foo")


def test_tonic_ids_are_accepted_by_form_without_importing_tonic() -> None:
    assert registry.check_task_id("tonic:NMNIST") == "tonic:NMNIST"
    for bad in ("tonic:", "tonic:N-MNIST", "tonic:a b"):
        with pytest.raises(ValueError, match=r"tonic:<NAME>.*e\.g\. 'tonic:NMNIST'"):
            registry.check_task_id(bad)


def test_make_task_tonic_without_tonic_or_data_says_why(
        monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:  # noqa: ANN001
    monkeypatch.setenv("SNNLEARN_DATA", str(tmp_path))
    try:
        import tonic  # noqa: F401
    except ModuleNotFoundError:
        with pytest.raises(ModuleNotFoundError, match="pip install tonic"):
            registry.make_task("tonic:NMNIST")
    else:
        with pytest.raises(FileNotFoundError, match="NMNIST is not on disk"):
            registry.make_task("tonic:NMNIST")


@pytest.mark.parametrize("task_id", ["shd", "ssc", "mnist"])
def test_file_tasks_name_the_missing_files(
        task_id: str, monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:  # noqa: ANN001
    monkeypatch.setenv("SNNLEARN_DATA", str(tmp_path))
    with pytest.raises(FileNotFoundError, match=str(tmp_path)):
        registry.make_task(task_id)


def test_neuron_ids() -> None:
    assert registry.check_neuron_id("alif") == "alif"
    with pytest.raises(ValueError, match="does not spike"):
        registry.check_neuron_id("li")
    with pytest.raises(ValueError, match="valid neurons: alif, lif"):
        registry.check_neuron_id("quadratic")
    with pytest.raises(ValueError, match="physical units .* valid hidden neurons here: alif, lif"):
        registry.check_neuron_id("hh")


def test_make_task_builds_injected_task(toy: str) -> None:
    task = registry.make_task(toy)
    assert task.name == "toy" and task.n_in == 4


def _cli_values(rule_id: str) -> list[str]:
    """``KEY=VALUE`` strings setting every constructor argument of ``rule_id`` to its default
    (a parameter table field by field, with dotted keys), as a user would type them."""
    import dataclasses
    import inspect
    import typing

    signature = registry.rule_signature(rule_id)
    hints = registry._hints(rule_id)  # noqa: SLF001
    out = []
    for p in signature.parameters.values():
        if p.name == "self" or p.kind not in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD):
            continue
        default = p.default
        if default is None:
            kinds = [t for t in typing.get_args(hints.get(p.name)) if dataclasses.is_dataclass(t)]
            default = kinds[0]() if kinds else None
        if dataclasses.is_dataclass(default):
            for f in dataclasses.fields(default):
                value = getattr(default, f.name)
                if isinstance(value, (bool, int, float, str)):
                    text = str(value).lower() if isinstance(value, bool) else value
                    out.append(f"{p.name}.{f.name}={text}")
        elif isinstance(default, bool):
            out.append(f"{p.name}={str(default).lower()}")
        elif isinstance(default, (int, float, str)):
            out.append(f"{p.name}={default}")
        else:
            assert default is inspect.Parameter.empty or default is None, (rule_id, p.name)
    return out


@pytest.mark.parametrize("rule_id", sorted(registry.RULES))
def test_every_constructor_argument_is_settable_from_the_cli(rule_id):
    from snnlearn.experiments.cli import _rule_option

    values = _cli_values(rule_id)
    for text in values:
        key, value = _rule_option(text)
        from snnlearn.experiments.config import Config

        Config(task="yinyang", rule=rule_id, rule_options={key: value})  # make_rule accepts it
    with pytest.raises(ValueError, match=f"rule '{rule_id}' has no option 'bogus'"):
        registry.make_rule(rule_id, {"bogus": 1})
