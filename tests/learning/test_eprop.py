"""Tests for snnlearn.learning.eprop: BPTT equivalence where e-prop is exact (one feed-forward
hidden layer), online = offline, the measured approximation on recurrent nets, constant memory in
T, and random feedback."""

from __future__ import annotations

import weakref

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

from snnlearn.layers import Network, Readout, SpikingLayer, build_network
from snnlearn.learning import BPTT, LearningRule
from snnlearn.learning.eprop import EProp, EPropOptions
from snnlearn.losses import activity_regularizer, max_membrane_cross_entropy
from snnlearn.neurons import ALIFParams, LIFParams, LIParams
from snnlearn.simulate import unroll

F64 = torch.float64
DT = 1e-3
READOUT = LIParams(tau_mem=15e-3, tau_syn=4e-3)


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def per_step_ce(outputs: Tensor, labels: Tensor) -> Tensor:
    """A loss defined at every step: sum_t CE(y_t, label)."""
    return sum(F.cross_entropy(outputs[t], labels) for t in range(outputs.shape[0]))


def per_step_error(labels: Tensor):
    """``error_fn`` for :meth:`EProp.online_gradients` giving d CE(y_t, label) / d y_t."""
    def error_fn(t: int, y_t: Tensor) -> Tensor:
        y = y_t.detach().requires_grad_()
        return torch.autograd.grad(F.cross_entropy(y, labels), y)[0]
    return error_fn


def problem(neuron, *, hidden=(8,), recurrent=False, bias=False, seed=0, steps=25, batch=4):
    g = gen(seed)
    if bias:
        sizes = [4, *hidden]
        layers = [SpikingLayer.dense(a, b, neuron, recurrent=recurrent, bias=True,
                                     weight_scale=30.0,
                               generator=g, dtype=F64)
                  for a, b in zip(sizes, sizes[1:], strict=False)]
        net = Network([*layers, Readout(sizes[-1], 3, READOUT, bias=True, weight_scale=5.0,
                                        generator=g, dtype=F64)], dt=DT)
        with torch.no_grad():
            for m in net.layers:
                m.bias.uniform_(-0.5, 0.5, generator=g)
    else:
        net = build_network(4, list(hidden), 3, dt=DT, neuron=neuron, readout=READOUT, gain=3.0,
                            recurrent=recurrent, generator=g, dtype=F64)
    x = (torch.rand(steps, batch, 4, generator=g) < 0.3).to(F64)
    labels = torch.randint(0, 3, (batch,), generator=g)
    return net, x, labels


def grads(net: Network) -> list[Tensor]:
    return [p.grad.clone() for p in net.parameters()]


def bptt_grads(net: Network, x: Tensor, loss_fn) -> list[Tensor]:
    rule = BPTT()
    r = rule.simulate(net, x)
    rule.assign_grads(net, r, loss_fn(r))
    return grads(net)


def eprop_grads(net: Network, x: Tensor, loss_fn, **options) -> list[Tensor]:
    rule = EProp(**{"traces": "exact", **options})
    rule.prepare(net, generator=gen(7))
    r = rule.simulate(net, x)
    rule.assign_grads(net, r, loss_fn(r))
    return grads(net)


def relative_error(a: list[Tensor], b: list[Tensor]) -> float:
    return max(((x - y).norm() / y.norm()).item() for x, y in zip(a, b, strict=True))


def cosine(a: list[Tensor], b: list[Tensor]) -> float:
    return F.cosine_similarity(torch.cat([t.flatten() for t in a]),
                               torch.cat([t.flatten() for t in b]), dim=0).item()


NEURONS = {
    "lif": LIFParams(tau_mem=10e-3),
    "lif_syn": LIFParams(tau_mem=10e-3, tau_syn=5e-3),
    "lif_detach": LIFParams(tau_mem=10e-3, tau_syn=5e-3, detach_reset=True),
    "lif_hard_refractory": LIFParams(tau_mem=10e-3, tau_syn=5e-3, reset="hard", v_reset=-0.2,
                                     t_ref=2e-3),
    "alif": ALIFParams(lif=LIFParams(tau_mem=10e-3, tau_syn=5e-3), tau_adapt=30e-3),
}


@pytest.mark.parametrize("bias", [False, True], ids=["no_bias", "bias"])
@pytest.mark.parametrize("neuron", NEURONS.values(), ids=NEURONS.keys())
def test_feedforward_eprop_equals_bptt_for_a_per_step_loss(neuron, bias):
    net, x, labels = problem(neuron, bias=bias)
    loss_fn = lambda r: per_step_ce(r.outputs, labels)  # noqa: E731
    ref = bptt_grads(net, x, loss_fn)
    assert net.layers[0].weight.grad.abs().sum() > 0 and unroll(net, x).spikes[0].sum() > 10
    for online in (True, False):
        assert relative_error(eprop_grads(net, x, loss_fn, online=online), ref) < 1e-10
    EProp().online_gradients(net, x, per_step_error(labels))
    assert relative_error(grads(net), ref) < 1e-10


