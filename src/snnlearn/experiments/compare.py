"""``snnlearn compare``: train several learning rules on the same task, network and seed.

Each rule is trained in its own run folder ``OUT/<rule>`` (a finished run is reused, an
interrupted one resumed), by default in a fresh Python process so that peak memory is measured
per rule. The results are gathered into ``comparison.json``, ``comparison.md`` and a
self-contained ``report.html`` (the table and matplotlib figures, also written to ``figures/`` as
PNG and PDF: validation accuracy and training loss per epoch, test accuracy per rule, accuracy
against spikes per sample).

:func:`compare_activity` sweeps the activity regulariser instead (``OUT/<rule>-reg<strength>``
per run) and adds ``tradeoff.md`` and ``tradeoff.png``/``.pdf``: test accuracy against spikes per
sample, the energy/performance trade-off, also drawn in the report.
"""

from __future__ import annotations

import logging
import math
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from snnlearn.experiments import registry
from snnlearn.experiments.checkpoint import CHECKPOINT_NAME
from snnlearn.experiments.runfiles import json_text, read_json, read_jsonl
from snnlearn.plot.report import comparison_markdown
from snnlearn.plot.tradeoff import tradeoff_markdown

logger = logging.getLogger(__name__)

__all__ = ["TrainFn", "compare", "train_in_subprocess", "load_run", "SweepTrainFn",
           "compare_activity"]

TrainFn = Callable[[str, str, Path, "int | None", int, str], None]
"""``train(task, rule, run_dir, epochs, seed, device)``: produce a finished run in ``run_dir``."""


SweepTrainFn = Callable[[str, str, Path, "int | None", int, str, float], None]
"""``train(task, rule, run_dir, epochs, seed, device, activity_reg)``: one run of a sweep."""


def train_in_subprocess(
    task: str, rule: str, run_dir: Path, epochs: int | None, seed: int, device: str,
    activity_reg: float = 0.0,
) -> None:
    """Train (or resume) one rule with ``python -m snnlearn`` in a fresh process.

    ``activity_reg`` is the activity-regulariser strength of the run (0: none).

    Raises:
        RuntimeError: the run failed; the message is the process's last error line.
    """
    if (run_dir / CHECKPOINT_NAME).exists():
        cmd = ["resume", str(run_dir), "--no-progress"]
    else:
        cmd = ["train", "--task", task, "--rule", rule, "--seed", str(seed), "--device", device,
               "--out", str(run_dir), "--no-progress"]
        if epochs is not None:
            cmd += ["--epochs", str(epochs)]
        if activity_reg:
            cmd += ["--activity-reg", repr(float(activity_reg))]
    proc = subprocess.run([sys.executable, "-m", "snnlearn", *cmd], capture_output=True,
                          text=True, check=False)
    if proc.returncode != 0:
        lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
        raise RuntimeError(lines[-1] if lines else f"exit status {proc.returncode}")


def load_run(run_dir: Path) -> dict[str, Any]:
    """A finished run's ``summary.json`` plus its learning curve from ``metrics.jsonl``."""
    summary = read_json(run_dir / "summary.json", what="run summary")
    curve = read_jsonl(run_dir / "metrics.jsonl")
    return {**summary, "run_dir": str(run_dir), "curve": curve}


