"""Tests of snnlearn.losses against closed forms (no recorded numbers)."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from snnlearn.losses import (
    activity_regularizer,
    first_spike_time_loss,
    first_spike_times,
    max_membrane_cross_entropy,
    mean_membrane_cross_entropy,
    spike_count,
    spike_count_cross_entropy,
    van_rossum_distance,
    van_rossum_filter,
)
from snnlearn.surrogate import FastSigmoid, spike

DT = 1e-3


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _raster(t: int, b: int, n: int, p: float = 0.2, seed: int = 0) -> torch.Tensor:
    return (torch.rand(t, b, n, generator=_gen(seed)) < p).float()


def _first_index(train: list[float]) -> int | None:
    return next((k for k, z in enumerate(train) if z > 0), None)


# ------------------------------------------------------------------------- cross-entropies
def test_spike_count_ce_equals_cross_entropy_of_scaled_counts():
    counts = torch.tensor([[3, 0, 1], [0, 0, 0], [2, 5, 4]])
    t_steps = 6
    spikes = (torch.arange(t_steps)[:, None, None] < counts[None]).float()  # counts[b, c] spikes
    labels = torch.tensor([0, 2, 1])
    loss = spike_count_cross_entropy(spikes, labels, scale=0.5)
    torch.testing.assert_close(loss, F.cross_entropy(0.5 * counts.float(), labels))


def test_spike_count_ce_silent_is_log_c_and_stable_for_huge_counts():
    silent = torch.zeros(7, 2, 5)
    torch.testing.assert_close(
        spike_count_cross_entropy(silent, torch.tensor([1, 4])), torch.tensor(math.log(5))
    )
    loud = torch.zeros(3, 1, 2)
    loud[:, 0, 0] = 1.0
    loss = spike_count_cross_entropy(loud, torch.tensor([1]), scale=1e4)  # logits (3e4, 0)
    torch.testing.assert_close(loss, torch.tensor(3e4))


def test_max_membrane_ce_uses_max_over_time():
    gen = _gen(1)
    logits = torch.randn(4, 3, generator=gen)
    where = torch.randint(0, 6, (4, 3), generator=gen)
    v = logits[None] - 1.0 - torch.rand(6, 4, 3, generator=gen)  # every step below the logit
    v.scatter_(0, where[None], logits[None])
    labels = torch.tensor([0, 2, 1, 1])
    torch.testing.assert_close(
        max_membrane_cross_entropy(v, labels), F.cross_entropy(logits, labels)
    )


def test_max_membrane_gradient_reaches_only_the_argmax_step():
    v = torch.randn(8, 3, 4, generator=_gen(2), dtype=torch.float64, requires_grad=True)
    labels = torch.tensor([3, 0, 2])
    max_membrane_cross_entropy(v, labels).backward()
    peak, where = v.detach().max(dim=0)
    expected_at_peak = (torch.softmax(peak, dim=1) - F.one_hot(labels, 4)) / 3
    expected = torch.zeros_like(v).scatter_(0, where[None], expected_at_peak[None])
    torch.testing.assert_close(v.grad, expected)
    assert int((v.grad != 0).sum()) == 3 * 4


def test_mean_membrane_ce_uses_mean_over_time():
    gen = _gen(3)
    logits = torch.randn(5, 3, generator=gen)
    noise = torch.randn(9, 5, 3, generator=gen)
    v = logits[None] + noise - noise.mean(dim=0, keepdim=True)
    labels = torch.tensor([0, 1, 2, 2, 0])
    torch.testing.assert_close(
        mean_membrane_cross_entropy(v, labels), F.cross_entropy(logits, labels)
    )


# ------------------------------------------------------------------------- first-spike times
@pytest.mark.parametrize("t_max", [None, 0.05])
def test_first_spike_times_is_first_index_times_dt(t_max):
    spikes = _raster(12, 4, 6, p=0.1, seed=4)
    times = first_spike_times(spikes, DT, t_max=t_max)
    silent_time = 12 * DT if t_max is None else t_max
    assert times.shape == (4, 6)
    for b in range(4):
        for c in range(6):
            k = _first_index(spikes[:, b, c].tolist())
            expected = silent_time if k is None else k * DT
            assert times[b, c].item() == pytest.approx(expected, abs=1e-9)
    assert (spikes.sum(dim=0) == 0).any()  # the raster exercises the silent case


def test_first_spike_times_of_empty_sequence_is_t_max():
    assert torch.equal(first_spike_times(torch.zeros(0, 2, 3), DT), torch.zeros(2, 3))
    torch.testing.assert_close(
        first_spike_times(torch.zeros(0, 2, 3), DT, t_max=0.01), torch.full((2, 3), 0.01)
    )


def test_first_spike_times_surrogate_gradient_matches_hand_derivation():
    # For binary z: d t_first / d z_j = t_j - t'_j for j <= first spike (t'_j: first spike time
    # with step j removed, t_max if none), 0 after; chained through z = H(x) with sigma'(x).
    surrogate = FastSigmoid(scale=5.0)
    x = torch.randn(10, 3, 5, generator=_gen(5), dtype=torch.float64) - 1.0
    x.requires_grad_(True)
    z = spike(x, surrogate)
    t_max = 10 * DT
    first_spike_times(z, DT).sum().backward()
    expected = torch.zeros_like(x)
    zb = z.detach()
    for b in range(3):
        for c in range(5):
            train = zb[:, b, c].tolist()
            first = _first_index(train)
            last = 9 if first is None else first
            for j in range(last + 1):
                removed = train.copy()
                removed[j] = 0.0
                k = _first_index(removed)
                expected[j, b, c] = j * DT - (t_max if k is None else k * DT)
    expected = expected * surrogate.derivative(x.detach())
    assert torch.isfinite(x.grad).all()
    torch.testing.assert_close(x.grad, expected)
    assert (zb.sum(dim=0) == 0).any() and (zb.sum(dim=0) >= 2).any()  # silent and multi-spike


def test_first_spike_times_gradcheck_with_smooth_spikes():
    x = torch.randn(6, 2, 3, generator=_gen(6), dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x: first_spike_times(torch.sigmoid(x), 0.5), (x,))
    assert torch.autograd.gradcheck(
        lambda x: first_spike_times(torch.sigmoid(x), 0.5, t_max=4.0), (x,)
    )


@pytest.mark.parametrize("alpha", [0.0, 0.3])
def test_first_spike_time_loss_closed_form(alpha):
    spikes = _raster(10, 5, 3, p=0.15, seed=7)
    labels = torch.tensor([0, 1, 2, 0, 1])
    tau, tau_reg = 2e-3, 8e-3
    times = torch.tensor([
        [(k if (k := _first_index(spikes[:, b, c].tolist())) is not None else 10) * DT
         for c in range(3)]
        for b in range(5)
    ])
    t_label = times[torch.arange(5), labels]
    regulariser = alpha * (torch.exp(t_label / tau_reg) - 1).mean()
    expected = F.cross_entropy(-times / tau, labels) + regulariser
    loss = first_spike_time_loss(spikes, labels, DT, tau=tau, alpha=alpha, tau_reg=tau_reg)
    torch.testing.assert_close(loss, expected)


def test_first_spike_time_loss_silent_is_log_c_and_pushes_label_early():
    x = torch.full((5, 2, 4), -0.5, requires_grad=True)  # no unit fires
    labels = torch.tensor([1, 3])
    loss = first_spike_time_loss(spike(x, FastSigmoid()), labels, DT, alpha=1.0)
    torch.testing.assert_close(
        loss, torch.tensor(math.log(4) + math.expm1(5 * DT / 10e-3))
    )
    loss.backward()
    assert torch.isfinite(x.grad).all()
    rows = torch.arange(2)
    assert (x.grad[:, rows, labels] < 0).all()  # descent raises the label unit's membrane


# ------------------------------------------------------------------------------- van Rossum
def _vr_two_spikes(k1: int, k2: int, t_steps: int, dt: float, tau: float) -> float:
    """Closed form of the discrete distance between single spikes at steps k1 and k2."""
    k1, k2 = min(k1, k2), max(k1, k2)
    a, m = math.exp(-dt / tau), k2 - k1
    head = (1 - a ** (2 * m)) / (1 - a**2)  # sum_{j<m} a^{2j}, only the early train
    tail = (1 - a**m) ** 2 * (1 - a ** (2 * (t_steps - k2))) / (1 - a**2)  # both trains
    return dt / tau * (head + tail)


def _single(k: int, t_steps: int, dtype=torch.float64) -> torch.Tensor:
    z = torch.zeros(t_steps, 1, 1, dtype=dtype)
    z[k] = 1.0
    return z


def test_van_rossum_filter_is_exponential_kernel():
    spikes = _raster(15, 2, 3, p=0.3, seed=8).double()
    tau = 4e-3
    trace = van_rossum_filter(spikes, DT, tau=tau)
    t = torch.arange(15, dtype=torch.float64)
    kernel = torch.where(t[:, None] >= t[None], torch.exp(-(t[:, None] - t[None]) * DT / tau), 0)
    torch.testing.assert_close(trace, torch.einsum("ts,sbn->tbn", kernel, spikes))


def test_van_rossum_distance_to_itself_is_zero():
    spikes = _raster(20, 3, 4, p=0.3, seed=9)
    assert van_rossum_distance(spikes, spikes, DT).item() == 0.0


@pytest.mark.parametrize(("k1", "k2"), [(2, 9), (9, 2), (0, 29), (5, 6)])
def test_van_rossum_two_single_spikes_closed_form(k1, k2):
    t_steps, tau = 30, 5e-3
    d = van_rossum_distance(_single(k1, t_steps), _single(k2, t_steps), DT, tau=tau)
    assert d.item() == pytest.approx(_vr_two_spikes(k1, k2, t_steps, DT, tau), rel=1e-12)


def test_van_rossum_spike_against_silence_closed_form():
    t_steps, tau, k = 25, 3e-3, 4
    a = math.exp(-DT / tau)
    d = van_rossum_distance(_single(k, t_steps), torch.zeros(t_steps, 1, 1, dtype=torch.float64),
                            DT, tau=tau)
    assert d.item() == pytest.approx(DT / tau * (1 - a ** (2 * (t_steps - k))) / (1 - a**2))


def test_van_rossum_is_symmetric_and_batch_averaged_unit_summed():
    a, b = _raster(16, 3, 2, p=0.3, seed=10), _raster(16, 3, 2, p=0.3, seed=11)
    torch.testing.assert_close(van_rossum_distance(a, b, DT), van_rossum_distance(b, a, DT))
    per = [
        van_rossum_distance(a[:, i : i + 1, n : n + 1], b[:, i : i + 1, n : n + 1], DT)
        for i in range(3) for n in range(2)
    ]
    torch.testing.assert_close(van_rossum_distance(a, b, DT), torch.stack(per).sum() / 3)


def test_van_rossum_grows_with_spike_time_difference_and_has_continuum_limit():
    t_steps, dt, tau = 2000, 1e-5, 1e-3  # dt << tau, window 20 tau
    ref = _single(100, t_steps)
    dists = [
        van_rossum_distance(ref, _single(100 + shift, t_steps), dt, tau=tau).item()
        for shift in (0, 10, 50, 100, 300)
    ]
    assert all(x < y for x, y in zip(dists, dists[1:], strict=False))
    for shift, d in zip((0, 10, 50, 100, 300), dists, strict=True):
        # the rectangle rule is off by O(dt / tau) = 1 %
        assert d == pytest.approx(1 - math.exp(-shift * dt / tau), abs=1e-2)


def test_van_rossum_gradient_is_finite():
    x = torch.randn(12, 2, 3, generator=_gen(12), requires_grad=True)
    target = _raster(12, 2, 3, p=0.3, seed=13)
    van_rossum_distance(spike(x, FastSigmoid()), target, DT).backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


# --------------------------------------------------------------------------------- activity
def test_spike_count_sums_layers_time_and_units():
    layers = [_raster(7, 3, 4, seed=14), _raster(7, 3, 2, seed=15)]
    expected = layers[0].sum(dim=(0, 2)) + layers[1].sum(dim=(0, 2))
    torch.testing.assert_close(spike_count(layers), expected)
    torch.testing.assert_close(spike_count((layers[0],)), layers[0].sum(dim=(0, 2)))


def test_activity_regularizer_is_zero_inside_the_band():
    z = torch.zeros(10, 2, 3)
    z[:3] = 1.0  # every unit fires 3 times in every sample
    z.requires_grad_(True)
    reg = activity_regularizer([z], lower=2.0, upper=4.0, strength_lower=1.0, strength_upper=1.0)
    assert reg.item() == 0.0
    reg.backward()
    assert torch.equal(z.grad, torch.zeros_like(z))


def test_activity_regularizer_lower_term_revives_silent_units():
    z = torch.zeros(10, 2, 3)
    z[:5, :, 0] = 1.0  # unit 0: 5 spikes, units 1, 2 silent
    z.requires_grad_(True)
    lam, theta = 0.7, 2.0
    reg = activity_regularizer([z], lower=theta, strength_lower=lam, strength_upper=0.0)
    assert reg.item() == pytest.approx(lam * 2 * theta**2 / 3)
    reg.backward()
    # d/dz of lam/N * relu(theta - mean_b c_n)^2 = -2 lam (theta - c_n) / (N B) for silent units
    torch.testing.assert_close(z.grad[:, :, 1:], torch.full((10, 2, 2), -2 * lam * theta / 6))
    assert torch.equal(z.grad[:, :, 0], torch.zeros(10, 2))
    assert (z.grad[:, :, 1:] < 0).all()  # gradient descent increases their activity


def test_activity_regularizer_upper_term_curbs_loud_samples():
    z = torch.zeros(10, 2, 4)
    z[:, 0] = 1.0  # sample 0: 10 spikes per unit; sample 1 silent
    z.requires_grad_(True)
    lam, theta = 0.1, 3.0
    reg = activity_regularizer([z], upper=theta, strength_upper=lam)
    assert reg.item() == pytest.approx(lam * (10 - theta) ** 2 / 2)
    reg.backward()
    # d/dz of lam/B * relu(mean_n c_b - theta)^2 = 2 lam (mean c - theta) / (B N)
    torch.testing.assert_close(z.grad[:, 0], torch.full((10, 4), 2 * lam * (10 - theta) / 8))
    assert torch.equal(z.grad[:, 1], torch.zeros(10, 4))


def test_activity_regularizer_sums_layers():
    a, b = _raster(6, 2, 3, p=0.5, seed=16), _raster(6, 2, 5, p=0.5, seed=17)
    kw = {"lower": 3.0, "upper": 1.0, "strength_lower": 0.5, "strength_upper": 0.2}
    torch.testing.assert_close(
        activity_regularizer([a, b], **kw),
        activity_regularizer([a], **kw) + activity_regularizer([b], **kw),
    )


# ------------------------------------------------------------------------------ validation
_SPK = torch.zeros(4, 2, 3)
_LAB = torch.tensor([0, 2])


@pytest.mark.parametrize(
    "call",
    [spike_count_cross_entropy, max_membrane_cross_entropy, mean_membrane_cross_entropy,
     lambda s, y: first_spike_time_loss(s, y, DT)],
)
@pytest.mark.parametrize(
    ("outputs", "labels", "match"),
    [
        ([[0.0]], _LAB, "must be a torch.Tensor"),
        (torch.zeros(4, 3), _LAB, "time-first"),
        (torch.zeros(4, 2, 3, dtype=torch.int64), _LAB, "floating point"),
        (torch.zeros(4, 0, 3), torch.zeros(0, dtype=torch.int64), "empty batch"),
        (torch.zeros(4, 2, 0), _LAB, "no units"),
        (_SPK, [0, 2], "labels must be a torch.Tensor"),
        (_SPK, _LAB[:, None], r"labels must be 1-D"),
        (_SPK, _LAB.int(), "labels must be int64"),
        (_SPK, torch.tensor([0, 1, 2]), "batch size is B = 2"),
        (_SPK, torch.tensor([0, 3]), r"0 \.\. 2 for C = 3"),
        (_SPK, torch.tensor([-1, 0]), r"0 \.\. 2 for C = 3"),
    ],
)
def test_classification_losses_validate(call, outputs, labels, match):
    with pytest.raises(ValueError, match=match):
        call(outputs, labels)


@pytest.mark.parametrize("call", [max_membrane_cross_entropy, mean_membrane_cross_entropy])
def test_membrane_losses_need_a_time_step(call):
    with pytest.raises(ValueError, match="T >= 1"):
        call(torch.zeros(0, 2, 3), _LAB)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"scale": 0.0}, "scale must be a finite number > 0"),
        ({"scale": float("nan")}, "scale must be a finite number > 0"),
        ({"scale": True}, "scale must be a finite number > 0"),
    ],
)
def test_spike_count_ce_validates_scale(kwargs, match):
    with pytest.raises(ValueError, match=match):
        spike_count_cross_entropy(_SPK, _LAB, **kwargs)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"dt": 0.0}, "dt must be a finite number > 0 seconds"),
        ({"dt": -1e-3}, "dt must be a finite number > 0 seconds"),
        ({"dt": float("inf")}, "dt must be a finite number > 0 seconds"),
        ({"t_max": -1.0}, "t_max must be a finite number >= 0 seconds"),
        ({"t_max": 2e-3}, r"t_max must be >= the last step's time"),
        ({"tau": 0.0}, "tau must be a finite number > 0 seconds"),
        ({"tau_reg": -1.0}, "tau_reg must be a finite number > 0 seconds"),
        ({"alpha": -0.1}, "alpha must be a finite number >= 0"),
    ],
)
def test_first_spike_functions_validate(kwargs, match):
    args = {"dt": DT, **kwargs}
    with pytest.raises(ValueError, match=match):
        first_spike_time_loss(_SPK, _LAB, **args)
    if set(kwargs) <= {"dt", "t_max"}:
        with pytest.raises(ValueError, match=match):
            first_spike_times(_SPK, **args)


def test_first_spike_times_validates_spikes():
    with pytest.raises(ValueError, match="empty batch"):
        first_spike_times(torch.zeros(4, 0, 3), DT)
    with pytest.raises(ValueError, match="time-first"):
        first_spike_times(torch.zeros(4, 3), DT)


@pytest.mark.parametrize(
    ("spikes", "target", "kwargs", "match"),
    [
        (torch.zeros(4, 3), torch.zeros(4, 3), {}, "time-first"),
        (_SPK, torch.zeros(4, 2, 3, dtype=torch.bool), {}, "target must be floating point"),
        (torch.zeros(4, 0, 3), torch.zeros(4, 0, 3), {}, "empty batch"),
        (_SPK, torch.zeros(5, 2, 3), {}, "same shape"),
        (_SPK, _SPK, {"dt": 0.0}, "dt must be a finite number > 0 seconds"),
        (_SPK, _SPK, {"tau": -1.0}, "tau must be a finite number > 0 seconds"),
    ],
)
def test_van_rossum_distance_validates(spikes, target, kwargs, match):
    with pytest.raises(ValueError, match=match):
        van_rossum_distance(spikes, target, **{"dt": DT, **kwargs})


def test_van_rossum_filter_validates():
    with pytest.raises(ValueError, match="floating point"):
        van_rossum_filter(torch.zeros(4, 2, 3, dtype=torch.int64), DT)
    with pytest.raises(ValueError, match="tau must be"):
        van_rossum_filter(_SPK, DT, tau=0.0)


@pytest.mark.parametrize("call", [spike_count, activity_regularizer])
@pytest.mark.parametrize(
    ("spikes", "match"),
    [
        (_SPK, "sequence of"),
        (None, "sequence of"),
        ([], "at least one layer"),
        ([torch.zeros(4, 3)], r"spikes\[0\] must be time-first"),
        ([_SPK, torch.zeros(4, 0, 3)], r"empty batch: spikes\[1\]"),
        ([_SPK, torch.zeros(4, 5, 3)], r"same batch size B, got \[2, 5\]"),
    ],
)
def test_activity_functions_validate_layers(call, spikes, match):
    with pytest.raises(ValueError, match=match):
        call(spikes)


@pytest.mark.parametrize(
    "kwargs", [{"lower": -1.0}, {"upper": float("nan")}, {"strength_lower": -1e-3},
               {"strength_upper": float("inf")}],
)
def test_activity_regularizer_validates_numbers(kwargs):
    with pytest.raises(ValueError, match=f"{next(iter(kwargs))} must be a finite number >= 0"):
        activity_regularizer([_SPK], **kwargs)
