"""``snnlearn compare``: train several learning rules on the same task and network, over seeds.

Each rule is trained once per seed in its own run folder (``OUT/<rule>`` when one seed is
compared, ``OUT/<rule>-s<seed>`` for several; a finished run is reused, an interrupted one
resumed, a folder holding a run of another config refused), by default in a fresh Python process
so that peak memory is measured per run. Every run of a rule gets the same config: the task, the
architecture and training options (any key of :class:`~snnlearn.experiments.Config`), and that
rule's options; seed ``s`` gives every rule the same initial weights and data order.

Rule options (``Config.rule_options``, ``--rule-option``) are shared or per rule: a key whose
first dotted part is a rule id belongs to that rule (``eprop.feedback = "random"``, or a TOML
table ``[rule_options.eprop]``), any other key is given to every rule, each of which must accept
it.

Files written into ``OUT``:

- ``comparison.json``::

    {"task": str, "rules_compared": [rule, ...], "seeds": [int, ...], "epochs": int | null,
     "options": {Config key: value},           # what every run shares (minus task/rule/seed)
     "rule_options": {rule: {option: value}},  # each rule's own options
     "runs": [record, ...],                    # one per (rule, seed), in training order
     "rules": {rule: {
         "n": int,                             # finished seeds
         "seeds": [{"seed": int, "run_dir": str, <metric>: float, ...}, ...],
         "errors": [{"seed": int, "error": str}, ...],
         "mean": {<metric>: float | null},
         "sd": {<metric>: float | null},       # sample standard deviation (n - 1); null if n < 2
         "ci95": {<metric>: [low, high] | null},  # mean +- t_{0.975, n-1} sd / sqrt(n)
         "paired_difference": {                # all rules but the first (the reference)
             "reference": rule, "metric": "test_accuracy", "n": int,
             "mean": float | null, "sd": float | null, "ci95": [low, high] | null},
     }}}

  The paired difference is this rule's test accuracy minus the reference rule's, seed by seed
  (a seed is the same initial network and data order for every rule), so that the spread that
  seeds share cancels.

  A run record is the run's ``summary.json`` plus ``rule``, ``seed``, ``label`` (the rule, or
  ``"<rule> s<seed>"`` with several seeds), ``run_dir``, ``epoch_seconds`` and its learning
  ``curve`` (``metrics.jsonl``), or ``{"rule", "seed", "label", "error"}`` for a failed run. The
  metrics (:data:`METRICS`) are ``test_accuracy``, ``final_test_accuracy``, ``val_accuracy``,
  ``epoch_seconds`` (``train_seconds / epochs``: training and validation time per epoch),
  ``train_seconds``, ``peak_memory_mb``, ``spikes_per_sample`` and ``synops_per_sample``.
- ``comparison.md``: per rule, mean +- sd and the 95 % interval of each metric over seeds, then
  one row per run.
- ``report.html``: the table and matplotlib figures, also written to ``figures/`` as PNG and PDF
  (validation accuracy and training loss per epoch, test accuracy per rule over its seeds,
  accuracy against spikes per sample).

:func:`compare_activity` sweeps the activity regulariser instead (``OUT/<rule>-reg<strength>``
per run) and adds ``tradeoff.md`` and ``tradeoff.png``/``.pdf``: test accuracy against spikes per
sample, the energy/performance trade-off, also drawn in the report.
"""

from __future__ import annotations

import json
import logging
import math
import re
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from snnlearn.experiments import registry
from snnlearn.experiments.checkpoint import CHECKPOINT_NAME
from snnlearn.experiments.config import Config
from snnlearn.experiments.runfiles import json_text, read_json, read_jsonl
from snnlearn.plot.report import comparison_markdown
from snnlearn.plot.tradeoff import tradeoff_markdown

logger = logging.getLogger(__name__)

__all__ = [
    "CompareSpec", "compare_spec", "merge_specs", "RunFn", "TrainFn", "METRICS", "compare",
    "run_in_subprocess", "train_in_subprocess", "load_run", "SweepTrainFn", "compare_activity",
    "seed_statistics", "split_rule_options", "statistics_markdown", "to_toml", "config_path",
]

