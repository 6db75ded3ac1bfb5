"""What the Triton LIF and LI kernels share (private): compiling, launching, flat views.

Every kernel runs one program per block of ``BLOCK`` neurons of the flattened population
(``M = B * N``) and loops over all ``T`` steps inside, the state held in registers, so a whole
sequence is one launch. The kernel functions are written undecorated and compiled on first use,
once for each mode of Triton's ``TRITON_INTERPRET`` switch as it is set at that moment (the
interpreter runs them on CPU tensors; compiled code needs a CUDA device). Launches disable
floating-point contraction (no fused multiply-add), so that each operation rounds as the torch
loops of :mod:`snnlearn.kernels.lif_scan` and :mod:`snnlearn.kernels.li_scan` round it and the
spikes come out identical in float32.

Importable without Triton (the import is deferred to the first launch).
"""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

__all__ = ["block_size", "flat", "launch", "rows", "runs_natively"]


def runs_natively(x: Tensor) -> bool:
    """Whether the kernels run on ``x [T, ...]`` (otherwise, float64 or empty data, the torch
    loops do; those exist for LIF only)."""
    return x.shape[0] > 0 and x[0].numel() > 0 and x.dtype != torch.float64


def block_size(m: int) -> tuple[int, int]:
    """``(BLOCK, num_warps)`` for ``m`` neurons: smaller blocks when ``m`` is small, so that more
    programs (each a sequential loop over time) run side by side."""
    if m >= 1 << 17:
        return 256, 4
    if m >= 1 << 14:
        return 128, 4
    return 64, 2


@functools.cache
def _compiled(fn: Callable[..., Any], interpret: bool) -> Any:
    import triton

    del interpret  # part of the cache key only: triton.jit reads the switch itself
    return triton.jit(fn, do_not_specialize=["T"])


def launch(fn: Callable[..., Any], m: int, *args: Any, **constexprs: Any) -> None:
    """Run kernel ``fn`` over ``m`` neurons (grid ``ceil(m / BLOCK)``) with ``args`` and the
    ``constexprs`` (plus ``BLOCK``)."""
    try:
        from triton import knobs  # Triton >= 3.4

        interpret = bool(knobs.runtime.interpret)
    except ImportError:
        interpret = os.environ.get("TRITON_INTERPRET", "0") == "1"
    block, warps = block_size(m)
    kernel = _compiled(fn, interpret)
    kernel[(math.ceil(m / block),)](*args, BLOCK=block, num_warps=warps,
                                    enable_fp_fusion=False, **constexprs)


def rows(x: Tensor, t: int, m: int) -> tuple[Tensor, int, int]:
    """``x`` as ``[t, m]`` (a view where its strides allow one, else a copy) and its strides.

    Zero strides (a broadcast gradient such as that of ``z.sum()``) are kept, not materialised.
    """
    x2 = x.detach().reshape(t, m)
    return x2, x2.stride(0), x2.stride(1)


def flat(x: Tensor | None, m: int, like: Tensor) -> Tensor:
    """``x`` as a contiguous ``[m]`` tensor (zeros of ``like``'s device when ``x`` is None)."""
    if x is None:
        return torch.zeros(m, dtype=torch.float32, device=like.device)
    return x.detach().reshape(m).contiguous()
