"""Explicit registries of the ids the CLI and :class:`~snnlearn.experiments.Config` accept.

Every registry is a read-only mapping written out by hand: nothing registers itself on import, so
the list of ids is this file. Task factories import their module only when called, so a task whose
optional dependency is missing cannot break ``snnlearn list`` or any other task.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

from snnlearn.learning import BPTT, LearningRule
from snnlearn.neurons import ALIFParams, HHParams, IzhikevichParams, LIFParams, LIParams
from snnlearn.tasks.base import Task

__all__ = [
    "TASKS", "RULES", "NEURONS", "HIDDEN_NEURONS", "TONIC_PREFIX", "TaskFactory",
    "check_task_id", "check_rule_id", "check_neuron_id", "make_task", "make_rule",
]

TaskFactory = Callable[[], Task]

TONIC_PREFIX = "tonic:"


def _yinyang() -> Task:
    from snnlearn.tasks.yinyang import YinYang

    return YinYang()


def _randman() -> Task:
    from snnlearn.tasks.randman import Randman

    return Randman()


def _digits() -> Task:
    from snnlearn.tasks.digits import Digits

    return Digits()


def _shd() -> Task:
    from snnlearn.tasks.shd import SpikingSpeech

    return SpikingSpeech("shd")


def _ssc() -> Task:
    from snnlearn.tasks.shd import SpikingSpeech

    return SpikingSpeech("ssc")


def _mnist() -> Task:
    from snnlearn.tasks.mnist import MNIST

    return MNIST()


TASKS: Mapping[str, TaskFactory] = MappingProxyType({
    "yinyang": _yinyang,
    "randman": _randman,
    "digits": _digits,
    "shd": _shd,
    "ssc": _ssc,
    "mnist": _mnist,
})
"""Task id -> factory building the task with its default settings.

