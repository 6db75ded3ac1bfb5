"""``snnlearn``: the command line (``python -m snnlearn`` is the same).

Exit status: 0 on success; 1 when a run cannot start or go on (an existing or corrupt run
folder, a non-finite loss); 2 for a bad command line (unknown subcommand, option, id or value),
always with one line on stderr that names the problem and the valid choices; 130 after Ctrl-C,
with the command that continues the run.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

# torch is imported by the commands that need it, not here: `--help` and `--version` stay fast
from snnlearn.experiments.config import DEVICES, Config, read_toml

if TYPE_CHECKING:
    from snnlearn.experiments.compare import CompareSpec
    from snnlearn.experiments.runner import Result

__all__ = ["main", "build_parser"]

PROG = "snnlearn"


class UsageError(Exception):
    """A bad command line: reported as one line on stderr with exit status 2."""


class _Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors are one line and never exit by themselves."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


def _hidden(text: str) -> list[int]:
    try:
        sizes = [int(part) for part in text.split(",")]
    except ValueError:
        sizes = []
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError(
            f"invalid layer sizes {text!r}; expected positive ints separated by commas, e.g. 128,64"
        )
    return sizes


def _rule_option(text: str) -> tuple[str, Any]:
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(
            f"invalid rule option {text!r}; expected KEY=VALUE, e.g. threshold=10"
        )
    try:
        return key.strip(), json.loads(value)
    except ValueError:
        return key.strip(), value


BENCH_WORKLOADS = ("steps", "open-neuromorphic", "rules")
COMMANDS = ("train", "resume", "compare", "evaluate", "list", "export", "plot", "bench")


def _rules(text: str) -> list[str]:
    rules = [part.strip() for part in text.split(",") if part.strip()]
    if not rules:
        raise argparse.ArgumentTypeError(f"invalid rule list {text!r}; expected e.g. bptt,eprop")
    return rules


def _strengths(text: str) -> list[float]:
    try:
        values = [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        values = []
    if not values or not all(math.isfinite(v) and v >= 0 for v in values):
        raise argparse.ArgumentTypeError(
            f"invalid strengths {text!r}; expected numbers >= 0 separated by commas, e.g. "
            "0,1e-3,1e-2"
        )
    return values


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    # No abbreviations: `--epoch 3` must be an error, not a silent `--epochs 3`.
    parser = _Parser(prog=PROG, allow_abbrev=False, description="Learning in spiking neural "
                     "networks: train, resume and evaluate runs of learning rules on tasks.")
    from snnlearn import __version__

    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="{" + ",".join(COMMANDS) + "}",
                                parser_class=_Parser)

    def add(name: str, **kwargs: Any) -> argparse.ArgumentParser:
        return sub.add_parser(name, allow_abbrev=False, **kwargs)

    train = add("train", help="train a network; writes a run folder")
    train.add_argument("--task", help="task id (see `snnlearn list`)")
    train.add_argument("--rule", help="learning rule id (default bptt)")
    train.add_argument("--epochs", type=int, help="training epochs (default: the task's)")
    train.add_argument("--seed", type=int, help="the run's seed (default 0)")
    train.add_argument("--device", help=f"one of {', '.join(DEVICES)} (default cpu)")
    train.add_argument("--out", help="run folder (default runs/<task>-<rule>-s<seed>)")
    train.add_argument("--config", type=Path, help="TOML file of config keys; options win")
    train.add_argument("--activity-reg", type=float, help="activity regulariser strength")
    train.add_argument("--distributed", action="store_true", default=None,
                       help="data-parallel over the processes that torchrun starts "
                            "(see docs/distributed.md)")
    _add_run_options(train)
    train.add_argument("--no-progress", action="store_true", help="one plain line per epoch "
                       "instead of progress bars (the default without a terminal)")
    res = add("resume", help="continue an interrupted run to the same result")
    res.add_argument("dir", type=Path, help="the run folder")
    res.add_argument("--no-progress", action="store_true", help="one plain line per epoch "
                     "instead of progress bars (the default without a terminal)")
    cmp = add("compare", help="train several rules on one task; writes comparison.json, "
              ".md and report.html")
    cmp.add_argument("--task", help="task id (see `snnlearn list`)")
    cmp.add_argument("--rules", type=_rules, help="comma-separated rule ids, e.g. bptt,eprop")
    from snnlearn.experiments.presets import PRESETS

    cmp.add_argument("--preset", help="a named benchmark setting (task, rules, seeds, network; "
                     f"see docs/comparison.md): {', '.join(PRESETS)}; the other options override "
                     "it")
    cmp.add_argument("--epochs", type=int, help="training epochs per rule (default: the task's)")
    cmp.add_argument("--seeds", type=_seeds, help="seeds to train every rule with, e.g. 0,1,2 "
                     "(mean, sd and 95%% interval over them)")
    cmp.add_argument("--seed", type=int, help="the one seed of every run (default 0)")
    cmp.add_argument("--device", help=f"one of {', '.join(DEVICES)} (default cpu)")
    cmp.add_argument("--out", type=Path, help="comparison folder (default runs/compare-<task> "
                     "or runs/compare-<preset>)")
    cmp.add_argument("--config", type=Path, help="TOML file of config keys, plus rules and "
                     "seeds; options win")
    cmp.add_argument("--activity-reg", type=_strengths, help="sweep the activity regulariser "
                     "over these strengths, e.g. 0,1e-3,1e-2 (adds tradeoff.md and .svg)")
    _add_run_options(cmp, compare=True)
    ev = add("evaluate", help="print the summary of a finished run")
    ev.add_argument("dir", type=Path, help="the run folder")
    ev.add_argument("--recompute", action="store_true",
                    help="also score the saved best-validation model on the test split again "
                         "(recomputed_test_accuracy; equals test_accuracy)")
    ev.add_argument("--neurobench", action="store_true",
                    help="also run NeuroBench's metrics (footprint, connection and activation "
                         "sparsity, synaptic operations, membrane updates) on the test split "
                         "(needs the neurobench extra)")
    lst = add("list", help="list every task, rule and neuron id with a description")
    lst.add_argument("--matrix", action="store_true",
                     help="also print every rule's support matrix (synapses, neurons, ...)")
    bench = add("bench", help="time the BENCHMARKS.md training step in snnlearn and the "
                "installed peers; writes bench.json and bench.md")
    bench.add_argument("--device", default="cpu", help=f"one of {', '.join(DEVICES)} "
                       "(default cpu)")
    bench.add_argument("--peers", type=_names, default=["snntorch", "norse", "spikingjelly"],
                       help="comma-separated peers (default snntorch,norse,spikingjelly; '' for "
                            "none)")
    bench.add_argument("--shapes", nargs="+", metavar="B,T,H,L",
                       help="shapes to run (default: the device's shapes in BENCHMARKS.md)")
    bench.add_argument("--repeats", type=int, default=10, help="timed steps per library and "
                       "shape (default 10)")
    bench.add_argument("--workloads", type=_names, default=["steps"],
                       help="comma-separated, any of steps (the BENCHMARKS.md shapes), "
                            "open-neuromorphic (Linear + LIF, B=16, T=500, N=16384, forward + "
                            "backward, peak memory), rules (seconds per epoch of every gradient "
                            "rule, ratio to BPTT); default steps")
    bench.add_argument("--rules", type=_names, default=None,
                       help="rules of the rules workload (default: every gradient rule)")
    bench.add_argument("--out", type=Path, help="output folder (default runs/bench-<device>)")
    exp = add("export", help="write a run's best-validation network as a NIR graph")
    exp.add_argument("dir", type=Path, help="the run folder")
    exp.add_argument("--nir", required=True, type=Path, help="the .nir file to write")
    exp.add_argument("--force", action="store_true",
                     help="overwrite FILE if it exists (never a file of a run folder)")
    exp.add_argument("--subtract-reset-as-hard", action="store_true",
                     help="export reset-by-subtraction neurons as a reset to v_reset (NIR has "
                          "no subtractive reset; train with --reset hard instead; see "
                          "docs/nir.md)")
    exp.add_argument("--nir-target", default="exact",
                     choices=("exact", "snntorch", "norse", "spikingjelly"),
                     help="the reader the graph is written for (default exact: snnlearn's own "
                          "integration; peers: forward Euler at their dt, see docs/nir.md)")
    exp.add_argument("--peer-dt", type=float, help="the dt (s) the peer will simulate with "
                     "(default: its importer's default)")
    plot = add("plot", help="draw a run's figures (curves, raster, membrane traces, readout, "
               "firing rates) as DIR/plots/*.png and *.pdf and DIR/plots/index.html; for a "
               "compare folder, every rule's, embedded in its report.html (needs matplotlib: "
               "pip install 'snnlearn[plot]')")
    plot.add_argument("dir", type=Path, help="the run folder (or `snnlearn compare` folder)")
    plot.add_argument("--samples", type=int, default=3,
                      help="test samples shown in the raster and traces (default 3)")
    return parser


def _add_run_options(parser: argparse.ArgumentParser, *, compare: bool = False) -> None:
    """The architecture, training, rule and task options of ``train`` (and of ``compare``)."""
    parser.add_argument("--batch-size", type=int, help="minibatch size")
    parser.add_argument("--lr", type=float, help="Adam learning rate")
    parser.add_argument("--hidden", type=_hidden, help="hidden layer sizes, e.g. 128,64")
    parser.add_argument("--neuron", help="hidden neuron model: lif or alif")
    parser.add_argument("--max-delay", type=float, help="learnable synaptic delays up to this "
                        "many seconds (rule bptt; see docs/delays.md)")
    parser.add_argument("--tensorboard", action="store_true", default=None,
                        help="also log metrics to OUT/tensorboard (needs the tensorboard package)")
    parser.add_argument("--rule-option", action="append", type=_rule_option, metavar="KEY=VALUE",
                        help="a rule option (repeatable; VALUE is JSON or a plain string), e.g. "
                             + ("--rule-option eprop.feedback=random (RULE.KEY for one rule, "
                                "KEY for every rule)" if compare
                                else "--rule-option inner=superspike"))
    parser.add_argument("--layers", type=_layers, metavar="SPEC",
                        help="hidden architecture, e.g. conv2d:8:3,pool:2,dense:64 (see "
                             "docs/layers.md); replaces --hidden")
    parser.add_argument("--task-option", action="append", type=_rule_option, metavar="KEY=VALUE",
                        help="a task option (repeatable), e.g. --task-option n_steps=200")
    _add_config_flags(parser)


def _seeds(text: str) -> list[int]:
    try:
        seeds = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        seeds = []
    if not seeds or min(seeds) < 0:
        raise argparse.ArgumentTypeError(
            f"invalid seeds {text!r}; expected ints >= 0 separated by commas, e.g. 0,1,2")
    return seeds


_BY_HAND = {"task", "rule", "epochs", "seed", "device", "out", "batch_size", "lr", "hidden",
            "neuron", "activity_reg", "distributed", "tensorboard", "delays", "layers",
            "rule_options", "task_options"}
"""Config keys with a hand-written flag above; every other key gets one from its type."""


def _layers(text: str) -> list[dict[str, Any]]:
    from snnlearn.experiments.config import parse_layers

    try:
        return parse_layers(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def _bool(text: str) -> bool:
    if text.lower() in ("true", "1", "yes"):
        return True
    if text.lower() in ("false", "0", "no"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def _config_help() -> dict[str, str]:
    """Each Config key's description, from the ``Args`` section of its docstring."""
    import inspect
    import re

    doc, helps, key = inspect.getdoc(Config) or "", {}, None
    args = doc.split("Args:", 1)[-1].split("Raises:", 1)[0]
    for line in args.splitlines():
        m = re.match(r"\s{4}(\w+): (.*)", line)
        if m:
            key = m.group(1)
            helps[key] = m.group(2)
        elif key and line.strip():
            helps[key] += " " + line.strip()
    return {k: v.replace("%", "%%").replace("``", "") for k, v in helps.items()}


