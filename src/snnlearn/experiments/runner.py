"""The runner: ``run(cfg)`` trains one network on one task with one rule; ``resume(dir)`` finishes
an interrupted run with the same result.

The runner is the only place that does I/O. A run folder holds ``config.json`` (the resolved
config), ``env.json``, ``metrics.jsonl`` (one line per epoch), ``checkpoint.pt`` (+ ``.sha256``,
rewritten after every epoch) and, at the end, ``summary.json``.

Reproducibility: the seed fixes the initial weights (drawn once, at the start). Epoch ``e``
shuffles and encodes the training data with its own generator seeded from ``(seed, e)``, and
evaluation encodes with a fixed generator, so no random state crosses an epoch boundary. A
checkpoint after epoch ``k`` (weights, Adam state, best weights, history) therefore determines
epochs ``k+1...`` exactly: on the CPU a resumed run ends with bitwise the same weights as an
uninterrupted one.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import math
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, NamedTuple

import torch
from torch import Tensor
from tqdm import tqdm

from snnlearn.diagnostics import (
    SILENT_SPIKES_PER_SAMPLE,
    check_time_first,
    warn_not_exact,
    warn_silent,
)
from snnlearn.experiments import distributed, registry
from snnlearn.experiments.checkpoint import (
    CHECKPOINT_NAME,
    FORMAT_VERSION,
    CheckpointError,
    load_checkpoint,
    save_checkpoint,
    write_json,
    write_jsonl,
)
from snnlearn.experiments.config import Config, epoch_lr, with_defaults
from snnlearn.experiments.env import collect_env, peak_memory_mb, record_session
from snnlearn.experiments.lock import run_lock
from snnlearn.experiments.payload import check_payload, load_into
from snnlearn.experiments.preflight import check_memory, check_splits
from snnlearn.experiments.runfiles import RunFileError, check_fresh_folder, json_text, read_json
from snnlearn.experiments.tensorboard import TensorBoardLog, check_tensorboard
from snnlearn.export.run import task_shape
from snnlearn.layers import DelayParams, Network, Readout, SpikingLayer, build_network
from snnlearn.layers.spiking import NeuronParams
from snnlearn.learning import LearningRule
from snnlearn.learning.base import EpochContext, check_support
from snnlearn.neurons import ALIFParams
from snnlearn.simulate import Rollout, unroll
from snnlearn.tasks.base import Task, TaskData

__all__ = [
    "Result", "TrainingError", "DeviceUnavailableError", "Evaluation", "run", "resume",
    "evaluate", "load_network", "resolve_config", "default_run_dir", "check_device", "read_summary",
]

logger = logging.getLogger(__name__)

EVAL_BATCH = 512
"""Evaluation minibatch size; fixed so that the evaluation encoding never depends on training."""
_SEED_STRIDE = 1_000_003
_RULE_SEED = 999_983  # generator stream of LearningRule.prepare; no epoch number reaches it

EpochCallback = Callable[[dict[str, Any]], None]


@dataclass
class Result:
    """What a finished run returns.

    Attributes:
        summary: the contents of ``summary.json``.
        run_dir: the run folder.
        network: the network with the best-validation weights (those ``test_accuracy`` measures).
    """

    summary: dict[str, Any]
    run_dir: Path
    network: Network


class TrainingError(RuntimeError):
    """Training cannot go on (for example a non-finite loss); the last checkpoint is kept."""


class DeviceUnavailableError(ValueError):
    """The config asks for a device that this machine does not have."""


class Evaluation(NamedTuple):
    """Accuracy and activity of a network on one split (per-sample means), and the means of the
    task's own :meth:`~snnlearn.tasks.base.Task.metrics`."""

    accuracy: float
    spikes_per_sample: float
    synops_per_sample: float
    loss: float = math.nan
    metrics: Mapping[str, float] = MappingProxyType({})