def test_feedforward_eprop_equals_bptt_for_the_max_over_time_loss():
    net, x, labels = problem(NEURONS["lif_syn"])
    loss_fn = lambda r: max_membrane_cross_entropy(r.outputs, labels)  # noqa: E731
    assert relative_error(eprop_grads(net, x, loss_fn), bptt_grads(net, x, loss_fn)) < 1e-10


@pytest.mark.parametrize("feedback", ["symmetric", "random"])
@pytest.mark.parametrize(("neuron", "hidden"), [
    (NEURONS["lif_syn"], (8,)), (NEURONS["alif"], (7, 6)), (NEURONS["lif_hard_refractory"],
                                                           (7, 6, 5))], ids=["1", "2", "3"])
def test_online_and_offline_agree_on_recurrent_nets(neuron, hidden, feedback):
    net, x, labels = problem(neuron, hidden=hidden, recurrent=True, bias=True)

    def loss_fn(r):  # the task loss plus an activity regulariser on the spikes
        return (max_membrane_cross_entropy(r.outputs, labels)
                + activity_regularizer(r.spikes, strength_upper=1e-2))

    online = eprop_grads(net, x, loss_fn, online=True, feedback=feedback)
    offline = eprop_grads(net, x, loss_fn, online=False, feedback=feedback)
    assert relative_error(online, offline) < 1e-10
    rule = EProp(feedback=feedback, traces="exact")
    rule.prepare(net, generator=gen(7))
    rule.online_gradients(net, x, per_step_error(labels))
    a = grads(net)
    rule = EProp(feedback=feedback, online=False, traces="exact")
    rule.prepare(net, generator=gen(7))
    r = rule.simulate(net, x)
    rule.assign_grads(net, r, per_step_ce(r.outputs, labels))
    assert relative_error(a, grads(net)) < 1e-10


def test_recurrent_diagonal_gets_no_gradient_and_grads_are_written_not_accumulated():
    net, x, labels = problem(NEURONS["lif_syn"], recurrent=True)
    loss_fn = lambda r: per_step_ce(r.outputs, labels)  # noqa: E731
    first = eprop_grads(net, x, loss_fn)
    again = eprop_grads(net, x, loss_fn)
    assert all(torch.equal(a, b) for a, b in zip(first, again, strict=True))
    assert torch.all(torch.diagonal(net.layers[0].recurrent_weight.grad) == 0)


@pytest.mark.parametrize("neuron", [NEURONS["lif_syn"], NEURONS["alif"]], ids=["lif", "alif"])
def test_recurrent_approximation_measured_by_cosine_to_bptt(neuron):
    """STYLE 24: e-prop drops the recurrent paths of the learning signal; measure how much."""
    net, x, labels = problem(neuron, hidden=(12,), recurrent=True, steps=40, batch=6)
    loss_fn = lambda r: per_step_ce(r.outputs, labels)  # noqa: E731
    ref, approx = bptt_grads(net, x, loss_fn), eprop_grads(net, x, loss_fn)
    assert relative_error(approx, ref) > 1e-3  # recurrence is really approximated
    assert cosine(approx, ref) > 0.9  # measured: 0.990 (LIF), 0.986 (ALIF)
    assert cosine(approx[:2], ref[:2]) > 0.8  # hidden weights alone (input and recurrent):
    # measured 0.978, 0.974; the all-parameter figure is dominated by the exact readout
    assert cosine(approx[:1], ref[:1]) > 0.8  # recurrent weights alone: measured 0.979, 0.976


def test_deeper_layer_approximation_measured_by_cosine_to_bptt():
    """Deeper symmetric layers get the error through the layers above within one step only."""
    net, x, labels = problem(NEURONS["lif_syn"], hidden=(7, 6), recurrent=True, steps=40, batch=6)
    loss_fn = lambda r: per_step_ce(r.outputs, labels)  # noqa: E731
    ref, approx = bptt_grads(net, x, loss_fn), eprop_grads(net, x, loss_fn)
    assert cosine(approx[:2], ref[:2]) > 0.7  # first layer, measured 0.92 (loss-dependent)
    assert cosine(approx[2:4], ref[2:4]) > 0.9  # top hidden layer, measured 0.998


