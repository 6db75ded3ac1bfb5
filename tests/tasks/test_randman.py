"""Tests of the Randman task: generator equations, splits, seeding, encoding, short training."""

from __future__ import annotations

import inspect
import math

import numpy as np
import pytest
import torch

from snnlearn.tasks.base import SPLITS, accuracy
from snnlearn.tasks.randman import Randman, randman_cutoff, randman_draw, randman_eval


@pytest.fixture(scope="module")
def small() -> Randman:
    return Randman(n_classes=4, n_units=12, n_steps=30, n_samples_per_class=30, seed=3)


def _all(task: Randman) -> tuple[torch.Tensor, torch.Tensor]:
    parts = [task.split(s) for s in SPLITS]
    return torch.cat([p.inputs for p in parts]), torch.cat([p.labels for p in parts])


# --- the generator --------------------------------------------------------------------------

@pytest.mark.parametrize(("alpha", "expected"), [(2.0, 32), (1.0, 1000), (3.0, 10), (0.5, 1000)])
def test_cutoff_is_ceil_of_prec_power(alpha: float, expected: int) -> None:
    assert randman_cutoff(alpha, 1e-3) == expected


def test_draw_is_uniform_without_bias_term() -> None:
    p = randman_draw(50, 2, alpha=2.0, generator=np.random.default_rng(0))
    assert p.shape == (50, 2, 3, 32)
    assert np.all(p[:, :, 0, 0] == 0.0)
    rest = np.delete(p.reshape(-1), np.ravel_multi_index(
        (np.arange(50).repeat(2), np.tile(np.arange(2), 50), 0, 0), p.shape))
    assert 0.0 <= rest.min() and rest.max() < 1.0
    assert abs(rest.mean() - 0.5) < 0.01  # 9,500 U[0,1) draws: std of the mean ~0.003


def test_eval_matches_the_sum_of_sines() -> None:
    alpha = 2.0
    p = randman_draw(3, 1, alpha=alpha, generator=np.random.default_rng(1))
    x = np.array([[0.0], [0.3], [0.77]])
    got = randman_eval(p, x, alpha=alpha)
    for s in range(3):
        for i in range(3):
            want = sum(
                p[i, 0, 0, k] / (k + 1) ** alpha
                * math.sin(2 * math.pi * (k * x[s, 0] * p[i, 0, 1, k] + p[i, 0, 2, k]))
                for k in range(p.shape[-1])
            )
            assert got[s, i] == pytest.approx(want, abs=1e-12)


def test_eval_is_a_product_over_dimensions() -> None:
    p = randman_draw(5, 2, generator=np.random.default_rng(2))
    x = np.random.default_rng(3).random((7, 2))
    both = randman_eval(p, x)
    first = randman_eval(p[:, :1], x[:, :1])
    second = randman_eval(p[:, 1:], x[:, 1:])
    np.testing.assert_allclose(both, first * second, rtol=1e-12, atol=1e-15)


def test_manifold_is_smooth_lipschitz_bound() -> None:
    # |f'(x)| <= 2 pi sum_k k s_k, because every theta lies in [0, 1).
    alpha = 2.0
    k = np.arange(randman_cutoff(alpha))
    lipschitz = 2 * np.pi * np.sum(k / (k + 1.0) ** alpha)
    p = randman_draw(20, 1, alpha=alpha, generator=np.random.default_rng(4))
    x = np.linspace(0.0, 1.0, 2001)[:, None]
    y = randman_eval(p, x, alpha=alpha)
    steps = np.abs(np.diff(y, axis=0))
    assert steps.max() <= lipschitz * (x[1, 0] - x[0, 0]) + 1e-12
    # nearby latent points give nearby values, far ones do not in general
    assert steps.max() < 0.05 * np.ptp(y, axis=0).min()


def test_rougher_manifolds_vary_more() -> None:
    x = np.linspace(0.0, 1.0, 501)[:, None]

    def roughness(alpha: float) -> float:
        p = randman_draw(50, 1, alpha=alpha, generator=np.random.default_rng(5))
        y = randman_eval(p, x, alpha=alpha)
        y = (y - y.min(0)) / np.ptp(y, axis=0)
        return float(np.abs(np.diff(y, axis=0)).sum(axis=0).mean())

    assert roughness(1.5) > roughness(3.0)


# --- splits and seeding ---------------------------------------------------------------------

def test_default_split_sizes_are_4_1_1_of_300_per_class() -> None:
    task = Randman()
    assert [len(task.split(s)) for s in SPLITS] == [2000, 500, 500]
    for s, per_class in zip(SPLITS, (200, 50, 50), strict=True):
        assert task.split(s).labels.bincount(minlength=10).tolist() == [per_class] * 10
    assert task.split("train").inputs.shape == (2000, 1, 100)
    assert (task.n_in, task.n_out, task.n_steps, task.dt) == (100, 10, 100, 1e-3)


def test_labels_int64_balanced_and_in_range(small: Randman) -> None:
    for s in SPLITS:
        y = small.split(s).labels
        assert y.dtype == torch.int64
        assert int(y.min()) >= 0 and int(y.max()) < small.n_out
        counts = y.bincount(minlength=small.n_out)
        assert bool((counts == counts[0]).all())


def test_splits_are_disjoint_and_shuffled(small: Randman) -> None:
    rows = [tuple(r.tolist()) for r in _all(small)[0].flatten(1)]
    assert len(set(rows)) == len(rows)
    assert not bool((small.split("train").labels.diff() >= 0).all())  # not sorted by class


