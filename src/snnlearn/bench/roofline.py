"""Roofline floor of the benchmark step: the least time any exact implementation could take.

The floor of a shape is ``max(FLOPs / peak FLOP rate, bytes / peak bandwidth)`` for one training
step, with the machine's peaks measured in-process by :func:`measure_peaks` (a large matrix
product and a large copy, the best of a few runs; on a shared machine they are lower bounds on
the true peaks, so the floor is, if anything, too high).

Two FLOP counts (multiply-add = 2 FLOPs; ``R = T * B`` rows, ``n_l`` the inputs of layer ``l``):

- **dense**: every matrix product done densely: forward ``2 R n_l H`` per layer, backward
  ``2 R n_l H`` for ``dW`` plus ``2 R n_l H`` for ``dX`` (not for the input layer), and the
  readout (forward, ``dW``, ``dX``): ``6 R H 20``. This is what a matmul-based implementation
  must do.
- **event**: the products whose input is spikes only touch the active inputs: the input layer
  scales by the input rate (0.05), hidden-to-hidden layers and the readout's forward and ``dW``
  by the measured hidden firing rate; ``dX`` stays dense (the surrogate gradient is dense).
  ``floor_ms`` uses this count: it is the floor of an event-driven implementation.

Bytes (fp32 unless said): the input read once forward and once backward, each hidden layer's
spikes written and read once as bytes and its pre-reset membrane written and read once
(4 B each way), the readout's gradient, and per parameter: weight read forward and backward,
gradient written, and Adam's read of parameter, gradient and two moments plus the write of
parameter and moments (``10 * 4 B``).
"""

from __future__ import annotations

import time
from typing import NamedTuple

import torch

from snnlearn.bench.workload import INPUT_RATE, N_IN, N_OUT, Shape

__all__ = ["Peaks", "Floor", "measure_peaks", "step_floor"]


class Peaks(NamedTuple):
    """Measured machine peaks: FLOP rate (GFLOP/s, fp32) and memory bandwidth (GB/s)."""

    gflops: float
    gbps: float
    how: str


class Floor(NamedTuple):
    """Floor of one step: ``floor_ms`` (event-driven count), ``floor_dense_ms`` (dense count),
    and the counts behind them."""

    floor_ms: float
    floor_dense_ms: float
    gflop_event: float
    gflop_dense: float
    mbytes: float


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure_peaks(device: torch.device | str = "cpu", *, repeats: int = 3) -> Peaks:
    """Measure the fp32 matrix-product rate and the copy bandwidth of ``device``.

    The FLOP rate is the best of ``repeats`` square fp32 products (n = 1024 on the CPU, 8192 on
    a GPU, where fp32 may use TF32); the bandwidth is the best of ``repeats`` copies of a 64 MiB
    (CPU: twice the L3 of the CI machine) or 2 GiB (GPU) buffer, counting bytes read and written.
    """
    device = torch.device(device)
    n = 1024 if device.type == "cpu" else 8192
    words = (16 << 20) if device.type == "cpu" else (512 << 20)
    a = torch.randn(n, n, device=device)
    b = torch.randn(n, n, device=device)
    src = torch.ones(words, device=device)
    dst = torch.empty_like(src)
    best_mm, best_copy = float("inf"), float("inf")
    torch.mm(a, b)
    dst.copy_(src)
    for _ in range(repeats):
        _sync(device)
        t0 = time.perf_counter()
        torch.mm(a, b)
        _sync(device)
        best_mm = min(best_mm, time.perf_counter() - t0)
        t0 = time.perf_counter()
        dst.copy_(src)
        _sync(device)
        best_copy = min(best_copy, time.perf_counter() - t0)
    gflops = 2 * n**3 / best_mm / 1e9
    gbps = 2 * 4 * words / best_copy / 1e9
    how = (f"measured in-process: best of {repeats} fp32 {n}x{n} matrix products and "
           f"{4 * words >> 20} MiB copies on {device} ({torch.get_num_threads()} CPU threads)")
    return Peaks(gflops, gbps, how)


def step_floor(shape: Shape, firing_rate: float, peaks: Peaks) -> Floor:
    """The roofline floor of one training step of ``shape`` (see the module docstring).

    Example:
        >>> f = step_floor(Shape(32, 100, 256, 1), 0.02, Peaks(100.0, 10.0, "nominal"))
        >>> round(f.gflop_dense, 2), round(f.floor_dense_ms, 1)
        (2.39, 23.9)
    """
    rows = shape.T * shape.B
    h, rate = shape.H, min(max(firing_rate, 0.0), 1.0)
    dense = event = 0.0
    n_in, in_rate = N_IN, INPUT_RATE
    for layer in range(shape.L):
        mm = 2.0 * rows * n_in * h
        dense += 2 * mm + (mm if layer > 0 else 0.0)
        event += 2 * mm * in_rate + (mm if layer > 0 else 0.0)
        n_in, in_rate = h, rate
    readout = 2.0 * rows * h * N_OUT
    dense += 3 * readout
    event += 2 * readout * rate + readout
    params = N_IN * h + (shape.L - 1) * h * h + h * N_OUT + N_OUT
    nbytes = (2 * 4 * rows * N_IN + shape.L * rows * h * (2 * 1 + 2 * 4)
              + 4 * rows * N_OUT + 13 * 4 * params)
    t_bytes = nbytes / (peaks.gbps * 1e9)
    return Floor(
        floor_ms=1e3 * max(event / (peaks.gflops * 1e9), t_bytes),
        floor_dense_ms=1e3 * max(dense / (peaks.gflops * 1e9), t_bytes),
        gflop_event=event / 1e9, gflop_dense=dense / 1e9, mbytes=nbytes / 1e6,
    )