class _PeakTensorBytes(TorchDispatchMode):
    """Peak bytes of live tensors created by torch operations inside the mode (views, in-place
    results and other aliases of an input are not new memory and are not counted)."""

    def __init__(self) -> None:
        super().__init__()
        self.live = self.peak = 0

    def _free(self, nbytes: int) -> None:
        self.live -= nbytes

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        returns = func._schema.returns
        for k, t in enumerate(tree_leaves(out)):
            aliased = k < len(returns) and returns[k].alias_info is not None
            if isinstance(t, Tensor) and not aliased:
                nbytes = t.untyped_storage().nbytes()
                self.live += nbytes
                self.peak = max(self.peak, self.live)
                weakref.finalize(t, self._free, nbytes)
        return out


@pytest.mark.parametrize("hidden", [(6,), (5, 4)], ids=["one_layer", "two_layers"])
def test_online_gradients_keep_nothing_of_size_t(hidden):
    peaks = []
    for steps in (30, 300):
        net, x, labels = problem(NEURONS["alif"], hidden=hidden, recurrent=True, steps=steps,
                                 batch=2)
        rule, error = EProp(traces="exact"), per_step_error(labels)

        def error_fn(t: int, y_t: Tensor, error=error) -> Tensor:
            if t == 0:  # measure the time loop, not the O(T) validation of the input x
                meter.peak = meter.live
            return error(t, y_t)

        with _PeakTensorBytes() as meter:
            result = rule.online_gradients(net, x, error_fn)
        peaks.append(meter.peak)
        batch, n_in = x.shape[1], x.shape[2]
        for trace in result.traces:
            for t in trace:
                assert t is None or steps not in t.shape
        top = result.traces[len(hidden) - 1]
        p_top = net.layers[len(hidden) - 1].n_in + hidden[-1]
        assert tuple(top.membrane.shape) == (batch, hidden[-1], p_top)
        assert tuple(top.filtered.shape) == (batch, hidden[-1], p_top)
        if len(hidden) > 1:  # deeper symmetric layers keep ebar per output unit
            assert tuple(result.traces[0].filtered.shape) == (batch, 3, hidden[0],
                                                              n_in + hidden[0])
    assert abs(peaks[1] - peaks[0]) <= 0.1 * peaks[0], peaks


def test_offline_mode_stores_activations_not_traces():
    net, x, _ = problem(NEURONS["lif_syn"], recurrent=True)
    r = EProp(online=False, traces="exact").simulate(net, x)
    (rec,) = r.extras["eprop_records"]
    assert tuple(rec.psi.shape) == (x.shape[0], x.shape[1], 8)
    assert tuple(rec.presyn.shape) == (x.shape[0], x.shape[1], 4 + 8)
    assert set(EProp(traces="exact").simulate(net, x).extras) == {"eprop_input"}


@pytest.mark.parametrize("online", [True, False])
def test_simulate_outputs_are_unroll(online):
    net, x, _ = problem(NEURONS["alif"], recurrent=True, bias=True)
    r, ref = EProp(online=online, traces="exact").simulate(net, x), unroll(net, x)
    torch.testing.assert_close(r.outputs, ref.outputs, rtol=0, atol=1e-12)
    assert torch.equal(r.spikes[0], ref.spikes[0])
    assert r.outputs.requires_grad and r.spikes[0].requires_grad


def test_random_feedback_is_drawn_in_prepare_from_the_generator():
    net, _, _ = problem(NEURONS["lif_syn"], hidden=(10, 8))
    a, b, c = EProp(feedback="random"), EProp(feedback="random"), EProp(feedback="random")
    a.prepare(net, generator=gen(3))
    b.prepare(net, generator=gen(3))
    c.prepare(net, generator=gen(4))
    assert [tuple(m.shape) for m in a.feedback_weights] == [(3, 10), (3, 8)]
    assert all(torch.equal(p, q) for p, q in zip(a.feedback_weights, b.feedback_weights,
                                                    strict=True))
    assert not torch.equal(a.feedback_weights[0], c.feedback_weights[0])
    assert a.feedback_weights[0].dtype == F64
    std = net.layers[-1].weight_scale / 8**0.5  # uniform with the readout's initial std
    assert abs(a.feedback_weights[1].std().item() / std - 1) < 0.5
    symmetric = EProp()
    symmetric.prepare(net, generator=gen(3))
    assert symmetric.feedback_weights == ()


