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

from snnlearn.learning import LearningRule
from snnlearn.neurons import ALIFParams, HHParams, IzhikevichParams, LIFParams, LIParams
from snnlearn.tasks.base import Task

__all__ = [
    "TASKS", "RULES", "NEURONS", "HIDDEN_NEURONS", "TONIC_PREFIX", "FOLDER_PREFIX",
    "PY_PREFIX", "TaskFactory",
    "check_task_id", "check_rule_id", "check_neuron_id", "check_task_options", "make_task",
    "make_rule",
]

TaskFactory = Callable[..., Task]

TONIC_PREFIX = "tonic:"
FOLDER_PREFIX = "folder:"
"""``folder:<path>``: a folder of SHD-layout HDF5 files (:mod:`snnlearn.tasks.folder`)."""
PY_PREFIX = "py:"
"""``py:<module>:<Class>``: a torch Dataset by import path (:mod:`snnlearn.tasks.dataset`)."""
_USER_TASKS = {FOLDER_PREFIX: ("snnlearn.tasks.folder", "SpikeFolder"),
               PY_PREFIX: ("snnlearn.tasks.dataset", "UserDataset")}


class _Task:
    """A registry entry: a task class by module and name, built with keyword options."""

    def __init__(self, module: str, name: str, **fixed: Any) -> None:
        self.module, self.name, self.fixed = module, name, fixed

    def load(self) -> type:
        """The task's class."""
        import importlib

        return getattr(importlib.import_module(self.module), self.name)

    def __call__(self, **options: Any) -> Task:
        return self.load()(**self.fixed, **options)


TASKS: Mapping[str, TaskFactory] = MappingProxyType({
    "yinyang": _Task("snnlearn.tasks.yinyang", "YinYang"),
    "randman": _Task("snnlearn.tasks.randman", "Randman"),
    "digits": _Task("snnlearn.tasks.digits", "Digits"),
    "shd": _Task("snnlearn.tasks.shd", "SpikingSpeech", corpus="shd"),
    "ssc": _Task("snnlearn.tasks.shd", "SpikingSpeech", corpus="ssc"),
    "mnist": _Task("snnlearn.tasks.mnist", "MNIST"),
    "spike_pattern": _Task("snnlearn.tasks.spike_pattern", "SpikePattern"),
    "autoencoder": _Task("snnlearn.tasks.autoencoder", "AutoEncoder"),
    "evidence": _Task("snnlearn.tasks.evidence", "EvidenceAccumulation"),
})
"""Task id -> factory building the task with its default settings.

``shd``, ``ssc`` and ``mnist`` read their files from ``$SNNLEARN_DATA`` (default ``~/data``);
``tonic:<NAME>`` ids are handled by :func:`make_task` (see :mod:`snnlearn.tasks.tonic_task`).
"""


class _Rule:
    """A registry entry: the module and class name of a rule, imported only when needed.

    Calling it builds the rule with keyword options (the constructor's keyword arguments).
    """

    def __init__(self, module: str, name: str) -> None:
        self.module, self.name = module, name

    def load(self) -> type:
        """The rule's class."""
        import importlib

        return getattr(importlib.import_module(self.module), self.name)

    def __call__(self, **options: Any) -> LearningRule:
        return self.load()(**options)


def _error_triggered(*, inner: str = "bptt", threshold: float = 3.0) -> LearningRule:
    """Error-triggered updates (``inner``: the id of the wrapped per-batch rule)."""
    from snnlearn.learning.error_triggered import ErrorTriggered

    if inner == "error_triggered":
        raise ValueError("error_triggered cannot wrap itself; set inner to a per-batch rule "
                         "such as 'bptt' or 'superspike'")
    return ErrorTriggered(make_rule(inner), threshold=threshold)


RULES: Mapping[str, Callable[..., LearningRule]] = MappingProxyType({
    "bptt": _Rule("snnlearn.learning.bptt", "BPTT"),
    "stdp": _Rule("snnlearn.learning.stdp", "STDP"),
    "hebbian": _Rule("snnlearn.learning.hebbian", "Hebbian"),
    "eventprop": _Rule("snnlearn.learning.eventprop", "EventProp"),
    "conversion": _Rule("snnlearn.learning.conversion", "ANNConversion"),
    "evolution": _Rule("snnlearn.learning.evolution", "Evolution"),
    "fa": _Rule("snnlearn.learning.fa", "FeedbackAlignment"),
    "dfa": _Rule("snnlearn.learning.dfa", "DirectFeedbackAlignment"),
    "eprop": _Rule("snnlearn.learning.eprop", "EProp"),
    "superspike": _Rule("snnlearn.learning.superspike", "SuperSpike"),
    "decolle": _Rule("snnlearn.learning.decolle", "DECOLLE"),
    "meta_plasticity": _Rule("snnlearn.learning.meta_plasticity", "MetaPlasticity"),
    "rstdp": _Rule("snnlearn.learning.rstdp", "RSTDP"),
    "eqprop": _Rule("snnlearn.learning.eqprop", "EqProp"),
    "maml": _Rule("snnlearn.learning.maml", "MAML"),
    "darts": _Rule("snnlearn.learning.darts", "Darts"),
    "error_triggered": _error_triggered,
})
"""Learning-rule id -> the rule's class (imported when first used), built with keyword options."""


