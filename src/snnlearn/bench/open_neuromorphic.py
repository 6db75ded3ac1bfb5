"""The Open Neuromorphic benchmark: one ``Linear(N -> N)`` + LIF layer, forward and backward.

The workload of the Open Neuromorphic "SNN library benchmarks" post (Lenz et al. 2023, updated
2024): input ``randn [T, B, N]`` (dense, not spikes), ``nn.Linear(N, N)`` with bias, a LIF
population, loss ``spikes.sum()``, one backward pass (no optimizer step); ``B = 16``,
``T = 500``, ``N = 16384`` (published there: Spyx fp16 47 ms, Norse + torch.compile 109 ms,
SpikingJelly-CuPy 118 ms, snnTorch 3.08 s, on another GPU). Each library's neuron is made to match
the one of :mod:`snnlearn.bench.workload` (``u_t = 0.95 v_{t-1} + W x_t + b``, threshold 1,
reset by subtraction, fast-sigmoid surrogate of slope 1), the same way
:mod:`snnlearn.bench.peers` does; every library gets the same initial weights and input.

Timed per library (median over ``repeats`` rounds after ``warmup``): the forward pass, the
backward pass, their sum, and the peak memory allocated on the GPU during both (weights and
input included; ``None`` on the CPU). ``snnlearn`` is run once per requested kernel backend
(``"snnlearn[triton]"``, ``"snnlearn[torch]"``, ...). A library that fails (for instance one
without kernels for a dtype) gives a record with its error instead of times.
"""

from __future__ import annotations

import statistics
import time
import warnings
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

from snnlearn.bench.peers import PEERS, library_version, peer_installed
from snnlearn.bench.workload import DECAY, DT, SURROGATE_SLOPE, V_TH, snnlearn_neuron

__all__ = ["ON_SHAPE", "ON_PUBLISHED_MS", "OnShape", "ON_RECORD_KEYS", "build_on_model",
           "run_open_neuromorphic", "on_markdown"]


class OnShape(NamedTuple):
    """Batch ``B``, steps ``T`` and neurons ``N`` (inputs = outputs) of the workload."""

    B: int
    T: int
    N: int


ON_SHAPE = OnShape(B=16, T=500, N=16384)
ON_PUBLISHED_MS: dict[str, float] = {"Spyx fp16": 47.0, "Norse + torch.compile": 109.0,
                                     "SpikingJelly CuPy": 118.0, "snnTorch": 3080.0}
"""Forward + backward times published by Open Neuromorphic for ``ON_SHAPE`` (another GPU)."""
ON_RECORD_KEYS: tuple[str, ...] = (
    "library", "B", "T", "N", "dtype", "device", "forward_ms", "backward_ms", "total_ms",
    "peak_memory_mib", "firing_rate", "version", "repeats", "error")


class _Snnlearn(nn.Module):
    def __init__(self, fc: nn.Linear, backend: str) -> None:
        super().__init__()
        self.fc, self.backend, self.neuron = fc, backend, snnlearn_neuron()

    def forward(self, x: Tensor) -> Tensor:
        from snnlearn.kernels import lif_sequence

        cur = self.fc(x)
        state = self.neuron.initial_state(tuple(cur.shape[1:]), device=cur.device,
                                          dtype=cur.dtype)
        return lif_sequence(cur, state, self.neuron, DT, backend=self.backend)[0]


class _SnnTorch(nn.Module):
    def __init__(self, fc: nn.Linear) -> None:
        super().__init__()
        import snntorch as snn
        from snntorch import surrogate

        self.fc = fc
        self.lif = snn.Leaky(beta=DECAY, threshold=V_TH, reset_mechanism="subtract",
                             reset_delay=False,
                             spike_grad=surrogate.fast_sigmoid(slope=SURROGATE_SLOPE))

    def forward(self, x: Tensor) -> Tensor:
        cur = self.fc(x)
        mem = torch.zeros_like(cur[0])
        out = []
        for t in range(cur.shape[0]):
            spk, mem = self.lif(cur[t], mem)
            out.append(spk)
        return torch.stack(out)