def test_random_feedback_learns_a_tiny_task():
    g = gen(0)
    net = build_network(4, [20], 2, dt=DT, neuron=NEURONS["lif_syn"], readout=READOUT,
                        gain=3.0, generator=g, dtype=F64)
    x = (torch.rand(20, 8, 4, generator=g) < 0.1).to(F64)
    labels = torch.arange(8) % 2
    x[:, labels == 1, :2] = (torch.rand(20, 4, 2, generator=g) < 0.4).to(F64)
    rule = EProp(feedback="random")
    rule.prepare(net, generator=gen(1))
    optimizer = torch.optim.Adam(net.parameters(), lr=3e-2)
    losses = []
    for _ in range(15):
        r = rule.simulate(net, x)
        loss = max_membrane_cross_entropy(r.outputs, labels)
        losses.append(loss.item())
        optimizer.zero_grad()
        rule.assign_grads(net, r, loss)
        optimizer.step()
    assert losses[-1] < 0.7 * losses[0], losses


def test_random_feedback_without_prepare_raises():
    net, x, _ = problem(NEURONS["lif"])
    with pytest.raises(ValueError, match="prepare"):
        EProp(feedback="random").simulate(net, x)


def test_invalid_options_and_networks_raise():
    with pytest.raises(ValueError, match="symmetric"):
        EProp(feedback="transpose")
    with pytest.raises(ValueError, match="online"):
        EPropOptions(online="yes")
    spiking = build_network(3, [4], 2, dt=DT, spiking_output=True)
    with pytest.raises(ValueError, match="Readout"):
        EProp().prepare(spiking)
    net, x, labels = problem(NEURONS["lif"])
    with pytest.raises(ValueError, match="simulate"):
        EProp().assign_grads(net, unroll(net, x), unroll(net, x).outputs.sum())
    with pytest.raises(ValueError, match="shape"):
        EProp().online_gradients(net, x, lambda t, y: y[:, :1])


def test_eprop_is_a_learning_rule_named_eprop():
    assert isinstance(EProp(), LearningRule) and EProp.name == "eprop"
    assert EProp().options == EPropOptions(feedback="symmetric", online=True,
                                            traces="factorized")


@pytest.mark.parametrize("adaptive", [False, True], ids=["lif", "alif"])
@pytest.mark.parametrize("recurrent", [False, True])
def test_factorized_traces_are_bptt_where_the_reset_is_detached_and_exact_traces_otherwise(
        recurrent, adaptive):
    # one feed-forward hidden layer with a detached reset: the canonical factorised trace is
    # the BPTT gradient; with recurrence it equals the per-synapse traces (same approximation);
    # for ALIF the adaptation trace, folded into one reverse scan, gives the same gradients
    neuron = LIFParams(tau_mem=10e-3, tau_syn=5e-3, detach_reset=True)
    if adaptive:
        neuron = ALIFParams(lif=neuron, tau_adapt=30e-3, adaptation=1.5)
    net, x, labels = problem(neuron, recurrent=recurrent)
    loss_fn = lambda r: per_step_ce(r.outputs, labels)  # noqa: E731
    fast = eprop_grads(net, x, loss_fn, traces="factorized")
    exact = eprop_grads(net, x, loss_fn, traces="exact")
    assert relative_error(fast, exact) < 1e-10
    if not recurrent:
        assert relative_error(fast, bptt_grads(net, x, loss_fn)) < 1e-10


def test_factorized_traces_leave_out_the_reset_a_measured_approximation():
    net, x, labels = problem(LIFParams(tau_mem=10e-3, tau_syn=5e-3))
    loss_fn = lambda r: per_step_ce(r.outputs, labels)  # noqa: E731
    fast, ref = eprop_grads(net, x, loss_fn, traces="factorized"), bptt_grads(net, x, loss_fn)
    assert 0.9 < cosine(fast, ref) < 1 - 1e-6  # close to, but not, the BPTT gradient
    torch.testing.assert_close(fast[-1], ref[-1])  # the readout's gradient is exact


def test_compiled_adaptation_fold_equals_the_torch_scan(monkeypatch: pytest.MonkeyPatch):
    """The ALIF fold of the factorised traces: the compiled scan (CPU) and the torch loop (any
    device) give the same learning signal."""
    pytest.importorskip("numba")
    from snnlearn.learning import _eprop_factorized as ef

    g = gen(3)
    delta = torch.randn(17, 3, 5, generator=g, dtype=torch.float64)
    psi = torch.rand(17, 3, 5, generator=g, dtype=torch.float64)
    neuron = ALIFParams(lif=LIFParams(tau_mem=10e-3), tau_adapt=30e-3, adaptation=1.5)
    compiled = ef._with_adaptation(delta, psi, neuron, 1e-3)
    monkeypatch.setattr(ef, "numba_available", lambda: False)
    looped = ef._with_adaptation(delta, psi, neuron, 1e-3)
    assert not torch.equal(compiled, delta)  # the adaptation changes the signal
    torch.testing.assert_close(compiled, looped, rtol=1e-12, atol=1e-12)
