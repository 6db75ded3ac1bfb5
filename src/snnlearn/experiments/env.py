"""``env.json``: the software and hardware a run used, so that a result can be reproduced."""

from __future__ import annotations

import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy
import torch

import snnlearn

__all__ = ["collect_env", "git_sha", "peak_memory_mb"]


def git_sha(folder: str | Path | None = None) -> str | None:
    """The commit of the git checkout holding ``folder`` (default: snnlearn's source), or ``None``.

    A missing ``git``, a folder outside a repository (an installed wheel) or any other failure
    gives ``None``; a checkout with uncommitted changes gets the suffix ``-dirty``.
    """
    cwd = Path(folder) if folder is not None else Path(snnlearn.__file__).resolve().parent
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=10,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], cwd=cwd,
            capture_output=True, text=True, timeout=10, check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    if not sha:
        return None
    return f"{sha}-dirty" if dirty else sha


def peak_memory_mb(device: str) -> float:
    """Peak memory of this run in MiB.

    On ``"cuda"`` the peak allocated by torch on the current device; otherwise the process's
    peak resident set size (``getrusage``: KiB on Linux, bytes on macOS), or 0.0 where the
    platform offers no measurement (Windows).
    """
    if device == "cuda" and torch.cuda.is_available():
        return torch.cuda.max_memory_allocated() / 2**20
    try:
        import resource
    except ImportError:  # Windows
        return 0.0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10


def collect_env(device: str) -> dict[str, Any]:
    """Versions of snnlearn, torch, numpy and Python, the platform, the device and the git SHA."""
    env: dict[str, Any] = {
        "snnlearn": snnlearn.__version__,
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "device": device,
        "cpu_threads": torch.get_num_threads(),
        "git_sha": git_sha(),
    }
    if device == "cuda" and torch.cuda.is_available():
        env["cuda"] = torch.version.cuda
        env["gpu"] = torch.cuda.get_device_name()
    return env


EXACTNESS_KEYS = ("snnlearn", "git_sha", "torch", "numpy", "python", "platform", "machine",
                  "device", "cpu_threads", "cuda", "gpu")
"""The ``env.json`` entries that a bitwise-identical resume needs unchanged."""


def record_session(path: Path, env: dict[str, Any], *, epoch: int) -> list[str]:
    """Append ``env`` (resumed after ``epoch``) to the ``resumes`` history of ``env.json``.

    ``env.json`` keeps the environment the run started in at its top level and one entry per
    resume under ``"resumes"``. An unreadable or missing file is started afresh with ``env``.

    Returns:
        ``"key: old -> new"`` for each :data:`EXACTNESS_KEYS` entry in which ``env`` differs from
        an earlier session of the run (empty when a bitwise-identical result is possible).
    """
    from snnlearn.experiments.runfiles import (
        RunFileError,
        json_text,
        read_json,
        write_text_atomically,
    )

    try:
        history = read_json(path, what="environment file")
    except RunFileError:
        history = {}
    resumes = history.get("resumes")
    resumes = [r for r in resumes if isinstance(r, dict)] if isinstance(resumes, list) else []
    earlier = ([{k: v for k, v in history.items() if k != "resumes"}] if history else []) + resumes
    changed = []
    for key in EXACTNESS_KEYS:
        olds = {json_text(s.get(key)) for s in earlier} - {json_text(env.get(key))}
        if olds:
            changed.append(f"{key}: {', '.join(sorted(olds))} -> {json_text(env.get(key))}")
    base = {k: v for k, v in history.items() if k != "resumes"} or dict(env)
    entry = {**env, "resumed_after_epoch": epoch}
    write_text_atomically(path, json_text({**base, "resumes": [*resumes, entry]}, indent=2) + "\n")
    return changed
