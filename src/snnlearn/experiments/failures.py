"""How the command line reports a failure: one line for a known error, a log for a bug.

A *known* error is one snnlearn raises on purpose or one the system raises about a file or a
resource: ``ValueError`` (every bad value, file or checkpoint, :class:`CheckpointError` and
:class:`~snnlearn.experiments.runfiles.RunFileError` included), ``OSError`` (a folder that is
not writable, a full disk, a read-only file system), ``ImportError`` (an optional package),
:class:`~snnlearn.experiments.runner.TrainingError`,
:class:`~snnlearn.experiments.lock.RunLockedError` and running out of memory. Each becomes one
line on stderr. Anything else is a bug: one line that says so, with the path of a log file
holding the traceback.
"""

from __future__ import annotations

import os
import tempfile
import time
import traceback
from pathlib import Path

import torch

from snnlearn.experiments.lock import RunLockedError
from snnlearn.experiments.preflight import MemoryBudgetError

__all__ = ["KNOWN_ERRORS", "USAGE_ERRORS", "describe", "write_crash_log"]

KNOWN_ERRORS: tuple[type[BaseException], ...] = (
    ValueError, OSError, ImportError, RunLockedError, MemoryError, torch.OutOfMemoryError,
)
"""Errors reported as one line (exit status 1, or 2 for :data:`USAGE_ERRORS`)."""

USAGE_ERRORS: tuple[type[BaseException], ...] = (MemoryBudgetError,)
"""Known errors that are a bad command line or config (exit status 2)."""


def describe(err: BaseException) -> str:
    """The one-line message of a known error."""
    if isinstance(err, (MemoryError, torch.OutOfMemoryError)):
        first = str(err).strip().splitlines()[0] if str(err).strip() else ""
        return (f"out of memory{': ' + first if first else ''}; lower --batch-size or --hidden "
                "(the run can be resumed with `snnlearn resume`)")
    if isinstance(err, OSError) and not str(err).startswith("["):
        return str(err)
    if isinstance(err, OSError):
        where = f" {str(err.filename)!r}" if err.filename else ""
        return f"{err.strerror or type(err).__name__}{where}"
    return str(err) or type(err).__name__


def write_crash_log(err: BaseException, argv: list[str]) -> Path | None:
    """Write the traceback of ``err`` to a new log file and return its path (``None`` if none
    could be written)."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    text = (f"snnlearn {' '.join(argv)}\n{time.strftime('%Y-%m-%dT%H:%M:%S%z')}\n\n"
            + "".join(traceback.format_exception(type(err), err, err.__traceback__)))
    try:
        fd, name = tempfile.mkstemp(prefix=f"snnlearn-crash-{stamp}-", suffix=".log")
        with os.fdopen(fd, "w") as f:
            f.write(text)
    except OSError:
        return None
    return Path(name)
