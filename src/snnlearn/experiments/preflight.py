"""Start-up checks: no empty split, and a memory estimate that refuses a run that cannot fit
before any epoch is spent.

The network is built on PyTorch's ``meta`` device (shapes only, nothing allocated), and the
estimate adds, in bytes of the weight dtype:

- weights: every parameter 6 times (the weights, their gradient, Adam's two moments, the
  best-validation copy and the checkpoint being serialised);
- training activations: ``T * B * (n_in + 5 * N)`` for a batch of ``B`` samples of ``T`` steps
  through layers with ``N`` units in all (state, currents, spikes and what autograd keeps);
- evaluation activations: ``T * C * (n_in + 3 * N)`` for an evaluation chunk of ``C`` samples
  (no gradient);
- delayed synapses: the tap tensor ``K * n_out * n_in`` three times (kernel, gradient, the
  convolution's weight) and the padded input ``B * n_in * (T + K)`` twice.

A run whose training step does not fit into the memory available (``MemAvailable`` and the
cgroup limit on the CPU, the free memory of the GPU) is refused with
:class:`MemoryBudgetError`; evaluation runs in chunks of ``C`` samples, the largest up to
:data:`~snnlearn.experiments.runner.EVAL_BATCH` that fits. The estimate leaves out what a
learning rule keeps besides (e.g. e-prop's eligibility traces), so it is a lower bound: it refuses
what surely cannot fit, never what may.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import torch
from torch import nn

__all__ = ["MemoryBudgetError", "MemoryEstimate", "estimate_memory", "available_memory",
           "check_memory", "check_splits"]

_WEIGHT_COPIES = 6
_TRAIN_FACTOR = 5
_EVAL_FACTOR = 3


class MemoryBudgetError(ValueError):
    """The run needs more memory than the device has (the message gives the estimate)."""


class MemoryEstimate(NamedTuple):
    """Bytes a run needs: its weights, one training batch, and one evaluation sample."""

    weights: int
    train_batch: int
    eval_per_sample: int
    eval_fixed: int

    def evaluation(self, chunk: int) -> int:
        """Bytes of evaluation in chunks of ``chunk`` samples."""
        return self.weights + self.eval_fixed + chunk * self.eval_per_sample


def _gib(n: float) -> str:
    return f"{n / 2**30:.1f} GiB" if n >= 2**28 else f"{n / 2**20:.0f} MiB"


def estimate_memory(net: nn.Module, *, n_steps: int, batch_size: int) -> MemoryEstimate:
    """Estimate the memory of training and evaluating ``net`` (see the module docstring).

    ``net`` may live on the ``meta`` device: only shapes are read.
    """
    from snnlearn.layers.delay import Delayed

    params = list(net.parameters())
    item = params[0].element_size() if params else 4
    weights = _WEIGHT_COPIES * item * sum(p.numel() for p in params)
    n_in = math.prod(getattr(net, "in_shape", (0,)))
    units = sum(math.prod(layer.out_shape) for layer in getattr(net, "layers", [])
                if hasattr(layer, "out_shape"))
    delay_fixed = delay_per_sample = 0
    for module in net.modules():
        if isinstance(module, Delayed):
            k, (n_out, n_syn) = module.n_taps, tuple(module.delay.shape)
            delay_fixed += 3 * item * k * n_out * n_syn
            delay_per_sample += 2 * item * n_syn * (n_steps + k)
    train = item * n_steps * batch_size * (n_in + _TRAIN_FACTOR * units)
    train += delay_fixed + batch_size * delay_per_sample
    per_sample = item * n_steps * (n_in + _EVAL_FACTOR * units) + delay_per_sample
    return MemoryEstimate(weights, train, per_sample, delay_fixed)


def _read_int(path: str) -> int | None:
    try:
        text = Path(path).read_text().split()[0]
    except (OSError, IndexError):
        return None
    return int(text) if text.isdigit() else None


def available_memory(device: str) -> int | None:
    """Bytes free for a run on ``device``, or ``None`` where the platform does not say."""
    if device == "cuda":
        if not torch.cuda.is_available():
            return None
        free, _ = torch.cuda.mem_get_info()
        return int(free)
    free: list[int] = []
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                free.append(int(line.split()[1]) * 1024)
    except (OSError, ValueError, IndexError):
        pass
    limit, used = _read_int("/sys/fs/cgroup/memory.max"), _read_int(
        "/sys/fs/cgroup/memory.current")
    if limit is not None and used is not None:
        free.append(max(limit - used, 0))
    if not free:
        try:
            free.append(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
        except (ValueError, OSError, AttributeError):
            return None
    return min(free)


def check_memory(build_meta: Callable[[], nn.Module], *, n_steps: int, batch_size: int,
                 device: str, eval_batch: int, what: str,
                 available: int | None = None) -> int:
    """Refuse a run whose training step cannot fit; return the evaluation chunk size that fits.

    Args:
        build_meta: builds the run's network on the ``meta`` device.
        n_steps: time steps ``T`` of a sample.
        batch_size: the training batch ``B``.
        device: ``"cpu"`` or ``"cuda"``.
        eval_batch: the largest evaluation chunk.
        what: the run's options that set the size (for the message), e.g. ``"--hidden 30000"``.
        available: bytes available (default :func:`available_memory`).

    Returns:
        The evaluation chunk ``C`` (1 .. ``eval_batch``).

    Raises:
        MemoryBudgetError: the weights and one training batch need more than is available.
    """
    try:
        with torch.device("meta"):
            net = build_meta()
    except RuntimeError:  # a layer that cannot be built on the meta device: no estimate
        return eval_batch
    estimate = estimate_memory(net, n_steps=n_steps, batch_size=batch_size)
    free = available_memory(device) if available is None else available
    if free is None:
        return eval_batch
    need = estimate.weights + estimate.train_batch
    if need > free:
        raise MemoryBudgetError(
            f"this run needs about {_gib(need)} on {device} (weights {_gib(estimate.weights)}, "
            f"a training batch of {batch_size} x {n_steps} steps {_gib(estimate.train_batch)}; "
            f"{what}) but {_gib(free)} is available; use fewer or smaller layers, a smaller "
            "--batch-size or a shorter --max-delay"
        )
    room = free - estimate.weights - estimate.eval_fixed
    return max(1, min(eval_batch, room // max(estimate.eval_per_sample, 1)))


def check_splits(task: object, name: str) -> None:
    """Refuse a task with an empty split: training on nothing, or a meaningless 0 % score.

    Raises:
        ValueError: a split of ``task`` holds no sample (the message names the task and split).
    """
    for split in ("train", "val", "test"):
        n = len(task.split(split))  # type: ignore[attr-defined]
        if n == 0:
            raise ValueError(
                f"task {name!r}: the {split} split holds no samples; an empty split can neither "
                "be trained on nor scored (check the data files or the task options)"
            )
