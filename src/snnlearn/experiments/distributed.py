"""Data-parallel training over ``torch.distributed`` (one process per GPU or CPU, ``torchrun``).

Every rank builds the same network from the run's seed and draws the same per-epoch shuffling
and encoding generator, so every rank knows every global minibatch. Rank ``r`` of ``W`` trains
on the disjoint shard ``batch[r::W]`` of each global batch (see :func:`shard`), the rule writes
its descent direction to ``.grad`` as usual, and :func:`all_reduce_grads` replaces each
``.grad`` by the sample-weighted mean over ranks

.. math::

    g = \\frac{1}{N} \\sum_r n_r \\, g_r , \\qquad N = \\sum_r n_r ,

which is the gradient of the batch-mean loss over the whole global batch (each rank's loss is
the mean over its ``n_r`` samples). With equal shards this is the plain average over ranks.
Every rank then takes the same optimizer step, so the weights stay identical on every rank;
only rank 0 writes the run folder.

Why an explicit all-reduce of ``.grad`` and not ``DistributedDataParallel``: DDP reduces
gradients from autograd hooks during ``backward``, but many rules (e-prop, EventProp, FA/DFA,
the local rules) write ``.grad`` without calling ``backward`` on the parameters, or simulate
the network without its ``forward``. Reducing ``.grad`` after
:meth:`~snnlearn.learning.LearningRule.assign_grads` works for every rule that writes
``.grad``, at the cost of not overlapping communication with the backward pass (negligible for
networks of this size). The reduction is one collective per minibatch (the gradients, flattened).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import torch
from torch import Tensor

if TYPE_CHECKING:
    from snnlearn.learning import LearningRule

__all__ = [
    "TORCHRUN_VARIABLES", "setup", "teardown", "is_active", "rank", "world_size", "is_main",
    "barrier", "shard", "all_reduce_grads", "all_reduce_sum", "any_rank", "session",
    "check_supported",
]

TORCHRUN_VARIABLES = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")
"""Environment variables that ``torchrun`` sets for each process."""


def is_active() -> bool:
    """Whether a ``torch.distributed`` process group is initialised in this process."""
    return torch.distributed.is_available() and torch.distributed.is_initialized()


def rank() -> int:
    """This process's rank (0 without a process group).

    Example:
        >>> rank()
        0
    """
    return torch.distributed.get_rank() if is_active() else 0


def world_size() -> int:
    """The number of processes (1 without a process group).

    Example:
        >>> world_size()
        1
    """
    return torch.distributed.get_world_size() if is_active() else 1


def is_main() -> bool:
    """Whether this process is rank 0, the only one that writes files."""
    return rank() == 0


def setup(device: str) -> bool:
    """Join the process group that ``torchrun`` describes, unless one is already initialised.

    The backend is ``nccl`` for ``device="cuda"`` (each process then uses GPU ``LOCAL_RANK``)
    and ``gloo`` for the CPU.

    Args:
        device: the run's device, ``"cpu"`` or ``"cuda"``.

    Returns:
        Whether this call initialised the group (then :func:`teardown` should destroy it).

    Raises:
        RuntimeError: ``torch.distributed`` is unavailable, or the process was not started by
            ``torchrun`` (its environment variables are missing).
    """
    if not torch.distributed.is_available():
        raise RuntimeError("distributed training needs a torch build with torch.distributed; "
                           "this one has none: train without --distributed")
    if is_active():
        return False
    missing = [name for name in TORCHRUN_VARIABLES if name not in os.environ]
    if missing:
        raise RuntimeError(
            f"distributed training needs the environment that torchrun sets, but "
            f"{', '.join(missing)} {'is' if len(missing) == 1 else 'are'} not set; launch with "
            "`torchrun --nproc_per_node=N -m snnlearn train --distributed ...` or train without "
            "--distributed"
        )
    if device == "cuda":
        torch.cuda.set_device(int(os.environ["LOCAL_RANK"]))
    torch.distributed.init_process_group("nccl" if device == "cuda" else "gloo")
    return True


def teardown(initialised: bool) -> None:
    """Destroy the process group if :func:`setup` created it (``initialised`` is its result)."""
    if initialised and is_active():
        torch.distributed.destroy_process_group()


def barrier() -> None:
    """Wait until every rank gets here (e.g. until rank 0 has written a checkpoint); no-op alone.

    Example:
        >>> barrier()
    """
    if world_size() > 1:
        torch.distributed.barrier()


def shard(index: Tensor) -> Tensor:
    """This rank's part ``index[rank::world_size]`` of a global minibatch's sample indices.

    The shards of all ranks are disjoint and together hold the whole batch; their sizes differ
    by at most one (a rank may get none from a short last batch).

    Example:
        >>> shard(torch.arange(5))  # a single process keeps the whole batch
        tensor([0, 1, 2, 3, 4])
    """
    return index[rank()::world_size()]


def _device_of(params: list[torch.nn.Parameter]) -> torch.device:
    return params[0].device if params else torch.device("cpu")


def all_reduce_grads(parameters: Iterable[torch.nn.Parameter], n_local: int) -> None:
    """Replace each ``.grad`` by the sample-weighted mean over ranks (module docstring).

    A rank whose shard is empty (``n_local = 0``) contributes nothing; a parameter keeps
    ``grad = None`` only if no rank wrote a gradient for it (so that the optimizer skips it as
    it would in a single process). Every rank must call this once per minibatch, in the same
    order. Without a process group (or with one process) this does nothing.

    Args:
        parameters: the network's parameters (the same order on every rank).
        n_local: the number of samples in this rank's shard (whose mean loss gave ``.grad``).

    Raises:
        ValueError: ``n_local`` is negative.
    """
    if n_local < 0:
        raise ValueError(f"n_local must be >= 0 samples, got {n_local}")
    if world_size() == 1:
        return
    params = list(parameters)
    device = _device_of(params)
    dtype = next((p.grad.dtype for p in params if p.grad is not None), torch.float32)
    parts = [(p.grad.reshape(-1).to(dtype) * n_local if p.grad is not None and n_local > 0
              else torch.zeros(p.numel(), dtype=dtype, device=device)) for p in params]
    flags = torch.tensor([float(p.grad is not None and n_local > 0) for p in params],
                         dtype=dtype, device=device)
    counts = torch.tensor([float(n_local)], dtype=dtype, device=device)
    flat = torch.cat([*parts, flags, counts])
    torch.distributed.all_reduce(flat)
    total = flat[-1]
    offset = 0
    for p, had in zip(params, flat[-1 - len(params):-1].tolist(), strict=True):
        n = p.numel()
        if had > 0:
            p.grad = (flat[offset:offset + n] / total).view_as(p).to(p.dtype)
        else:
            p.grad = None
        offset += n


def all_reduce_sum(values: list[float], device: str | torch.device = "cpu") -> list[float]:
    """The element-wise sum over ranks of ``values`` (in float64); ``values`` itself alone.

    Example:
        >>> all_reduce_sum([1.5, 2.0])
        [1.5, 2.0]
    """
    if world_size() == 1:
        return list(values)
    t = torch.tensor(values, dtype=torch.float64, device=device)
    torch.distributed.all_reduce(t)
    return t.tolist()


def any_rank(flag: bool, device: str | torch.device = "cpu") -> bool:
    """Whether ``flag`` is true on any rank (so that all ranks take the same branch).

    Example:
        >>> any_rank(False)
        False
    """
    return all_reduce_sum([float(flag)], device)[0] > 0


@contextmanager
def session(enabled: bool, device: str) -> Iterator[None]:
    """Within: the process group of ``torchrun`` if ``enabled`` (:func:`setup`, :func:`teardown`).

    Example:
        >>> with session(False, "cpu"):
        ...     world_size()
        1
    """
    initialised = setup(device) if enabled else False
    try:
        yield
    finally:
        teardown(initialised)


def check_supported(rule: LearningRule, n_samples: int, batch_size: int) -> None:
    """Refuse what data-parallel training over :func:`world_size` processes cannot reproduce.

    Args:
        rule: the run's learning rule, after ``prepare``.
        n_samples: the number of training samples.
        batch_size: the global minibatch size.

    Raises:
        ValueError: the rule keeps training state of its own (it would change with the shard
            each process sees and differ between processes), or a global minibatch (the last
            one included) has fewer samples than there are processes.
    """
    world = world_size()
    if world == 1:
        return
    state = rule.state_dict()
    if state:
        raise ValueError(
            f"rule {rule.name!r} keeps training state of its own ({', '.join(sorted(state))}) "
            f"that depends on the samples a process sees, so {world} processes would diverge; "
            "train it without --distributed"
        )
    last = n_samples % batch_size or batch_size
    if min(batch_size, last, n_samples) < world:
        raise ValueError(
            f"every global minibatch needs at least one sample per process, but batch_size "
            f"{batch_size} over {n_samples} training samples gives a minibatch of "
            f"{min(batch_size, last, n_samples)} for {world} processes; choose a batch size "
            f">= {world} whose last minibatch also has >= {world} samples, or fewer processes"
        )