``shd``, ``ssc`` and ``mnist`` read their files from ``$SNNLEARN_DATA`` (default ``~/data``);
``tonic:<NAME>`` ids are handled by :func:`make_task` (see :mod:`snnlearn.tasks.tonic_task`).
"""


def _superspike() -> LearningRule:
    from snnlearn.learning.superspike import SuperSpike

    return SuperSpike()


def _decolle() -> LearningRule:
    from snnlearn.learning.decolle import DECOLLE

    return DECOLLE()


def _eprop() -> LearningRule:
    from snnlearn.learning.eprop import EProp

    return EProp()


def _fa() -> LearningRule:
    from snnlearn.learning.fa import FeedbackAlignment

    return FeedbackAlignment()


def _dfa() -> LearningRule:
    from snnlearn.learning.dfa import DirectFeedbackAlignment

    return DirectFeedbackAlignment()


def _eventprop() -> LearningRule:
    from snnlearn.learning.eventprop import EventProp

    return EventProp()


def _conversion() -> LearningRule:
    from snnlearn.learning.conversion import ANNConversion

    return ANNConversion()


def _evolution() -> LearningRule:
    from snnlearn.learning.evolution import Evolution

    return Evolution()


def _stdp() -> LearningRule:
    from snnlearn.learning.stdp import STDP

    return STDP()


def _hebbian() -> LearningRule:
    from snnlearn.learning.hebbian import Hebbian

    return Hebbian()


def _meta_plasticity() -> LearningRule:
    from snnlearn.learning.meta_plasticity import MetaPlasticity

    return MetaPlasticity()


def _rstdp(**options: Any) -> LearningRule:
    from snnlearn.learning.rstdp import RSTDP

    return RSTDP(**_checked_options("rstdp", RSTDP, options))


def _error_triggered(*, inner: str = "bptt", threshold: float = 3.0) -> LearningRule:
    from snnlearn.learning.error_triggered import ErrorTriggered

    if inner == "error_triggered":
        raise ValueError("error_triggered cannot wrap itself; set inner to a per-batch rule "
                         "such as 'bptt' or 'superspike'")
    return ErrorTriggered(make_rule(inner), threshold=threshold)


RULES: Mapping[str, Callable[[], LearningRule]] = MappingProxyType({
    "bptt": BPTT,
    "stdp": _stdp,
    "hebbian": _hebbian,
    "eventprop": _eventprop,
    "conversion": _conversion,
    "evolution": _evolution,
    "fa": _fa,
    "dfa": _dfa,
    "eprop": _eprop,
    "superspike": _superspike,
    "decolle": _decolle,
    "meta_plasticity": _meta_plasticity,
    "rstdp": _rstdp,
    "error_triggered": _error_triggered,
})
"""Learning-rule id -> rule class (constructed with no arguments)."""

NEURONS: Mapping[str, type] = MappingProxyType({
    "lif": LIFParams,
    "alif": ALIFParams,
    "li": LIParams,
    "izhikevich": IzhikevichParams,
    "hh": HHParams,
})
"""Neuron-model id -> parameter class."""

HIDDEN_NEURONS: tuple[str, ...] = ("alif", "lif")
"""Neuron ids that can fill a hidden (spiking) layer; ``li`` does not spike."""


def _choices(ids: object) -> str:
    return ", ".join(sorted(ids))  # type: ignore[arg-type]


def check_task_id(task_id: object) -> str:
    """Return ``task_id`` if it names a known task, else raise ``ValueError`` listing the ids.

    ``tonic:<NAME>`` names a data set read through tonic; only its form is checked here (``NAME``
    a Python identifier), so that tonic need not be installed or imported: :func:`make_task`
    checks that tonic has such a data set.
    """
    tasks = TASKS
    if isinstance(task_id, str) and task_id in tasks:
        return task_id
    if isinstance(task_id, str) and task_id.startswith(TONIC_PREFIX):
        if task_id[len(TONIC_PREFIX):].isidentifier():
            return task_id
        raise ValueError(
            f"task {task_id!r}: a tonic task id is '{TONIC_PREFIX}<NAME>' with NAME a class of "
            f"tonic.datasets, e.g. '{TONIC_PREFIX}NMNIST'; other valid tasks: {_choices(tasks)}"
        )
    raise ValueError(
        f"unknown task {task_id!r}; valid tasks: {_choices(tasks)}, {TONIC_PREFIX}<NAME>"
    )


def check_rule_id(rule_id: object) -> str:
    """Return ``rule_id`` if it names a known learning rule, else raise ``ValueError``."""
    if isinstance(rule_id, str) and rule_id in RULES:
        return rule_id
    raise ValueError(f"unknown rule {rule_id!r}; valid rules: {_choices(RULES)}")


def check_neuron_id(neuron_id: object) -> str:
    """Return ``neuron_id`` if it can be a hidden-layer neuron, else raise ``ValueError``."""
    if isinstance(neuron_id, str) and neuron_id in HIDDEN_NEURONS:
        return neuron_id
    if neuron_id == "li":
        raise ValueError(
            f"neuron {neuron_id!r} does not spike and cannot fill a hidden layer; "
            f"valid hidden neurons: {_choices(HIDDEN_NEURONS)}"
        )
    if neuron_id in NEURONS:
        raise ValueError(
            f"neuron {neuron_id!r} takes inputs in physical units (mV, uA/cm^2) that the task "
            "defaults are not scaled for; use it from Python (snnlearn.neurons, SpikingLayer); "
            f"valid hidden neurons here: {_choices(HIDDEN_NEURONS)}"
        )
    raise ValueError(f"unknown neuron {neuron_id!r}; valid neurons: {_choices(HIDDEN_NEURONS)}")


def make_task(task_id: str) -> Task:
    """Build the task ``task_id`` with its default settings.

    Raises:
        ValueError: an unknown or unsupported id (the message lists the valid ones).
        FileNotFoundError: a task that reads files (``shd``, ``ssc``, ``mnist``,
            ``tonic:<NAME>``) cannot find them (the message lists the paths looked at).
        ModuleNotFoundError: the task's optional dependency (h5py, tonic) is missing.
    """
    task_id = check_task_id(task_id)
    if task_id.startswith(TONIC_PREFIX) and task_id not in TASKS:
        from snnlearn.tasks.tonic_task import TonicTask

        return TonicTask(task_id[len(TONIC_PREFIX):])
    return TASKS[task_id]()


def make_rule(rule_id: str, options: Mapping[str, Any] | None = None) -> LearningRule:
    """Build the learning rule ``rule_id`` with keyword ``options`` (``Config.rule_options``).

    The valid options of a rule are the keyword-only parameters of its ``RULES`` factory.

    Raises:
        ValueError: an unknown id or option (the message lists the valid ones), or an invalid
            option value.

    Example:
        >>> make_rule("bptt").name
        'bptt'
        >>> make_rule("error_triggered", {"threshold": 5.0}).threshold
        5.0
    """
    factory = RULES[check_rule_id(rule_id)]
    options = dict(options or {})
    params = inspect.signature(factory).parameters.values()
    if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):  # else: it checks
        _checked_options(rule_id, factory, options)
    return factory(**options)


def _checked_options(rule_id: str, target: Callable[..., Any],
                     options: Mapping[str, Any]) -> Mapping[str, Any]:
    """``options`` if each names a keyword-only parameter of ``target``, else ``ValueError``."""
    params = inspect.signature(target).parameters.values()
    valid = sorted(p.name for p in params if p.kind is inspect.Parameter.KEYWORD_ONLY)
    unknown = sorted(set(options) - set(valid))
    if unknown:
        raise ValueError(f"rule {rule_id!r} has no option(s) {', '.join(map(repr, unknown))}; "
                         f"valid options: {', '.join(valid) or 'none'}")
    return options
