"""Tests of the plasticity-aware rule: the trace update, exact gradients, few-shot learning."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import torch

from snnlearn.experiments.cli import main
from snnlearn.layers import Network, build_network
from snnlearn.learning.base import EpochContext
from snnlearn.learning.meta_plasticity import MetaPlasticity, plasticity_step
from snnlearn.losses import max_membrane_cross_entropy
from snnlearn.neurons import LIFParams
from snnlearn.neurons.lif import lif_step
from snnlearn.simulate import unroll
from snnlearn.surrogate import Triangle
from snnlearn.tasks.base import TaskData
from snnlearn.tasks.digits import Digits
from snnlearn.tasks.episodes import sample_episodes

DT = 1e-3


def test_plasticity_step_matches_a_hand_computed_update() -> None:
    trace = torch.tensor([[[1.0, -2.0], [0.5, 0.0]]])  # [B=1, post=2, pre=2]
    pre, post = torch.tensor([[2.0, 0.0]]), torch.tensor([[1.0, 3.0]])
    a, b, c, d = 0.5, -1.0, 0.25, 0.1
    out = plasticity_step(trace, pre, post, eta=0.2, decay=0.1,
                          coefficients=torch.tensor([a, b, c, d]))
    expected = torch.empty(1, 2, 2)
    for i in range(2):
        for j in range(2):
            hebb = a * post[0, i] * pre[0, j] + b * pre[0, j] + c * post[0, i] + d
            expected[0, i, j] = 0.9 * trace[0, i, j] + 0.2 * hebb
    torch.testing.assert_close(out, expected)


def test_one_support_presentation_writes_eta_times_the_spike_count_product() -> None:
    """After one support example, ``H = eta (A y x^T + ...)`` with the presentation's counts."""
    g = torch.Generator().manual_seed(0)
    net = build_network(5, [7], 2, dt=DT, gain=4.0, generator=g)
    rule = MetaPlasticity(plasticity="abcd", n_way=2, k_shot=1, n_query=1, eta=0.3, teacher=20.0)
    rule.prepare(net, generator=g)
    x = (torch.rand(10, 1, 2, 5, generator=g) < 0.5).float()
    trace = rule.run_episodes(net, x[:, :, :1], torch.tensor([[1]]), x[:, :, 1:]).extras["trace"]
    z = unroll(Network(net.spiking_layers, dt=DT), x[:, :, 0]).spikes[0]  # [T, 1, 7]
    current = torch.einsum("tbh,nh->tbn", z, net.plastic.weight) + torch.tensor([0.0, 20.0])
    neuron = net.spiking_layers[0].neuron
    z_out = torch.stack(_lif_spikes(current, neuron))
    x_count, y_count = z.sum(0)[0], z_out.sum(0)[0]
    assert y_count[1] > 0 and x_count.sum() > 0  # the teacher makes output 1 fire
    torch.testing.assert_close(trace[0], 0.3 * torch.outer(y_count, x_count))


def _lif_spikes(current: torch.Tensor, neuron: LIFParams) -> list[torch.Tensor]:
    state, spikes = neuron.initial_state(tuple(current.shape[1:])), []
    for current_t in current:
        z_t, state = lif_step(current_t, state, neuron, DT)
        spikes.append(z_t)
    return spikes


def _tiny_episode(plasticity: str, seed: int):  # noqa: ANN202 - test helper
    g = torch.Generator().manual_seed(seed)
    neuron = LIFParams(tau_mem=20e-3, tau_syn=5e-3, surrogate=Triangle(scale=50.0))
    net = build_network(6, [8], 2, dt=DT, neuron=neuron, gain=4.0, generator=g,
                        dtype=torch.float64)
    rule = MetaPlasticity(plasticity=plasticity, n_way=2, k_shot=2, n_query=2, teacher=2.0,
                          alpha=2.0, eta=0.3)
    rule.prepare(net, generator=g)
    rule.synapses.double()
    x = (torch.rand(12, 1, 6, 6, generator=g) < 0.3).double()
    labels = torch.tensor([[0, 1, 1, 0]])

    def loss() -> torch.Tensor:
        out = rule.run_episodes(net, x[:, :, :4], labels, x[:, :, 4:]).outputs
        return max_membrane_cross_entropy(out, torch.tensor([0, 1]))

    return rule, loss


