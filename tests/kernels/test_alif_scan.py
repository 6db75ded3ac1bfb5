"""The fused LIF/ALIF loop with recurrence against autograd through the step functions."""

from __future__ import annotations

import itertools

import pytest
import torch
import torch.nn.functional as F

from snnlearn.kernels.alif_scan import adaptive_sequence
from snnlearn.neurons import ALIFParams, LIFParams

F64 = torch.float64
CASES = list(itertools.product([None, 5e-3], ["subtract", "hard"], [False, True], [0.0, 2e-3],
                               [False, True], [False, True]))


def reference(p, x, state, dt, w):
    outs = []
    for t in range(x.shape[0]):
        current = x[t] if w is None else x[t] + F.linear(state.z, w)
        z, state = p.step(current, state, dt)
        outs.append(z)
    return torch.stack(outs), state


@pytest.mark.parametrize(("tau_syn", "reset", "detach", "t_ref", "adaptive", "recurrent"), CASES)
def test_spikes_identical_and_gradients_equal_to_autograd(tau_syn, reset, detach, t_ref,
                                                          adaptive, recurrent):
    lif = LIFParams(tau_mem=10e-3, tau_syn=tau_syn, reset=reset, detach_reset=detach,
                    t_ref=t_ref, v_reset=-0.1 if reset == "hard" else 0.0)
    p = ALIFParams(lif=lif, tau_adapt=30e-3, adaptation=0.5) if adaptive else lif
    g = torch.Generator().manual_seed(0)
    x = (20 * torch.rand(30, 3, 5, generator=g, dtype=F64)).requires_grad_()
    w = (0.5 * torch.randn(5, 5, generator=g, dtype=F64)).requires_grad_() if recurrent else None
    masked = None if w is None else w - torch.diag_embed(torch.diagonal(w))
    state = p.initial_state((3, 5), dtype=F64)
    weights = torch.arange(30, dtype=F64)[:, None, None]
    leaves = [x] + ([w] if recurrent else [])

    def loss(z, s):
        return (z * weights).sum() + s.v.sum() + s.i.sum() + (s.a.sum() if adaptive else 0.0)

    z_ref, s_ref = reference(p, x, state, 1e-3, masked)
    expected = torch.autograd.grad(loss(z_ref, s_ref), leaves)
    z, s, u, a = adaptive_sequence(p, x, state, 1e-3, masked)
    got = torch.autograd.grad(loss(z, s), leaves)
    assert z_ref.sum() > 0 and torch.equal(z, z_ref)
    for e, r in zip(got, expected, strict=True):
        torch.testing.assert_close(e, r, rtol=1e-9, atol=1e-10)
    if recurrent:
        assert torch.all(got[1].diagonal() == 0)  # no self-connections: no diagonal gradient
    assert (a is not None) == adaptive and u.shape == x.shape


def test_zero_steps_return_the_initial_state():
    p = ALIFParams()
    state = p.initial_state((2, 3))
    z, s, _, _ = adaptive_sequence(p, torch.zeros(0, 2, 3), state, 1e-3,
                                   torch.zeros(3, 3))
    assert z.shape == (0, 2, 3)
    assert all(torch.equal(a, b) for a, b in zip(s, state, strict=True))


@pytest.mark.parametrize(("tau_syn", "reset", "detach", "t_ref"),
                         list(itertools.product([None, 5e-3], ["subtract", "hard"], [False, True],
                                                [0.0, 2e-3])))
def test_compiled_feed_forward_alif_equals_autograd(tau_syn, reset, detach, t_ref):
    """Feed-forward ALIF on the ``cpu`` backend runs the compiled LIF loop with the adaptive
    threshold: identical spikes and float64 gradients (input, initial v, i and a) to autograd."""
    pytest.importorskip("numba")
    from snnlearn.kernels.sequence import neuron_sequence

    lif = LIFParams(tau_mem=10e-3, tau_syn=tau_syn, reset=reset, detach_reset=detach,
                    t_ref=t_ref, v_reset=-0.1 if reset == "hard" else 0.0)
    p = ALIFParams(lif=lif, tau_adapt=30e-3, adaptation=0.5)
    g = torch.Generator().manual_seed(1)
    x = (20 * torch.rand(30, 3, 5, generator=g, dtype=F64)).requires_grad_()
    state = p.initial_state((3, 5), dtype=F64)
    state = state._replace(v=torch.rand(3, 5, generator=g, dtype=F64).requires_grad_(),
                           a=torch.rand(3, 5, generator=g, dtype=F64).requires_grad_())
    weights = torch.randn(30, 3, 5, generator=g, dtype=F64)
    leaves = [x, state.v, state.a]

    def loss(z, s):
        return (z * weights).sum() + s.v.sum() + s.i.sum() + (s.a * s.a).sum()

    z_ref, s_ref = reference(p, x, state, 1e-3, None)
    expected = torch.autograd.grad(loss(z_ref, s_ref), leaves)
    out = neuron_sequence(p, x, state, 1e-3, record=True, backend="cpu")
    got = torch.autograd.grad(loss(out.output, out.final_state), leaves)
    assert z_ref.sum() > 0 and torch.equal(out.output, z_ref)
    for e, r in zip(got, expected, strict=True):
        torch.testing.assert_close(e, r, rtol=1e-9, atol=1e-10)
    _, _, u_ref, a_ref = adaptive_sequence(p, x, state, 1e-3, None)
    torch.testing.assert_close(out.u, u_ref)
    torch.testing.assert_close(out.adaptation, a_ref)
