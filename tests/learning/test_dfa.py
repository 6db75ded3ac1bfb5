"""Tests for snnlearn.learning.dfa: DFA equals BPTT where it must (one hidden layer, B = W_out for
the current error; B = R W_out and a memoryless readout for the output error), no gradient crosses
hidden layers, seeded feedback of the documented scale, and learning of a tiny task."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor

from snnlearn.layers import Network, Readout, SpikingLayer, build_network
from snnlearn.learning import BPTT, LearningRule
from snnlearn.learning.dfa import DirectFeedbackAlignment
from snnlearn.neurons import ALIFParams, LIFParams, LIParams
from snnlearn.simulate import unroll

F64 = torch.float64
DT = 1e-3


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def loss_fn(outputs: Tensor, labels: Tensor) -> Tensor:
    return F.cross_entropy(outputs.amax(dim=0), labels)  # max over time: a sparse-in-time error


def grads(rule: LearningRule, net: Network, x: Tensor, labels: Tensor) -> list[Tensor]:
    r = rule.simulate(net, x)
    rule.assign_grads(net, r, loss_fn(r.outputs, labels))
    return [p.grad.clone() for p in net.parameters()]


def spikes_in(seed: int, shape: tuple[int, int, int], p: float = 0.4) -> Tensor:
    return (torch.rand(shape, generator=gen(seed), dtype=F64) < p).to(F64)


X, LABELS = spikes_in(1, (12, 3, 4)), torch.tensor([0, 2, 1])

ONE_HIDDEN = {
    "lif": dict(),
    "recurrent_lif": dict(recurrent=True),
    "alif": dict(neuron=ALIFParams()),
    "spiking_output": dict(spiking_output=True),
}


def one_hidden_net(kind: str) -> Network:
    return build_network(4, [6], 3, dt=DT, gain=3.0, readout=LIParams(tau_syn=5e-3),
                         generator=gen(0), dtype=F64, **ONE_HIDDEN[kind])


def assert_grads_equal(net: Network, got: list[Tensor], want: list[Tensor]) -> None:
    assert all(g.abs().sum() > 0 for g in want)  # no vacuous comparison
    for (name, _), a, b in zip(net.named_parameters(), got, want, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-12, msg=name)


# --- reference equivalence -----------------------------------------------------------------------

@pytest.mark.parametrize("kind", list(ONE_HIDDEN))
def test_current_error_with_b_equal_to_w_out_is_bptt_for_one_hidden_layer(kind):
    """dL/dz_t = (dL/dI^out_t) W_out exactly, whatever the readout's dynamics."""
    net = one_hidden_net(kind)
    rule = DirectFeedbackAlignment()
    rule.set_feedback(net, [net.layers[-1].weight])
    assert_grads_equal(net, grads(rule, net, X, LABELS), grads(BPTT(), net, X, LABELS))


def memoryless_readout_net(r: float) -> Network:
    """a_m = exp(-dt / tau_mem) = 0 and no synapse: y_t = R (W_out z_t + b), no memory."""
    g = gen(0)
    readout = LIParams(tau_mem=1e-9, tau_syn=None, r=r)
    net = Network([SpikingLayer.dense(4, 6, LIFParams(), weight_scale=40.0, generator=g, dtype=F64),
                   Readout(6, 3, readout, bias=True, generator=g, dtype=F64)], dt=DT)
    assert math.exp(-DT / readout.tau_mem) == 0.0
    return net


# the readout is made memoryless on purpose (tau_mem far below dt)
@pytest.mark.filterwarnings("ignore::snnlearn.diagnostics.TimeConstantWarning")
def test_output_error_with_b_equal_to_r_w_out_is_bptt_for_a_memoryless_readout():
    r = 0.7
    net = memoryless_readout_net(r)
    rule = DirectFeedbackAlignment(error="output")
    rule.set_feedback(net, [r * net.layers[-1].weight])
    assert_grads_equal(net, grads(rule, net, X, LABELS), grads(BPTT(), net, X, LABELS))