def test_same_seed_same_data_other_seed_differs(small: Randman) -> None:
    kw = {"n_classes": 4, "n_units": 12, "n_steps": 30, "n_samples_per_class": 30}
    again = Randman(**kw, seed=3)
    other = Randman(**kw, seed=4)
    for s in SPLITS:
        assert torch.equal(small.split(s).inputs, again.split(s).inputs)
        assert torch.equal(small.split(s).labels, again.split(s).labels)
    assert not torch.equal(small.split("train").inputs, other.split("train").inputs)


def test_global_rng_is_untouched() -> None:
    torch.manual_seed(0)
    np.random.seed(0)
    before = (torch.rand(3), np.random.random(3))
    torch.manual_seed(0)
    np.random.seed(0)
    Randman(n_classes=2, n_units=4, n_steps=10, n_samples_per_class=6)
    after = (torch.rand(3), np.random.random(3))
    assert torch.equal(before[0], after[0]) and np.array_equal(before[1], after[1])


def test_each_unit_is_min_max_standardised_per_class(small: Randman) -> None:
    x, y = _all(small)
    t_span = (small.n_steps - 1) * small.dt
    assert small.t_span == pytest.approx(t_span)
    for c in range(small.n_out):
        times = x[y == c].double()
        assert torch.allclose(times.amin(dim=0), torch.zeros_like(times[0]), rtol=0, atol=1e-9)
        assert torch.allclose(times.amax(dim=0), torch.full_like(times[0], t_span), rtol=1e-6)


# --- encoding -------------------------------------------------------------------------------

def test_encode_shape_dtype_and_one_spike_per_unit(small: Randman) -> None:
    inputs = small.split("val").inputs[:5]
    z = small.encode(inputs)
    assert z.shape == (small.n_steps, 5, small.n_in)
    assert z.dtype == torch.float32
    assert bool((z.sum(dim=0) == 1).all())
    step = z.argmax(dim=0)
    assert torch.equal(step, torch.round(inputs[:, 0] / small.dt).long())


def test_encode_is_deterministic_and_ignores_generator(small: Randman) -> None:
    inputs = small.split("test").inputs[:4]
    a = small.encode(inputs, generator=torch.Generator().manual_seed(0))
    b = small.encode(inputs, generator=torch.Generator().manual_seed(1))
    assert torch.equal(a, b)


def test_n_spikes_gives_that_many_spikes_per_unit() -> None:
    task = Randman(n_classes=2, n_units=6, n_steps=40, n_spikes=3, n_samples_per_class=12)
    inputs = task.split("train").inputs
    assert inputs.shape == (len(task.split("train")), 3, 6)
    assert bool((task.encode(inputs).sum(dim=0) == 3).all())


def test_step_frac_confines_spikes_to_the_first_steps() -> None:
    task = Randman(n_classes=2, n_units=6, n_steps=40, step_frac=0.5, n_samples_per_class=12)
    z = task.encode(task.split("train").inputs)
    assert float(z[20:].sum()) == 0.0
    assert float(z[19].sum()) > 0.0 and float(z[0].sum()) > 0.0


def test_encode_rejects_a_wrong_shape(small: Randman) -> None:
    with pytest.raises(ValueError, match=r"\[B, 1, 12\]"):
        small.encode(torch.zeros(3, 12))


# --- loss, prediction, options --------------------------------------------------------------

def test_predict_is_argmax_of_max_over_time(small: Randman) -> None:
    out = torch.zeros(5, 2, small.n_out)
    out[3, 0, 2] = 1.0
    out[1, 1, 0] = 2.0
    out[4, 1, 1] = 1.5
    assert small.predict(out).tolist() == [2, 0]
    loss = small.loss(out, torch.tensor([2, 0]))
    assert loss.ndim == 0 and bool(torch.isfinite(loss))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_classes": 1}, "n_classes"), ({"n_units": 0}, "n_units"), ({"n_steps": 0}, "n_steps"),
        ({"dt": 0.0}, "dt"), ({"manifold_dim": 0}, "manifold_dim"), ({"alpha": -1.0}, "alpha"),
        ({"n_spikes": 0}, "n_spikes"), ({"n_samples_per_class": 5}, "n_samples_per_class"),
        ({"step_frac": 1.5}, "step_frac"), ({"seed": -1}, "seed"), ({"n_units": 2.5}, "n_units"),
    ],
)
def test_invalid_options_raise(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        Randman(**kwargs)


def test_unknown_split_lists_the_choices(small: Randman) -> None:
    with pytest.raises(ValueError, match="train, val, test"):
        small.split("validation")  # type: ignore[arg-type]


def test_docstring_is_its_own() -> None:
    assert inspect.getdoc(Randman).startswith("Randman: ")


# --- training -------------------------------------------------------------------------------

@pytest.mark.slow
def test_bptt_learns_a_reduced_randman_well_above_chance() -> None:
    from snnlearn.layers import build_network
    from snnlearn.simulate import unroll

    task = Randman(n_classes=4, n_units=40, n_steps=40, n_samples_per_class=90, seed=1)
    d = task.defaults
    g = torch.Generator().manual_seed(0)
    net = build_network(task.n_in, (64,), task.n_out, dt=task.dt, neuron=d.neuron,
                        readout=d.readout, gain=d.gain, generator=g)
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    train, test = task.split("train"), task.split("test")
    for _ in range(8):
        perm = torch.randperm(len(train), generator=g)
        for i in range(0, len(train), 32):
            idx = perm[i:i + 32]
            loss = task.loss(unroll(net, task.encode(train.inputs[idx])).outputs,
                             train.labels[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    with torch.no_grad():
        acc = accuracy(task, unroll(net, task.encode(test.inputs)).outputs, test.labels)
    assert acc > 0.6  # chance is 0.25; the full defaults reach > 0.95