@pytest.mark.parametrize("plasticity", ["miconi", "abcd"])
def test_plasticity_gradients_match_central_finite_differences(plasticity: str) -> None:
    """float64; a Triangle surrogate (zero outside |v - v_th| < 0.02) and a seed whose membranes
    stay outside that band, so the surrogate gradient is the true one (no spike flips under the
    perturbation: the differences at two step sizes agree)."""
    rule, loss = _tiny_episode(plasticity, seed=3)
    params = dict(rule.synapses.named_parameters())
    rule.synapses.zero_grad()
    loss().backward()
    checked = 0
    for name, p in params.items():
        if name == "weight":
            continue
        for k in range(min(p.numel(), 4)):
            flat = p.data.view(-1)
            estimates = []
            for eps in (1e-5, 1e-6):
                old = float(flat[k])
                with torch.no_grad():
                    flat[k] = old + eps
                    up = float(loss())
                    flat[k] = old - eps
                    down = float(loss())
                    flat[k] = old
                estimates.append((up - down) / (2 * eps))
            assert estimates[0] == pytest.approx(estimates[1], rel=1e-4, abs=1e-9)
            assert float(p.grad.view(-1)[k]) == pytest.approx(estimates[0], rel=1e-5, abs=1e-9)
            checked += 1
    assert checked >= 4
    assert any(float(p.grad.abs().max()) > 1e-4 for n, p in params.items() if n != "weight")


def _ctx(task: Digits, data: TaskData, epoch: int, optimizer: torch.optim.Optimizer,
         lr: float = 1e-2) -> EpochContext:
    return EpochContext(task=task, data=data, epoch=epoch, epochs=20, batch_size=32,
                        generator=torch.Generator().manual_seed(epoch), optimizer=optimizer,
                        lr=lr, device=torch.device("cpu"))


def _train(plasticity: str, epochs: int, task: Digits) -> tuple[MetaPlasticity, object]:
    d = task.defaults
    net = build_network(64, [48], 10, dt=task.dt, neuron=d.neuron, readout=d.readout,
                        gain=d.gain, generator=torch.Generator().manual_seed(0))
    rule = MetaPlasticity(plasticity=plasticity, n_way=3, k_shot=1, n_query=6,
                          episodes_per_epoch=64)
    rule.prepare(net, generator=torch.Generator().manual_seed(1))
    optimizer = rule.configure_optimizer(net, 1e-2)
    for e in range(1, epochs + 1):
        rule.fit_epoch(net, _ctx(task, task.split("train"), e, optimizer))
    return rule, net


def test_plastic_network_learns_few_shot_and_the_frozen_alpha_control_does_not() -> None:
    task = Digits()
    test = task.split("test")
    accuracy = {}
    for plasticity in ("miconi", "none"):
        rule, net = _train(plasticity, 4, task)
        accuracy[plasticity] = rule.evaluate_episodes(
            net, task, test, n_episodes=200, generator=torch.Generator().manual_seed(9))
    # 3-way, 1200 queries: chance is 1/3 with a standard error of 0.014
    assert accuracy["miconi"] > 0.48  # chance + 10 standard errors (measured: 0.545)
    assert abs(accuracy["none"] - 1 / 3) < 0.05
    assert accuracy["miconi"] > accuracy["none"] + 0.12


