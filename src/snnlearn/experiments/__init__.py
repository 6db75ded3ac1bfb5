"""Experiments: configs, registries, the runner, checkpoints and the CLI (the only I/O)."""

from snnlearn.experiments.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from snnlearn.experiments.config import Config
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