METRICS: tuple[str, ...] = (
    "test_accuracy", "final_test_accuracy", "val_accuracy", "epoch_seconds", "train_seconds",
    "peak_memory_mb", "spikes_per_sample", "synops_per_sample",
)
"""Summary figures averaged over seeds in ``comparison.json`` (``rules[r]["mean"]`` ...)."""

RunFn = Callable[[Config], None]
"""``train(cfg)``: produce a finished run of ``cfg`` in the folder ``cfg.out``."""

TrainFn = Callable[[str, str, Path, "int | None", int, str], None]
"""``train(task, rule, run_dir, epochs, seed, device)``: produce a finished run in ``run_dir``."""


SweepTrainFn = Callable[[str, str, Path, "int | None", int, str, float], None]
"""``train(task, rule, run_dir, epochs, seed, device, activity_reg)``: one run of a sweep."""

def config_path(run_dir: Path) -> Path:
    """Where :func:`run_in_subprocess` writes the config of the run ``run_dir``:
    ``<parent>/configs/<name>.toml`` (a run folder holds only the run's own files)."""
    return run_dir.parent / "configs" / f"{run_dir.name}.toml"


def _toml_key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else json.dumps(key, ensure_ascii=False)


def _toml_value(value: Any, where: str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{where}: {value!r} cannot be written to a TOML config")
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v, where) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{_toml_key(str(k))} = {_toml_value(v, f'{where}.{k}')}"
                               for k, v in value.items() if v is not None) + "}"
    raise ValueError(f"{where}: {value!r} ({type(value).__name__}) cannot be written to a TOML "
                     "config; give a number, string, bool, list or table")


def to_toml(data: Mapping[str, Any]) -> str:
    """``data`` (a config's ``to_dict``) as TOML top-level keys; ``None`` values are left out.

    Example:
        >>> print(to_toml({"task": "yinyang", "hidden": [64, 32], "lr": None,
        ...                "rule_options": {"feedback": "random"}}))
        task = "yinyang"
        hidden = [64, 32]
        rule_options = {feedback = "random"}
    """
    return "\n".join(f"{_toml_key(k)} = {_toml_value(v, k)}" for k, v in data.items()
                     if v is not None)


def run_in_subprocess(cfg: Config) -> None:
    """Train (or resume) the run ``cfg`` with ``python -m snnlearn`` in a fresh process.

    The config goes to ``configs/<run>.toml`` next to the run folder ``<cfg.out>`` and
    ``snnlearn train --config`` reads it; a folder holding a checkpoint is resumed instead.

    Raises:
        RuntimeError: the run failed; the message is the process's last error line.
    """
    assert cfg.out is not None  # compare sets every run's folder
    run_dir = Path(cfg.out)
    if (run_dir / CHECKPOINT_NAME).exists():
        cmd = ["resume", str(run_dir), "--no-progress"]
    else:
        path = config_path(run_dir)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(to_toml(cfg.to_dict()) + "\n")
        cmd = ["train", "--config", str(path), "--no-progress"]
    _snnlearn(cmd)


def _snnlearn(cmd: list[str]) -> None:
    proc = subprocess.run([sys.executable, "-m", "snnlearn", *cmd], capture_output=True,
                          text=True, check=False)
    if proc.returncode != 0:
        lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
        raise RuntimeError(lines[-1] if lines else f"exit status {proc.returncode}")


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
    _snnlearn(cmd)


def load_run(run_dir: Path) -> dict[str, Any]:
    """A finished run's ``summary.json`` plus its learning curve from ``metrics.jsonl``."""
    summary = read_json(run_dir / "summary.json", what="run summary")
    curve = read_jsonl(run_dir / "metrics.jsonl")
    return {**summary, "run_dir": str(run_dir), "curve": curve}


