"""Tests for snnlearn.learning.darts: the input filter's closed form, the mixed operation is the
softmax-weighted sum of its candidates, the identity operation alone is the plain network, the
bi-level search moves the weights on one half and alpha on the other, and discretising keeps the
largest alpha and retrains from fresh weights."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from snnlearn.layers import Network, build_network
from snnlearn.learning.base import EpochContext
from snnlearn.learning.darts import Darts, SearchSpace, input_filter
from snnlearn.simulate import unroll
from snnlearn.tasks.base import TaskData

F64 = torch.float64
DT = 1e-3


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def net_and_rule(taus=(0.0, 5e-3, 20e-3)) -> tuple[Network, Darts]:  # noqa: ANN001
    net = build_network(4, [6], 2, dt=DT, gain=3.0, generator=gen(0), dtype=F64)
    rule = Darts(taus=taus, search_epochs=1)
    rule.prepare(net, generator=gen(1))
    return net, rule


X = (torch.rand(30, 2, 4, generator=gen(2), dtype=F64) < 0.3).to(F64)


def test_the_filter_is_an_exponential_kernel_of_unit_dc_gain():
    x = torch.zeros(40, 1, 1, dtype=F64)
    x[0] = 1.0
    tau = 5e-3
    a = math.exp(-DT / tau)
    want = torch.tensor([(1 - a) * a**t for t in range(40)], dtype=F64)
    torch.testing.assert_close(input_filter(x, tau, DT).flatten(), want, rtol=1e-12, atol=0)
    steady = input_filter(torch.ones(400, 1, 1, dtype=F64), tau, DT)[-1]
    assert float(steady) == pytest.approx(1.0, abs=1e-12)


def test_the_mixed_operation_is_the_softmax_weighted_sum_of_its_candidates():
    net, rule = net_and_rule()
    space = net.darts
    with torch.no_grad():
        space.alpha.copy_(torch.tensor([[0.3, -1.0, 0.5], [1.0, 0.0, -0.4]], dtype=F64))
    mix = torch.softmax(space.alpha, -1)

    def by_hand(k, layer, seq):  # noqa: ANN001, ANN202 - the projection signature
        w_5ms, w_20ms = space.weights[2 * k], space.weights[2 * k + 1]
        return (mix[k, 0] * layer.project(seq)
                + mix[k, 1] * F.linear(input_filter(seq, 5e-3, DT), w_5ms)
                + mix[k, 2] * F.linear(input_filter(seq, 20e-3, DT), w_20ms))

    got = rule.simulate(net, X).outputs
    torch.testing.assert_close(got, unroll(net, X, projection=by_hand).outputs, rtol=1e-12,
                               atol=1e-12)
    assert not torch.allclose(got, unroll(net, X).outputs)  # the filters matter


def test_keeping_only_the_identity_is_the_plain_network():
    net, rule = net_and_rule()
    with torch.no_grad():
        net.darts.alpha.copy_(torch.tensor([[5.0, 0.0, 0.0], [5.0, 0.0, 0.0]], dtype=F64))
    mask = rule.discretise(net)
    assert mask.tolist() == [[1.0, 0.0, 0.0], [1.0, 0.0, 0.0]]
    torch.testing.assert_close(rule.simulate(net, X).outputs, unroll(net, X).outputs,
                               rtol=0, atol=0)
    with torch.no_grad():
        net.darts.alpha.copy_(torch.tensor([[0.0, 0.0, 5.0], [0.0, 5.0, 0.0]], dtype=F64))
    assert rule.discretise(net).tolist() == [[0.0, 0.0, 1.0], [0.0, 1.0, 0.0]]


class _Task:
    """Two classes: an early burst on channels 0-1 (class 0) or a late one on 2-3 (T = 30)."""

    def __init__(self) -> None:
        labels = torch.arange(24) % 2
        self.data = TaskData(labels.to(F64).unsqueeze(1), labels)

    def encode(self, inputs, *, generator=None):  # noqa: ANN001, ANN201
        x = torch.zeros(30, len(inputs), 4, dtype=F64)
        for b, late in enumerate(inputs[:, 0] > 0.5):
            rows, cols = (slice(20, 24), slice(2, 4)) if late else (slice(2, 6), slice(0, 2))
            x[rows, b, cols] = 1.0
        return x

    def loss(self, outputs, labels):  # noqa: ANN001, ANN201
        return F.cross_entropy(outputs.mean(0), labels)

    def predict(self, outputs):  # noqa: ANN001, ANN201
        return outputs.mean(0).argmax(-1)


def _ctx(rule: Darts, net: Network, epoch: int, optimizer) -> EpochContext:  # noqa: ANN001
    task = _Task()
    return EpochContext(task=task, data=task.data, epoch=epoch, epochs=2,  # type: ignore[arg-type]
                        batch_size=6, generator=gen(epoch), optimizer=optimizer, lr=1e-2,
                        device=torch.device("cpu"))


def test_search_moves_weights_and_alpha_then_retraining_starts_afresh():
    net, rule = net_and_rule()
    optimizer = rule.configure_optimizer(net, 1e-2)
    alpha0 = net.darts.alpha.detach().clone()
    w0 = net.layers[0].weight.detach().clone()
    rule.fit_epoch(net, _ctx(rule, net, 1, optimizer))
    assert not torch.equal(alpha0, net.darts.alpha) and not torch.equal(w0, net.layers[0].weight)
    assert not bool(net.darts.mask.any())  # still searching
    alpha = net.darts.alpha.detach().clone()
    searched = net.layers[0].weight.detach().clone()
    rule.fit_epoch(net, _ctx(rule, net, 2, optimizer))  # first retraining epoch
    mask = net.darts.mask
    assert mask.sum(-1).tolist() == [1.0, 1.0]
    assert mask.argmax(-1).tolist() == alpha.argmax(-1).tolist()
    assert torch.equal(net.darts.alpha, alpha)  # alpha no longer trained
    assert not torch.equal(searched, net.layers[0].weight)
    fresh = SearchSpace(net, rule.taus)  # same shapes; the weights were redrawn, then trained
    assert [p.shape for p in fresh.weights] == [p.shape for p in net.darts.weights]


def test_options_are_checked_and_prepare_keeps_a_searched_network():
    with pytest.raises(ValueError, match="taus must be"):
        Darts(taus=(5e-3, 20e-3))
    with pytest.raises(ValueError, match="keep must be"):
        Darts(taus=(0.0, 5e-3), keep=3)
    with pytest.raises(ValueError, match="search_epochs must be"):
        Darts(search_epochs=0)
    net, rule = net_and_rule()
    with torch.no_grad():
        net.darts.alpha.fill_(2.0)
    rule.prepare(net, generator=gen(9))  # again (a reloaded run): the search space stays
    assert bool((net.darts.alpha == 2.0).all())
    with pytest.raises(ValueError, match="was searched over taus"):
        Darts(taus=(0.0, 1e-3)).prepare(net)


@pytest.mark.slow
def test_the_found_network_learns(toy, tmp_path):
    from snnlearn.experiments.config import Config
    from snnlearn.experiments.runner import load_network, run

    result = run(Config(task=toy, rule="darts", epochs=5, rule_options={"search_epochs": 2},
                        out=str(tmp_path / "run")))
    assert result.summary["final_test_accuracy"] >= 0.9  # chance 0.5
    net, _ = load_network(tmp_path / "run", best=False)  # the last weights: the found network
    assert net.darts.mask.sum(-1).tolist() == [1.0, 1.0]
