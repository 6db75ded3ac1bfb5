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
import re
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


@pytest.mark.parametrize("neuron", [HARD, CUBA])
def test_recurrent_round_trip_gives_the_same_spikes(neuron: LIFParams, tmp_path: Path) -> None:
    g = torch.Generator().manual_seed(2)
    net = Network([SpikingLayer.dense(5, 10, neuron, recurrent=True, bias=True,
                                      weight_scale=12.0, generator=g),
                   Readout(10, 4, LIParams(tau_mem=2e-3), generator=g)], dt=DT)
    with torch.no_grad():
        net.layers[0].recurrent_weight.mul_(4.0)
    nir.write(tmp_path / "net.nir", to_nir(net))
    back = from_nir(nir.read(tmp_path / "net.nir"), dt=DT)
    assert back.layers[0].recurrent
    x = _input()
    a, b = _run(net, x), _run(back, x)
    assert float(a.spikes[0].sum()) > 0
    assert torch.equal(a.spikes[0], b.spikes[0]) and torch.equal(a.outputs, b.outputs)


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
    (Network([SpikingLayer.dense(3, 4, HARD, graded=True)], dt=DT), "graded"),
])
def test_export_refuses_what_nir_cannot_represent(net: Network, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        to_nir(net, dt=DT)
    with pytest.raises(ValueError, match=match):
        to_nir(net, dt=DT, target="spikingjelly")


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
    with pytest.raises(ValueError, match="no self-connections"):
        from_nir(cyclic, dt=DT)
    longer = nir.NIRGraph(
        nodes={"input": inp, "fc": fc, "lif": _lif(3), "a": nir.Linear(np.ones((3, 3))),
               "b": nir.Linear(np.ones((3, 3))), "output": out},
        edges=[("input", "fc"), ("fc", "lif"), ("lif", "a"), ("a", "b"), ("b", "lif"),
               ("lif", "output")])
    with pytest.raises(ValueError, match="chain graphs only"):
        from_nir(longer, dt=DT)
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


def test_delayed_layers_export_as_delay_nodes_for_the_exact_target_only() -> None:
    """A learnable-delay layer becomes one Delay -> Linear branch per tap: never an undelayed
    Linear; peers, which read no Delay node, get a one-line refusal."""
    from snnlearn.export.simulate_nir import simulate_nir
    from snnlearn.layers import DelayParams

    net = build_network(3, [4], 2, dt=1e-3, neuron=LIFParams(reset="hard"), gain=4.0,
                        delays=DelayParams(max_delay=5e-3, kernel="linear"),
                        generator=torch.Generator().manual_seed(0))
    graph = to_nir(net)
    assert any(isinstance(v, nir.Delay) for v in graph.nodes.values())
    x = _input(3, steps=40)
    ours = _run(net, x)
    run = simulate_nir(graph, x)
    assert float(ours.spikes[0].sum()) > 0
    assert torch.equal(run.spikes["lif0"], ours.spikes[0])
    for target in ("snntorch", "norse", "spikingjelly"):
        with pytest.raises(ValueError, match="Delay"):
            to_nir(net, target=target)


# --- targets: graphs that each peer reads unchanged ------------------------------------------

PEERS = ("snntorch", "norse", "spikingjelly")


def _quiet() -> warnings.catch_warnings:
    w = warnings.catch_warnings()
    w.__enter__()
    warnings.simplefilter("ignore")
    return w


def _peer_import(target: str, path: Path) -> object:
    """Read ``path`` as the peer's own tutorial does, with the dt the graph's metadata names
    (snnTorch has a fixed dt)."""
    graph = nir.read(path)
    quiet = _quiet()
    try:
        if target == "snntorch":
            pytest.importorskip("nirtorch")
            return pytest.importorskip("snntorch.import_nir").import_from_nir(graph)
        if target == "norse":
            return pytest.importorskip("norse.torch").from_nir(graph, dt=graph.metadata["dt"])
        sj = pytest.importorskip("spikingjelly.activation_based.nir_exchange")
        return sj.import_from_nir(graph, dt=graph.metadata["dt"])
    finally:
        quiet.__exit__(None, None, None)


def _peer_spikes(module: object, x: Tensor, name: str) -> Tensor:
    """The output of the peer's submodule ``name`` (a neuron node) at every step."""
    sub = dict(module.named_modules())[name]
    caught: list[Tensor] = []

    def hook(_: object, __: object, out: object) -> None:
        caught.append(out[0] if isinstance(out, tuple) else out)

    handle = sub.register_forward_hook(hook)
    quiet = _quiet()
    try:
        _step_peer(module, x)
    finally:
        quiet.__exit__(None, None, None)
        handle.remove()
    return torch.stack(caught)


def _agreement(a: Tensor, b: Tensor) -> float:
    return float((a == b).float().mean())


def _digits_like(seed: int = 0, *, cuba: bool = True, recurrent: bool = False,
                 layers: list[dict] | None = None) -> Network:
    """The digits architecture (64 inputs, 10 classes, dt 1 ms, hard reset), fixed weights."""
    tau_syn = 5e-3 if cuba else None
    extra = {} if layers is None else {"layers": layers, "in_shape": (1, 8, 8)}
    return build_network(64, [32], 10, dt=1e-3, gain=3.0, recurrent=recurrent,
                         neuron=LIFParams(tau_mem=20e-3, tau_syn=tau_syn, reset="hard"),
                         readout=LIParams(tau_mem=20e-3, tau_syn=tau_syn),
                         generator=torch.Generator().manual_seed(seed), **extra)


def _digits_input(steps: int = 30, batch: int = 8, image: bool = False) -> Tensor:
    x = (torch.rand(steps, batch, 64, generator=torch.Generator().manual_seed(5)) < 0.2).float()
    return x.reshape(steps, batch, 1, 8, 8) if image else x


@pytest.mark.parametrize("target", PEERS)
@pytest.mark.parametrize("cuba", [False, True])
def test_peer_reads_our_graph_unchanged_with_identical_hidden_spikes(
    target: str, cuba: bool, tmp_path: Path
) -> None:
    net = _digits_like(cuba=cuba)
    nir.write(tmp_path / "net.nir", to_nir(net, target=target))
    peer = _peer_import(target, tmp_path / "net.nir")
    x = _digits_input()
    ours = _run(net, x)
    assert float(ours.spikes[0].sum()) > 50
    assert _agreement(_peer_spikes(peer, x, "lif0"), ours.spikes[0]) >= 0.99


@pytest.mark.parametrize("target", ["exact", *PEERS])
@pytest.mark.parametrize("kind", ["dense", "recurrent", "conv"])
def test_simulated_graph_reproduces_the_network(target: str, kind: str) -> None:
    """simulate_nir integrates the graph as its reader does (exact or Euler at metadata dt):
    hidden spikes and readout agree with snnlearn's own simulation."""
    from snnlearn.export.simulate_nir import simulate_nir

    layers = [{"kind": "conv2d", "channels": 4, "kernel": 3}, {"kind": "pool", "size": 2},
              {"kind": "dense", "size": 16}] if kind == "conv" else None
    net = _digits_like(recurrent=kind == "recurrent", layers=layers)
    if kind in ("recurrent", "conv") and target in ("snntorch", "norse"):
        with pytest.raises(ValueError, match="recurrent" if kind == "recurrent" else "Flatten"):
            to_nir(net, target=target)
        return
    graph = to_nir(net, target=target)
    x = _digits_input(image=kind == "conv")
    ours, run = _run(net, x), simulate_nir(graph, x)
    assert float(ours.spikes[0].sum()) > 50
    assert _agreement(run.spikes["lif0"], ours.spikes[0]) >= 0.99
    assert torch.allclose(run.outputs, ours.outputs, atol=1e-3)


def test_spikingjelly_reads_a_recurrent_graph_with_identical_hidden_spikes(
    tmp_path: Path
) -> None:
    net = _digits_like(recurrent=True)
    graph = to_nir(net, target="spikingjelly")
    assert ("lif0", "rec0") in graph.edges and ("rec0", "lif0") in graph.edges
    nir.write(tmp_path / "net.nir", graph)
    peer = _peer_import("spikingjelly", tmp_path / "net.nir")
    x = _digits_input()
    ours = _run(net, x)
    assert float(ours.spikes[0].sum()) > 50
    assert _agreement(_peer_spikes(peer, x, "lif0"), ours.spikes[0]) >= 0.99


def test_spikingjelly_reads_a_conv_graph_with_identical_hidden_spikes(tmp_path: Path) -> None:
    net = _digits_like(layers=[{"kind": "conv2d", "channels": 4, "kernel": 3},
                               {"kind": "pool", "size": 2}, {"kind": "dense", "size": 16}])
    graph = to_nir(net, target="spikingjelly")
    kinds = {type(v).__name__ for v in graph.nodes.values()}
    assert {"Conv2d", "AvgPool2d", "Flatten"} <= kinds
    assert "SumPool2d" in {type(v).__name__ for v in to_nir(net).nodes.values()}
    nir.write(tmp_path / "net.nir", graph)
    peer = _peer_import("spikingjelly", tmp_path / "net.nir")
    x = _digits_input(image=True)
    ours = _run(net, x)
    assert _agreement(_peer_spikes(peer, x, "lif0"), ours.spikes[0]) >= 0.99
    assert _agreement(_peer_spikes(peer, x, "lif3"), ours.spikes[1]) >= 0.99


def test_peer_graphs_record_the_assumed_dt_and_write_what_the_importers_need() -> None:
    net = _digits_like()
    for target, dt in (("exact", 1e-3), ("snntorch", 1e-4), ("norse", 1e-3),
                       ("spikingjelly", 1e-4)):
        graph = to_nir(net, target=target)
        assert graph.metadata["dt"] == dt and graph.metadata["target"] == target
        assert graph.metadata["network_dt"] == 1e-3
    sj = to_nir(net, target="spikingjelly").nodes["lif0"]
    assert np.allclose(sj.r, sj.tau_mem / 1e-4) and np.allclose(sj.w_in, sj.tau_syn / 1e-4)
    # retimed: one Euler step of 0.1 ms decays as one exact step of 1 ms
    assert np.allclose(1 - 1e-4 / sj.tau_mem, math.exp(-1e-3 / 20e-3))
    readout = to_nir(net, target="snntorch").nodes["li1"]
    assert isinstance(readout, nir.CubaLIF) and np.all(np.isinf(readout.v_threshold))
    assert to_nir(net, target="norse", peer_dt=2e-4).metadata["dt"] == 2e-4
    with pytest.raises(ValueError, match="1e-4"):
        to_nir(net, target="snntorch", peer_dt=1e-3)
    with pytest.raises(ValueError, match="unknown NIR target"):
        to_nir(net, target="loihi")


def test_spikingjelly_exported_graph_runs_identically_in_snnlearn() -> None:
    """SpikingJelly (Linear + LIFNode, decay_input=False: r = tau/dt) -> snnlearn, Euler
    decays matched by ``_retime``."""
    sj = pytest.importorskip("spikingjelly.activation_based")
    to_sj = pytest.importorskip("spikingjelly.activation_based.nir_exchange").export_to_nir
    g = torch.Generator().manual_seed(6)
    fc = sj.layer.Linear(5, 10)
    with torch.no_grad():
        fc.weight.copy_(torch.randn(10, 5, generator=g) * 0.6)
        fc.bias.copy_(torch.rand(10, generator=g) * 0.2)
    model = torch.nn.Sequential(fc, sj.neuron.LIFNode(tau=10.0, decay_input=False,
                                                      v_reset=0.0))
    quiet = _quiet()
    try:
        graph = to_sj(model, torch.zeros(1, 5), dt=DT)
    finally:
        quiet.__exit__(None, None, None)
    x = _input()
    expected = []
    with torch.no_grad():
        for t in range(x.shape[0]):
            expected.append(model(x[t]))
    ours = _run(from_nir(_retime(graph, _from_euler), dt=DT), x)
    assert float(ours.outputs.sum()) > 0
    assert torch.equal(ours.outputs, torch.stack(expected))


def test_old_nir_is_named_with_the_minimum_version(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(nir, "__version__", "1.0.4", raising=False)
    with pytest.raises(ImportError, match=r"nir >= 1\.0\.6.*1\.0\.4"):
        to_nir(_net(HARD), dt=DT)


@pytest.mark.slow
def test_cli_trained_digits_model_imports_into_every_peer(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`snnlearn train --reset hard` on digits, `snnlearn export --nir-target T`, then each
    peer reads the file unchanged and reproduces the hidden spikes on test images."""
    from snnlearn.experiments.runner import load_network
    from snnlearn.tasks.digits import Digits

    run_dir = tmp_path / "run"
    status, out, err = _cli(capsys, "train", "--task", "digits", "--epochs", "1", "--hidden",
                            "24", "--reset", "hard", "--out", str(run_dir), "--no-progress")
    assert status == 0, err
    net, _ = load_network(run_dir)
    assert net.layers[0].neuron.reset == "hard"  # what was trained is what is exported
    task = Digits()
    x = task.encode(task.split("test").inputs[:32], generator=torch.Generator().manual_seed(0))
    ours = _run(net, x)
    assert float(ours.spikes[0].sum()) > 0
    for target in PEERS:
        file = tmp_path / f"{target}.nir"
        status, out, err = _cli(capsys, "export", str(run_dir), "--nir", str(file),
                                "--nir-target", target)
        assert status == 0, err
        assert "test accuracy of the exported graph" in out
        found = re.search(r"exported graph ([\d.]+)% \(the network: ([\d.]+)%\)", out)
        assert found is not None, out
        assert abs(float(found[1]) - float(found[2])) <= 1.0, out
        peer = _peer_import(target, file)
        assert _agreement(_peer_spikes(peer, x, "lif0"), ours.spikes[0]) >= 0.99, target


def test_cli_export_needs_no_data_for_the_graph(
    toy_run: object, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch
) -> None:
    from snnlearn.experiments import registry

    def missing(*_: object, **__: object) -> object:
        raise FileNotFoundError("toy data not found")

    monkeypatch.setattr(registry, "make_task", missing)
    file = tmp_path / "net.nir"
    status, out, err = _cli(capsys, "export", str(toy_run.run_dir), "--nir", str(file),
                            "--subtract-reset-as-hard")
    assert status == 0, err
    assert "not re-simulated" in out
    net = from_nir(nir.read(file), dt=_Toy.dt)
    for layer, new in zip(toy_run.network.layers, net.layers, strict=True):
        assert torch.equal(layer.weight, new.weight)


@pytest.mark.parametrize("target", ["exact", "spikingjelly"])
def test_the_shd_default_network_exports(target: str) -> None:
    """SHD's default: 700 -> 128 recurrent CubaLIF -> 20 CubaLI, dt 10 ms (trained with
    --reset hard). The graph has the recurrent edge and reproduces the network."""
    from snnlearn.export.simulate_nir import simulate_nir

    net = build_network(700, [128], 20, dt=10e-3, recurrent=True, gain=2.0,
                        neuron=LIFParams(tau_mem=20e-3, tau_syn=10e-3, reset="hard"),
                        readout=LIParams(tau_mem=20e-3, tau_syn=10e-3),
                        generator=torch.Generator().manual_seed(0))
    graph = to_nir(net, target=target)
    assert ("rec0", "lif0") in graph.edges
    x = (torch.rand(20, 2, 700, generator=torch.Generator().manual_seed(1)) < 0.05).float()
    ours, run = _run(net, x), simulate_nir(graph, x)
    assert float(ours.spikes[0].sum()) > 50
    assert _agreement(run.spikes["lif0"], ours.spikes[0]) >= 0.99


@pytest.mark.parametrize("target", PEERS)
def test_from_nir_reads_a_peer_target_graph_back(target: str, tmp_path: Path) -> None:
    """A graph written for a forward-Euler peer (retimed, gains folded, LIF readout with an
    infinite threshold) reads back into snnlearn as the same network: its metadata says how."""
    net = _digits_like()
    nir.write(tmp_path / "net.nir", to_nir(net, target=target))
    back = from_nir(nir.read(tmp_path / "net.nir"), dt=net.dt)
    assert isinstance(back.layers[-1], Readout)
    x = _digits_input()
    a, b = _run(net, x), _run(back, x)
    assert float(a.spikes[0].sum()) > 50
    assert _agreement(a.spikes[0], b.spikes[0]) >= 0.99
    assert torch.allclose(a.outputs, b.outputs, atol=1e-3)