def _add_config_flags(parser: argparse.ArgumentParser) -> None:
    """A flag for every Config key without a hand-written one, typed from its annotation."""
    import dataclasses

    helps = _config_help()
    for f in dataclasses.fields(Config):
        if f.name in _BY_HAND:
            continue
        kind = str(f.type)
        parse: Any = (_bool if kind.startswith("bool") else int if kind.startswith("int")
                      else float if kind.startswith("float") else str)
        parser.add_argument("--" + f.name.replace("_", "-"), type=parse, dest=f.name,
                            metavar=f.name.upper(), help=helps.get(f.name, ""))


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:  # argparse has no public accessor for subparsers
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _run_overrides(args: argparse.Namespace, base: dict[str, Any]) -> dict[str, Any]:
    """The config keys that the options of :func:`_add_run_options` set (``None``: not given);
    ``--task-option`` and ``--rule-option`` add to the tables of ``base``."""
    import dataclasses

    overrides: dict[str, Any] = {
        "batch_size": args.batch_size, "lr": args.lr, "hidden": args.hidden,
        "neuron": args.neuron, "tensorboard": args.tensorboard, "delays": args.max_delay,
    }
    for f in dataclasses.fields(Config):
        if f.name not in _BY_HAND:
            overrides[f.name] = getattr(args, f.name)
    overrides["layers"] = args.layers
    if args.task_option:
        overrides["task_options"] = {**base.get("task_options", {}), **dict(args.task_option)}
    if args.rule_option:
        overrides["rule_options"] = {**base.get("rule_options", {}), **dict(args.rule_option)}
    return overrides