def compare(
    task: str, rules: Sequence[str], *, out: str | Path, epochs: int | None = None,
    seed: int = 0, device: str = "cpu", train: TrainFn = train_in_subprocess,
    on_rule: Callable[[dict[str, Any]], None] | None = None,
) -> list[dict[str, Any]]:
    """Train every rule of ``rules`` on ``task`` and write the comparison files into ``out``.

    Args:
        task: task id.
        rules: rule ids (each at most once).
        out: folder of the comparison; each rule's run goes to ``out/<rule>``.
        epochs: epochs per run (``None``: the task default).
        seed: the seed of every run (same initial weights and data order for all rules).
        device: ``"cpu"`` or ``"cuda"``.
        train: how one run is produced (default: a fresh ``python -m snnlearn`` process).
        on_rule: called with each rule's record as soon as it is known.

    Returns:
        One record per rule: the run's summary and curve, or ``{"rule", "error"}`` if it failed.

    Raises:
        ValueError: an unknown task or rule id, or a rule listed twice.
    """
    registry.check_task_id(task)
    if not rules:
        raise ValueError(f"no rules given; valid rules: {', '.join(sorted(registry.RULES))}")
    for rule in rules:
        registry.check_rule_id(rule)
    if len(set(rules)) != len(rules):
        raise ValueError(f"each rule may be listed once, got {', '.join(rules)}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    records: list[dict[str, Any]] = []
    for rule in rules:
        run_dir = out / rule
        try:
            if not (run_dir / "summary.json").exists():
                train(task, rule, run_dir, epochs, seed, device)
            record = {"rule": rule, **load_run(run_dir)}
        except (RuntimeError, OSError, ValueError) as err:
            record = {"rule": rule, "error": " ".join(str(err).split())}
        records.append(record)
        if on_rule is not None:
            on_rule(record)
        _write(out, task, seed, epochs, records)
    _embed_plots(out)
    return records


def _embed_plots(out: Path) -> None:
    """Add each run's raster and membrane traces to ``report.html`` (``snnlearn plot`` pages).

    Plotting needs each run's checkpoint and matplotlib; without them the report keeps its
    table (and its figures, with matplotlib), with a warning.
    """
    from snnlearn.experiments.plots import plot_comparison

    try:
        plot_comparison(out)
    except (OSError, ValueError, RuntimeError, KeyError, ImportError) as err:
        logger.warning("report.html without rasters: %s", " ".join(str(err).split()))


def _write(out: Path, task: str, seed: int, epochs: int | None,
           records: list[dict[str, Any]]) -> None:
    payload = {"task": task, "seed": seed, "epochs": epochs, "runs": records}
    (out / "comparison.json").write_text(json_text(payload, indent=2))
    (out / "comparison.md").write_text(comparison_markdown(task, records) + "\n")
    from snnlearn.experiments.plots import write_report

    write_report(out, task, records)


def compare_activity(
    task: str, rules: Sequence[str], strengths: Sequence[float], *, out: str | Path,
    epochs: int | None = None, seed: int = 0, device: str = "cpu",
    train: SweepTrainFn = train_in_subprocess,
    on_rule: Callable[[dict[str, Any]], None] | None = None,
) -> list[dict[str, Any]]:
    """Train every rule at every activity-regulariser strength; write the trade-off files.

    Writes what :func:`compare` writes (one table row and chart point per run, labelled
    ``<rule> reg=<strength>``) plus ``tradeoff.md`` (activity_reg, test accuracy, spikes and
    synaptic operations per sample) and ``tradeoff.png``/``.pdf`` (test accuracy against spikes
    per sample, one marker per run), which the report also shows.

    Args:
        task: task id.
        rules: rule ids (each at most once).
        strengths: ``activity_reg`` values (each finite, >= 0, at most once).
        out: folder of the sweep; each run goes to ``out/<rule>-reg<strength>``.
        epochs: epochs per run (``None``: the task default).
        seed: the seed of every run (same initial weights and data order).
        device: ``"cpu"`` or ``"cuda"``.
        train: how one run is produced (default: a fresh ``python -m snnlearn`` process).
        on_rule: called with each run's record as soon as it is known.

    Returns:
        One record per run: ``rule``, ``activity_reg`` and the run's summary and curve, or
        ``{"rule", "activity_reg", "error"}`` if it failed.

    Raises:
        ValueError: an unknown task or rule id, a rule or strength listed twice, or an empty,
            negative or non-finite strength.
    """
    registry.check_task_id(task)
    if not rules:
        raise ValueError(f"no rules given; valid rules: {', '.join(sorted(registry.RULES))}")
    for rule in rules:
        registry.check_rule_id(rule)
    if len(set(rules)) != len(rules):
        raise ValueError(f"each rule may be listed once, got {', '.join(rules)}")
    values = [float(v) for v in strengths]
    if not values or not all(math.isfinite(v) and v >= 0 for v in values):
        raise ValueError(f"activity_reg strengths must be finite numbers >= 0 (e.g. "
                         f"0,1e-3,1e-2), got {list(strengths)!r}")
    if len(set(values)) != len(values):
        raise ValueError(f"each activity_reg strength may be listed once, got {values}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    records: list[dict[str, Any]] = []
    for rule in rules:
        for reg in values:
            run_dir = out / f"{rule}-reg{reg:g}"
            try:
                if not (run_dir / "summary.json").exists():
                    train(task, rule, run_dir, epochs, seed, device, reg)
                record = {"rule": rule, **load_run(run_dir), "activity_reg": reg}
            except (RuntimeError, OSError, ValueError) as err:
                record = {"rule": rule, "activity_reg": reg, "error": " ".join(str(err).split())}
            records.append(record)
            if on_rule is not None:
                on_rule(record)
            _write_sweep(out, task, seed, epochs, records)
    return records


def _write_sweep(out: Path, task: str, seed: int, epochs: int | None,
                 records: list[dict[str, Any]]) -> None:
    labelled = [{**r, "rule": f"{r['rule']} reg={r['activity_reg']:g}"} for r in records]
    payload = {"task": task, "seed": seed, "epochs": epochs, "runs": records}
    (out / "comparison.json").write_text(json_text(payload, indent=2))
    (out / "comparison.md").write_text(comparison_markdown(task, labelled) + "\n")
    (out / "tradeoff.md").write_text(tradeoff_markdown(task, records) + "\n")
    from snnlearn.experiments.plots import write_report

    write_report(out, task, labelled, tradeoff=records)
