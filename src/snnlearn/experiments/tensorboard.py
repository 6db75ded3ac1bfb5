"""Optional TensorBoard logging of a run's metrics, besides ``metrics.jsonl``.

``Config(tensorboard=True)`` (``snnlearn train --tensorboard``) writes the numeric fields of
every epoch's metrics record, and at the end the test figures of ``summary.json``, as scalars to
``RUN_DIR/tensorboard`` (view with ``tensorboard --logdir RUN_DIR``). It needs the
``tensorboard`` package, which snnlearn does not depend on.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["TENSORBOARD_DIR", "check_tensorboard", "TensorBoardLog"]

TENSORBOARD_DIR = "tensorboard"
"""Subfolder of the run folder that holds the event files."""


def check_tensorboard() -> None:
    """Raise ``ModuleNotFoundError`` naming the package unless TensorBoard logging can work.

    Raises:
        ModuleNotFoundError: the ``tensorboard`` package is not installed.
    """
    try:
        from torch.utils.tensorboard import SummaryWriter  # noqa: F401
    except ImportError as err:
        raise ModuleNotFoundError(
            "tensorboard=true (--tensorboard) needs the 'tensorboard' package, which is not "
            "installed: pip install tensorboard, or train without --tensorboard "
            "(metrics.jsonl is always written)"
        ) from err


def _scalars(record: Mapping[str, Any]) -> dict[str, float]:
    return {k: float(v) for k, v in record.items()
            if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)}


class TensorBoardLog:
    """Writes metrics records as TensorBoard scalars under ``run_dir/tensorboard``.

    Args:
        run_dir: the run folder.

    Raises:
        ModuleNotFoundError: the ``tensorboard`` package is not installed.
    """

    def __init__(self, run_dir: str | Path) -> None:
        check_tensorboard()
        from torch.utils.tensorboard import SummaryWriter

        self._writer = SummaryWriter(log_dir=str(Path(run_dir) / TENSORBOARD_DIR))

    def epoch(self, record: Mapping[str, Any]) -> None:
        """Log one epoch's record (its numeric, finite fields) at step ``record["epoch"]``."""
        step = int(record["epoch"])
        for key, value in _scalars(record).items():
            if key != "epoch":
                self._writer.add_scalar(f"epoch/{key}", value, step)
        self._writer.flush()

    def summary(self, summary: Mapping[str, Any]) -> None:
        """Log the final figures of ``summary.json`` at step ``summary["epochs"]``, then close."""
        step = int(summary.get("epochs") or 0)
        for key, value in _scalars(summary).items():
            if key not in ("epochs", "seed"):
                self._writer.add_scalar(f"summary/{key}", value, step)
        self._writer.close()