def _config(args: argparse.Namespace) -> Config:
    base = read_toml(args.config) if args.config is not None else {}
    overrides: dict[str, Any] = {
        "task": args.task, "rule": args.rule, "epochs": args.epochs, "seed": args.seed,
        "device": args.device, "out": args.out, "activity_reg": args.activity_reg,
        "distributed": args.distributed, **_run_overrides(args, base),
    }
    if args.task is None and "task" not in base:
        from snnlearn.experiments import registry

        raise ValueError(
            "no task given; use --task <id> or a --config file with task = \"<id>\" "
            f"(valid tasks: {', '.join(sorted(registry.TASKS))})"
        )
    return Config.from_dict({**base, **{k: v for k, v in overrides.items() if v is not None}})


def _recompute(run_dir: Path) -> float:
    """The test accuracy of the run's saved model, simulated again from the run folder."""
    import torch

    from snnlearn.experiments import registry
    from snnlearn.experiments.runner import evaluate, load_network

    net, cfg = load_network(run_dir)
    task = registry.make_task(cfg.task, cfg.task_options)
    rule = registry.make_rule(cfg.rule, cfg.rule_options)
    rule.prepare(net, generator=torch.Generator().manual_seed(0))
    return evaluate(net, task, task.split("test"), seed=cfg.seed, simulate=rule.simulate,
                    rule=rule).accuracy


