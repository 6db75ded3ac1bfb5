"""Explicit registries of the ids the CLI and :class:`~snnlearn.experiments.Config` accept.

Every registry is a read-only mapping written out by hand: nothing registers itself on import, so
the list of ids is this file. Task factories import their module only when called, so a task whose
optional dependency is missing cannot break ``snnlearn list`` or any other task.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType

from snnlearn.learning import BPTT, LearningRule
from snnlearn.neurons import ALIFParams, LIFParams, LIParams
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


TASKS: Mapping[str, TaskFactory] = MappingProxyType({
    "yinyang": _yinyang,
    "randman": _randman,
    "digits": _digits,
})
"""Task id -> factory building the task with its default settings."""


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


RULES: Mapping[str, Callable[[], LearningRule]] = MappingProxyType({
    "bptt": BPTT,
    "eventprop": _eventprop,
    "fa": _fa,
    "dfa": _dfa,
    "eprop": _eprop,
    "superspike": _superspike,
    "decolle": _decolle,
})
"""Learning-rule id -> rule class (constructed with no arguments)."""

NEURONS: Mapping[str, type] = MappingProxyType({
    "lif": LIFParams,
    "alif": ALIFParams,
    "li": LIParams,
})
"""Neuron-model id -> parameter class."""

HIDDEN_NEURONS: tuple[str, ...] = ("alif", "lif")
"""Neuron ids that can fill a hidden (spiking) layer; ``li`` does not spike."""


def _choices(ids: object) -> str:
    return ", ".join(sorted(ids))  # type: ignore[arg-type]


def check_task_id(task_id: object) -> str:
    """Return ``task_id`` if it names a known task, else raise ``ValueError`` listing the ids.

    ``tonic:<NAME>`` ids are reserved for datasets read through tonic; they are recognised but not
    available in this version, and say so.
    """
    tasks = TASKS
    if isinstance(task_id, str) and task_id in tasks:
        return task_id
    if isinstance(task_id, str) and task_id.startswith(TONIC_PREFIX):
        raise ValueError(
            f"task {task_id!r}: tonic datasets ('{TONIC_PREFIX}<NAME>') are not supported in this "
            f"version; valid tasks: {_choices(tasks)}"
        )
    raise ValueError(f"unknown task {task_id!r}; valid tasks: {_choices(tasks)}")


def check_rule_id(rule_id: object) -> str:
    """Return ``rule_id`` if it names a known learning rule, else raise ``ValueError``."""
    if isinstance(rule_id, str) and rule_id in RULES:
        return rule_id
    raise ValueError(f"unknown rule {rule_id!r}; valid rules: {_choices(RULES)}")


def check_neuron_id(neuron_id: object) -> str:
    """Return ``neuron_id`` if it can be a hidden-layer neuron, else raise ``ValueError``."""
    if isinstance(neuron_id, str) and neuron_id in HIDDEN_NEURONS:
        return neuron_id
    if neuron_id in NEURONS:
        raise ValueError(
            f"neuron {neuron_id!r} does not spike and cannot fill a hidden layer; "
            f"valid hidden neurons: {_choices(HIDDEN_NEURONS)}"
        )
    raise ValueError(f"unknown neuron {neuron_id!r}; valid neurons: {_choices(HIDDEN_NEURONS)}")


def make_task(task_id: str) -> Task:
    """Build the task ``task_id`` with its default settings.

    Raises:
        ValueError: an unknown or unsupported id (the message lists the valid ones).
    """
    return TASKS[check_task_id(task_id)]()


def make_rule(rule_id: str) -> LearningRule:
    """Build the learning rule ``rule_id``.

    Raises:
        ValueError: an unknown id (the message lists the valid ones).

    Example:
        >>> make_rule("bptt").name
        'bptt'
    """
    return RULES[check_rule_id(rule_id)]()