def split_rule_options(rules: Sequence[str],
                       options: Mapping[str, Any] | None) -> dict[str, dict[str, Any]]:
    """Each compared rule's options from ``compare``'s rule options.

    A key whose first dotted part is a rule id (``"eprop.feedback"``) or a table under a rule id
    (``{"eprop": {"feedback": "random"}}``, TOML ``[rule_options.eprop]``) belongs to that rule;
    every other key goes to every rule. A rule's own key wins over a shared one.

    Raises:
        ValueError: an option for a rule that is not compared.

    Example:
        >>> split_rule_options(["bptt", "eprop"], {"eprop.feedback": "random"})
        {'bptt': {}, 'eprop': {'feedback': 'random'}}
    """
    shared: dict[str, Any] = {}
    own: dict[str, dict[str, Any]] = {rule: {} for rule in rules}
    for key, value in (options or {}).items():
        head, _, rest = key.partition(".")
        if head not in registry.RULES:
            shared[key] = value
            continue
        if head not in own:
            raise ValueError(f"rule option {key!r} is for rule {head!r}, which is not compared "
                             f"(rules: {', '.join(rules)}); add {head} to the rules or drop it")
        if rest:
            own[head][rest] = value
        elif isinstance(value, Mapping):
            own[head].update(value)
        else:
            raise ValueError(f"rule option {key!r} names a rule but no option; write "
                             f"{head}.<option>=VALUE (or a table [rule_options.{head}])")
    return {rule: {**shared, **own[rule]} for rule in rules}


def seed_statistics(values: Sequence[float]) -> dict[str, Any]:
    """Mean, sample standard deviation and 95 % t-interval of the mean of ``values``.

    ``sd`` uses ``n - 1``; ``ci95`` is ``mean -+ t_{0.975, n-1} sd / sqrt(n)`` (Student's t).
    With one value, ``sd`` and ``ci95`` are ``None``; with none, everything is.

    Example:
        >>> s = seed_statistics([0.9, 0.92, 0.94])
        >>> round(s["mean"], 4), round(s["sd"], 4), [round(v, 4) for v in s["ci95"]]
        (0.92, 0.02, [0.8703, 0.9697])
    """
    n = len(values)
    if n == 0:
        return {"mean": None, "sd": None, "ci95": None}
    mean = math.fsum(values) / n
    if n == 1:
        return {"mean": mean, "sd": None, "ci95": None}
    from scipy.stats import t as student_t

    sd = math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (n - 1))
    half = float(student_t.ppf(0.975, n - 1)) * sd / math.sqrt(n)
    return {"mean": mean, "sd": sd, "ci95": [mean - half, mean + half]}