def _report(result: Result) -> str:
    s = result.summary
    epochs = f"{s['epochs']} epoch" + ("" if s["epochs"] == 1 else "s")
    return (f"test accuracy {100 * s['test_accuracy']:.1f}% ({s['task']}, {s['rule']}, "
            f"{epochs}, {s['train_seconds']:.1f} s) -> {result.run_dir}")


def _summary_line(obj: object) -> str:
    import inspect

    doc = inspect.getdoc(obj) or ""
    return doc.strip().splitlines()[0] if doc.strip() else ""


def _list(matrix: bool = False) -> str:
    """Every id under a heading for its kind, each with a one-line description."""
    from snnlearn.experiments import registry

    def entry(name: str, target: object) -> str:
        line = _summary_line(target)
        return f"{name:<16} {line}" if line else name

    def load(factory: object) -> object:
        return factory.load() if hasattr(factory, "load") else factory

    lines = ["tasks:", *(entry(k, load(registry.TASKS[k])) for k in sorted(registry.TASKS)),
             f"{registry.TONIC_PREFIX}<NAME>".ljust(16) + " a tonic data set on disk",
             f"{registry.FOLDER_PREFIX}<folder>".ljust(16) + " a folder of SHD-layout HDF5 "
             "files (train, test, optional val)",
             f"{registry.PY_PREFIX}<module>:<Class>".ljust(16) + " a torch Dataset of (x [T, n], "
             "label) items, by import path",
             "rules:", *(entry(k, load(registry.RULES[k])) for k in sorted(registry.RULES)),
             "neurons:", *(entry(k, registry.NEURONS[k]) for k in sorted(registry.NEURONS))]
    if matrix:
        from snnlearn.learning.base import support_matrix

        rules = {k: registry.make_rule(k).supports for k in sorted(registry.RULES)}
        lines += ["", "support matrix:", support_matrix(rules)]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line ``argv`` (default ``sys.argv[1:]``) and return the exit status.

    Every known error (a bad value or file, a full disk, ...) is one line on stderr with exit
    status 1 (2 for a bad command line or config); anything else is one line naming a log file
    that holds the traceback, with exit status 1.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        return _main(argv)
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader went away (`snnlearn list | head`): stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as err:  # noqa: BLE001 - known errors: one line; a bug: one line and a log
        # imported here, not at the top: `--help` and `--version` must not import torch
        from snnlearn.experiments.failures import (
            KNOWN_ERRORS,
            USAGE_ERRORS,
            describe,
            write_crash_log,
        )

        if isinstance(err, USAGE_ERRORS):
            return _fail(describe(err), 2)
        if isinstance(err, KNOWN_ERRORS):
            return _fail(describe(err), 1)
        log = write_crash_log(err, argv)
        first = str(err).strip().splitlines()[0] if str(err).strip() else ""
        where = f"the traceback is in {log}" if log else "no log could be written"
        return _fail(f"unexpected {type(err).__name__}{': ' + first if first else ''} (a bug in "
                     f"snnlearn; {where}; please report it)", 1)