@dataclass
class _Progress:
    """Training state saved in each checkpoint besides the model and optimizer."""

    epoch: int = 0
    best_model: dict[str, Tensor] = field(default_factory=dict)
    best_rule_state: dict[str, Any] = field(default_factory=dict)
    best_epoch: int = 0
    best_val_accuracy: float = -1.0
    best_val_loss: float = math.inf
    history: list[dict[str, Any]] = field(default_factory=list)
    train_seconds: float = 0.0


def default_run_dir(cfg: Config) -> Path:
    """``cfg.out``, or ``runs/<task>-<rule>-s<seed>`` (a ``:`` or ``/`` in the task id becomes
    ``-``)."""
    if cfg.out is not None:
        return Path(cfg.out)
    task = cfg.task.replace(":", "-").replace("/", "-")
    return Path("runs") / f"{task}-{cfg.rule}-s{cfg.seed}"


def check_device(device: str) -> None:
    """Raise :class:`DeviceUnavailableError` if ``device`` is ``"cuda"`` and there is no GPU."""
    if device == "cuda" and not torch.cuda.is_available():
        raise DeviceUnavailableError(
            "device 'cuda' requested but torch sees no CUDA device (torch "
            f"{torch.__version__}, CUDA build: {torch.version.cuda or 'no'}); use --device cpu"
        )


def resolve_config(cfg: Config, task: Task) -> Config:
    """``cfg`` with every ``None`` replaced by the task default and ``out`` made explicit."""
    d = task.defaults
    return cfg.merged({
        "epochs": cfg.epochs or d.epochs, "batch_size": cfg.batch_size or d.batch_size,
        "lr": cfg.lr or d.lr, "hidden": list(cfg.hidden or d.hidden),
        "recurrent": d.recurrent if cfg.recurrent is None else cfg.recurrent,
        "gain": cfg.gain or d.gain, "out": str(default_run_dir(cfg)),
        "neuron": cfg.neuron or ("alif" if isinstance(d.neuron, ALIFParams) else "lif"),
    })


def _neuron_params(neuron_id: str, default: NeuronParams,
                   reset: str | None = None) -> NeuronParams:
    """The task's hidden neuron as model ``neuron_id`` (sharing its LIF parameters), with the
    reset ``reset`` where given."""
    lif = default.lif if isinstance(default, ALIFParams) else default
    if reset is not None:
        lif = dataclasses.replace(lif, reset=reset)
        if isinstance(default, ALIFParams):
            default = dataclasses.replace(default, lif=lif)
    if neuron_id == "alif":
        return default if isinstance(default, ALIFParams) else ALIFParams(lif=lif)
    return lif


def _generator(seed: int, epoch: int) -> torch.Generator:
    """Epoch ``epoch``'s generator (1-based); epoch 0 is the evaluation generator."""
    return torch.Generator().manual_seed(seed * _SEED_STRIDE + epoch)


def _network(cfg: Config, task: Task, device: str) -> Network:
    assert cfg.hidden is not None and cfg.neuron is not None  # narrowing
    layers = cfg.layers
    return build_network(
        task.n_in, cfg.hidden, task.n_out, dt=task.dt,
        neuron=_neuron_params(cfg.neuron, task.defaults.neuron, cfg.reset),
        readout=task.defaults.readout, recurrent=bool(cfg.recurrent),
        gain=cfg.gain if cfg.gain is not None else 1.0,
        delays=None if cfg.delays is None else DelayParams(max_delay=cfg.delays),
        layers=None if layers is None else [dict(spec) for spec in layers],
        in_shape=task.in_shape if layers is not None else None, dale=cfg.dale,
        graded=cfg.graded, spiking_output=task.defaults.spiking_output,
        generator=torch.Generator().manual_seed(cfg.seed), device=device,
    )


def _preflight(cfg: Config, task: Task) -> int:
    """Refuse a task with an empty split or a run that cannot fit in memory; return the
    evaluation chunk that fits."""
    assert cfg.batch_size is not None
    check_splits(task, cfg.task)
    what = (f"--hidden {','.join(map(str, cfg.hidden or []))}" if cfg.layers is None
            else f"{len(cfg.layers)} layer specs")
    what += f", {task.n_in} inputs" + (f", --max-delay {cfg.delays}" if cfg.delays else "")
    return check_memory(lambda: _network(cfg, task, "meta"), n_steps=task.n_steps,
                        batch_size=cfg.batch_size, device=cfg.device, eval_batch=EVAL_BATCH,
                        what=what)


