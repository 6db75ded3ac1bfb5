"""Tests for snnlearn.learning.maml: the second-order meta-gradient is the first-order one plus the
Hessian term (computed independently), inner steps descend the support loss, evaluation leaves
the network unchanged, held-out classes stay out of training, and meta-learning beats fine-tuning
from the non-meta-learned start on unseen digit classes."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor

from snnlearn.layers import Network, build_network
from snnlearn.learning.base import EpochContext
from snnlearn.learning.maml import MAML, _Unrolled, adapt, class_subset
from snnlearn.neurons import LIFParams, LIParams
from snnlearn.tasks.base import TaskData

F64 = torch.float64


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def small_net() -> Network:
    return build_network(5, [7], 3, dt=1e-3, gain=3.0, neuron=LIFParams(tau_syn=5e-3),
                         readout=LIParams(tau_syn=5e-3), generator=gen(0), dtype=F64)


def loss_fn(outputs: Tensor, labels: Tensor) -> Tensor:
    return F.cross_entropy(outputs.amax(0), labels)


SUPPORT = (torch.rand(15, 3, 5, generator=gen(1), dtype=F64) < 0.4).to(F64)
QUERY = (torch.rand(15, 4, 5, generator=gen(2), dtype=F64) < 0.4).to(F64)
S_LABELS, Q_LABELS = torch.tensor([0, 1, 2]), torch.tensor([2, 0, 1, 1])


def meta_gradient(net: Network, *, second_order: bool, lr: float) -> list[Tensor]:
    model = _Unrolled(net, "reference" if second_order else None)
    theta = {"net." + k: v for k, v in net.named_parameters()}
    adapted = adapt(model, theta, loss_fn, SUPPORT, S_LABELS, steps=1, lr=lr,
                    create_graph=second_order)
    if not second_order:
        adapted = {n: theta[n] + (p - theta[n]).detach() for n, p in adapted.items()}
    loss = loss_fn(torch.func.functional_call(model, adapted, (QUERY,)), Q_LABELS)
    return list(torch.autograd.grad(loss, list(theta.values())))


def test_the_second_order_meta_gradient_adds_the_hessian_term():
    net, lr = small_net(), 0.3
    names = [n for n, _ in net.named_parameters()]
    second = meta_gradient(net, second_order=True, lr=lr)
    first = meta_gradient(net, second_order=False, lr=lr)
    # independently: g_q = dL_query/dtheta' at theta' = theta - lr g_s; the meta-gradient is
    # g_q - lr H_s g_q with H_s the support loss's Hessian at theta (reference kernels)
    model = _Unrolled(net, "reference")
    theta = tuple(p.detach().clone() for p in net.parameters())

    def support_loss(*params: Tensor) -> Tensor:
        p = {"net." + n: v for n, v in zip(names, params, strict=True)}
        return loss_fn(torch.func.functional_call(model, p, (SUPPORT,)), S_LABELS)

    g_q = [f.detach() for f in first]
    _, h_g = torch.autograd.functional.hvp(support_loss, theta, tuple(g_q))
    want = [a - lr * b for a, b in zip(g_q, h_g, strict=True)]
    for name, got, w in zip(names, second, want, strict=True):
        torch.testing.assert_close(got, w, rtol=1e-9, atol=1e-12, msg=name)
    term = sum(float((lr * b).norm()) for b in h_g)
    assert term > 1e-3 * sum(float(a.norm()) for a in g_q)  # the Hessian term is not negligible


def test_inner_steps_lower_the_support_loss():
    net = small_net()
    model = _Unrolled(net, None)
    theta = {"net." + k: v.detach() for k, v in net.named_parameters()}
    before = float(loss_fn(torch.func.functional_call(model, theta, (SUPPORT,)), S_LABELS))
    adapted = adapt(model, {k: v.requires_grad_() for k, v in theta.items()}, loss_fn, SUPPORT,
                    S_LABELS, steps=5, lr=0.3, create_graph=False)
    after = float(loss_fn(torch.func.functional_call(model, adapted, (SUPPORT,)),
                          S_LABELS).detach())
    assert after < before - 0.05


class _Task:
    """Four classes of rate patterns on 5 channels (class c drives channel c), T = 15."""

    n_steps = 15

    def __init__(self) -> None:
        labels = torch.arange(80) % 4
        rates = torch.full((80, 5), 0.05, dtype=F64)
        rates[torch.arange(80), labels] = 0.7
        self.data = TaskData(rates, labels)

    def encode(self, inputs: Tensor, *, generator: torch.Generator | None = None) -> Tensor:
        return (torch.rand((self.n_steps, *inputs.shape), generator=generator,
                           dtype=F64) < inputs).to(F64)

    def loss(self, outputs: Tensor, labels: Tensor) -> Tensor:
        return loss_fn(outputs, labels)

    def predict(self, outputs: Tensor) -> Tensor:
        return outputs.amax(0).argmax(-1)


def test_evaluation_adapts_a_copy_and_is_deterministic():
    net, task = small_net(), _Task()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    rule = MAML(n_way=2, n_query=3, inner_steps=2, n_eval_episodes=5, inner_lr=0.3)
    a = rule.evaluate(net, task, task.data, generator=gen(3))  # type: ignore[arg-type]
    b = rule.evaluate(net, task, task.data, generator=gen(3))  # type: ignore[arg-type]
    assert a == b and 0.0 <= a <= 1.0
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())


def test_held_out_classes_never_reach_training():
    data = _Task().data
    rule = MAML(n_way=2, held_out_classes=2)
    train, test = rule._split(data, training=True), rule._split(data, training=False)
    assert torch.equal(train.inputs, data.inputs[data.labels < 2])
    assert torch.equal(test.inputs, data.inputs[data.labels >= 2])
    assert set(test.labels.tolist()) == {0, 1}
    assert class_subset(data, 1, 3).labels.tolist() == [0, 1] * 20
    with pytest.raises(ValueError, match="leaves no training class"):
        MAML(held_out_classes=4)._split(data, training=True)


def test_a_meta_step_moves_every_layer_and_options_are_checked():
    net, task = small_net(), _Task()
    rule = MAML(n_way=2, n_query=3, inner_steps=1, meta_batch=2, episodes_per_epoch=2,
                inner_lr=0.3)
    rule.prepare(net)
    before = [p.detach().clone() for p in net.parameters()]
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-2)
    ctx = EpochContext(task=task, data=task.data, epoch=1, epochs=1,  # type: ignore[arg-type]
                       batch_size=4, generator=gen(4), optimizer=optimizer, lr=1e-2,
                       device=torch.device("cpu"))
    loss, accuracy = rule.fit_epoch(net, ctx)
    assert loss > 0 and 0 <= accuracy <= 1
    assert all(not torch.equal(a, b) for a, b in zip(before, net.parameters(), strict=True))
    with pytest.raises(ValueError, match="at least n_way=5 outputs"):
        MAML().prepare(small_net())
    with pytest.raises(ValueError, match="inner_lr must be"):
        MAML(inner_lr=0)
    with pytest.raises(ValueError, match="n_way must be"):
        MAML(n_way=1)
    with pytest.raises(RuntimeError, match="trains by episodes"):
        rule.assign_grads(net, rule.simulate(net, QUERY), torch.zeros(()))


@pytest.mark.slow
def test_meta_learning_beats_fine_tuning_from_the_start_on_unseen_digits(tmp_path):
    from snnlearn.experiments.config import Config
    from snnlearn.experiments.runner import run

    options = {"n_way": 5, "held_out_classes": 5, "first_order": True, "inner_lr": 10.0,
               "rotations": True, "episodes_per_epoch": 64, "n_eval_episodes": 60}
    base = dict(task="digits", rule="maml", hidden=[128], rule_options=options)
    start = run(Config(epochs=1, lr=1e-12, out=str(tmp_path / "start"), **base))  # no meta step
    meta = run(Config(epochs=8, out=str(tmp_path / "meta"), **base))
    assert meta.summary["test_accuracy"] > start.summary["test_accuracy"] + 0.1