def _main(argv: list[str]) -> int:
    parser = build_parser()
    try:
        args, extra = parser.parse_known_args(argv)
        if extra:
            sub = _subparsers(parser).get(args.command, parser)
            options = sorted({o for a in sub._actions for o in a.option_strings
                              if o.startswith("--")})
            raise UsageError(f"unrecognized argument(s) {' '.join(extra)}; valid options for "
                             f"{sub.prog}: {', '.join(options)}")
        if args.command is None:
            raise UsageError(f"no command given; valid commands: {', '.join(COMMANDS)} "
                             f"(see {PROG} --help)")
    except UsageError as err:
        return _fail(str(err), 2)
    logging.basicConfig(level=logging.WARNING, format=f"{PROG}: %(message)s")
    from snnlearn.experiments.checkpoint import CheckpointError
    from snnlearn.experiments.lock import RunLockedError
    from snnlearn.experiments.preflight import MemoryBudgetError
    from snnlearn.experiments.runner import (
        DeviceUnavailableError,
        TrainingError,
        check_device,
        default_run_dir,
        read_summary,
        resume,
        run,
    )

    if args.command == "list":
        print(_list(args.matrix))
        return 0
    if args.command == "compare":
        return _compare(args)
    if args.command == "plot":
        return _plot(args)
    if args.command == "export":
        return _export(args)
    if args.command == "bench":
        return _bench(args)
    if args.command == "evaluate":
        try:
            summary = dict(read_summary(args.dir))
            if args.recompute:
                summary["recomputed_test_accuracy"] = _recompute(args.dir)
            if args.neurobench:
                from snnlearn.neurobench import run_metrics

                summary["neurobench"] = run_metrics(args.dir)
            print(json.dumps(summary, indent=2))
        except (ImportError, OSError, ValueError) as err:
            return _fail(str(err), 1)
        return 0
    run_dir: Path = args.dir if args.command == "resume" else Path(".")
    try:
        if args.command == "train":
            cfg = _config(args)
            check_device(cfg.device)
            run_dir = default_run_dir(cfg)
    except ValueError as err:
        return _fail(str(err), 2)
    # progress bars on a terminal; otherwise (a log file, --no-progress) one line per epoch
    bars = not args.no_progress and sys.stderr.isatty()
    on_epoch = None if bars else _epoch_printer(run_dir)
    try:
        if args.command == "train":
            result = run(cfg, on_epoch=on_epoch, progress=bars)
        else:
            result = resume(run_dir, on_epoch=on_epoch, progress=bars)
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted; continue the run with `{PROG} resume {run_dir}`",
              file=sys.stderr)
        return 130
    except (DeviceUnavailableError, MemoryBudgetError) as err:
        return _fail(str(err), 2)
    except (CheckpointError, FileExistsError, TrainingError, RunLockedError) as err:
        return _fail(str(err), 1)
    except (FileNotFoundError, ModuleNotFoundError, ValueError) as err:
        # a task's data missing or malformed on disk, or an optional dependency not installed
        return _fail(str(err), 1)
    if _rank_zero():
        print(_report(result))
    return 0