def rule_signature(rule_id: str) -> inspect.Signature:
    """The keyword options of rule ``rule_id``: its constructor's (or factory's) signature."""
    factory = RULES[check_rule_id(rule_id)]
    target = factory.load() if isinstance(factory, _Rule) else factory
    return inspect.signature(target)


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
    for prefix in _USER_TASKS:
        if isinstance(task_id, str) and task_id.startswith(prefix):
            if len(task_id) > len(prefix):
                return task_id
            raise ValueError(f"task {task_id!r} needs what follows {prefix!r}: "
                             f"{FOLDER_PREFIX}<folder> or {PY_PREFIX}<module>:<Class>")
    if isinstance(task_id, str) and task_id.startswith(TONIC_PREFIX):
        if task_id[len(TONIC_PREFIX):].isidentifier():
            return task_id
        raise ValueError(
            f"task {task_id!r}: a tonic task id is '{TONIC_PREFIX}<NAME>' with NAME a class of "
            f"tonic.datasets, e.g. '{TONIC_PREFIX}NMNIST'; other valid tasks: {_choices(tasks)}"
        )
    raise ValueError(
        f"unknown task {task_id!r}; valid tasks: {_choices(tasks)}, {TONIC_PREFIX}<NAME>, "
        f"{FOLDER_PREFIX}<folder>, {PY_PREFIX}<module>:<Class>"
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


def make_task(task_id: str, options: Mapping[str, Any] | None = None) -> Task:
    """Build the task ``task_id`` with keyword ``options`` (its constructor's arguments).

    ``folder:<path>`` builds :class:`~snnlearn.tasks.folder.SpikeFolder` on ``path`` and
    ``py:<module>:<Class>`` a :class:`~snnlearn.tasks.dataset.UserDataset` of that class.

    Raises:
        ValueError: an unknown or unsupported id or option (the message lists the valid ones).
        FileNotFoundError: a task that reads files (``shd``, ``ssc``, ``mnist``,
            ``tonic:<NAME>``) cannot find them (the message lists the paths looked at).
        ModuleNotFoundError: the task's optional dependency (h5py, tonic) is missing.
    """
    task_id = check_task_id(task_id)
    options = dict(options or {})
    user = _user_task(task_id)
    if user is not None:
        cls, rest = user
        return cls(rest, **_task_options(task_id, cls, options, skip=1))
    if task_id.startswith(TONIC_PREFIX) and task_id not in TASKS:
        from snnlearn.tasks.tonic_task import TonicTask

        return TonicTask(task_id[len(TONIC_PREFIX):], **_task_options(task_id, TonicTask,
                                                                    options, skip=1))
    factory = TASKS[task_id]
    if isinstance(factory, _Task):
        options = _task_options(task_id, factory.load(), options, skip=len(factory.fixed))
    return factory(**options)


def task_parameters(task_id: str) -> dict[str, inspect.Parameter]:
    """The options a task takes (its constructor's keyword arguments)."""
    factory = TASKS[check_task_id(task_id)] if task_id in TASKS else None
    if not isinstance(factory, _Task):
        return {}
    params = list(inspect.signature(factory.load()).parameters.values())
    return {p.name: p for p in params if p.name not in factory.fixed
            and p.kind in (inspect.Parameter.KEYWORD_ONLY,
                           inspect.Parameter.POSITIONAL_OR_KEYWORD)}


def check_task_options(task_id: str, options: Mapping[str, Any] | None) -> None:
    """Raise ``ValueError`` naming the valid options if ``options`` has a key that the task
    ``task_id`` does not take (registered tasks only; nothing is imported but the task's module).
    """
    factory = TASKS.get(task_id)
    user = _user_task(task_id)
    if options and user is not None:
        _task_options(task_id, user[0], dict(options), skip=1)
    if options and isinstance(factory, _Task):
        _task_options(task_id, factory.load(), dict(options), skip=len(factory.fixed))


def _user_task(task_id: str) -> tuple[type, str] | None:
    """The task class and its argument of a ``folder:`` or ``py:`` id, else ``None``."""
    import importlib

    for prefix, (module, name) in _USER_TASKS.items():
        if task_id.startswith(prefix) and task_id not in TASKS:
            return getattr(importlib.import_module(module), name), task_id[len(prefix):]
    return None


def _task_options(task_id: str, cls: type, options: dict[str, Any], *,
                  skip: int) -> dict[str, Any]:
    params = list(inspect.signature(cls).parameters.values())[skip:]
    names = {p.name: p for p in params if p.kind in (inspect.Parameter.KEYWORD_ONLY,
                                                     inspect.Parameter.POSITIONAL_OR_KEYWORD)}
    unknown = sorted(set(options) - set(names))
    if unknown:
        raise ValueError(f"task {task_id!r} has no option(s) {', '.join(map(repr, unknown))}; "
                         f"valid options: {', '.join(sorted(names)) or 'none'}")
    return {k: _coerce(names[k].default, v) for k, v in options.items()}


def make_rule(rule_id: str, options: Mapping[str, Any] | None = None) -> LearningRule:
    """Build the learning rule ``rule_id`` with keyword ``options`` (``Config.rule_options``).

    The valid options of a rule are its constructor's keyword arguments. A dotted key
    ``"stdp.tau_plus"`` sets a field of an option that is a parameter dataclass (the others
    keep their defaults); string values are converted to the option's type where it is a
    number or a bool.

    Raises:
        ValueError: an unknown id or option (the message lists the valid ones), or an invalid
            option value.

    Example:
        >>> make_rule("bptt").name
        'bptt'
        >>> make_rule("error_triggered", {"threshold": 5.0}).threshold
        5.0
        >>> make_rule("eprop", {"feedback": "random"}).options.feedback
        'random'
    """
    signature = rule_signature(rule_id)
    options = _nest(rule_id, dict(options or {}), signature, _hints(rule_id))
    return RULES[rule_id](**options)


def _hints(rule_id: str) -> dict[str, Any]:
    """The resolved type hints of the rule's constructor (``{}`` where they cannot be)."""
    import typing

    factory = RULES[rule_id]
    target = factory.load().__init__ if isinstance(factory, _Rule) else factory
    try:
        return typing.get_type_hints(target)
    except Exception:  # noqa: BLE001 - hints are a convenience for dotted options only
        return {}


def _nest(rule_id: str, options: dict[str, Any], signature: inspect.Signature,
          hints: Mapping[str, Any]) -> dict[str, Any]:
    """Check option names against ``signature``, build dotted dataclass options, coerce values."""
    import dataclasses
    import typing

    params = {p.name: p for p in signature.parameters.values()
              if p.kind in (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
              and p.name != "self"}
    valid = sorted(params)
    flat: dict[str, Any] = {}
    nested: dict[str, dict[str, Any]] = {}
    for key, value in options.items():
        head, _, rest = key.partition(".")
        if head not in params:
            raise ValueError(f"rule {rule_id!r} has no option {key!r}; valid options: "
                             f"{', '.join(valid) or 'none'}")
        if rest:
            nested.setdefault(head, {})[rest] = value
        else:
            flat[key] = _coerce(params[key].default, value)
    for head, fields in nested.items():
        base = flat.get(head, params[head].default)
        if base is None or base is inspect.Parameter.empty:  # e.g. `stdp: STDPParams | None`
            kinds = [t for t in typing.get_args(hints.get(head)) or (hints.get(head),)
                     if isinstance(t, type) and dataclasses.is_dataclass(t)]
            base = kinds[0]() if kinds else None
        if base is None:
            hint = params[head].annotation
            raise ValueError(f"rule {rule_id!r}: option {head!r} ({hint}) has no default to set "
                             f"{sorted(fields)} on; give the whole value")
        if not dataclasses.is_dataclass(base):
            raise ValueError(f"rule {rule_id!r}: option {head!r} is not a parameter table, so "
                             f"{head}.{next(iter(fields))} cannot be set")
        names = {f.name: f for f in dataclasses.fields(base)}
        unknown = sorted(set(fields) - set(names))
        if unknown:
            raise ValueError(f"rule {rule_id!r}: {head!r} has no field(s) {unknown}; valid "
                             f"fields: {', '.join(sorted(names))}")
        try:
            flat[head] = dataclasses.replace(base, **{
                k: _coerce(getattr(base, k), v) for k, v in fields.items()})
        except TypeError as err:
            raise ValueError(f"rule {rule_id!r}: option {head!r}: {err}") from None
    return flat


def _coerce(default: Any, value: Any) -> Any:
    """``value`` as the type of ``default`` where that is a number or a bool given as text."""
    if not isinstance(value, str) or default is inspect.Parameter.empty:
        return value
    if isinstance(default, bool):
        if value.lower() in ("true", "false"):
            return value.lower() == "true"
        return value
    if isinstance(default, int):
        try:
            return int(value)
        except ValueError:
            return value
    if isinstance(default, float):
        try:
            return float(value)
        except ValueError:
            return value
    return value
