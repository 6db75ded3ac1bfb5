"""NIR export/import: round trips, refusals, the CLI, and real peers (snnTorch, Norse).

Peers integrate NIR's ODEs with forward Euler (``v <- v + dt/tau (v_leak - v + r I)``) while
snnlearn integrates the membrane exactly for an input held over the step (``a = exp(-dt/tau)``).
That is the one place where a correct peer and snnlearn differ. The peer tests therefore retime
the graph so that both discretisations take the same per-step decay (``_retime``), and then
require everything else (weights, bias, r, w_in, thresholds, resets, node order) to agree: the
spikes must be identical.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path
from types import MappingProxyType

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import Tensor

from snnlearn.export import from_nir, to_nir
from snnlearn.layers import Network, Readout, SpikingLayer, build_network
from snnlearn.neurons import ALIFParams, LIFParams, LIParams
from snnlearn.simulate import unroll

nir = pytest.importorskip("nir")

DT = 1e-4  # snnTorch's importer hard-codes dt = 1e-4 s


def _net(neuron: LIFParams, readout: LIParams | None = None, *, bias: bool = True,
         seed: int = 0, sizes: tuple[int, ...] = (5, 10, 4), dt: float = DT) -> Network:
    """Random network; weights large enough that every layer spikes."""
    g = torch.Generator().manual_seed(seed)
    layers: list[SpikingLayer | Readout] = []
    for k, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        if readout is not None and k == len(sizes) - 2:
            layers.append(Readout(a, b, readout, bias=bias, generator=g))
        else:
            layers.append(SpikingLayer.dense(a, b, neuron, bias=bias, weight_scale=12.0,
                                             generator=g))
    with torch.no_grad():
        for layer in layers:
            if layer.bias is not None:
                layer.bias.uniform_(-0.5, 1.5, generator=g)
    return Network(layers, dt=dt)


def _input(n_in: int = 5, steps: int = 60, batch: int = 4, seed: int = 1) -> Tensor:
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(steps, batch, n_in, generator=g) < 0.3).float()


def _run(net: Network, x: Tensor) -> object:
    with torch.no_grad():
        return unroll(net, x)


HARD = LIFParams(tau_mem=1e-3, reset="hard")
CUBA = LIFParams(tau_mem=1e-3, tau_syn=5e-4, reset="hard", v_leak=0.1, v_reset=-0.2, r=2.0)


@pytest.mark.parametrize(("neuron", "readout", "bias"), [
    (HARD, LIParams(tau_mem=2e-3), True),
    (HARD, None, False),
    (CUBA, LIParams(tau_mem=2e-3, tau_syn=1e-3, r=0.5, v_leak=0.2), True),
    (CUBA, None, True),
])
def test_round_trip_gives_the_same_spikes_and_readout(
    neuron: LIFParams, readout: LIParams | None, bias: bool
) -> None:
    net = _net(neuron, readout, bias=bias)
    back = from_nir(to_nir(net, dt=DT), dt=DT)
    x = _input()
    a, b = _run(net, x), _run(back, x)
    assert sum(float(z.sum()) for z in a.spikes) > 0
    assert all(torch.equal(za, zb) for za, zb in zip(a.spikes, b.spikes, strict=True))
    assert torch.equal(a.outputs, b.outputs)
    for la, lb in zip(net.layers, back.layers, strict=True):
        assert la.neuron == lb.neuron and type(la) is type(lb)


def test_export_writes_per_neuron_arrays_keeps_bias_and_states_units() -> None:
    net = _net(CUBA, LIParams(tau_mem=2e-3, tau_syn=1e-3))
    graph = to_nir(net, dt=DT)
    assert list(graph.nodes) == ["input", "fc0", "lif0", "fc1", "li1", "output"]
    lif, li = graph.nodes["lif0"], graph.nodes["li1"]
    assert isinstance(lif, nir.CubaLIF) and isinstance(li, nir.CubaLI)
    for node, fields in ((lif, ("tau_syn", "tau_mem", "r", "v_leak", "v_threshold", "v_reset",
                                "w_in")), (li, ("tau_syn", "tau_mem", "r", "v_leak", "w_in"))):
        for field in fields:
            value = getattr(node, field)
            assert isinstance(value, np.ndarray) and value.shape == (node.r.shape[0],), field
    assert np.allclose(lif.tau_mem, 1e-3) and np.allclose(lif.tau_syn, 5e-4)  # seconds
    assert np.allclose(lif.w_in, 5e-4 / DT) and np.allclose(lif.v_reset, -0.2)
    assert np.array_equal(graph.nodes["fc0"].bias, net.layers[0].bias.detach().numpy())
    assert np.any(graph.nodes["fc0"].bias != 0)
    assert graph.metadata["dt"] == DT
    plain = to_nir(_net(HARD, LIParams(), bias=False), dt=DT)
    assert isinstance(plain.nodes["fc0"], nir.Linear) and isinstance(plain.nodes["li1"], nir.LI)


def test_file_round_trip_through_nir_write_and_read(tmp_path: Path) -> None:
    net = _net(CUBA, LIParams(tau_mem=2e-3))
    graph = to_nir(net, dt=DT)
    nir.write(tmp_path / "net.nir", graph)
    read = nir.read(tmp_path / "net.nir")
    for name, node in graph.nodes.items():
        for field, value in vars(node).items():
            if isinstance(value, np.ndarray):
                assert np.array_equal(value, getattr(read.nodes[name], field)), (name, field)
    x = _input()
    assert torch.equal(_run(net, x).outputs, _run(from_nir(read, dt=DT), x).outputs)


@pytest.mark.parametrize(("net", "match"), [
    (_net(LIFParams(tau_mem=1e-3)), "reset='subtract' has no exact NIR form"),
    (_net(LIFParams(tau_mem=1e-3, reset="hard", t_ref=1e-3)), "no refractory period"),
    (Network([SpikingLayer.dense(3, 4, ALIFParams())], dt=DT), "ALIF"),
    (Network([SpikingLayer.dense(3, 4, HARD, recurrent=True)], dt=DT), "recurrent"),
])
def test_export_refuses_what_nir_cannot_represent(net: Network, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        to_nir(net, dt=DT)


def test_export_refuses_a_dt_other_than_the_networks() -> None:
    with pytest.raises(ValueError, match="differs from the network's dt"):
        to_nir(_net(HARD), dt=2 * DT)


def test_subtract_reset_as_hard_is_exactly_the_hard_reset_network() -> None:
    soft = _net(LIFParams(tau_mem=1e-3, tau_syn=5e-4), LIParams())
    hard = _net(LIFParams(tau_mem=1e-3, tau_syn=5e-4, reset="hard"), LIParams())
    back = from_nir(to_nir(soft, dt=DT, subtract_reset="as_hard"), dt=DT)
    x = _input()
    assert torch.equal(_run(back, x).outputs, _run(hard, x).outputs)


def test_subtract_and_hard_reset_agree_in_the_continuous_limit() -> None:
    """Constant current: both resets approach the rate 1 / (tau ln(RI / (RI - v_th)))."""
    tau, current, duration = 10e-3, 1.5, 0.5
    rate = 1.0 / (tau * math.log(current / (current - 1.0)))
    for dt in (1e-4, 1e-5):
        steps = round(duration / dt)
        counts = []
        for reset in ("subtract", "hard"):
            net = Network([SpikingLayer.dense(1, 1, LIFParams(tau_mem=tau, reset=reset))], dt=dt)
            with torch.no_grad():
                net.layers[0].weight.fill_(current)
            counts.append(float(_run(net, torch.ones(steps, 1, 1)).outputs.sum()))
        assert abs(counts[0] - counts[1]) <= 1 + 0.5 * rate * duration * dt / tau


def _chain_graph(*nodes: object) -> object:
    return nir.NIRGraph.from_list(*nodes)


def _lif(n: int, **kw: np.ndarray) -> object:
    fields = {"tau": np.full(n, 1e-3), "r": np.ones(n), "v_leak": np.zeros(n),
              "v_threshold": np.ones(n)}
    return nir.LIF(**{**fields, **kw})


def test_import_refuses_other_topologies_and_nodes() -> None:
    inp, out = nir.Input(np.array([2])), nir.Output(np.array([3]))
    fc = nir.Affine(np.ones((3, 2)), np.zeros(3))
    branch = nir.NIRGraph(
        nodes={"input": inp, "a": fc, "b": nir.Affine(np.ones((3, 2)), np.zeros(3)),
               "lif": _lif(3), "output": out},
        edges=[("input", "a"), ("input", "b"), ("a", "lif"), ("b", "lif"), ("lif", "output")])
    with pytest.raises(ValueError, match="chain graphs only"):
        from_nir(branch, dt=DT)
    cyclic = nir.NIRGraph(
        nodes={"input": inp, "fc": fc, "lif": _lif(3), "rec": nir.Linear(np.eye(3)),
               "output": out},
        edges=[("input", "fc"), ("fc", "lif"), ("lif", "rec"), ("rec", "lif"),
               ("lif", "output")])
    with pytest.raises(ValueError, match="chain graphs only"):
        from_nir(cyclic, dt=DT)
    iaf = nir.IF(r=np.ones(3), v_threshold=np.ones(3))
    with pytest.raises(ValueError, match="IF: a non-leaky integrator"):
        from_nir(_chain_graph(inp, fc, iaf, out), dt=DT)
    with pytest.raises(ValueError, match="Delay"):
        from_nir(_chain_graph(inp, fc, nir.Delay(np.ones(3)), out), dt=DT)
    with pytest.raises(ValueError, match="tau must have one value for all neurons"):
        from_nir(_chain_graph(inp, fc, _lif(3, tau=np.array([1e-3, 2e-3, 1e-3])), out), dt=DT)
    li = nir.LI(tau=np.full(3, 1e-3), r=np.ones(3), v_leak=np.zeros(3))
    with pytest.raises(ValueError, match="must be the last neuron node"):
        from_nir(_chain_graph(inp, fc, li, nir.Affine(np.ones((3, 3)), np.zeros(3)),
                              _lif(3), out), dt=DT)
    with pytest.raises(ValueError, match="pairs of"):
        from_nir(_chain_graph(inp, fc, out), dt=DT)
    with pytest.raises(ValueError, match="dt must be"):
        from_nir(_chain_graph(inp, fc, _lif(3), out), dt=0.0)


def test_import_folds_per_neuron_r_and_w_in_into_the_weights_exactly() -> None:
    rng = np.random.default_rng(0)
    w, b = rng.normal(size=(3, 2)) * 40, rng.normal(size=3)
    r, w_in = np.array([0.5, 1.0, 2.0]), np.array([3.0, 5.0, 7.0])
    tau = {"tau_syn": np.full(3, 5e-4), "tau_mem": np.full(3, 1e-3),
           "v_leak": np.zeros(3), "v_threshold": np.ones(3)}
    ends = (nir.Input(np.array([2])), nir.Output(np.array([3])))
    folded = from_nir(_chain_graph(ends[0], nir.Affine(w, b), nir.CubaLIF(
        r=r, w_in=w_in, **tau), ends[1]), dt=DT)
    gain = (r * w_in * DT / 5e-4)[:, None]
    plain = from_nir(_chain_graph(ends[0], nir.Affine(w * gain, b * gain[:, 0]), nir.CubaLIF(
        r=np.ones(3), w_in=np.full(3, 5e-4 / DT), **tau), ends[1]), dt=DT)
    x = _input(2)
    assert torch.equal(_run(folded, x).outputs, _run(plain, x).outputs)
    assert float(_run(folded, x).outputs.sum()) > 0


def test_missing_nir_names_the_interop_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(__import__("sys").modules, "nir", None)
    with pytest.raises(ImportError, match=r"snnlearn\[interop\]"):
        to_nir(_net(HARD), dt=DT)


# --- the CLI -------------------------------------------------------------------------------


class _Toy:
    """A tiny rate-coded task (4 inputs, 2 classes, T = 10) so that a run takes a second."""

    name, n_in, n_out, n_steps, dt = "toy", 4, 2, 10, 5e-3

    def __init__(self) -> None:
        from snnlearn.tasks.base import TaskData, TaskDefaults

        self.defaults = TaskDefaults(hidden=(8,), epochs=1, batch_size=8, lr=3e-2)
        g = torch.Generator().manual_seed(0)
        labels = torch.arange(24) % 2
        rates = torch.full((24, 4), 0.05)
        rates[labels == 0, :2], rates[labels == 1, 2:] = 0.6, 0.6
        self._data = TaskData(rates + 0.05 * torch.rand(24, 4, generator=g), labels)

    def split(self, split: str) -> object:
        return self._data

    def encode(self, inputs: Tensor, *, generator: torch.Generator | None = None) -> Tensor:
        return (torch.rand((self.n_steps, *inputs.shape), generator=generator) < inputs).float()

    def loss(self, outputs: Tensor, labels: Tensor) -> Tensor:
        return F.cross_entropy(outputs.mean(0), labels)

    def predict(self, outputs: Tensor) -> Tensor:
        return outputs.mean(0).argmax(-1)


@pytest.fixture
def toy_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> object:
    from snnlearn.experiments import Config, registry, run

    monkeypatch.setattr(registry, "TASKS", MappingProxyType({**registry.TASKS, "toy": _Toy}))
    return run(Config(task="toy", epochs=1, out=str(tmp_path / "run")))


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    from snnlearn.experiments import cli

    status = cli.main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def test_cli_export_writes_the_best_network(
    toy_run: object, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run_dir, file = str(toy_run.run_dir), tmp_path / "net.nir"
    status, _, err = _cli(capsys, "export", run_dir, "--nir", str(file))
    assert status == 2 and "--subtract-reset-as-hard" in err and len(err.splitlines()) == 1
    status, out, _ = _cli(capsys, "export", run_dir, "--nir", str(file),
                          "--subtract-reset-as-hard")
    assert status == 0 and str(file) in out
    net = from_nir(nir.read(file), dt=_Toy.dt)
    expected = toy_run.network
    x = _Toy().encode(_Toy().split("test").inputs, generator=torch.Generator().manual_seed(0))
    for layer, new in zip(expected.layers, net.layers, strict=True):
        assert torch.equal(layer.weight, new.weight)
    hard = from_nir(to_nir(expected, dt=_Toy.dt, subtract_reset="as_hard"), dt=_Toy.dt)
    assert torch.equal(_run(net, x).outputs, _run(hard, x).outputs)


def test_cli_export_errors_are_one_line_exit_2(
    toy_run: object, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, _, err = _cli(capsys, "export", str(tmp_path / "nope"), "--nir", "x.nir")
    assert status == 2 and "does not exist" in err and len(err.splitlines()) == 1
    ckpt = Path(toy_run.run_dir) / "checkpoint.pt"
    ckpt.write_bytes(ckpt.read_bytes()[:100])
    status, _, err = _cli(capsys, "export", str(toy_run.run_dir), "--nir", "x.nir")
    assert status == 2 and "Traceback" not in err and len(err.splitlines()) == 1


# --- real peers -----------------------------------------------------------------------------


def _retime(graph: object, new_tau: object) -> object:
    """Replace every time constant ``tau`` by ``new_tau(tau)``, keeping ``w_in dt / tau_syn``.

    ``_to_euler`` makes a forward-Euler backend take snnlearn's per-step decay
    ``exp(-dt/tau)`` and input gain ``(1 - exp(-dt/tau)) r``; ``_from_euler`` is the inverse.
    """
    for node in graph.nodes.values():
        if isinstance(node, (nir.LIF, nir.LI)):
            node.tau = new_tau(np.asarray(node.tau, dtype=np.float64))
        elif isinstance(node, (nir.CubaLIF, nir.CubaLI)):
            tau_syn = np.asarray(node.tau_syn, dtype=np.float64)
            node.w_in = np.asarray(node.w_in) * new_tau(tau_syn) / tau_syn
            node.tau_syn, node.tau_mem = new_tau(tau_syn), new_tau(node.tau_mem)
    return graph


def _to_euler(tau: np.ndarray) -> np.ndarray:
    return DT / -np.expm1(-DT / tau)


def _from_euler(tau: np.ndarray) -> np.ndarray:
    return -DT / np.log1p(-DT / np.asarray(tau, dtype=np.float64))


def _step_peer(module: object, x: Tensor) -> Tensor:
    """Run an imported peer module step by step (``out, state = m(x_t, state)``)."""
    state, outs = None, []
    with torch.no_grad():
        for t in range(x.shape[0]):
            out, state = module(x[t]) if state is None else module(x[t], state)
            outs.append(out)
    return torch.stack(outs)


def _spiking(neuron: LIFParams, seed: int = 0) -> Network:
    """Affine -> LIF -> Affine -> LIF: the graph that every peer can import (none has LI)."""
    return _net(neuron, None, bias=True, seed=seed)


@pytest.fixture
def snntorch_import() -> object:
    pytest.importorskip("nirtorch")
    return pytest.importorskip("snntorch.import_nir").import_from_nir


def test_snntorch_imports_our_lif_graph_with_identical_spikes(
    snntorch_import: object, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """snnlearn -> file -> snnTorch, Affine/LIF, r = 1 (snnTorch rescales its threshold by
    r dt / tau and resets to zero, so v_leak = v_reset = 0 here); decays matched by ``_retime``.
    snnTorch cannot import our LI readout nor a CubaLIF whose r is not tau_mem / dt."""
    net = _spiking(HARD)
    nir.write(tmp_path / "net.nir", to_nir(net, dt=DT))
    peer = snntorch_import(_retime(nir.read(tmp_path / "net.nir"), _to_euler))
    x = _input()
    ours = _run(net, x)
    assert float(ours.outputs.sum()) > 0
    assert torch.equal(_step_peer(peer, x), ours.outputs)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.parametrize("synapse", [False, True])
def test_snntorch_exported_graph_runs_identically_in_snnlearn(synapse: bool) -> None:
    """snnTorch (Leaky / Synaptic, per-neuron beta: scalars break its exporter) -> snnlearn.
    snnTorch writes r = tau/dt and w_in = tau_syn/dt; snnlearn folds them exactly. The cells use
    ``reset_delay=False`` (NIR's immediate reset, as snnTorch's own importer builds them): with
    the default delayed reset a ``Synaptic`` cell zeroes one step late, which NIR cannot say."""
    pytest.importorskip("nirtorch")
    snn = pytest.importorskip("snntorch")
    from snntorch.export_nir import export_to_nir

    g = torch.Generator().manual_seed(3)
    fc = torch.nn.Linear(5, 10)
    with torch.no_grad():
        fc.weight.copy_(torch.randn(10, 5, generator=g) * 0.6)
        fc.bias.copy_(torch.rand(10, generator=g) * 0.2)
    beta, threshold = torch.full((10,), 0.9), torch.ones(10)
    if synapse:
        cell = snn.Synaptic(alpha=torch.full((10,), 0.8), beta=beta, threshold=threshold,
                            reset_mechanism="zero", reset_delay=False, init_hidden=True,
                            output=True)
    else:
        cell = snn.Leaky(beta=beta, threshold=threshold, reset_mechanism="zero",
                         reset_delay=False, init_hidden=True, output=True)
    model = torch.nn.Sequential(fc, cell)
    graph = export_to_nir(model, torch.zeros(5))
    x = _input()
    expected = []
    with torch.no_grad():  # a fresh model: its hidden state starts at zero
        for t in range(x.shape[0]):
            expected.append(model(x[t])[0])
    ours = _run(from_nir(_retime(graph, _from_euler), dt=DT), x)
    assert float(ours.outputs.sum()) > 0
    assert torch.equal(ours.outputs, torch.stack(expected))


def _norse() -> object:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pytest.importorskip("norse.torch")


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.parametrize("neuron", [HARD, LIFParams(tau_mem=1e-3, tau_syn=5e-4, reset="hard",
                                                    r=2.0)])
def test_norse_imports_our_graph_with_identical_spikes(neuron: LIFParams, tmp_path: Path) -> None:
    """snnlearn -> file -> Norse (LIF and CubaLIF). Norse 1.1.0 honours r only in CubaLIF (LIF
    keeps r = 1 here), always resets to 0, applies the neuron's v_leak to the synaptic current
    too (so v_leak = 0 here), and silently drops an LI node, so the graph ends in a LIF layer."""
    norse = _norse()
    net = _spiking(neuron)
    nir.write(tmp_path / "net.nir", to_nir(net, dt=DT))
    peer = norse.from_nir(_retime(nir.read(tmp_path / "net.nir"), _to_euler), dt=DT)
    x = _input()
    ours = _run(net, x)
    assert float(ours.outputs.sum()) > 0
    assert torch.equal(_step_peer(peer, x), ours.outputs)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_norse_exported_graph_runs_identically_in_snnlearn() -> None:
    """Norse -> snnlearn. Norse 1.1.0 writes tau = dt * (1/tau_mem_inv) (norse#411), so it is
    called with dt = 1 to write the true tau; its nodes hold torch tensors, which we accept."""
    norse = _norse()
    g = torch.Generator().manual_seed(4)
    fc = torch.nn.Linear(5, 10)
    with torch.no_grad():
        fc.weight.copy_(torch.randn(10, 5, generator=g) * 8)
        fc.bias.copy_(torch.rand(10, generator=g))
    params = norse.LIFBoxParameters(tau_mem_inv=torch.full((10,), 1e3), v_th=torch.ones(10),
                                    v_leak=torch.zeros(10))
    model = norse.SequentialState(fc, norse.LIFBoxCell(params, dt=DT))
    graph = norse.to_nir(model, torch.zeros(5), dt=1.0)
    x = _input()
    expected = _step_peer(model, x)
    ours = _run(from_nir(_retime(graph, _from_euler), dt=DT), x)
    assert float(ours.outputs.sum()) > 0
    assert torch.equal(ours.outputs, expected)


def test_delayed_layers_are_refused_not_dropped():
    """A learnable-delay layer has no form in this exporter: it must raise, never be written as
    an undelayed Linear."""
    from snnlearn.layers import DelayParams

    net = build_network(3, [4], 2, dt=1e-3, neuron=LIFParams(reset="hard"),
                        delays=DelayParams(max_delay=5e-3),
                        generator=torch.Generator().manual_seed(0))
    with pytest.raises(ValueError, match="delays"):
        to_nir(net, dt=1e-3)