def _compare_plan(args: argparse.Namespace) -> CompareSpec:
    """The comparison that the preset, the config file and the options ask for (in that order,
    later ones winning)."""
    from snnlearn.experiments.compare import compare_spec, merge_specs
    from snnlearn.experiments.runner import check_device

    spec: dict[str, Any] = {}
    if args.preset is not None:
        from snnlearn.experiments.presets import preset

        spec = preset(args.preset)
    if args.config is not None:
        spec = merge_specs(spec, read_toml(args.config))
    if args.seed is not None and args.seeds is not None:
        raise ValueError("give --seeds or --seed, not both")
    if args.seed is not None or args.seeds is not None:
        spec.pop("seed", None)
        spec.pop("seeds", None)
    flags = {"task": args.task, "rules": args.rules, "epochs": args.epochs, "device": args.device,
             "seeds": args.seeds if args.seed is None else [args.seed],
             "out": None if args.out is None else str(args.out), **_run_overrides(args, {})}
    plan = compare_spec(merge_specs(spec, flags))
    if plan.options.get("epochs") is not None and not (
            isinstance(plan.options["epochs"], int) and plan.options["epochs"] >= 1):
        raise ValueError(f"epochs must be an int >= 1, got {plan.options['epochs']}")
    device = plan.options.get("device", "cpu")
    if device not in DEVICES:
        raise ValueError(f"unknown device {device!r}; valid devices: {', '.join(DEVICES)}")
    check_device(device)
    return plan


def _rank_zero() -> bool:
    """Whether this process prints: not under torchrun, or its rank 0 (``RANK``/``LOCAL_RANK``)."""

    rank = os.environ.get("RANK", os.environ.get("LOCAL_RANK", "0"))
    return rank.strip() in ("", "0")


def _epoch_line(record: dict[str, Any], epochs: int | None) -> str:
    """One plain line of an epoch's metrics record (no carriage return, no escape code).

    Example:
        >>> _epoch_line({"epoch": 2, "train_loss": 0.51234, "train_accuracy": 0.8,
        ...     "val_accuracy": 0.75, "epoch_seconds": 3.21}, 5)
        'epoch 2/5: train loss 0.5123, train accuracy 80.0%, val accuracy 75.0%, 3.2 s'
    """
    parts = [f"train loss {record['train_loss']:.4g}"]
    for key in ("train_accuracy", "val_accuracy"):
        if isinstance(record.get(key), (int, float)):
            parts.append(f"{key.replace('_', ' ')} {100 * record[key]:.1f}%")
    parts.append(f"{record['epoch_seconds']:.1f} s")
    total = f"/{epochs}" if epochs else ""
    return f"epoch {record['epoch']}{total}: " + ", ".join(parts)


def _epoch_printer(run_dir: Path) -> Any:
    """An ``on_epoch`` callback printing :func:`_epoch_line` to stderr, where the progress bars
    go (stdout keeps the result line alone); rank 0 alone prints."""
    def show(record: dict[str, Any]) -> None:
        if not _rank_zero():
            return
        try:  # the resolved epochs, which the runner wrote before the first epoch
            epochs = json.loads((run_dir / "config.json").read_text()).get("epochs")
        except (OSError, ValueError):
            epochs = None
        print(_epoch_line(record, epochs), file=sys.stderr, flush=True)

    return show


