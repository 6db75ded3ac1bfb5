"""Tests for snnlearn.learning.fa: fa_linear (gradcheck, feedback backward), FA with B = W equals
BPTT, random B changes hidden-layer gradients only, seeded feedback of the documented scale, and
learning of a tiny task."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor

from snnlearn.layers import Network, build_network
from snnlearn.learning import BPTT, LearningRule
from snnlearn.learning.fa import FeedbackAlignment, fa_linear, random_feedback
from snnlearn.neurons import ALIFParams, LIFParams

F64 = torch.float64
DT = 1e-3


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def loss_fn(outputs: Tensor, labels: Tensor) -> Tensor:
    return F.cross_entropy(outputs.mean(dim=0), labels)


def grads(rule: LearningRule, net: Network, x: Tensor, labels: Tensor) -> list[Tensor]:
    r = rule.simulate(net, x)
    rule.assign_grads(net, r, loss_fn(r.outputs, labels))
    return [p.grad.clone() for p in net.parameters()]


def spikes_in(seed: int, shape: tuple[int, int, int], p: float = 0.4) -> Tensor:
    return (torch.rand(shape, generator=gen(seed), dtype=F64) < p).to(F64)


NETS = {
    "two_hidden_lif": dict(hidden=[7, 5]),
    "recurrent_lif": dict(hidden=[6], recurrent=True),
    "alif_spiking_output": dict(hidden=[6, 5], neuron=ALIFParams(), spiking_output=True),
    "no_synapse": dict(hidden=[6], neuron=LIFParams(tau_syn=None)),
}


def make_net(kind: str, seed: int = 0) -> Network:
    return build_network(4, n_out=3, dt=DT, gain=3.0, generator=gen(seed), dtype=F64,
                         **NETS[kind])


# --- fa_linear -----------------------------------------------------------------------------------

@pytest.mark.parametrize("with_bias", [True, False])
def test_fa_linear_gradcheck_when_feedback_is_the_weight(with_bias):
    g = gen(1)
    x = torch.randn(3, 2, 4, generator=g, dtype=F64, requires_grad=True)
    w = torch.randn(5, 4, generator=g, dtype=F64, requires_grad=True)
    b = torch.randn(5, generator=g, dtype=F64, requires_grad=True) if with_bias else None

    def f(x: Tensor, w: Tensor, *rest: Tensor) -> Tensor:
        return fa_linear(x, w, rest[0] if rest else None, w.detach())  # B = W at each point

    assert torch.autograd.gradcheck(f, (x, w, *([b] if with_bias else [])))
    torch.testing.assert_close(fa_linear(x, w, b, torch.zeros_like(w)), F.linear(x, w, b),
                               rtol=0, atol=0)


def test_fa_linear_backward_sends_the_error_through_the_feedback_matrix():
    g = gen(2)
    x = torch.randn(4, 3, 6, generator=g, dtype=F64, requires_grad=True)
    w = torch.randn(5, 6, generator=g, dtype=F64, requires_grad=True)
    b = torch.randn(5, generator=g, dtype=F64, requires_grad=True)
    feedback = torch.randn(5, 6, generator=g, dtype=F64)
    grad_y = torch.randn(4, 3, 5, generator=g, dtype=F64)
    fa_linear(x, w, b, feedback).backward(grad_y)
    torch.testing.assert_close(x.grad, grad_y @ feedback, rtol=1e-13, atol=1e-13)
    x_ref, w_ref, b_ref = (t.detach().clone().requires_grad_() for t in (x, w, b))
    F.linear(x_ref, w_ref, b_ref).backward(grad_y)
    torch.testing.assert_close(w.grad, w_ref.grad, rtol=1e-13, atol=1e-13)
    torch.testing.assert_close(b.grad, b_ref.grad, rtol=1e-13, atol=1e-13)
    assert not torch.allclose(x.grad, x_ref.grad)  # the input error is not the true gradient


def test_fa_linear_rejects_a_feedback_matrix_of_the_wrong_shape():
    with pytest.raises(ValueError, match=r"weight's shape \(3, 2\)"):
        fa_linear(torch.ones(1, 2), torch.ones(3, 2), None, torch.ones(2, 3))


# --- reference equivalence: B = W is BPTT --------------------------------------------------------

@pytest.mark.parametrize("kind", list(NETS))
def test_fa_with_feedback_equal_to_the_weights_is_bptt(kind):
    net = make_net(kind)
    x, labels = spikes_in(1, (12, 3, 4)), torch.tensor([0, 2, 1])
    rule = FeedbackAlignment()
    rule.set_feedback(net, [m.weight for m in list(net.layers)[1:]])
    fa, bptt = grads(rule, net, x, labels), grads(BPTT(), net, x, labels)
    assert all(g.abs().sum() > 0 for g in bptt)  # no vacuous comparison
    for name_p, a, b in zip(net.named_parameters(), fa, bptt, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-12, msg=name_p[0])


@pytest.mark.parametrize("kind", list(NETS))
def test_random_feedback_changes_the_hidden_gradients_only(kind):
    net = make_net(kind)
    x, labels = spikes_in(1, (12, 3, 4)), torch.tensor([0, 2, 1])
    rule = FeedbackAlignment()
    rule.prepare(net, generator=gen(7))
    fa, bptt = grads(rule, net, x, labels), grads(BPTT(), net, x, labels)
    last = {id(p) for p in net.layers[-1].parameters()}
    for p, a, b in zip(net.parameters(), fa, bptt, strict=True):
        if id(p) in last:
            torch.testing.assert_close(a, b, rtol=0, atol=1e-12)
        else:
            assert (a - b).abs().max() > 1e-6


@pytest.mark.parametrize("kind", ["recurrent_lif", "no_synapse"])
def test_the_fa_error_is_the_gradient_sent_back_through_b_minus_w(kind):
    """With one hidden layer the hidden gradient is linear in B, so FA(W + N) = BPTT + FA(N)."""
    net = make_net(kind)
    x, labels = spikes_in(1, (12, 3, 4)), torch.tensor([0, 2, 1])
    noise = random_feedback(tuple(net.layers[1].weight.shape), 1.0, like=net.layers[1].weight,
                            generator=gen(9))
    rule = FeedbackAlignment()
    rule.set_feedback(net, [net.layers[1].weight.detach() + noise])
    both = grads(rule, net, x, labels)
    rule.set_feedback(net, [noise])
    noise_only = grads(rule, net, x, labels)
    bptt = grads(BPTT(), net, x, labels)
    for p, a, n, b in zip(net.parameters(), both, noise_only, bptt, strict=True):
        if any(p is q for q in net.layers[0].parameters()):
            torch.testing.assert_close(a - n, b, rtol=0, atol=1e-12)


# --- feedback matrices ---------------------------------------------------------------------------

def test_feedback_is_deterministic_for_a_generator_and_has_the_init_scale():
    net = build_network(40, [300, 200], 3, dt=DT, gain=2.0, generator=gen(0), dtype=F64)
    a, b, c = FeedbackAlignment(), FeedbackAlignment(), FeedbackAlignment()
    a.prepare(net, generator=gen(3))
    b.prepare(net, generator=gen(3))
    c.prepare(net, generator=gen(4))
    assert len(a.feedback) == 2
    assert all(torch.equal(u, v) for u, v in zip(a.feedback, b.feedback, strict=True))
    assert not any(torch.equal(u, v) for u, v in zip(a.feedback, c.feedback, strict=True))
    for layer, fb in zip(list(net.layers)[1:], a.feedback, strict=True):
        assert fb.shape == layer.weight.shape and fb.dtype == F64 and not fb.requires_grad
        std = layer.weight_scale / math.sqrt(layer.n_in)
        bound = std * math.sqrt(3.0)
        assert fb.abs().max() <= bound
        rel_se = 1.0 / math.sqrt(fb.numel())  # ~ relative standard error of the std estimate
        assert abs(fb.std().item() / std - 1.0) < 6 * rel_se
        assert abs(fb.mean().item()) < 6 * std / math.sqrt(fb.numel())
        assert not torch.equal(fb, layer.weight.detach())


def test_random_feedback_std_and_bound():
    fb = random_feedback((400, 100), 2.0, like=torch.zeros((), dtype=F64), generator=gen(0))
    assert fb.abs().max() <= 2.0 * math.sqrt(3.0 / 100)
    assert abs(fb.std().item() - 0.2) < 0.2 * 6 / math.sqrt(fb.numel())


def test_set_feedback_copies_and_validates():
    net = make_net("two_hidden_lif")
    rule = FeedbackAlignment()
    weights = [m.weight for m in list(net.layers)[1:]]
    rule.set_feedback(net, weights)
    assert all(f.data_ptr() != w.data_ptr() for f, w in zip(rule.feedback, weights, strict=True))
    with pytest.raises(ValueError, match="expected 2 feedback matrices"):
        rule.set_feedback(net, weights[:1])
    with pytest.raises(ValueError, match=r"layer 2 must have its weight's shape \(3, 5\)"):
        rule.set_feedback(net, [weights[0], weights[1].T])


def test_simulate_without_prepare_raises_and_names_the_fix():
    net = make_net("two_hidden_lif")
    with pytest.raises(ValueError, match=r"call rule.prepare\(net"):
        FeedbackAlignment().simulate(net, spikes_in(0, (3, 1, 4)))
    rule = FeedbackAlignment()
    rule.prepare(make_net("recurrent_lif"), generator=gen())
    with pytest.raises(ValueError, match="prepare"):
        rule.simulate(net, spikes_in(0, (3, 1, 4)))


def test_assign_grads_writes_instead_of_accumulating():
    net = make_net("two_hidden_lif")
    x, labels = spikes_in(1, (10, 2, 4)), torch.tensor([1, 0])
    rule = FeedbackAlignment()
    rule.prepare(net, generator=gen())
    first, second = grads(rule, net, x, labels), grads(rule, net, x, labels)
    assert all(torch.equal(a, b) for a, b in zip(first, second, strict=True))


# --- learning ------------------------------------------------------------------------------------

def tiny_task() -> tuple[Tensor, Tensor]:
    """Two classes that drive disjoint halves of 8 inputs (rate 0.5 vs 0.05 per step)."""
    labels = torch.arange(16) % 2
    rate = torch.full((2, 8), 0.05, dtype=F64)
    rate[0, :4] = rate[1, 4:] = 0.5
    x = (torch.rand(15, 16, 8, generator=gen(5), dtype=F64) < rate[labels]).to(F64)
    return x, labels


def train_tiny(rule: LearningRule, steps: int = 30) -> tuple[float, float, float]:
    """(initial loss, final loss, final accuracy) after ``steps`` Adam steps on the tiny task."""
    net = build_network(8, [12], 2, dt=DT, gain=3.0, generator=gen(0), dtype=F64)
    with torch.no_grad():
        net.layers[-1].weight.mul_(0.1)
    rule.prepare(net, generator=gen(1))
    x, labels = tiny_task()
    optimizer = torch.optim.Adam(net.parameters(), lr=0.05)
    first = math.nan
    for _ in range(steps):
        r = rule.simulate(net, x)
        loss = loss_fn(r.outputs, labels)
        first = loss.item() if math.isnan(first) else first
        rule.assign_grads(net, r, loss)
        optimizer.step()
    with torch.no_grad():
        out = rule.simulate(net, x).outputs
    accuracy = (out.mean(dim=0).argmax(dim=-1) == labels).to(F64).mean().item()
    return first, loss_fn(out, labels).item(), accuracy


def test_fa_learns_a_tiny_task():
    first, last, accuracy = train_tiny(FeedbackAlignment())
    assert last < 0.5 * first and accuracy == 1.0


def test_fa_is_a_learning_rule_named_fa():
    assert isinstance(FeedbackAlignment(), LearningRule) and FeedbackAlignment.name == "fa"