def _rule_statistics(records: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    ok = [r for r in records if not r.get("error")]
    per_seed = [{"seed": r["seed"], "run_dir": r["run_dir"],
                 **{m: r[m] for m in METRICS if isinstance(r.get(m), (int, float))}} for r in ok]
    stats = {m: seed_statistics([s[m] for s in per_seed if m in s]) for m in METRICS}
    return {
        "n": len(ok), "seeds": per_seed,
        "errors": [{"seed": r["seed"], "error": r["error"]} for r in records if r.get("error")],
        "mean": {m: stats[m]["mean"] for m in METRICS},
        "sd": {m: stats[m]["sd"] for m in METRICS},
        "ci95": {m: stats[m]["ci95"] for m in METRICS},
    }


class CompareSpec(NamedTuple):
    """What one comparison trains: the task, the rules, the seeds, the folder and every option.

    Attributes:
        task: task id.
        rules: rule ids.
        seeds: seeds.
        out: the comparison folder, or ``None`` for the default.
        options: the other :class:`~snnlearn.experiments.Config` keys shared by every run.
    """

    task: str
    rules: list[str]
    seeds: list[int]
    out: str | None
    options: dict[str, Any]


_OPTION_TABLES = ("task_options", "rule_options")


def merge_specs(base: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` updated with the entries of ``overrides`` that are not ``None``.

    ``task_options`` and ``rule_options`` are merged key by key (an override wins), so that a
    command-line option adds to a preset's or a config file's table instead of replacing it.

    Example:
        >>> merge_specs({"task": "yinyang", "task_options": {"n_train": 100}},
        ...             {"epochs": 2, "lr": None, "task_options": {"dt": 1e-3}})
        {'task': 'yinyang', 'task_options': {'n_train': 100, 'dt': 0.001}, 'epochs': 2}
    """
    merged = dict(base)
    for key, value in overrides.items():
        if value is None:
            continue
        if key in _OPTION_TABLES and isinstance(value, Mapping):
            merged[key] = {**(merged.get(key) or {}), **value}
        else:
            merged[key] = value
    return merged


def compare_spec(spec: Mapping[str, Any]) -> CompareSpec:
    """Read a comparison from a table: ``task``, ``rules``, ``seeds`` (or ``seed``), ``out`` and
    any other :class:`~snnlearn.experiments.Config` keys (a preset, a TOML file, the CLI).

    Raises:
        ValueError: no task or rules, an unknown task, rule or seed list, a key that is not a
            config key.

    Example:
        >>> compare_spec({"task": "yinyang", "rules": "bptt,fa", "seeds": [0, 1], "lr": 0.01})
        CompareSpec(task='yinyang', rules=['bptt', 'fa'], seeds=[0, 1], out=None, \
options={'lr': 0.01})
    """
    rest = dict(spec)
    task = rest.pop("task", None)
    if task is None:
        raise ValueError("no task given; use --task <id>, --preset <name> or a --config file "
                         f"with task = \"<id>\" (valid tasks: {', '.join(sorted(registry.TASKS))})")
    registry.check_task_id(task)
    rules = rest.pop("rules", None)
    if isinstance(rules, str):
        rules = [part.strip() for part in rules.split(",") if part.strip()]
    if rules is None:
        raise ValueError("no rules given; use --rules bptt,eprop, --preset <name> or a --config "
                         "file with rules = [\"bptt\", \"eprop\"]")
    if not isinstance(rules, (list, tuple)) or not all(isinstance(r, str) for r in rules):
        raise ValueError(f"rules must be a list of rule ids, got {rules!r}")
    _check_rules(list(rules))
    seed = rest.pop("seed", None)
    seeds = rest.pop("seeds", None)
    if seeds is not None and seed is not None:
        raise ValueError(f"give seeds or seed, not both (seeds={seeds!r}, seed={seed!r})")
    seeds = _check_seeds(seeds if seeds is not None else [0 if seed is None else seed])
    out = rest.pop("out", None)
    valid = set(Config.keys()) - {"task", "rule", "seed", "out"}
    unknown = sorted(set(rest) - valid)
    if unknown:
        raise ValueError(f"unknown compare key(s) {', '.join(map(repr, unknown))}; valid keys: "
                         f"task, rules, seeds, out, {', '.join(sorted(valid))}")
    return CompareSpec(task, list(rules), seeds, None if out is None else str(out), rest)


def _add_paired_differences(stats: dict[str, dict[str, Any]], reference: str) -> None:
    """Give every rule but ``reference`` the statistics of its test accuracy minus the
    reference's, seed by seed (the same seed is the same initial network and data order)."""
    if reference not in stats:
        return
    ref = {s["seed"]: s.get("test_accuracy") for s in stats[reference]["seeds"]}
    for rule, s in stats.items():
        if rule == reference:
            continue
        diffs = [x["test_accuracy"] - ref[x["seed"]] for x in s["seeds"]
                 if ref.get(x["seed"]) is not None and x.get("test_accuracy") is not None]
        s["paired_difference"] = {"reference": reference, "metric": "test_accuracy",
                                  "n": len(diffs), **seed_statistics(diffs)}


def _check_seeds(seeds: Sequence[int]) -> list[int]:
    values = list(seeds)
    if not values or not all(isinstance(s, int) and not isinstance(s, bool) and 0 <= s < 2**32
                             for s in values):
        raise ValueError(f"seeds must be a non-empty list of ints in [0, 2**32), e.g. 0,1,2; got "
                         f"{values!r}")
    if len(set(values)) != len(values):
        raise ValueError(f"each seed may be listed once, got {values}")
    return values


def _check_rules(rules: Sequence[str]) -> None:
    if not rules:
        raise ValueError(f"no rules given; valid rules: {', '.join(sorted(registry.RULES))}")
    for rule in rules:
        registry.check_rule_id(rule)
    if len(set(rules)) != len(rules):
        raise ValueError(f"each rule may be listed once, got {', '.join(rules)}")


def _same_run(cfg: Config) -> None:
    """Refuse a run folder that holds a run of another config than ``cfg``.

    Keys ``cfg`` leaves to the task defaults (``None``) match whatever the run resolved them to.
    """
    from snnlearn.experiments.config import with_defaults

    path = Path(str(cfg.out)) / "config.json"
    if not path.exists():
        return
    saved = with_defaults(json.loads(path.read_text()))
    asked = json.loads(json.dumps(cfg.to_dict()))
    differ = [f"{k}: {saved.get(k)!r} there, {v!r} asked" for k, v in asked.items()
              if v is not None and k != "out" and saved.get(k) != v]
    if differ:
        raise FileExistsError(
            f"{str(path.parent)!r} holds a run of another config ({'; '.join(differ)}); choose "
            "another --out or remove that folder")


def compare(
    task: str, rules: Sequence[str], *, out: str | Path, seeds: Sequence[int] | None = None,
    seed: int = 0, epochs: int | None = None, device: str | None = None,
    options: Mapping[str, Any] | None = None, train: RunFn | None = None,
    on_rule: Callable[[dict[str, Any]], None] | None = None,
) -> list[dict[str, Any]]:
    """Train every rule of ``rules`` on ``task`` once per seed; write the comparison files.

    Args:
        task: task id.
        rules: rule ids (each at most once).
        out: folder of the comparison (run folders and files: see the module docstring).
        seeds: the seeds (each at most once); ``None`` means ``[seed]``.
        seed: the one seed when ``seeds`` is ``None``.
        epochs: epochs per run (``None``: ``options["epochs"]``, else the task default).
        device: ``"cpu"`` or ``"cuda"`` (``None``: ``options["device"]``, else ``"cpu"``).
        options: any other :class:`~snnlearn.experiments.Config` keys shared by every run
            (``hidden``, ``layers``, ``lr``, ``batch_size``, ``task_options``, ...);
            ``rule_options`` may be shared or per rule (see :func:`split_rule_options`).
        train: how one run is produced (``None``: :func:`run_in_subprocess`, a fresh
            ``python -m snnlearn`` process).
        on_rule: called with each run's record as soon as it is known.

    Returns:
        One record per (rule, seed), rules outer: the run's summary and curve (see the module
        docstring), or ``{"rule", "seed", "label", "error"}`` if it failed.

    Raises:
        ValueError: an unknown task or rule id, a rule or seed listed twice, or options that
            make an invalid config for some rule (checked before anything is trained).
        FileExistsError: a run folder holds a run of another config.
    """
    registry.check_task_id(task)
    _check_rules(rules)
    seeds = _check_seeds([seed] if seeds is None else seeds)
    base = dict(options or {})
    reserved = sorted({"task", "rule", "seed", "out"} & set(base))
    if reserved:
        raise ValueError(f"compare options may not set {', '.join(reserved)}: give the task, "
                         "rules, seeds and folder as compare's own arguments")
    rule_options = base.pop("rule_options", None) or {}
    shared = sorted(k for k in rule_options if k.partition(".")[0] not in registry.RULES)
    per_rule = split_rule_options(rules, rule_options)
    if epochs is not None:
        base["epochs"] = epochs
    if device is not None:
        base["device"] = device
    out = Path(out)
    plan: list[tuple[str, int, str, Config]] = []
    for rule in rules:
        for s in seeds:
            label = rule if len(seeds) == 1 else f"{rule} s{s}"
            run_dir = out / (rule if len(seeds) == 1 else f"{rule}-s{s}")
            try:
                cfg = Config.from_dict({**base, "task": task, "rule": rule, "seed": s,
                                        "out": str(run_dir),
                                        "rule_options": per_rule[rule] or None})
            except ValueError as err:
                hint = (f" (rule options without a rule prefix, here {', '.join(shared)}, go to "
                        f"every rule: write {rule}.KEY=VALUE for one rule)") if shared else ""
                raise ValueError(f"{err}{hint}") from None
            _same_run(cfg)
            plan.append((rule, s, label, cfg))
    out.mkdir(parents=True, exist_ok=True)
    records: list[dict[str, Any]] = []
    for rule, s, label, cfg in plan:
        run_dir = Path(str(cfg.out))
        try:
            if not (run_dir / "summary.json").exists():
                (run_in_subprocess if train is None else train)(cfg)
            record = {"rule": rule, **load_run(run_dir), "seed": s, "label": label}
            epochs_run = record.get("epochs") or 0
            record["epoch_seconds"] = (record["train_seconds"] / epochs_run if epochs_run
                                       else None)
        except (RuntimeError, OSError, ValueError) as err:
            record = {"rule": rule, "seed": s, "label": label,
                      "error": " ".join(str(err).split())}
        records.append(record)
        if on_rule is not None:
            on_rule(record)
        _write(out, task, rules, seeds, base, per_rule, records)
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


_STAT_COLUMNS: tuple[tuple[str, str, float, str], ...] = (
    ("test_accuracy", "test accuracy (%)", 100.0, "{:.1f}"),
    ("final_test_accuracy", "final-epoch test (%)", 100.0, "{:.1f}"),
    ("epoch_seconds", "time / epoch (s)", 1.0, "{:.2f}"),
    ("peak_memory_mb", "peak memory (MiB)", 1.0, "{:.0f}"),
    ("spikes_per_sample", "spikes / sample", 1.0, "{:.1f}"),
    ("synops_per_sample", "synaptic ops / sample", 1.0, "{:.0f}"),
)
"""Metrics of the over-seeds table: key, heading, scale, format."""


def _stat_cell(stats: Mapping[str, Any], key: str, scale: float, fmt: str) -> str:
    mean, sd = stats["mean"][key], stats["sd"][key]
    if mean is None:
        return "—"
    return fmt.format(scale * mean) + ("" if sd is None else " ± " + fmt.format(scale * sd))


def _paired_cell(stats: Mapping[str, Any]) -> str:
    diff = stats.get("paired_difference")
    if diff is None or diff["mean"] is None:
        return "—"
    text = f"{100 * diff['mean']:+.1f}"
    if diff["sd"] is not None:
        low, high = diff["ci95"]
        text += f" ± {100 * diff['sd']:.1f} [{100 * low:+.1f}, {100 * high:+.1f}]"
    return text


def statistics_markdown(task: str, seeds: Sequence[int],
                        stats: Mapping[str, Mapping[str, Any]]) -> str:
    """The over-seeds table: per rule, mean ± sd of each metric and the accuracy's 95 % interval.

    Example:
        >>> s = _rule_statistics([{"seed": 0, "run_dir": "r", "test_accuracy": 0.5},
        ...                       {"seed": 1, "run_dir": "r", "test_accuracy": 0.7}])
        >>> statistics_markdown("t", [0, 1], {"bptt": s}).splitlines()[-1]
        '| bptt | 2 | 60.0 ± 14.1 | [-67.1, 187.1] | — | — | — | — | — | — |'
    """
    reference = next(iter(stats), "")
    head = ("| rule | seeds | " + " | ".join(
        [_STAT_COLUMNS[0][1], "95 % interval", f"paired difference to {reference} (points)",
         *(c[1] for c in _STAT_COLUMNS[1:])]) + " |")
    rows = []
    for rule, s in stats.items():
        ci = s["ci95"]["test_accuracy"]
        interval = "—" if ci is None else f"[{100 * ci[0]:.1f}, {100 * ci[1]:.1f}]"
        cells = [_stat_cell(s, k, scale, fmt) for k, _, scale, fmt in _STAT_COLUMNS]
        rows.append(f"| {rule} | {s['n']} | {cells[0]} | {interval} | {_paired_cell(s)} | "
                    + " | ".join(cells[1:]) + " |")
        rows += [f"| {rule} s{e['seed']} | failed: {e['error']} |" for e in s["errors"]]
    seed_list = ", ".join(map(str, seeds))
    return "\n".join([
        f"# Comparison on `{task}`", "",
        f"Mean ± standard deviation over seeds {seed_list}; the interval is the 95 % Student-t "
        "interval of the mean test accuracy.", "",
        head, "|---" * (len(_STAT_COLUMNS) + 4) + "|", *rows,
    ])


def _write(out: Path, task: str, rules: Sequence[str], seeds: Sequence[int],
           options: Mapping[str, Any], per_rule: Mapping[str, Mapping[str, Any]],
           records: list[dict[str, Any]]) -> None:
    stats = {rule: _rule_statistics([r for r in records if r["rule"] == rule])
             for rule in rules if any(r["rule"] == rule for r in records)}
    _add_paired_differences(stats, rules[0])
    payload = {"task": task, "rules_compared": list(rules), "seeds": list(seeds),
               "epochs": options.get("epochs"), "options": dict(options),
               "rule_options": {r: dict(o) for r, o in per_rule.items()}, "runs": records,
               "rules": stats}
    (out / "comparison.json").write_text(json_text(payload, indent=2))
    runs_table = comparison_markdown(task, records).split("\n", 2)[2]
    (out / "comparison.md").write_text(
        statistics_markdown(task, seeds, stats) + "\n\n## Every run\n\n" + runs_table + "\n")
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
