"""Tests for snnlearn.learning.eqprop: the relaxation minimises the total energy, the free phase
reaches a fixed point, the EqProp estimate tends to the true gradient of the loss at the free
equilibrium as beta -> 0 (faster with symmetric nudging), and the rule learns digits."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor

from snnlearn.layers import Network, build_network
from snnlearn.learning.eqprop import EqProp, couplings, eqprop_energy, eqprop_relax

F64 = torch.float64


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def small_net() -> Network:
    return build_network(6, [10, 8], 3, dt=1e-3, generator=gen(0), dtype=F64)


X = (torch.rand(20, 5, 6, generator=gen(1), dtype=F64) < 0.5).to(F64)
LABELS = torch.tensor([0, 1, 2, 1, 0])
TARGET = F.one_hot(LABELS, 3).to(F64)


def rates(x: Tensor) -> Tensor:
    r = x.mean(0)
    return r / r.amax(-1, keepdim=True)


def cost(net: Network, sweeps: int = 400) -> Tensor:
    """``C(s^0)`` (batch mean) with autograd through a converged free relaxation."""
    cs = couplings(net)
    s0 = rates(X)
    free = eqprop_relax(cs, s0, [s0.new_zeros(5, c.weight.shape[0]) for c in cs], sweeps=sweeps)
    return 0.5 * ((free[-1] - TARGET) ** 2).sum() / 5


def flat(tensors) -> Tensor:  # noqa: ANN001 - a sequence of tensors
    return torch.cat([t.flatten() for t in tensors])


def true_gradient(net: Network) -> Tensor:
    return flat(torch.autograd.grad(cost(net), list(net.parameters())))


def eqprop_gradient(net: Network, beta: float, nudging: str) -> Tensor:
    rule = EqProp(beta=beta, nudging=nudging, n_free=400, n_nudged=400)
    r = rule.simulate(net, X)
    rule.assign_grads(net, r, r.outputs.sum(), target=LABELS)
    return flat(p.grad for p in net.parameters())


def test_each_sweep_lowers_the_total_energy_and_the_free_phase_reaches_a_fixed_point():
    net = small_net()
    cs, s0 = couplings(net), rates(X)
    with torch.no_grad():
        for beta in (0.0, 0.5):
            states = [s0.new_zeros(5, c.weight.shape[0]) for c in cs]
            total = []
            for _ in range(30):
                states = eqprop_relax(cs, s0, states, sweeps=1, beta=beta, target=TARGET)
                c = 0.5 * ((states[-1] - TARGET) ** 2).sum()
                total.append(float(eqprop_energy(cs, s0, states) + beta * c))
            assert all(b <= a + 1e-12 for a, b in zip(total, total[1:], strict=False)), beta
            assert total[-1] < total[0]
        free = eqprop_relax(cs, s0, [s0.new_zeros(5, c.weight.shape[0]) for c in cs], sweeps=400)
        again = eqprop_relax(cs, s0, free, sweeps=1)
        for a, b in zip(free, again, strict=True):
            torch.testing.assert_close(a, b, rtol=0, atol=1e-12)
            assert bool(((a > 0) & (a < 1)).any())  # not all saturated: a real test


def test_the_reference_gradient_matches_finite_differences():
    net = small_net()
    want = true_gradient(net)
    params = list(net.parameters())
    offsets = [0, *torch.cumsum(torch.tensor([p.numel() for p in params]), 0).tolist()]
    checked = 0
    for k, p in enumerate(params):
        for index in torch.randperm(p.numel(), generator=gen(k))[:4].tolist():
            analytic = float(want[offsets[k] + index])
            with torch.no_grad():
                flat_p = p.view(-1)
                flat_p[index] += 1e-6
                up = float(cost(net))
                flat_p[index] -= 2e-6
                down = float(cost(net))
                flat_p[index] += 1e-6
            assert (up - down) / 2e-6 == pytest.approx(analytic, rel=1e-4, abs=1e-9)
            checked += analytic != 0.0
    assert checked >= 4


def test_the_estimate_tends_to_the_true_gradient_as_beta_goes_to_zero():
    net = small_net()
    want = true_gradient(net)
    cosines = {}
    for nudging in ("positive", "symmetric"):
        for beta in (0.3, 0.03, 0.003):
            got = eqprop_gradient(net, beta, nudging)
            cosines[nudging, beta] = float(F.cosine_similarity(got, want, dim=0))
    for nudging in ("positive", "symmetric"):
        c = [cosines[nudging, b] for b in (0.3, 0.03, 0.003)]
        assert c[0] < c[1] < c[2], (nudging, c)
    assert cosines["positive", 0.003] > 0.999
    assert cosines["symmetric", 0.003] > 0.99999
    # symmetric nudging removes the first-order bias: closer at every beta
    assert all(cosines["symmetric", b] > cosines["positive", b] for b in (0.3, 0.03, 0.003))


def test_the_magnitude_of_the_symmetric_estimate_matches_too():
    net = small_net()
    want = true_gradient(net)
    got = eqprop_gradient(net, 0.003, "symmetric")
    assert float(got.norm() / want.norm()) == pytest.approx(1.0, abs=1e-3)


def test_options_and_networks_are_checked():
    with pytest.raises(ValueError, match="nudging must be one of"):
        EqProp(nudging="both")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="beta must be"):
        EqProp(beta=0.0)
    with pytest.raises(ValueError, match="n_free must be"):
        EqProp(n_free=0)
    with pytest.raises(ValueError, match="input_norm must be one of"):
        EqProp(input_norm="max")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="ending in a readout"):
        EqProp().prepare(build_network(4, [6], 2, dt=1e-3, spiking_output=True))
    rule = EqProp()
    with pytest.raises(ValueError, match="needs the labels"):
        net = small_net()
        rule.assign_grads(net, rule.simulate(net, X), torch.zeros(()))


@pytest.mark.slow
def test_eqprop_learns_digits(tmp_path):
    from snnlearn.experiments.config import Config
    from snnlearn.experiments.runner import run

    result = run(Config(task="digits", rule="eqprop", epochs=3, hidden=[64], gain=0.5,
                        out=str(tmp_path / "run")))
    assert result.summary["test_accuracy"] > 0.6  # chance: 0.1