def _build(cfg: Config, task: Task) -> tuple[Network, LearningRule, torch.optim.Optimizer]:
    assert cfg.lr is not None  # narrowing
    net = _network(cfg, task, "cpu").to(cfg.device)
    rule = registry.make_rule(cfg.rule, cfg.rule_options)
    check_support(cfg.rule, rule.supports, net)
    rule.prepare(net, generator=torch.Generator().manual_seed(cfg.seed * _SEED_STRIDE + _RULE_SEED))
    assert cfg.batch_size is not None
    distributed.check_supported(rule, len(task.split("train")),
                                rule.minibatch_size(cfg.batch_size))  # if world > 1
    return net, rule, rule.configure_optimizer(net, cfg.lr)


def _fan_outs(net: Network) -> list[int]:
    """Synaptic events one spike of each spiking layer causes downstream (and recurrently)."""
    layers = list(net.layers)
    out = []
    for k, layer in enumerate(layers):
        if not isinstance(layer, SpikingLayer):
            continue
        nxt = next((m for m in layers[k + 1:] if isinstance(m, (SpikingLayer, Readout))), None)
        fan = nxt.synapse.fan_out if nxt is not None else 0
        out.append(fan + (layer.n_out - 1 if layer.recurrent else 0))
    return out


def _score(task: Task, outputs: Tensor, labels: Tensor) -> Tensor:
    """``task.score``; a duck-typed task without one is scored by its predictions."""
    if hasattr(task, "score"):
        return task.score(outputs, labels)
    return (task.predict(outputs) == labels).to(torch.float32)


def _metrics(task: Task, outputs: Tensor, labels: Tensor) -> Mapping[str, Tensor]:
    """``task.metrics``, or none for a duck-typed task without them."""
    return task.metrics(outputs, labels) if hasattr(task, "metrics") else {}


def evaluate(
    net: Network, task: Task, data: TaskData, *, seed: int,
    simulate: Callable[[Network, Tensor], Rollout] = unroll, rule: LearningRule | None = None,
    chunk: int = EVAL_BATCH,
) -> Evaluation:
    """Accuracy, hidden spikes and synaptic events per sample of ``net`` on ``data``.

    A ``rule`` whose :meth:`~snnlearn.learning.base.LearningRule.evaluate` returns an accuracy
    (measured its own way, e.g. on few-shot episodes) supplies the accuracy; the activity
    figures are always those of the loop below.

    The network is simulated with ``simulate`` (default :func:`~snnlearn.simulate.unroll`; the
    runner passes the rule's own ``simulate`` so that a rule with its own model of the dynamics,
    such as EventProp's exact event times, is evaluated with the model it trained) under
    ``torch.no_grad``. The encoding uses a generator seeded from
    ``seed`` alone, so the result is deterministic. Samples are encoded ``EVAL_BATCH`` at a
    time and simulated ``chunk`` at a time (the runner lowers ``chunk`` where memory is short).
    Synaptic events count input spikes times the fan-out of the first layer, plus each hidden
    layer's spikes times the fan-out of the next layer and of its own recurrent synapses.
    """
    g = _generator(seed, 0)
    device = next(net.parameters()).device
    correct, spikes, synops, loss = 0.0, 0.0, 0.0, 0.0
    metrics: dict[str, float] = {}
    first = next(m for m in net.layers if isinstance(m, (SpikingLayer, Readout)))
    fan_outs = _fan_outs(net)
    was_training = net.training
    net.eval()
    with torch.no_grad():
        for i in range(0, len(data), EVAL_BATCH):
            encoded = task.encode(data.inputs[i:i + EVAL_BATCH], generator=g)
            for j in range(0, encoded.shape[1], chunk):
                x = encoded[:, j:j + chunk].to(device)
                rollout = simulate(net, x)
                labels = data.labels[i + j:i + min(j + chunk, encoded.shape[1])].to(device)
                correct += float(_score(task, rollout.outputs, labels).sum())
                for name, values in _metrics(task, rollout.outputs, labels).items():
                    metrics[name] = metrics.get(name, 0.0) + float(values.sum())
                loss += float(task.loss(rollout.outputs, labels)) * len(labels)
                synops += float(x.sum()) * first.synapse.fan_out
                for z, fan in zip(rollout.spikes, fan_outs, strict=False):
                    count = float(z.sum())
                    spikes += count
                    synops += count * fan
    net.train(was_training)
    n = max(len(data), 1)
    own = None if rule is None else rule.evaluate(net, task, data, generator=_generator(seed, 0))
    mean_loss = loss / n if math.isfinite(loss) else math.inf
    return Evaluation(correct / n if own is None else own, spikes / n, synops / n, mean_loss,
                      {name: total / n for name, total in metrics.items()})


