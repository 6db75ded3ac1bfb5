from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from snnlearn.experiments import Config, cli, resume, run
from snnlearn.experiments.checkpoint import load_checkpoint
from snnlearn.learning.diehl_cook import (
    DiehlCookParams,
    diehl_cook_assign,
    diehl_cook_normalize,
    diehl_cook_scores,
)
from snnlearn.learning.stdp import (
    STDP,
    STDPParams,
    stdp_initial_state,
    stdp_sequence,
    stdp_step,
    stdp_window,
)

DT = 5e-4


def _pairing(p: STDPParams, lags: list[int], weight: float = 0.5) -> torch.Tensor:
    """Pairing protocol: trial ``k`` pairs pre neuron ``k`` with post neuron ``k``, ``lag_k``
    steps apart; all trials run side by side and ``Delta w_kk`` is trial ``k``'s change."""
    n, k = max(abs(lag) for lag in lags) + 3, len(lags)
    pre, post = (torch.zeros(n, 1, k, dtype=torch.float64) for _ in range(2))
    for i, lag in enumerate(lags):
        pre[1 + max(-lag, 0), 0, i] = 1.0
        post[1 + max(lag, 0), 0, i] = 1.0
    w = torch.full((k, k), weight, dtype=torch.float64)
    state = stdp_initial_state(1, k, k, dtype=torch.float64)
    total = torch.zeros_like(w)
    for pre_t, post_t in zip(pre, post, strict=True):
        dw, state = stdp_step(w, pre_t, post_t, state, p, DT)
        total += dw
    return torch.diagonal(total).clone()


def _fit_exponential(dt: torch.Tensor, dw: torch.Tensor) -> tuple[float, float]:
    """Least-squares fit of ``log|dw| = log A - |dt| / tau``: returns (A, tau)."""
    design = torch.stack([torch.ones_like(dt), -dt.abs()], dim=1)
    coef = torch.linalg.lstsq(design, dw.abs().log()[:, None]).solution[:, 0]
    return math.exp(float(coef[0])), 1.0 / float(coef[1])


def test_pairing_protocol_reproduces_the_exponential_window() -> None:
    p = STDPParams(a_plus=0.012, a_minus=0.008, tau_plus=17e-3, tau_minus=34e-3)
    lags = [k for k in range(-120, 121, 4) if k != 0]
    dw = _pairing(p, lags)
    dt = torch.tensor(lags, dtype=torch.float64) * DT
    assert bool((dw[dt > 0] > 0).all()) and bool((dw[dt < 0] < 0).all())
    a_plus, tau_plus = _fit_exponential(dt[dt > 0], dw[dt > 0])
    a_minus, tau_minus = _fit_exponential(dt[dt < 0], dw[dt < 0])
    assert a_plus == pytest.approx(p.a_plus, rel=0.05)
    assert a_minus == pytest.approx(p.a_minus, rel=0.05)
    assert tau_plus == pytest.approx(p.tau_plus, rel=0.05)
    assert tau_minus == pytest.approx(p.tau_minus, rel=0.05)
    torch.testing.assert_close(dw, stdp_window(dt, p), rtol=1e-10, atol=0)
    assert float(_pairing(p, [0])[0]) == pytest.approx(p.a_plus - p.a_minus)


def test_multiplicative_window_is_scaled_by_the_distance_to_the_bounds() -> None:
    p = STDPParams(a_plus=0.01, a_minus=0.01, weight_dependence="multiplicative")
    dw = _pairing(p, [20, -20], weight=0.25)
    expected = stdp_window(torch.tensor([20 * DT, -20 * DT], dtype=torch.float64), p)
    torch.testing.assert_close(dw, expected * torch.tensor([0.75, 0.25], dtype=torch.float64))


def test_sequence_equals_the_sum_of_steps_with_fixed_weights() -> None:
    g = torch.Generator().manual_seed(0)
    pre = (torch.rand(30, 3, 5, generator=g) < 0.2).double()
    post = (torch.rand(30, 3, 4, generator=g) < 0.2).double()
    w = torch.rand(4, 5, generator=g, dtype=torch.float64)
    p = STDPParams(weight_dependence="multiplicative")
    state, total = stdp_initial_state(3, 5, 4, dtype=torch.float64), torch.zeros_like(w)
    for pre_t, post_t in zip(pre, post, strict=True):
        dw, state = stdp_step(w, pre_t, post_t, state, p, 1e-3)
        total += dw
    seq, final = stdp_sequence(w, pre, post, p, 1e-3)
    torch.testing.assert_close(seq, total)
    torch.testing.assert_close(final.pre, state.pre)