def test_output_error_drops_the_readout_filter_of_a_leaky_readout():
    """With memory (a_m > 0) the membrane error differs from the current error: measured."""
    net = one_hidden_net("lif")
    out = DirectFeedbackAlignment(error="output")
    out.set_feedback(net, [net.layers[-1].weight])
    current = DirectFeedbackAlignment()
    current.set_feedback(net, [net.layers[-1].weight])
    a, b = grads(out, net, X, LABELS)[0], grads(current, net, X, LABELS)[0]
    cosine = (a * b).sum() / (a.norm() * b.norm())
    assert 0.0 < cosine < 0.999


# --- locality ------------------------------------------------------------------------------------

def two_hidden_net() -> Network:
    return build_network(4, [7, 5], 3, dt=DT, gain=3.0, generator=gen(0), dtype=F64)


def test_no_gradient_crosses_hidden_layers():
    net = two_hidden_net()
    rule = DirectFeedbackAlignment()
    rule.prepare(net, generator=gen(3))
    r = rule.simulate(net, X)
    w0 = net.layers[0].weight
    assert torch.autograd.grad(r.spikes[1].sum(), w0, allow_unused=True)[0] is None
    assert torch.autograd.grad(r.outputs.sum(), w0, allow_unused=True)[0] is None
    assert torch.equal(r.outputs, unroll(net, X).outputs)  # the forward pass is the network's


def test_layer_one_gradient_depends_on_its_own_feedback_only():
    net = two_hidden_net()
    rule = DirectFeedbackAlignment()
    rule.prepare(net, generator=gen(3))
    b0, b1 = rule.feedback
    base = grads(rule, net, X, LABELS)
    rule.set_feedback(net, [b0, 5.0 * torch.randn(b1.shape, generator=gen(4), dtype=F64)])
    other_b1 = grads(rule, net, X, LABELS)
    rule.set_feedback(net, [torch.zeros_like(b0), b1])
    zero_b0 = grads(rule, net, X, LABELS)
    bptt = grads(BPTT(), net, X, LABELS)
    layer0 = len(list(net.layers[0].parameters()))
    assert base[0].abs().sum() > 0
    for a, b in zip(base[:layer0], other_b1[:layer0], strict=True):
        assert torch.equal(a, b)  # layer 2's feedback and weights' gradient do not reach layer 1
    assert all(g.abs().max() == 0 for g in zero_b0[:layer0])  # nothing but B_0 e reaches it
    assert not torch.allclose(base[layer0], other_b1[layer0])  # B_1 does train layer 2
    n_out = len(list(net.layers[-1].parameters()))
    for a, b in zip(base[-n_out:], bptt[-n_out:], strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-12)  # the readout's gradient is exact


def test_a_loss_on_hidden_spikes_acts_on_that_layer_only():
    """An activity term of the loss is differentiated locally, exactly (no output error)."""
    net = two_hidden_net()
    rule = DirectFeedbackAlignment()
    rule.prepare(net, generator=gen(3))
    r = rule.simulate(net, X)
    rule.assign_grads(net, r, r.spikes[0].sum())
    got = [torch.zeros_like(p) if p.grad is None else p.grad for p in net.parameters()]
    ref = unroll(net, X)
    want = torch.autograd.grad(ref.spikes[0].sum(), list(net.layers[0].parameters()))
    torch.testing.assert_close(got[0], want[0], rtol=0, atol=1e-12)
    assert all(g.abs().max() == 0 for g in got[1:])


# --- feedback matrices ---------------------------------------------------------------------------

