"""Run the benchmark: every library on every shape, in one process, and tabulate the records.

For each shape all libraries get the same initial weights and the same input batch; after
``warmup`` untimed steps each, the timed steps are interleaved (one step of each library in turn,
``repeats`` rounds), so that load changes on a shared machine hit every library alike. Each
record holds the median wall-clock step time, the median process CPU time of a step (all threads
of the process; on a noisy machine the steadier of the two), peak GPU memory (``None`` on the
CPU), the mean hidden firing rate over the timed steps, the ratio to the fastest peer and the
roofline floor (:mod:`snnlearn.bench.roofline`).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

from snnlearn.bench.peers import PEERS, build_peer, library_version, peer_installed
from snnlearn.bench.roofline import Peaks, measure_peaks, step_floor
from snnlearn.bench.workload import (
    LEARNING_RATE,
    Shape,
    SnnlearnModel,
    make_batch,
    make_weights,
    train_step,
)
from snnlearn.kernels.dispatch import resolve_backend

__all__ = ["RECORD_KEYS", "check_peers", "run_bench", "to_markdown"]

RECORD_KEYS: tuple[str, ...] = (
    "library", "B", "T", "H", "L", "device", "step_ms", "peak_memory_mib", "firing_rate",
    "version", "cpu_ms", "ratio_to_fastest_peer", "floor_ms", "floor_dense_ms", "x_floor",
    "repeats", "skipped", "backend",
)
"""Keys of every record: the BENCHMARKS.md ones first, then this runner's additions."""