def run(cfg: Config, *, on_epoch: EpochCallback | None = None, progress: bool = False) -> Result:
    """Train from scratch as ``cfg`` says and write the run folder.

    Args:
        cfg: the run's config.
        on_epoch: called with each epoch's metrics record after its checkpoint is written;
            raising (e.g. ``KeyboardInterrupt``) stops the run, which ``resume`` can continue.
        progress: show tqdm progress bars (on stderr).

    Returns:
        The :class:`Result`.

    Raises:
        DeviceUnavailableError: ``cfg.device`` is ``"cuda"`` but there is no GPU.
        FileExistsError: the run folder already holds a run (resume it or pick another ``out``).
        TrainingError: the loss became NaN or infinite.
        ModuleNotFoundError: ``cfg.tensorboard`` without the ``tensorboard`` package.
        RuntimeError: ``cfg.distributed`` in a process that ``torchrun`` did not start.
    """
    check_device(cfg.device)
    if cfg.tensorboard:
        check_tensorboard()
    run_dir = default_run_dir(cfg)
    with (distributed.session(cfg.distributed, cfg.device),  # a no-op unless cfg.distributed
          run_lock(run_dir, enabled=distributed.is_main())):  # one process per run folder
        held = [n for n in (CHECKPOINT_NAME, "summary.json") if (run_dir / n).exists()]
        if distributed.any_rank(bool(held)):  # every rank refuses together
            raise FileExistsError(
                f"{str(run_dir)!r} already holds a run ({held[0] if held else CHECKPOINT_NAME}); "
                f"continue it with `snnlearn resume {run_dir}` or choose another --out"
            )
        if distributed.is_main():
            check_fresh_folder(run_dir)
        task = registry.make_task(cfg.task, cfg.task_options)
        cfg = resolve_config(cfg, task)
        chunk = _preflight(cfg, task)
        net, rule, optimizer = _build(cfg, task)
        if distributed.is_main():  # rank 0 alone writes the run folder
            run_dir.mkdir(parents=True, exist_ok=True)
            write_json(run_dir / "config.json", cfg.to_dict())
            write_json(run_dir / "env.json", collect_env(cfg.device))
            write_jsonl(run_dir / "metrics.jsonl", [])
        state = _Progress(best_model=_clone(net),
                          best_rule_state=copy.deepcopy(rule.state_dict()))
        return _Session(cfg, task, net, rule, optimizer, state, run_dir, progress,
                        eval_chunk=chunk).train(on_epoch)


def resume(run_dir: str | Path, *, on_epoch: EpochCallback | None = None,
           progress: bool = False) -> Result:
    """Continue the run in ``run_dir`` from its last checkpoint to the configured epochs.

    The result (weights, accuracies) is that of the uninterrupted run; ``train_seconds`` adds
    up the time of every session. Resuming a finished run only recomputes its summary.

    Raises:
        CheckpointError: a missing or corrupt checkpoint, or a ``config.json`` that no longer
            matches it.
        DeviceUnavailableError: the run's device is not available on this machine.
    """
    run_dir = Path(run_dir)
    # one process per run folder, before anything is read: rank 0 of torchrun, or the only one
    with run_lock(run_dir, enabled=os.environ.get("RANK", "0") == "0"):
        return _resume(run_dir, on_epoch, progress)