class _Norse(nn.Module):
    def __init__(self, fc: nn.Linear) -> None:
        super().__init__()
        with warnings.catch_warnings():  # Norse 1.1 calls the deprecated torch.jit.script
            warnings.simplefilter("ignore", DeprecationWarning)
            import norse.torch as norse

        gain = 1.0 - DECAY  # Euler input gain dt / tau_mem: weights and bias scaled by 1 / gain
        with torch.no_grad():
            fc.weight.mul_(1.0 / gain)
            fc.bias.mul_(1.0 / gain)
        p = norse.LIFBoxParameters(
            tau_mem_inv=torch.as_tensor(gain / DT), v_leak=torch.as_tensor(0.0),
            v_th=torch.as_tensor(V_TH), v_reset=torch.as_tensor(0.0), method="super",
            alpha=torch.as_tensor(SURROGATE_SLOPE), reset_method=norse.reset_subtract)
        self.fc, self.cell = fc, norse.LIFBoxCell(p, dt=DT)

    def forward(self, x: Tensor) -> Tensor:
        cur = self.fc(x)
        state, out = None, []
        for t in range(cur.shape[0]):
            z, state = self.cell(cur[t], state)
            out.append(z)
        return torch.stack(out)


class _SpikingJelly(nn.Module):
    def __init__(self, fc: nn.Linear) -> None:
        super().__init__()
        from spikingjelly.activation_based import functional, neuron, surrogate

        self.fc = fc
        self.lif = neuron.LIFNode(
            tau=1.0 / (1.0 - DECAY), decay_input=False, v_threshold=V_TH, v_reset=None,
            surrogate_function=surrogate.SuperSpike(alpha=SURROGATE_SLOPE), detach_reset=False,
            step_mode="m")
        self._reset = functional.reset_net

    def forward(self, x: Tensor) -> Tensor:
        self._reset(self)
        return self.lif(self.fc(x))


_PEER_MODELS: dict[str, Callable[[nn.Linear], nn.Module]] = {
    "snntorch": _SnnTorch, "norse": _Norse, "spikingjelly": _SpikingJelly}


def build_on_model(library: str, fc: nn.Linear) -> nn.Module:
    """The workload in ``library`` (``"snnlearn[<backend>]"`` or a peer name) around ``fc``.

    ``fc`` is used as given (Norse rescales it in place to match the neuron). The model maps
    ``x [T, B, N]`` to spikes ``[T, B, N]``.

    Raises:
        ValueError: an unknown library name.
    """
    if library.startswith("snnlearn[") and library.endswith("]"):
        return _Snnlearn(fc, library[len("snnlearn["):-1])
    if library not in _PEER_MODELS:
        raise ValueError(f"unknown library {library!r}; valid: snnlearn[<backend>] or one of "
                         f"{', '.join(_PEER_MODELS)}")
    return _PEER_MODELS[library](fc)


def _linear(n: int, seed: int, device: torch.device, dtype: torch.dtype) -> nn.Linear:
    """``nn.Linear(n, n)`` with its default initialisation drawn from a seeded generator (the
    same weights for every library, without keeping a master copy on the device)."""
    fc = nn.Linear(n, n, device="meta").to_empty(device=device)  # no draw from the global RNG
    gen = torch.Generator(device=device).manual_seed(seed)
    bound = 1.0 / n ** 0.5
    with torch.no_grad():
        fc.weight.uniform_(-bound, bound, generator=gen)
        fc.bias.uniform_(-bound, bound, generator=gen)
    return fc.to(dtype)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _time(fn: Callable[[], Any], device: torch.device) -> tuple[Any, float]:
    _sync(device)
    t0 = time.perf_counter()
    out = fn()
    _sync(device)
    return out, 1e3 * (time.perf_counter() - t0)


def _measure(model: nn.Module, x: Tensor, repeats: int, warmup: int,
             device: torch.device) -> dict[str, Any]:
    fwd, bwd, peak, rates = [], [], 0, []
    for k in range(warmup + repeats):
        model.zero_grad(set_to_none=True)
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        z, t_f = _time(lambda: model(x), device)
        _, t_b = _time(lambda z=z: z.sum().backward(), device)
        if k >= warmup:
            fwd.append(t_f)
            bwd.append(t_b)
            rates.append(float(z.detach().float().mean()))
            if device.type == "cuda":
                peak = max(peak, torch.cuda.max_memory_allocated(device))
        del z
    f, b = statistics.median(fwd), statistics.median(bwd)
    return {"forward_ms": f, "backward_ms": b, "total_ms": f + b,
            "peak_memory_mib": peak / 2**20 if device.type == "cuda" else None,
            "firing_rate": statistics.fmean(rates)}