def _compare(args: argparse.Namespace) -> int:
    from snnlearn.experiments.compare import compare, compare_activity

    try:
        plan = _compare_plan(args)
        if args.activity_reg is not None:
            extra = sorted(set(plan.options) - {"epochs", "device"})
            if extra or len(plan.seeds) > 1:
                raise ValueError("--activity-reg sweeps take only --task, --rules, --epochs, "
                                 f"--seed, --device and --out; got {', '.join(extra) or 'seeds'}")
    except ValueError as err:
        return _fail(str(err), 2)
    name = (args.preset if args.preset is not None
            else plan.task.replace(":", "-").replace("/", "-"))
    out = Path(plan.out) if plan.out is not None else Path("runs") / f"compare-{name}"

    def report(record: dict[str, Any]) -> None:
        name = record.get("label", record["rule"]) + (
            f" activity_reg={record['activity_reg']:g}" if "activity_reg" in record else "")
        if record.get("error"):
            print(f"{name}: failed: {record['error']}", file=sys.stderr)
        else:
            print(f"{name}: test accuracy {100 * record['test_accuracy']:.1f}% "
                  f"({record['train_seconds']:.1f} s, {record['spikes_per_sample']:.1f} "
                  "spikes/sample)")

    try:
        if args.activity_reg is not None:
            records = compare_activity(plan.task, plan.rules, args.activity_reg, out=out,
                                       epochs=plan.options.get("epochs"), seed=plan.seeds[0],
                                       device=plan.options.get("device", "cpu"), on_rule=report)
        else:
            records = compare(plan.task, plan.rules, out=out, seeds=plan.seeds,
                              options=plan.options, on_rule=report)
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted; run the same command again to continue", file=sys.stderr)
        return 130
    except ValueError as err:
        return _fail(str(err), 2)
    except FileExistsError as err:
        return _fail(str(err), 1)
    print(f"comparison of {len(plan.rules)} rules x {len(plan.seeds)} seeds -> "
          f"{out}/comparison.md, report.html")
    return 1 if any(r.get("error") for r in records) else 0


def _export(args: argparse.Namespace) -> int:
    """``snnlearn export DIR --nir FILE``: the run's best-validation weights as a NIR graph,
    and the graph's accuracy re-simulated on the test split when the task's data are here."""
    from snnlearn.experiments.runfiles import check_export_target
    from snnlearn.export.run import export_run

    try:
        check_export_target(args.nir, force=args.force)  # before anything is computed
        print(export_run(args.dir, args.nir, target=args.nir_target, peer_dt=args.peer_dt,
                         subtract_reset="as_hard" if args.subtract_reset_as_hard else "refuse"))
    except (ImportError, OSError, RuntimeError, KeyError, ValueError) as err:
        message = str(err).replace("subtract_reset='as_hard'", "--subtract-reset-as-hard")
        message = message.replace("target=", "--nir-target ")
        return _fail(message, 2)
    return 0


def _plot(args: argparse.Namespace) -> int:
    """``snnlearn plot DIR``: the run's figures as PNG and PDF files and an index.html."""
    from snnlearn.experiments.checkpoint import CheckpointError
    from snnlearn.experiments.plots import plot_comparison, plot_run
    from snnlearn.plot.figure import PlotDependencyError

    try:
        if args.samples < 1:
            raise ValueError(f"--samples must be >= 1, got {args.samples}")
        if (args.dir / "comparison.json").exists():  # a `snnlearn compare` folder
            page = plot_comparison(args.dir)
        else:
            page = plot_run(args.dir, samples=args.samples)
    except (OSError, ValueError, CheckpointError, PlotDependencyError) as err:
        return _fail(str(err), 1)
    print(f"plots of {args.dir} -> {page}")
    return 0