def _resume(run_dir: Path, on_epoch: EpochCallback | None, progress: bool) -> Result:
    config_path = run_dir / "config.json"
    try:
        saved = read_json(config_path, what="run config")
    except RunFileError as err:
        raise CheckpointError(
            f"{err}; is {str(run_dir)!r} a run folder made by `snnlearn train`?"
        ) from None
    ckpt = load_checkpoint(run_dir / CHECKPOINT_NAME, map_location="cpu", repair=True)
    if not isinstance(ckpt["config"], dict):
        raise CheckpointError(f"checkpoint {str(run_dir / CHECKPOINT_NAME)!r} holds no config "
                              "dict; start the run again with `snnlearn train`")
    # keys added to Config since the run started (e.g. distributed) count as their defaults
    saved, ckpt["config"] = with_defaults(saved), with_defaults(ckpt["config"])
    if saved != ckpt["config"]:
        changed = sorted(k for k in set(saved) | set(ckpt["config"])
                         if saved.get(k) != ckpt["config"].get(k))
        raise CheckpointError(
            f"{str(config_path)!r} differs from the config in its checkpoint (keys: "
            f"{', '.join(changed)}); a run resumes as it started: restore config.json, or start "
            "a new run with `snnlearn train`"
        )
    cfg = Config.from_dict(ckpt["config"])
    check_device(cfg.device)
    if cfg.tensorboard:
        check_tensorboard()
    with distributed.session(cfg.distributed, cfg.device):  # every rank reads the checkpoint
        task = registry.make_task(cfg.task, cfg.task_options)
        chunk = _preflight(cfg, task)
        net, rule, optimizer = _build(cfg, task)
        path = run_dir / CHECKPOINT_NAME
        assert cfg.epochs is not None  # narrowing: a checkpoint's config is resolved
        check_payload(path, ckpt, net, cfg.epochs)
        net.load_state_dict(ckpt["model"])
        load_into(path, "optimizer state", optimizer, ckpt["optimizer"])
        load_into(path, "rule state", rule, ckpt.get("rule_state", {}))
        state = _Progress(
            epoch=ckpt["epoch"],
            best_model={k: v.to(cfg.device) for k, v in ckpt["best_model"].items()},
            best_rule_state=ckpt.get("best_rule_state", {}),
            best_epoch=ckpt["best_epoch"], best_val_accuracy=ckpt["best_val_accuracy"],
            best_val_loss=ckpt.get("best_val_loss", math.inf),
            history=list(ckpt["history"]), train_seconds=ckpt["train_seconds"],
        )
        if distributed.is_main():  # drop lines past the checkpoint
            write_jsonl(run_dir / "metrics.jsonl", state.history)
            changed = record_session(run_dir / "env.json", collect_env(cfg.device),
                                     epoch=state.epoch)
            if state.epoch < (cfg.epochs or 0):
                warn_not_exact(str(run_dir), changed)
        return _Session(cfg, task, net, rule, optimizer, state, run_dir, progress,
                        eval_chunk=chunk).train(on_epoch)


def load_network(run_dir: str | Path, *, best: bool = True,
                 device: str = "cpu") -> tuple[Network, Config]:
    """The network of the run in ``run_dir`` (best-validation or last weights) and its config.

    Raises:
        CheckpointError: a missing or corrupt checkpoint.
    """
    path = Path(run_dir) / CHECKPOINT_NAME
    ckpt = load_checkpoint(path, map_location="cpu")
    if not isinstance(ckpt["config"], dict):
        raise CheckpointError(f"checkpoint {str(path)!r} holds no config dict")
    cfg = Config.from_dict({**ckpt["config"], "device": device})
    net = _build(cfg, registry.make_task(cfg.task, cfg.task_options))[0]
    check_payload(path, ckpt, net, cfg.epochs or ckpt["epoch"])
    net.load_state_dict(ckpt["best_model"] if best and ckpt["best_model"] else ckpt["model"])
    return net, cfg


