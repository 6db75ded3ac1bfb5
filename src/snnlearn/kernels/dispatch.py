"""One dispatch for the fused sequence kernels: which implementation runs a layer's time loop.

Backends (all give the same spikes and, to rounding, the same gradients; the tests check each
against ``reference``):

- ``"reference"``: the specification: the neuron's step function called once per step, with
  autograd recording every step (slow, memory ``O(T)`` autograd nodes).
- ``"torch"``: one autograd Function whose forward and hand-written backward loop over time in
  plain torch operations; runs on any device.
- ``"cpu"``: the same Function with both loops compiled by numba, parallel over neurons
  (CPU tensors; float32 and float64 computed in their own precision, float16/bfloat16 inputs
  computed in float32 and returned in their dtype).
- ``"triton"``: the same Function with both loops as Triton kernels, one launch for all steps
  (CUDA tensors; CPU tensors only under Triton's interpreter, ``TRITON_INTERPRET=1``, for
  tests; built-in surrogates; computed in float32, float64 data runs the torch loops).
- ``"auto"`` (default): ``"triton"`` for CUDA tensors when Triton is installed, ``"cpu"`` for
  CPU tensors when numba is installed, else ``"torch"`` (and ``"torch"`` whenever the
  surrogate is not one of the built-in ones).

The default can be set for a process with :func:`set_default_backend` or the environment
variable ``SNNLEARN_KERNELS``; every fused call also takes an explicit ``backend``.
"""

from __future__ import annotations

import functools
import math
import os
from typing import Literal

import torch
from torch import Tensor

from snnlearn.surrogate import ATan, FastSigmoid, Surrogate, Triangle

__all__ = [
    "BACKENDS", "Backend", "get_default_backend", "numba_available", "resolve_backend",
    "set_default_backend", "triton_available",
]

Backend = Literal["auto", "reference", "torch", "cpu", "triton"]
BACKENDS: tuple[str, ...] = ("auto", "reference", "torch", "cpu", "triton")


def _check(name: object) -> str:
    if not isinstance(name, str) or name not in BACKENDS:
        raise ValueError(f"unknown kernel backend {name!r}; valid backends: {', '.join(BACKENDS)}")
    return name


_default: list[str] = [_check(os.environ.get("SNNLEARN_KERNELS", "auto"))]


def set_default_backend(name: str) -> None:
    """Set the backend used when a fused call passes none (``"auto"`` restores the default).

    Example:
        >>> set_default_backend("torch"); get_default_backend()
        'torch'
        >>> set_default_backend("auto")
    """
    _default[0] = _check(name)


def get_default_backend() -> str:
    """The process-wide default backend (see :func:`set_default_backend`)."""
    return _default[0]


@functools.cache
def numba_available() -> bool:
    """Whether the compiled CPU loops can be used (numba importable)."""
    try:
        import snnlearn.kernels._numba_cpu  # noqa: F401
    except ImportError:
        return False
    return True


@functools.cache
def triton_available() -> bool:
    """Whether the Triton kernels can be used (triton importable)."""
    try:
        import triton  # noqa: F401
    except ImportError:
        return False
    return True


def _triton_blocker(x: Tensor, surrogate: Surrogate | None) -> str | None:
    """Why the ``"triton"`` backend cannot run on ``x`` (``None`` if it can)."""
    if not triton_available():
        return "triton is not installed"
    if x.device.type == "cpu" and os.environ.get("TRITON_INTERPRET") != "1":
        return "the tensor is on the CPU and TRITON_INTERPRET=1 (Triton's interpreter) is not set"
    if x.device.type not in ("cpu", "cuda"):
        return "the tensor is on " + str(x.device)
    if surrogate is not None and surrogate_code(surrogate) is None:
        return f"the surrogate {type(surrogate).__name__} is not a built-in one"
    return None


def surrogate_code(surrogate: Surrogate) -> tuple[int, float] | None:
    """``(code, scale)`` of a built-in surrogate for the compiled loops; ``None`` otherwise.

    The arctan scale is returned premultiplied by ``pi / 2`` as :class:`~snnlearn.surrogate.ATan`
    computes it.
    """
    if type(surrogate) is FastSigmoid:
        return 0, surrogate.scale
    if type(surrogate) is ATan:
        return 1, 0.5 * math.pi * surrogate.scale
    if type(surrogate) is Triangle:
        return 2, surrogate.scale
    return None


def resolve_backend(backend: str | None, x: Tensor, surrogate: Surrogate | None = None) -> str:
    """The concrete backend (``reference``, ``torch``, ``cpu`` or ``triton``) that runs on ``x``.

    Raises:
        ValueError: an unknown backend, or ``"cpu"`` / ``"triton"`` asked for where it cannot
            run (a tensor on another device, numba / triton missing, a CPU tensor for Triton
            without ``TRITON_INTERPRET=1``, or a surrogate the compiled loops do not know).
    """
    name = _check(get_default_backend() if backend is None else backend)
    cpu_ok = (x.device.type == "cpu" and numba_available()
              and (surrogate is None or surrogate_code(surrogate) is not None))
    if name == "auto":
        if x.device.type == "cuda" and _triton_blocker(x, surrogate) is None:
            return "triton"
        return "cpu" if cpu_ok else "torch"
    if name == "triton":
        why = _triton_blocker(x, surrogate)
        if why is not None:
            raise ValueError(f"kernel backend 'triton' cannot run here: {why}; use 'auto' or "
                             "'torch'")
    if name == "cpu" and not cpu_ok:
        why = ("the tensor is on " + str(x.device) if x.device.type != "cpu"
               else "numba is not installed" if not numba_available()
               else f"the surrogate {type(surrogate).__name__} is not a built-in one")
        raise ValueError(f"kernel backend 'cpu' cannot run here: {why}; use 'auto' or 'torch'")
    return name


def compute_dtype(dtype: torch.dtype) -> torch.dtype:
    """The dtype the compiled loops compute in for data of ``dtype``."""
    return dtype if dtype in (torch.float32, torch.float64) else torch.float32
