"""One entry point for a neuron population's whole time loop: ``neuron_sequence``.

Dispatch: LI -> :func:`snnlearn.kernels.li_sequence`; feed-forward LIF and ALIF -> the fused
LIF kernel (:func:`snnlearn.kernels.lif_sequence`, numba-compiled on the CPU, Triton on the GPU;
ALIF with the adaptive threshold, on those two backends); recurrent LIF and ALIF (and ALIF on the
``torch`` backend) -> the fused loop of :mod:`snnlearn.kernels.alif_scan`; other models
(Izhikevich, Hodgkin-Huxley) and the ``reference`` backend -> their step functions under
autograd, step by step.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

from snnlearn.kernels._triton_common import runs_natively
from snnlearn.kernels.alif_scan import adaptive_sequence
from snnlearn.kernels.dispatch import resolve_backend
from snnlearn.kernels.li_scan import li_sequence
from snnlearn.kernels.lif_scan import _LIFSequence, lif_sequence
from snnlearn.neurons import ALIFParams, ALIFState, LIFParams, LIFState, LIParams
from snnlearn.neurons._checks import check_dt, decay
from snnlearn.neurons.lif import lif_fire, lif_integrate

__all__ = ["SequenceResult", "neuron_sequence"]


class SequenceResult(NamedTuple):
    """A population's time loop: outputs, final state and (``record=True``) what rules need."""

    output: Tensor
    final_state: Any
    u: Tensor | None
    adaptation: Tensor | None


def neuron_sequence(neuron: Any, current: Tensor, state: Any, dt: float, *,
                    recurrent_weight: Tensor | None = None, record: bool = False,
                    backend: str | None = None) -> SequenceResult:
    """Run ``neuron`` over ``current`` ``[T, B, ...]`` from ``state``."""
    dt = check_dt(dt)
    if isinstance(neuron, LIParams):
        if recurrent_weight is not None:
            raise ValueError("leaky integrators (LI) have no recurrent synapses")
        v, s = li_sequence(current, state, neuron, dt, backend=backend)
        return SequenceResult(v, s, None, None)
    if isinstance(neuron, LIFParams) and recurrent_weight is None:
        name = resolve_backend(backend, current, neuron.surrogate)
        if name != "reference":
            z, v, i, ref, _, u, _, _ = _LIFSequence.apply(
                current, state.v, state.i, state.refractory, None, neuron, dt, name)
            z_last = z[-1] if current.shape[0] > 0 else state.z
            return SequenceResult(z, LIFState(v=v, i=i, refractory=ref, z=z_last),
                                  u.to(current.dtype) if record else None, None)
        if not record:
            z, s = lif_sequence(current, state, neuron, dt, backend=name)
            return SequenceResult(z, s, None, None)
    if isinstance(neuron, ALIFParams) and recurrent_weight is None:
        name = resolve_backend(backend, current, neuron.lif.surrogate)
        if name == "cpu" or (name == "triton" and runs_natively(current)):
            z, v, i, ref, a, u, _, a_seq = _LIFSequence.apply(
                current, state.v, state.i, state.refractory, state.a, neuron, dt, name)
            z_last = z[-1] if current.shape[0] > 0 else state.z
            return SequenceResult(z, ALIFState(v=v, i=i, refractory=ref, z=z_last, a=a),
                                  u.to(current.dtype) if record else None,
                                  a_seq.to(current.dtype) if record else None)
    if isinstance(neuron, (LIFParams, ALIFParams)) and \
            resolve_backend(backend, current, None) != "reference":
        z, final, u, a = adaptive_sequence(neuron, current, state, dt, recurrent_weight)
        return SequenceResult(z, final, u if record else None, a if record else None)
    return _step_loop(neuron, current, state, dt, recurrent_weight, record)


def _step_loop(neuron: Any, current: Tensor, state: Any, dt: float, w: Tensor | None,
               record: bool) -> SequenceResult:
    outs, us, adapt = [], [], []
    for t in range(current.shape[0]):
        x = current[t]
        if w is not None:
            x = x + F.linear(state.z, w)
        if isinstance(neuron, (LIFParams, ALIFParams)):
            lif = neuron.lif if isinstance(neuron, ALIFParams) else neuron
            pre = lif_integrate(x, LIFState(*state[:4]), lif, dt)
            threshold = None
            if isinstance(neuron, ALIFParams):
                adapt.append(state.a.detach())
                threshold = lif.v_th + neuron.adaptation * state.a
            us.append(pre.v.detach())
            z, post = lif_fire(pre, lif, dt, threshold=threshold)
            if isinstance(neuron, ALIFParams):
                rho = decay(dt, neuron.tau_adapt)
                state = ALIFState(*post, a=rho * state.a + (1.0 - rho) * z)
            else:
                state = post
        else:
            z, state = neuron.step(x, state, dt)
            if record and hasattr(state, "v"):  # no pre-reset value: the membrane after the step
                us.append(state.v.detach())
        outs.append(z)
    empty = current.new_zeros(current.shape)
    out = torch.stack(outs) if outs else empty
    u = (torch.stack(us) if us else empty) if record and us or (record and not outs) else None
    a = (torch.stack(adapt) if adapt else None) if record else None
    return SequenceResult(out, state, u if record else None, a)