def _names(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _bench(args: argparse.Namespace) -> int:
    """``snnlearn bench``: the BENCHMARKS.md workload in snnlearn and every installed peer."""
    import datetime
    import platform

    import torch

    from snnlearn import bench
    from snnlearn.experiments import registry
    from snnlearn.experiments.runner import check_device

    try:
        if args.device not in DEVICES:
            raise ValueError(f"unknown device {args.device!r}; valid devices: "
                             f"{', '.join(DEVICES)}")
        check_device(args.device)
        peers = bench.check_peers(args.peers)
        defaults = bench.CPU_SHAPES if args.device == "cpu" else bench.GPU_SHAPES
        shapes = [bench.parse_shape(s) for s in args.shapes] if args.shapes else list(defaults)
        if args.repeats < 1:
            raise ValueError(f"repeats must be an int >= 1, got {args.repeats}")
        workloads = list(dict.fromkeys(args.workloads))
        unknown = [w for w in workloads if w not in BENCH_WORKLOADS]
        if unknown or not workloads:
            raise ValueError(f"unknown workload(s) {', '.join(map(repr, unknown))}; valid "
                             f"workloads: {', '.join(BENCH_WORKLOADS)}")
        from snnlearn.bench.rules import GRADIENT_RULES

        rules = list(args.rules or GRADIENT_RULES)
        for rule_id in rules:
            registry.check_rule_id(rule_id)
    except ValueError as err:
        return _fail(str(err), 2)
    out: Path = args.out or Path("runs") / f"bench-{args.device}"
    command = (f"{PROG} bench --device {args.device} --peers {','.join(peers) or repr('')} "
               f"--shapes {' '.join(map(str, shapes))} --repeats {args.repeats} "
               f"--workloads {','.join(workloads)} --out {out}")
    for name in peers:
        if not bench.peer_installed(name):
            print(f"{name}: skipped (not installed)", file=sys.stderr)

    def report(records: list[dict[str, Any]]) -> None:
        for r in records:
            if not r["skipped"]:
                print(f"{r['B']},{r['T']},{r['H']},{r['L']} {r['library']}: "
                      f"{r['step_ms']:.2f} ms/step, firing rate {r['firing_rate']:.4f}",
                      file=sys.stderr)

    device = (torch.cuda.get_device_name() if args.device == "cuda"
              else f"{platform.processor() or platform.machine()}, "
                   f"{torch.get_num_threads()} torch threads")
    sections, payload = [], {}
    if "steps" in workloads:
        peaks = bench.measure_peaks(args.device)
        records = bench.run_bench(shapes, peers=peers, device=args.device,
                                  repeats=args.repeats, peaks=peaks, on_record=report)
        payload["steps"] = records
        sections.append("## Training step (BENCHMARKS.md shapes)\n\n"
                        + bench.to_markdown(records, peaks))
    if "open-neuromorphic" in workloads:
        from snnlearn.bench.open_neuromorphic import on_markdown, run_open_neuromorphic

        backends = ("triton", "torch") if args.device == "cuda" else ("cpu", "torch")
        on = run_open_neuromorphic(backends=backends, peers=peers, device=args.device,
                                   repeats=args.repeats, warmup=2)
        payload["open_neuromorphic"] = on
        sections.append("## Open Neuromorphic workload (Linear + LIF, forward + backward)\n\n"
                        + on_markdown(on))
    if "rules" in workloads:
        from snnlearn.bench.rules import rules_markdown, run_rules

        def show(r: dict[str, Any]) -> None:
            print(f"{r['network']} {r['neuron']} {r['rule']}: "
                  f"{r['seconds'] if r['seconds'] is not None else r['refused']}",
                  file=sys.stderr, flush=True)

        per_rule = run_rules(rules, device=args.device, on_record=show)
        payload["rules"] = per_rule
        sections.append("## Seconds per training epoch of every gradient rule\n\n"
                        + rules_markdown(per_rule))
    table = "\n\n".join(sections)
    text = (f"# snnlearn bench\n\n- date: {datetime.datetime.now().isoformat(timespec='seconds')}"
            f"\n- device: {args.device} ({device}); torch {torch.__version__}\n"
            f"- command: `{command}`\n\n{table}\n")
    out.mkdir(parents=True, exist_ok=True)
    (out / "bench.json").write_text(json.dumps(payload, indent=2) + "\n")
    (out / "bench.md").write_text(text)
    print(table)
    print(f"-> {out}/bench.json, bench.md")
    return 0


def _fail(message: str, status: int) -> int:
    print(f"{PROG}: error: {' '.join(message.split())}", file=sys.stderr)
    return status
