"""Experiments: configs, registries, the runner, checkpoints and the CLI (the only I/O)."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from snnlearn.experiments.config import Config

if TYPE_CHECKING:
    from snnlearn.experiments.checkpoint import (
        CheckpointError,
        load_checkpoint,
        save_checkpoint,
    )
    from snnlearn.experiments.registry import NEURONS, RULES, TASKS, make_rule, make_task
    from snnlearn.experiments.runner import (
        DeviceUnavailableError,
        Evaluation,
        Result,
        TrainingError,
        evaluate,
        resume,
        run,
    )

__all__ = [
    "Config", "Result", "Evaluation", "run", "resume", "evaluate",
    "TrainingError", "DeviceUnavailableError", "CheckpointError", "save_checkpoint",
    "load_checkpoint", "TASKS", "RULES", "NEURONS", "make_task", "make_rule",
]

_LAZY = {**dict.fromkeys(("CheckpointError", "load_checkpoint", "save_checkpoint"),
                         "snnlearn.experiments.checkpoint"),
         **dict.fromkeys(("NEURONS", "RULES", "TASKS", "make_rule", "make_task"),
                         "snnlearn.experiments.registry"),
         **dict.fromkeys(("DeviceUnavailableError", "Evaluation", "Result", "TrainingError",
                          "evaluate", "resume", "run"), "snnlearn.experiments.runner")}
"""Public name -> its module, imported on first use (PEP 562), so that the CLI's ``--help``
does not import torch."""


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'snnlearn.experiments' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
