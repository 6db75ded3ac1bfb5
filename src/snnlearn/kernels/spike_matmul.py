"""Event-driven input projection: ``x W^T + b`` that only touches the nonzero inputs.

Spike inputs are mostly zeros (the Spiking Heidelberg Digits: about 5 % ones), so on the CPU the
projection of a whole sequence is computed from the nonzeros of ``x`` alone (``R`` rows of ``K``
inputs, ``N`` outputs):

.. math::

    y_r = \\sum_{k : x_{rk} \\ne 0} x_{rk} W_{:,k}, \\qquad
    \\frac{\\partial L}{\\partial W_{:,k}} = \\sum_{r : x_{rk} \\ne 0} x_{rk} g_r, \\qquad
    \\frac{\\partial L}{\\partial x} = g W

Forward and weight gradient cost ``O(nnz N)`` instead of ``O(R K N)``; the input gradient (only
computed when ``x`` requires it) is a dense matrix product, since ``g`` is dense. The values of
the nonzeros are used, so the result is the exact product for any input, binary or not: there is
no "is this binary?" assumption to get wrong. What decides the path is the measured density: one
compiled pass counts the nonzeros, and above ``max_density`` (or off the CPU, without numba, with
the ``reference``/``torch`` kernel backend, or for mismatched dtypes) the call is plain
:func:`torch.nn.functional.linear`. Sums run in column (forward) and row (weight gradient) order,
so results equal the dense product to rounding (exactly, when every partial sum is
representable, e.g. 0/1 inputs and small-integer weights); they are deterministic.
Memory: the nonzeros are kept for the backward pass as CSR (8 + 4 bytes per nonzero with int64
row pointers per row) instead of ``x``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from snnlearn.kernels.dispatch import resolve_backend

__all__ = ["spike_linear", "MAX_DENSITY"]

MAX_DENSITY = 0.1
"""Default density (fraction of nonzero inputs) above which the dense product is used."""


class _SparseInputLinear(torch.autograd.Function):
    @staticmethod
    def forward(  # type: ignore[override]
        x: Tensor, weight: Tensor, row_ptr: np.ndarray, cols: np.ndarray, vals: np.ndarray
    ) -> Tensor:
        from snnlearn.kernels import _numba_cpu as nb

        wt = weight.detach().t().contiguous()
        out = torch.empty((row_ptr.shape[0] - 1, weight.shape[0]), dtype=weight.dtype)
        nb.csr_matmul(row_ptr, cols, vals, wt.numpy(), out.numpy())
        return out

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Any, ...], output: Tensor) -> None:
        x, weight, row_ptr, cols, vals = inputs
        ctx.csr = (row_ptr, cols, vals)
        ctx.n_in, ctx.x_shape = x.shape[-1], x.shape
        ctx.save_for_backward(weight)

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Tensor | None, ...]:  # type: ignore[override]
        from snnlearn.kernels import _numba_cpu as nb

        (weight,) = ctx.saved_tensors
        g = g.to(weight.dtype).contiguous()
        g_x = g_w = None
        if ctx.needs_input_grad[0]:
            g_x = (g @ weight).reshape(ctx.x_shape)
        if ctx.needs_input_grad[1]:
            row_ptr, cols, vals = ctx.csr
            k = ctx.n_in
            col_ptr = np.empty(k + 1, dtype=np.int64)
            rows = np.empty(cols.shape[0], dtype=np.int32)
            cvals = np.empty_like(vals)
            nb.csr_to_csc(row_ptr, cols, vals, k, col_ptr, rows, cvals)
            g_wt = torch.empty((k, weight.shape[0]), dtype=weight.dtype)
            nb.csc_matmul_t(col_ptr, rows, cvals, g.numpy(), g_wt.numpy())
            g_w = g_wt.t().contiguous()
        return g_x, g_w, None, None, None


def _eligible(x: Tensor, weight: Tensor, backend: str | None) -> bool:
    return (
        x.device.type == "cpu" and weight.device.type == "cpu" and x.dim() >= 2
        and weight.dim() == 2 and x.shape[-1] == weight.shape[1] and x.numel() > 0
        and x.dtype == weight.dtype and x.dtype in (torch.float32, torch.float64)
        and resolve_backend(backend, x) == "cpu"
    )


def spike_linear(
    x: Tensor, weight: Tensor, bias: Tensor | None = None, *, max_density: float = MAX_DENSITY,
    backend: str | None = None,
) -> Tensor:
    """``F.linear(x, weight, bias)``, computed from the nonzeros of ``x`` when they are few.

    Args:
        x: input ``[..., K]`` (e.g. spikes ``[T, B, K]``).
        weight: ``[N, K]``.
        bias: ``[N]`` or ``None``.
        max_density: use the event-driven path only if at most this fraction of ``x`` is
            nonzero (in ``[0, 1]``).
        backend: kernel backend (:mod:`snnlearn.kernels.dispatch`); only ``"cpu"`` (also what
            ``"auto"`` picks for CPU tensors with numba) takes the event-driven path.

    Shapes:
        ``x [..., K] -> [..., N]``.

    Returns:
        The projection, with gradients for ``x``, ``weight`` and ``bias`` as
        :func:`torch.nn.functional.linear` gives them (to rounding).

    Raises:
        ValueError: ``max_density`` outside ``[0, 1]``, or ``backend="cpu"`` where it cannot run.

    Example:
        >>> w = torch.arange(6.0).reshape(2, 3)
        >>> spike_linear(torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 1.0]]), w).tolist()
        [[0.0, 3.0], [3.0, 9.0]]
    """
    if not 0.0 <= max_density <= 1.0:
        raise ValueError(f"max_density must be in [0, 1], got {max_density!r}")
    if not _eligible(x, weight, backend):
        return F.linear(x, weight, bias)
    from snnlearn.kernels import _numba_cpu as nb

    lead, k = x.shape[:-1], x.shape[-1]
    flat = x.detach().reshape(-1, k).contiguous().numpy()
    rows = flat.shape[0]
    counts = np.empty(rows, dtype=np.int64)
    nb.csr_count(flat, counts)
    row_ptr = np.zeros(rows + 1, dtype=np.int64)
    np.cumsum(counts, out=row_ptr[1:])
    nnz = int(row_ptr[-1])
    if nnz > max_density * flat.size:
        return F.linear(x, weight, bias)
    cols = np.empty(nnz, dtype=np.int32)
    vals = np.empty(nnz, dtype=flat.dtype)
    nb.csr_fill(flat, row_ptr, cols, vals)
    out = _SparseInputLinear.apply(x, weight, row_ptr, cols, vals).reshape(*lead, -1)
    return out if bias is None else out + bias
