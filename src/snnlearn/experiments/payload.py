"""A checkpoint's payload checked against the run's config and network before it is used.

A checkpoint that verifies against its digest may still not fit the run: written by an older
version with renamed layers, edited, or holding weights that went NaN. :func:`check_payload`
checks what the runner reads (the epoch range, the best epoch, the history, the timing, the
model and best-model tensors: keys, shapes and finite values) and raises one
:class:`~snnlearn.experiments.checkpoint.CheckpointError` naming the file and the entry.
"""

from __future__ import annotations

import math
import numbers
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from snnlearn.experiments.checkpoint import CheckpointError

__all__ = ["check_payload", "load_into"]

_RESTART = "restore the run folder from a backup, or start the run again with `snnlearn train`"


def _int(value: object) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _tensors(path: Path, name: str, state: object, reference: dict[str, Tensor]) -> None:
    if not isinstance(state, dict):
        raise CheckpointError(f"checkpoint {str(path)!r}: {name!r} is a {type(state).__name__}, "
                              f"expected a dict of tensors; {_RESTART}")
    missing = sorted(set(reference) - set(state))
    unexpected = sorted(set(state) - set(reference))
    if missing or unexpected:
        parts = ([f"missing {', '.join(missing[:4])}"] if missing else []) + (
            [f"unexpected {', '.join(unexpected[:4])}"] if unexpected else [])
        raise CheckpointError(
            f"checkpoint {str(path)!r}: {name!r} does not fit this run's network ("
            f"{'; '.join(parts)}): it was written for another architecture or snnlearn version; "
            f"{_RESTART}"
        )
    for key, ref in reference.items():
        value = state[key]
        # an empty reference is a buffer a rule sizes when it trains (e.g. a support set)
        fits = isinstance(value, Tensor) and (
            tuple(value.shape) == tuple(ref.shape) or (ref.numel() == 0 and ref.dim() > 0
                                                       and value.dim() == ref.dim()))
        if not fits:
            got = tuple(value.shape) if isinstance(value, Tensor) else type(value).__name__
            raise CheckpointError(
                f"checkpoint {str(path)!r}: {name}[{key!r}] has shape {got}, but this run's "
                f"network has {tuple(ref.shape)}; {_RESTART}"
            )
        if value.is_floating_point() and not bool(torch.isfinite(value).all()):
            bad = int((~torch.isfinite(value)).sum())
            raise CheckpointError(
                f"checkpoint {str(path)!r}: {name}[{key!r}] holds {bad} NaN or Inf values; "
                f"training from it cannot recover. {_RESTART}"
            )


def check_payload(path: str | Path, ckpt: dict[str, Any], net: nn.Module, epochs: int) -> None:
    """Raise :class:`CheckpointError` unless ``ckpt`` fits ``net`` and a run of ``epochs``.

    Checks: ``epoch`` an int in ``[1, epochs]``; ``best_epoch`` an int in ``[0, epoch]``;
    ``history`` a list of ``epoch`` dicts numbered ``1 .. epoch``; ``train_seconds`` a finite
    number ``>= 0``; ``best_val_accuracy`` a number; ``model`` and ``best_model`` the network's
    keys and shapes, with finite floating values.
    """
    path = Path(path)
    epoch, best = ckpt.get("epoch"), ckpt.get("best_epoch")
    if not _int(epoch) or not 1 <= epoch <= epochs:  # type: ignore[operator]
        raise CheckpointError(f"checkpoint {str(path)!r}: epoch {epoch!r} is outside the run's "
                              f"1 .. {epochs}; {_RESTART}")
    if not _int(best) or not 0 <= best <= epoch:  # type: ignore[operator]
        raise CheckpointError(f"checkpoint {str(path)!r}: best_epoch {best!r} is outside "
                              f"0 .. {epoch}; {_RESTART}")
    history = ckpt.get("history")
    if (not isinstance(history, list) or len(history) != epoch
            or any(not isinstance(r, dict) or r.get("epoch") != k + 1
                   for k, r in enumerate(history))):
        raise CheckpointError(f"checkpoint {str(path)!r}: 'history' is not the list of the "
                              f"{epoch} epoch records; {_RESTART}")
    seconds = ckpt.get("train_seconds")
    if (not isinstance(seconds, numbers.Real) or isinstance(seconds, bool)
            or not math.isfinite(seconds) or seconds < 0):
        raise CheckpointError(f"checkpoint {str(path)!r}: train_seconds {seconds!r} is not a "
                              f"finite number >= 0; {_RESTART}")
    accuracy = ckpt.get("best_val_accuracy")
    if not isinstance(accuracy, numbers.Real) or isinstance(accuracy, bool):
        raise CheckpointError(f"checkpoint {str(path)!r}: best_val_accuracy {accuracy!r} is not "
                              f"a number; {_RESTART}")
    reference = net.state_dict()
    _tensors(path, "model", ckpt.get("model"), reference)
    if ckpt.get("best_model"):
        _tensors(path, "best_model", ckpt.get("best_model"), reference)


def load_into(path: str | Path, name: str, target: Any, state: object) -> None:
    """``target.load_state_dict(state)``, any failure a :class:`CheckpointError` naming
    ``name`` (for the optimizer's and the rule's states, which have no fixed schema)."""
    try:
        target.load_state_dict(state)
    except Exception as err:  # noqa: BLE001 - torch and rules raise many types
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise CheckpointError(f"checkpoint {str(path)!r}: its {name} does not fit this run "
                              f"({type(err).__name__}: {first}); {_RESTART}") from None