def test_feedback_is_deterministic_for_a_generator_and_scaled_like_the_readout():
    net = build_network(10, [300, 200], 4, dt=DT, gain=2.0, generator=gen(0), dtype=F64)
    a, b, c = (DirectFeedbackAlignment() for _ in range(3))
    a.prepare(net, generator=gen(3))
    b.prepare(net, generator=gen(3))
    c.prepare(net, generator=gen(4))
    assert all(torch.equal(u, v) for u, v in zip(a.feedback, b.feedback, strict=True))
    assert not any(torch.equal(u, v) for u, v in zip(a.feedback, c.feedback, strict=True))
    scale = net.layers[-1].weight_scale
    for layer, fb in zip(list(net.layers)[:-1], a.feedback, strict=True):
        assert fb.shape == (4, layer.n_out) and fb.dtype == F64 and not fb.requires_grad
        std = scale / math.sqrt(layer.n_out)
        assert fb.abs().max() <= std * math.sqrt(3.0)
        assert abs(fb.std().item() / std - 1.0) < 6 / math.sqrt(fb.numel())


def test_invalid_options_and_misuse_raise_with_the_fix():
    with pytest.raises(ValueError, match="one of current, output"):
        DirectFeedbackAlignment(error="membrane")  # type: ignore[arg-type]
    net = two_hidden_net()
    rule = DirectFeedbackAlignment()
    with pytest.raises(ValueError, match=r"call rule.prepare\(net"):
        rule.simulate(net, X)
    with pytest.raises(ValueError, match="expected 2 feedback matrices"):
        rule.set_feedback(net, [torch.zeros(3, 7, dtype=F64)])
    with pytest.raises(ValueError, match=r"hidden layer 1 must have shape \[n_out, N_l\]"):
        rule.set_feedback(net, [torch.zeros(3, 7), torch.zeros(5, 3)])
    rule.prepare(net, generator=gen())
    r = unroll(net, X)
    with pytest.raises(ValueError, match="DirectFeedbackAlignment.simulate"):
        rule.assign_grads(net, r, loss_fn(r.outputs, LABELS))


def test_assign_grads_writes_instead_of_accumulating():
    net = two_hidden_net()
    rule = DirectFeedbackAlignment()
    rule.prepare(net, generator=gen())
    first, second = grads(rule, net, X, LABELS), grads(rule, net, X, LABELS)
    assert all(torch.equal(a, b) for a, b in zip(first, second, strict=True))


# --- learning ------------------------------------------------------------------------------------

def test_dfa_learns_a_tiny_task():
    """Two classes driving disjoint halves of 8 inputs; two hidden layers trained by DFA."""
    labels = torch.arange(16) % 2
    rate = torch.full((2, 8), 0.05, dtype=F64)
    rate[0, :4] = rate[1, 4:] = 0.5
    x = (torch.rand(15, 16, 8, generator=gen(5), dtype=F64) < rate[labels]).to(F64)
    net = build_network(8, [12, 12], 2, dt=DT, gain=3.0, generator=gen(0), dtype=F64)
    with torch.no_grad():
        net.layers[-1].weight.mul_(0.1)
    start = [p.detach().clone() for p in net.parameters()]
    rule = DirectFeedbackAlignment()
    rule.prepare(net, generator=gen(1))
    optimizer = torch.optim.Adam(net.parameters(), lr=0.05)

    def mean_loss(outputs: Tensor) -> Tensor:
        return F.cross_entropy(outputs.mean(dim=0), labels)

    first = math.nan
    for _ in range(30):
        r = rule.simulate(net, x)
        loss = mean_loss(r.outputs)
        first = loss.item() if math.isnan(first) else first
        rule.assign_grads(net, r, loss)
        optimizer.step()
    with torch.no_grad():
        out = rule.simulate(net, x).outputs
    assert mean_loss(out).item() < 0.7 * first
    assert (out.mean(dim=0).argmax(dim=-1) == labels).to(F64).mean() >= 15 / 16
    assert all(not torch.equal(a, p) for a, p in zip(start, net.parameters(), strict=True))


def test_dfa_is_a_learning_rule_named_dfa():
    assert isinstance(DirectFeedbackAlignment(), LearningRule)
    assert DirectFeedbackAlignment.name == "dfa"