def _clone(net: Network) -> dict[str, Tensor]:
    return {k: v.detach().clone() for k, v in net.state_dict().items()}


@dataclass
class _Session:
    """One training session of a run (a fresh start or a resume): its objects and its loop."""

    cfg: Config
    task: Task
    net: Network
    rule: LearningRule
    optimizer: torch.optim.Optimizer
    state: _Progress
    run_dir: Path
    progress: bool
    log: TensorBoardLog | None = None
    eval_chunk: int = EVAL_BATCH
    hidden_spikes: float | None = None
    warned_silent: bool = False

    def train(self, on_epoch: EpochCallback | None) -> Result:
        """Train the remaining epochs, then test and write ``summary.json``."""
        cfg, state = self.cfg, self.state
        assert cfg.epochs is not None  # type narrowing: resolve_config fills every None
        train, val = self.task.split("train"), self.task.split("val")
        self.progress = self.progress and distributed.is_main()
        if cfg.tensorboard and distributed.is_main():
            self.log = TensorBoardLog(self.run_dir)
        with tqdm(total=cfg.epochs, initial=state.epoch, unit="epoch", disable=not self.progress,
                  desc=f"{cfg.task}/{cfg.rule}") as bar:
            for epoch in range(state.epoch + 1, cfg.epochs + 1):
                start = time.perf_counter()
                self.hidden_spikes = None
                train_loss, train_accuracy = self.train_epoch(train, epoch)
                val_accuracy = val_loss = None
                val_metrics: dict[str, float] = {}
                if epoch % cfg.eval_every == 0 or epoch == cfg.epochs:
                    ev = evaluate(self.net, self.task, val, seed=cfg.seed,
                                  simulate=self.rule.simulate, rule=self.rule,
                                  chunk=self.eval_chunk)
                    val_accuracy, val_loss = ev.accuracy, ev.loss
                    val_metrics = {f"val_{k}": v for k, v in ev.metrics.items()}
                    # the best validation accuracy; among equal ones, the lowest validation loss
                    if (val_accuracy, -val_loss) > (state.best_val_accuracy,
                                                    -state.best_val_loss):
                        state.best_model, state.best_epoch = _clone(self.net), epoch
                        state.best_rule_state = copy.deepcopy(self.rule.state_dict())
                        state.best_val_accuracy, state.best_val_loss = val_accuracy, val_loss
                seconds = time.perf_counter() - start
                record = {"epoch": epoch, "train_loss": train_loss,
                          "train_accuracy": train_accuracy, "val_accuracy": val_accuracy,
                          "val_loss": val_loss if val_loss is None or math.isfinite(val_loss)
                          else None,
                          "best_val_accuracy": state.best_val_accuracy, "epoch_seconds": seconds,
                          **val_metrics}
                if self.hidden_spikes is not None:
                    record["hidden_spikes_per_sample"] = self.hidden_spikes
                    self.warned_silent |= warn_silent(self.hidden_spikes, epoch,
                                                      warned=self.warned_silent)
                self.commit(epoch, seconds, record)
                logger.info("epoch %d/%d: %s", epoch, cfg.epochs, record)
                bar.update(1)
                bar.set_postfix(loss=f"{train_loss:.4g}", val_accuracy=val_accuracy)
                if on_epoch is not None:
                    on_epoch(dict(record))
        return self.finish()

    def train_epoch(self, data: TaskData, epoch: int) -> tuple[float, float]:
        """One pass over the training split shuffled by epoch's generator: (mean loss, accuracy)."""
        cfg, task, net = self.cfg, self.task, self.net
        assert cfg.batch_size is not None  # type narrowing: resolve_config fills every None
        assert cfg.lr is not None and cfg.epochs is not None
        lr = epoch_lr(cfg.lr, cfg.lr_schedule, epoch, cfg.epochs)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        g = _generator(cfg.seed, epoch)
        torch.manual_seed(cfg.seed * _SEED_STRIDE + epoch)  # dropout masks: resumable
        device = next(net.parameters()).device
        net.train()
        ctx = EpochContext(
            task=task, data=data, epoch=epoch, epochs=cfg.epochs,
            batch_size=self.rule.minibatch_size(cfg.batch_size),
            generator=g, optimizer=self.optimizer, lr=lr, device=device,
            schedule=lambda e, n: epoch_lr(cfg.lr, cfg.lr_schedule, e, n))
        own = self.rule.fit_epoch(net, ctx)
        if own is not None:
            if distributed.world_size() > 1:
                raise ValueError(f"rule {cfg.rule!r} trains with its own epoch loop, which "
                                 "--distributed cannot share out; train it without --distributed")
            return own
        self.rule.begin_epoch(net, ctx)
        order = torch.randperm(len(data), generator=g)
        total_loss, correct, hidden_spikes, recorded = 0.0, 0.0, 0.0, False
        world = distributed.world_size()
        batch_size = ctx.batch_size
        batches = range(0, len(data), batch_size)
        for i in tqdm(batches, leave=False, unit="batch", disable=not self.progress,
                      desc=f"epoch {epoch}"):
            index = order[i:i + batch_size]
            x = task.encode(data.inputs[index], generator=g).to(device)
            if i == 0:
                check_time_first(x, n_steps=task.n_steps, batch=len(index),
                                 owner=f"task {cfg.task!r} encode")
            y = data.labels[index].to(device)
            if world > 1:  # distributed: this rank's shard (the batch is encoded whole, above)
                part = distributed.shard(torch.arange(len(index), device=device))
                x, y = x[:, part], y[part]
            rollout = self.rule.simulate(net, x)
            loss = task.loss(rollout.outputs, y)
            if cfg.activity_reg > 0:
                from snnlearn.losses import activity_regularizer

                loss = loss + activity_regularizer(rollout.spikes, strength_upper=cfg.activity_reg)
            value = float(loss.detach())
            if world > 1:  # distributed: the global batch's mean loss, the same on every rank
                value = distributed.all_reduce_sum([value * len(y)], device)[0] / len(index)
            if not math.isfinite(value):
                raise TrainingError(
                    f"the loss became {value} at epoch {epoch}, batch {i // batch_size + 1}; "
                    + (f"the last good checkpoint (epoch {epoch - 1}) is kept in "
                       f"{str(self.run_dir)!r}" if epoch > 1 else
                       "no epoch finished, so there is no checkpoint")
                    + ". Lower the learning rate (--lr) or clip gradients (grad_clip) and train "
                    "again"
                )
            self.optimizer.zero_grad(set_to_none=True)
            self.rule.assign_grads(net, rollout, loss, target=y)
            distributed.all_reduce_grads(net.parameters(), len(y))  # a no-op in one process
            if cfg.grad_clip is not None:
                torch.nn.utils.clip_grad_norm_(net.parameters(), cfg.grad_clip)
            self.rule.optimizer_step(net, self.optimizer)
            net.constrain_()
            self.rule.after_step(net)
            total_loss += value * len(index)
            correct += float(_score(task, rollout.outputs.detach(), y).sum())
            hidden_spikes += sum(float(z.detach().sum()) for z in rollout.spikes)
            recorded |= len(rollout.spikes) > 0  # a rule that simulates rates records none
        if world > 1:  # distributed: every rank's correct predictions
            correct = distributed.all_reduce_sum([correct], device)[0]
        self.rule.end_epoch(net, ctx)
        n = max(len(data), 1)
        if net.spiking_layers and recorded:
            self.hidden_spikes = hidden_spikes / max(len(data) // max(world, 1), 1)
        return total_loss / n, correct / n

    def commit(self, epoch: int, seconds: float, record: dict[str, Any]) -> None:
        """Record a finished epoch: the checkpoint first, then its ``metrics.jsonl`` line."""
        state = self.state
        state.epoch, state.train_seconds = epoch, state.train_seconds + seconds
        state.history.append(record)
        if distributed.is_main():  # rank 0 alone writes the run folder; the others wait
            save_checkpoint(self.run_dir / CHECKPOINT_NAME, {
                "format_version": FORMAT_VERSION, "config": self.cfg.to_dict(), "epoch": epoch,
                "model": self.net.state_dict(), "optimizer": self.optimizer.state_dict(),
                "best_model": state.best_model, "best_rule_state": state.best_rule_state,
                "best_epoch": state.best_epoch,
                "best_val_accuracy": state.best_val_accuracy,
                "best_val_loss": state.best_val_loss, "history": state.history,
                "train_seconds": state.train_seconds, "rule_state": self.rule.state_dict(),
                "task_shape": task_shape(self.task),  # to rebuild the net without the data
            })
            with (self.run_dir / "metrics.jsonl").open("a") as f:
                f.write(json_text(record) + "\n")
            if self.log is not None:
                self.log.epoch(record)
        distributed.barrier()

    def finish(self) -> Result:
        """Test the final and the best-validation weights and write ``summary.json``."""
        cfg, state, net = self.cfg, self.state, self.net
        test = self.task.split("test")
        final = evaluate(net, self.task, test, seed=cfg.seed, simulate=self.rule.simulate,
                         rule=self.rule, chunk=self.eval_chunk)
        net.load_state_dict(state.best_model)
        self.rule.load_state_dict(state.best_rule_state)
        best = evaluate(net, self.task, test, seed=cfg.seed, simulate=self.rule.simulate,
                        rule=self.rule, chunk=self.eval_chunk)
        summary = {
            "task": cfg.task, "rule": cfg.rule, "test_accuracy": best.accuracy,
            "epochs": cfg.epochs, "seed": cfg.seed, "train_seconds": state.train_seconds,
            "peak_memory_mb": peak_memory_mb(cfg.device),
            "spikes_per_sample": best.spikes_per_sample,
            "synops_per_sample": best.synops_per_sample,
            "val_accuracy": state.best_val_accuracy, "best_epoch": state.best_epoch,
            "final_test_accuracy": final.accuracy,
            "silent_epochs": sum(1 for r in state.history if r.get("hidden_spikes_per_sample",
                                 math.inf) < SILENT_SPIKES_PER_SAMPLE),
            **{f"test_{k}": v for k, v in best.metrics.items()},
        }
        task_metrics = getattr(self.task, "summary_metrics", dict)()  # duck-typed tasks: none
        extra = {**self.rule.summary_metrics(), **task_metrics}
        clash = sorted(set(extra) & set(summary))
        if clash:
            raise ValueError(f"rule {cfg.rule!r} reports summary keys that clash: {clash}")
        summary.update(extra)
        if "weight_updates" not in summary and type(self.rule).fit_epoch is LearningRule.fit_epoch:
            # the runner's own loop: one optimizer step per minibatch
            n_train = len(self.task.split("train"))
            batch = self.rule.minibatch_size(cfg.batch_size or 1)
            summary["weight_updates"] = cfg.epochs * math.ceil(n_train / batch)
        if distributed.is_main():
            write_json(self.run_dir / "summary.json", summary)
        if self.log is not None:
            self.log.summary(summary)
        return Result(summary=summary, run_dir=self.run_dir, network=net)


def read_summary(run_dir: str | Path) -> Mapping[str, Any]:
    """The ``summary.json`` of a finished run.

    Raises:
        FileNotFoundError: the run has no summary (it is unfinished: resume it).
        RunFileError: ``summary.json`` is not a JSON object (the message names the file).
    """
    path = Path(run_dir) / "summary.json"
    if not path.exists():
        raise FileNotFoundError(
            f"{str(path)!r} does not exist: the run is unfinished or {str(run_dir)!r} is not a run "
            f"folder; finish it with `snnlearn resume {run_dir}`"
        )
    return read_json(path, what="run summary")