def test_resume_from_the_state_dict_is_exact() -> None:
    """The plastic synapses and the support set are the network's: its state_dict and the
    optimizer's resume the run exactly."""
    task = Digits()
    train = task.split("train")

    def fresh() -> tuple[MetaPlasticity, Network, torch.optim.Optimizer]:
        net = build_network(64, [12], 10, dt=task.dt, generator=torch.Generator().manual_seed(0))
        rule = MetaPlasticity(plasticity="abcd", n_way=3, n_query=2, episodes_per_epoch=8)
        rule.prepare(net, generator=torch.Generator().manual_seed(1))
        return rule, net, rule.configure_optimizer(net, 1e-2)

    rule, net, opt = fresh()
    for e in (1, 2):
        rule.fit_epoch(net, _ctx(task, train, e, opt))
    cut, cut_net, cut_opt = fresh()
    cut.fit_epoch(cut_net, _ctx(task, train, 1, cut_opt))
    saved_net = {k: v.clone() for k, v in cut_net.state_dict().items()}
    saved_opt = copy.deepcopy(cut_opt.state_dict())
    cut.fit_epoch(cut_net, _ctx(task, train, 2, cut_opt))  # moves on; the copies must not follow
    resumed, resumed_net, resumed_opt = fresh()
    resumed_net.load_state_dict(saved_net)
    resumed_opt.load_state_dict(saved_opt)
    resumed.fit_epoch(resumed_net, _ctx(task, train, 2, resumed_opt))
    a, b = net.state_dict(), resumed_net.state_dict()
    assert {"plastic.weight", "plastic.coefficients", "plastic.support"} <= set(a)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_simulate_answers_in_class_order_after_fit_epoch() -> None:
    task = Digits()
    net = build_network(64, [12], 10, dt=task.dt, generator=torch.Generator().manual_seed(0))
    rule = MetaPlasticity(episodes_per_epoch=4)
    rule.prepare(net, generator=torch.Generator().manual_seed(1))
    x = task.encode(task.split("val").inputs[:5])
    with pytest.raises(RuntimeError, match="train the network first"):
        rule.simulate(net, x)
    rule.fit_epoch(net, _ctx(task, task.split("train"), 1, rule.configure_optimizer(net, 1e-2)))
    a, b = rule.simulate(net, x), rule.simulate(net, x)
    assert a.outputs.shape == (20, 5, 10) and torch.equal(a.outputs, b.outputs)
    assert sorted(net.plastic.support_classes.tolist()) == list(range(10))  # k_shot = 1
    # a reloaded network (a fresh one given the state_dict) answers the same
    again = build_network(64, [12], 10, dt=task.dt, generator=torch.Generator().manual_seed(5))
    other = MetaPlasticity(episodes_per_epoch=4)
    other.prepare(again, generator=torch.Generator().manual_seed(6))
    again.load_state_dict(net.state_dict())
    other.prepare(again)  # keeps the loaded plastic synapses
    assert torch.equal(other.simulate(again, x).outputs, a.outputs)
    with pytest.raises(RuntimeError, match="fit_epoch"):
        rule.assign_grads(net, a, torch.zeros(()))


def test_invalid_options_are_refused() -> None:
    with pytest.raises(ValueError, match=r"plasticity must be one of \['miconi', 'abcd', 'none'\]"):
        MetaPlasticity(plasticity="oja")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="n_way must be an int >= 2, got 1"):
        MetaPlasticity(n_way=1)
    with pytest.raises(ValueError, match=r"eta must be a number in \(0, 1.0\)"):
        MetaPlasticity(eta=1.5)
    data = TaskData(torch.rand(6, 2), torch.arange(6) % 3)
    with pytest.raises(ValueError, match="k_shot \\+ n_query = 3"):
        sample_episodes(data, n_episodes=1, n_way=2, k_shot=1, n_query=2)


def test_cli_trains_and_reports_a_test_accuracy(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    status = main(["train", "--task", "digits", "--rule", "meta_plasticity", "--epochs", "1",
                   "--hidden", "16", "--out", str(out), "--no-progress"])
    assert status == 0, capsys.readouterr().err
    summary = json.loads((out / "summary.json").read_text())
    assert summary["rule"] == "meta_plasticity" and 0.0 <= summary["test_accuracy"] <= 1.0
    assert "plasticity_eta" in summary