@pytest.mark.parametrize("kind", ["additive", "multiplicative"])
def test_repeated_potentiation_respects_the_bounds(kind: str) -> None:
    """Additive: linear growth, clipped exactly at w_max; multiplicative: geometric approach."""
    p = STDPParams(a_plus=0.1, a_minus=0.1, w_max=1.0, weight_dependence=kind)
    w, one = torch.full((1, 1), 0.2, dtype=torch.float64), torch.ones(1, 1, dtype=torch.float64)
    zero = torch.zeros_like(one)
    history = []
    for _ in range(40):  # pre then post 0 steps later: potentiation A_+ f_+ (and A_- f_- once)
        state = stdp_initial_state(1, 1, 1, dtype=torch.float64)
        _, state = stdp_step(w, one, zero, state, p, 1e-3)
        dw, _ = stdp_step(w, zero, one, state, STDPParams(
            a_plus=0.1 * math.exp(1e-3 / p.tau_plus), a_minus=0.1, w_max=1.0,
            weight_dependence=kind), 1e-3)
        w = w + dw
        history.append(float(w))
    if kind == "additive":
        assert history[:7] == pytest.approx([0.2 + 0.1 * (k + 1) for k in range(7)])
        assert max(history) == 1.0 and history[-1] == 1.0
    else:
        assert history == pytest.approx([1.0 - 0.8 * 0.9 ** (k + 1) for k in range(40)])
        assert max(history) < 1.0
    # depression stops at w_min in both cases
    w = torch.full((1, 1), 0.05, dtype=torch.float64)
    for _ in range(10):
        state = stdp_initial_state(1, 1, 1, dtype=torch.float64)
        _, state = stdp_step(w, zero, one, state, p, 1e-3)
        dw, _ = stdp_step(w, one, zero, state, p, 1e-3)
        w = w + dw
    assert float(w) >= 0.0 and (float(w) == 0.0 if kind == "additive" else float(w) > 0.0)


def test_params_are_validated() -> None:
    with pytest.raises(ValueError, match="weight_dependence must be one of"):
        STDPParams(weight_dependence="additve")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="w_max must be > w_min"):
        STDPParams(w_min=1.0, w_max=1.0)
    with pytest.raises(ValueError, match="tau_plus"):
        STDPParams(tau_plus=0.0)
    with pytest.raises(ValueError, match="inhibition must be >= 0"):
        DiehlCookParams(inhibition=-1.0)
    with pytest.raises(ValueError, match="batch_size must be an int >= 1"):
        STDP(batch_size=0)
    with pytest.raises(ValueError, match="stdp_sequence needs pre"):
        stdp_sequence(torch.zeros(2, 3), torch.zeros(4, 1, 2), torch.zeros(4, 1, 3),
                      STDPParams(), 1e-3)


def test_assignment_scores_and_normalisation() -> None:
    counts = torch.tensor([[4.0, 0.0, 1.0], [0.0, 3.0, 1.0], [2.0, 0.0, 0.0]])
    labels = torch.tensor([0, 1, 0])
    assignments = diehl_cook_assign(counts, labels, 3)
    assert assignments.tolist() == [0, 1, 1]
    spikes = torch.zeros(4, 1, 3)
    spikes[1, 0, 0] = spikes[2, 0, 1] = spikes[3, 0, 2] = 1.0
    scores = diehl_cook_scores(spikes, assignments, 3)
    assert scores[-1, 0].tolist() == [1.0, 1.0, 0.0]
    assert bool((scores.diff(dim=0) >= 0).all())
    w = diehl_cook_normalize(torch.rand(5, 7), DiehlCookParams(weight_sum=3.0))
    torch.testing.assert_close(w.sum(1), torch.full((5,), 3.0))


@pytest.mark.slow
def test_unsupervised_stdp_learns_digits(tmp_path: Path) -> None:
    """A small honest run: 25 neurons, one epoch; the full >= 85 % run is in docs/rules/stdp.md."""
    result = run(Config(task="digits", rule="stdp", hidden=[25], epochs=1,
                        out=str(tmp_path / "r")))
    assert result.summary["test_accuracy"] >= 0.6
    assert result.summary["weight_updates"] == math.ceil(1257 / 8)
    assert result.summary["synapse_updates"] > 0 and result.summary["spikes_per_sample"] > 0


class _Interrupt:
    def __call__(self, record: dict) -> None:
        if record["epoch"] == 1:
            raise KeyboardInterrupt


def test_resume_is_exact(toy: str, tmp_path: Path) -> None:
    full = run(Config(task=toy, rule="stdp", epochs=2, out=str(tmp_path / "full")))
    cut = Config(task=toy, rule="stdp", epochs=2, out=str(tmp_path / "cut"))
    with pytest.raises(KeyboardInterrupt):
        run(cut, on_epoch=_Interrupt())
    resumed = resume(tmp_path / "cut")
    a, b = full.network.state_dict(), resumed.network.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    ca, cb = (load_checkpoint(tmp_path / n / "checkpoint.pt") for n in ("full", "cut"))
    assert all(torch.equal(ca["model"][k], cb["model"][k]) for k in ca["model"])
    for key in ("layers.0.theta", "assignments"):  # the model's state is on the network
        assert torch.equal(ca["model"][key], cb["model"][key])
        assert torch.equal(ca["best_model"][key], cb["best_model"][key])
    assert bool((ca["model"]["assignments"] >= 0).any())
    assert bool((ca["model"]["layers.0.theta"] > 0).any())
    assert ca["rule_state"]["updates"] == cb["rule_state"]["updates"] == 2 * 4
    for key in ("test_accuracy", "final_test_accuracy", "spikes_per_sample", "weight_updates",
                "synapse_updates"):
        assert full.summary[key] == resumed.summary[key], key


def test_cli_trains_stdp(toy: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "cli"
    assert cli.main(["train", "--task", toy, "--rule", "stdp", "--epochs", "1", "--hidden", "8",
                     "--out", str(out), "--no-progress"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["rule"] == "stdp" and summary["weight_updates"] == 4.0
    assert cli.main(["train", "--task", toy, "--rule", "stdp", "--hidden", "8,8",
                     "--out", str(tmp_path / "two"), "--no-progress"]) != 0
    capsys.readouterr()