def check_peers(names: Sequence[str]) -> list[str]:
    """Validate peer names (duplicates dropped, order kept).

    Raises:
        ValueError: an unknown name; the message lists the valid ones.
    """
    unknown = [n for n in names if n not in PEERS]
    if unknown:
        raise ValueError(f"unknown peer(s) {', '.join(map(repr, unknown))}; valid peers: "
                         f"{', '.join(PEERS)}")
    return list(dict.fromkeys(names))


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def run_bench(
    shapes: Sequence[Shape], *, peers: Sequence[str] = tuple(PEERS), device: str = "cpu",
    repeats: int = 10, warmup: int = 2, seed: int = 0, peaks: Peaks | None = None,
    on_record: Callable[[dict[str, Any]], None] | None = None,
) -> list[dict[str, Any]]:
    """Benchmark snnlearn and each installed peer on each shape; return the records.

    Args:
        shapes: the shapes to run.
        peers: peer libraries to compare with (those not installed give a skipped record).
        device: ``"cpu"`` or ``"cuda"``.
        repeats: timed steps per library and shape (>= 1).
        warmup: untimed steps per library and shape before timing (>= 0).
        seed: seed of the shared initial weights and input batch.
        peaks: machine peaks for the floor (default: :func:`measure_peaks` on ``device``).
        on_record: called with the records of each shape once it is done.

    Returns:
        One record per library and shape, keys :data:`RECORD_KEYS`.

    Raises:
        ValueError: an unknown peer, or ``repeats < 1`` / ``warmup < 0``.
    """
    peers = check_peers(peers)
    if repeats < 1 or warmup < 0:
        raise ValueError(f"repeats must be >= 1 and warmup >= 0, got {repeats} and {warmup}")
    dev = torch.device(device)
    peaks = peaks if peaks is not None else measure_peaks(dev)
    present = [p for p in peers if peer_installed(p)]
    records: list[dict[str, Any]] = []
    for shape in shapes:
        gen = torch.Generator().manual_seed(seed)
        weights = make_weights(shape, generator=gen)
        x, y = make_batch(shape, device=dev, generator=gen)
        models: dict[str, nn.Module] = {"snnlearn": SnnlearnModel(weights)}
        models.update({p: build_peer(p, weights) for p in present})
        runs = {}
        for name, model in models.items():
            model.to(dev)
            groups = getattr(model, "param_groups", None)
            params = groups(LEARNING_RATE) if groups is not None else model.parameters()
            runs[name] = (model, torch.optim.Adam(params, lr=LEARNING_RATE))
            for _ in range(warmup):
                train_step(*runs[name], x, y)
        wall: dict[str, list[float]] = {n: [] for n in models}
        cpu: dict[str, list[float]] = {n: [] for n in models}
        rates: dict[str, list[torch.Tensor]] = {n: [] for n in models}
        peak: dict[str, int] = dict.fromkeys(models, 0)
        for _ in range(repeats):
            for name, (model, opt) in runs.items():
                if dev.type == "cuda":
                    torch.cuda.reset_peak_memory_stats(dev)
                _sync(dev)
                t0, c0 = time.perf_counter(), time.process_time()
                rates[name].append(train_step(model, opt, x, y))
                _sync(dev)
                wall[name].append(time.perf_counter() - t0)
                cpu[name].append(time.process_time() - c0)
                if dev.type == "cuda":
                    peak[name] = max(peak[name], torch.cuda.max_memory_allocated(dev))
        shape_records = []
        backend = resolve_backend(None, x)
        for name in models:
            rate = float(torch.stack(rates[name]).mean())
            floor = step_floor(shape, rate, peaks)
            step_ms = 1e3 * statistics.median(wall[name])
            shape_records.append({
                "library": name, **shape._asdict(), "device": dev.type, "step_ms": step_ms,
                "peak_memory_mib": peak[name] / 2**20 if dev.type == "cuda" else None,
                "firing_rate": rate, "version": library_version(name),
                "cpu_ms": 1e3 * statistics.median(cpu[name]), "ratio_to_fastest_peer": None,
                "floor_ms": floor.floor_ms, "floor_dense_ms": floor.floor_dense_ms,
                "x_floor": step_ms / floor.floor_ms, "repeats": repeats, "skipped": None,
                "backend": backend if name == "snnlearn" else None,
            })
        peer_ms = [r["step_ms"] for r in shape_records if r["library"] != "snnlearn"]
        for r in shape_records:
            r["ratio_to_fastest_peer"] = r["step_ms"] / min(peer_ms) if peer_ms else None
        for p in peers:
            if p not in present:
                shape_records.append({
                    **dict.fromkeys(RECORD_KEYS), "library": p, **shape._asdict(),
                    "device": dev.type, "version": None, "skipped": "not installed",
                })
        del runs, models
        records.extend(shape_records)
        if on_record is not None:
            on_record(shape_records)
    return records


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def to_markdown(records: Sequence[dict[str, Any]], peaks: Peaks | None = None) -> str:
    """The records as a markdown table (one row per library and shape).

    Example:
        >>> r = {"library": "x", "B": 1, "T": 2, "H": 3, "L": 1, "device": "cpu",
        ...      "step_ms": 1.0, "cpu_ms": 2.0, "peak_memory_mib": None, "firing_rate": 0.1,
        ...      "ratio_to_fastest_peer": None, "floor_ms": 0.5, "floor_dense_ms": 0.5,
        ...      "x_floor": 2.0, "version": "0", "skipped": None}
        >>> print(to_markdown([r]).splitlines()[2])
        | 1,2,3,1 | x 0 | 1.00 | 2.00 | - | 0.1000 | - | 0.50 / 0.50 | 2.0 |
    """
    lines = [
        "| B,T,H,L | library | step ms (median) | CPU ms | peak MiB | firing rate | "
        "× fastest peer | floor ms (event / dense) | × floor |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in records:
        shape = f"{r['B']},{r['T']},{r['H']},{r['L']}"
        if r.get("skipped"):
            lines.append(f"| {shape} | {r['library']} | skipped: {r['skipped']} | | | | | | |")
            continue
        lines.append(
            f"| {shape} | {r['library']} {r['version']} | {r['step_ms']:.2f} | "
            f"{r['cpu_ms']:.2f} | {_fmt(r['peak_memory_mib'], '.0f')} | "
            f"{r['firing_rate']:.4f} | {_fmt(r['ratio_to_fastest_peer'], '.2f')} | "
            f"{r['floor_ms']:.2f} / {r['floor_dense_ms']:.2f} | {r['x_floor']:.1f} |")
    if peaks is not None:
        lines += ["", f"Floor from peaks of {peaks.gflops:.0f} GFLOP/s and {peaks.gbps:.1f} GB/s "
                  f"({peaks.how})."]
    return "\n".join(lines)