def run_open_neuromorphic(
    shape: OnShape = ON_SHAPE, *, backends: Sequence[str] = ("triton", "torch"),
    peers: Sequence[str] = tuple(PEERS), device: str = "cuda",
    dtype: torch.dtype = torch.float32, repeats: int = 5, warmup: int = 2, seed: int = 0,
    on_record: Callable[[dict[str, Any]], None] | None = None,
) -> list[dict[str, Any]]:
    """Time forward and backward of the workload in snnlearn (each backend) and each peer.

    Args:
        shape: ``(B, T, N)``.
        backends: snnlearn kernel backends to run (:mod:`snnlearn.kernels.dispatch`).
        peers: peer libraries (those not installed are left out).
        device: ``"cuda"`` or ``"cpu"``.
        dtype: dtype of the weights and the input (float32, bfloat16 or float16).
        repeats: timed rounds per library (>= 1).
        warmup: untimed rounds before them (>= 0).
        seed: seed of the shared weights and input.
        on_record: called with each record as soon as it is done.

    Returns:
        One record per library, keys :data:`ON_RECORD_KEYS`.

    Raises:
        ValueError: ``repeats < 1`` or ``warmup < 0``.

    Example:
        >>> r = run_open_neuromorphic(OnShape(2, 3, 8), backends=("torch",), peers=(),
        ...                           device="cpu", repeats=1, warmup=0)
        >>> [(x["library"], x["error"]) for x in r]
        [('snnlearn[torch]', None)]
    """
    if repeats < 1 or warmup < 0:
        raise ValueError(f"repeats must be >= 1 and warmup >= 0, got {repeats} and {warmup}")
    dev = torch.device(device)
    x = torch.randn(shape.T, shape.B, shape.N, device=dev,
                    generator=torch.Generator(device=dev).manual_seed(seed)).to(dtype)
    libraries = [f"snnlearn[{b}]" for b in backends]
    libraries += [p for p in peers if p in _PEER_MODELS and peer_installed(p)]
    records = []
    for library in libraries:
        record: dict[str, Any] = {**dict.fromkeys(ON_RECORD_KEYS), **shape._asdict(),
                                  "library": library, "dtype": str(dtype).removeprefix("torch."),
                                  "device": dev.type, "repeats": repeats,
                                  "version": library_version(library.split("[")[0])}
        try:
            model = build_on_model(library, _linear(shape.N, seed + 1, dev, dtype))
            record.update(_measure(model, x, repeats, warmup, dev))
        except Exception as err:  # a failing library is reported, not fatal
            record["error"] = f"{type(err).__name__}: {err}".splitlines()[0][:200]
        finally:
            model = None
            if dev.type == "cuda":
                torch.cuda.empty_cache()
        records.append(record)
        if on_record is not None:
            on_record(record)
    return records


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def on_markdown(records: Sequence[dict[str, Any]]) -> str:
    """The records as a markdown table, followed by the published figures.

    Example:
        >>> r = {"library": "x", "B": 1, "T": 2, "N": 3, "dtype": "float32", "version": "0",
        ...      "forward_ms": 1.0, "backward_ms": 2.0, "total_ms": 3.0,
        ...      "peak_memory_mib": None, "firing_rate": 0.1, "error": None}
        >>> print(on_markdown([r]).splitlines()[2])
        | 1,2,3 | float32 | x 0 | 1.00 | 2.00 | 3.00 | - | 0.1000 |
    """
    lines = ["| B,T,N | dtype | library | forward ms | backward ms | total ms | peak MiB | "
             "firing rate |", "|---|---|---|---|---|---|---|---|"]
    for r in records:
        head = f"| {r['B']},{r['T']},{r['N']} | {r['dtype']} | {r['library']} {r['version']} |"
        if r.get("error"):
            lines.append(f"{head} failed: {r['error']} | | | | |")
            continue
        lines.append(f"{head} {r['forward_ms']:.2f} | {r['backward_ms']:.2f} | "
                     f"{r['total_ms']:.2f} | {_fmt(r['peak_memory_mib'], '.0f')} | "
                     f"{r['firing_rate']:.4f} |")
    published = ", ".join(f"{k} {v:g} ms" for k, v in ON_PUBLISHED_MS.items())
    lines += ["", f"Published (Open Neuromorphic, {ON_SHAPE.B},{ON_SHAPE.T},{ON_SHAPE.N}, "
              f"another GPU): {published}."]
    return "\n".join(lines)
