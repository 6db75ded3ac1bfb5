r"""DECOLLE: deep continuous local learning with fixed random local readouts.

Each hidden layer ``l`` has a fixed random readout ``G_l`` ``[C, N_l]`` (drawn once in
:meth:`DECOLLE.prepare`, never trained) and its own local loss; the network's
:class:`~snnlearn.layers.Readout` is trained by the task loss. No gradient crosses layers: every
layer's input is detached, so

.. math::

    \texttt{W}_l\texttt{.grad} = \frac{\partial \mathcal L_l}{\partial W_l}\Big|_{S_{l-1}
        \text{ fixed}}, \qquad
    \texttt{W}_{out}\texttt{.grad} = \frac{\partial L}{\partial W_{out}}\Big|_{S_L \text{ fixed}}

with the local readout and loss (``local_loss``; ``y`` the class index)

.. math::

    Y_{l,t} &= \mathrm{LI}(G_l S_{l,t}) \quad (\text{the network readout's leaky integrator}),
    \qquad \mathcal L_l = \mathrm{CE}\big(\max_t Y_{l,t},\, y\big) \quad (\texttt{"max"}) \\
    \mathcal L_l &= \mathrm{CE}\big(\tfrac1T \textstyle\sum_t Y_{l,t},\, y\big) \quad
    (\texttt{"mean"}), \qquad
    \mathcal L_l = \tfrac1T \textstyle\sum_t \mathrm{CE}(G_l S_{l,t},\, y) \quad
    (\texttt{"per_step"}, \text{the paper's instantaneous readout})

Within a layer ``dL_l/dW_l`` is the surrogate gradient computed by BPTT *restricted to the layer*
(autograd through the layer's own membrane, synaptic current, reset and recurrence, and through
the local readout): local in space, not in time. The paper computes the same derivative online
with eligibility traces, ``dL_l/dw_ij = sum_t dL_l/dS_{i,t} sigma'(U_{i,t}) P_{j,t}``, which is
exact when the local loss at ``t`` depends on ``S_t`` alone (``"per_step"``), the reset is
detached and ``P`` is the presynaptic trace; for those settings the two coincide, and BPTT
within the layer is the exact version otherwise.

Targets. A rule receives only the loss, not the labels. For a softmax cross-entropy of any time
aggregate of the readout (max, mean or count; every classification task in snnlearn) the error
summed over time, ``sum_t dL/dy_t = (softmax - onehot(y)) / B``, has one non-positive entry per
sample, at the label; :meth:`DECOLLE.assign_grads` reads ``y`` from it and raises for losses
without that form. :meth:`DECOLLE.local_losses` takes labels explicitly.

Memory: ``O(T N)`` per layer for the within-layer BPTT (as BPTT), but the graphs of different
layers are disjoint. Supported neurons: every hidden layer ``unroll`` supports (LIF, ALIF,
feed-forward or recurrent), ending in a :class:`~snnlearn.layers.Readout`.

References:
    Kaiser, J., Mostafa, H. & Neftci, E. (2020). Synaptic plasticity dynamics for deep continuous
    local learning (DECOLLE). Frontiers in Neuroscience 14, 424. doi:10.3389/fnins.2020.00424
"""

from __future__ import annotations

from typing import Literal, get_args

import torch
import torch.nn.functional as F
from torch import Tensor

from snnlearn.kernels.li_scan import li_sequence
from snnlearn.layers import Network, Readout
from snnlearn.layers.dense import init_uniform_
from snnlearn.learning.base import ALL_SYNAPSES, ALL_TRANSFORMS, LearningRule, Rollout, Support
from snnlearn.losses import max_membrane_cross_entropy, mean_membrane_cross_entropy
from snnlearn.simulate import unroll

__all__ = ["DECOLLE", "LocalLoss", "labels_from_error"]

LocalLoss = Literal["max", "mean", "per_step"]


def labels_from_error(error: Tensor) -> Tensor:
    """Class indices from the error ``dL/dy`` of a softmax cross-entropy of a time aggregate.

    Summed over time the error is ``(softmax - onehot(y)) / B``: every row sums to zero and its
    smallest entry (the only one that is not positive) is at the label.

    Shapes:
        ``error [T, B, C] -> [B]`` (int64).

    Raises:
        ValueError: an error that is not of that form (e.g. a regression loss).

    Example:
        >>> import torch
        >>> v = torch.randn(6, 2, 3, requires_grad=True)
        >>> labels = torch.tensor([2, 0])
        >>> (e,) = torch.autograd.grad(max_membrane_cross_entropy(v, labels), v)
        >>> labels_from_error(e).tolist()
        [2, 0]
    """
    g = error.sum(dim=0)
    tolerance = 1e-3 * float(g.abs().amax())  # confident rows are tiny and rounded: batch scale
    if bool(((g.sum(dim=1).abs() > tolerance) | (g.amin(dim=1) > 0)).any()):
        raise ValueError(
            "DECOLLE reads each sample's class from the error of a softmax cross-entropy on the "
            "readout (the time-summed error must be (softmax - onehot)/B); this loss's error is "
            "not of that form. Use a cross-entropy task loss, or call DECOLLE.local_losses with "
            "the labels yourself"
        )
    return g.argmin(dim=1)


class DECOLLE(LearningRule):
    """DECOLLE: per-layer losses on fixed random local readouts, no gradient across layers.

    Args:
        local_loss: ``"max"`` (cross-entropy of the max over time of the leaky-filtered local
            readout, as the Yin-Yang task loss), ``"mean"`` (of its time average) or
            ``"per_step"`` (cross-entropy of the instantaneous readout ``G_l S_t`` at every step,
            averaged over time, as in the paper).
        local_weight: factor of every local loss (> 0).

    Raises:
        ValueError: an unknown ``local_loss`` or a non-positive ``local_weight``.

    Example:
        >>> import torch
        >>> from snnlearn.layers import build_network
        >>> net = build_network(3, [8, 8], 2, dt=1e-3, generator=torch.Generator().manual_seed(0))
        >>> rule = DECOLLE()
        >>> rule.prepare(net, generator=torch.Generator().manual_seed(1))
        >>> r = rule.simulate(net, torch.rand(5, 4, 3))
        >>> loss = max_membrane_cross_entropy(r.outputs, torch.tensor([0, 1, 1, 0]))
        >>> rule.assign_grads(net, r, loss)
        >>> [tuple(g.shape) for g in rule.local_readouts]
        [(2, 8), (2, 8)]
    """

    name = "decolle"
    supports = Support(synapses=ALL_SYNAPSES, neurons=frozenset({"lif", "alif"}),
                       recurrent=True, graded=True, transforms=ALL_TRANSFORMS - {"torch"})

    def __init__(self, *, local_loss: LocalLoss = "max", local_weight: float = 1.0) -> None:
        if local_loss not in get_args(LocalLoss):
            raise ValueError(f"DECOLLE.local_loss must be one of {list(get_args(LocalLoss))}, "
                             f"got {local_loss!r}")
        if not (isinstance(local_weight, (int, float)) and local_weight > 0):
            raise ValueError(f"DECOLLE.local_weight must be > 0, got {local_weight!r}")
        self.local_loss, self.local_weight = local_loss, float(local_weight)
        self.local_readouts: tuple[Tensor, ...] = ()

    def prepare(self, net: Network, *, generator: torch.Generator | None = None) -> None:
        """Draw the fixed local readouts ``G_l [n_out, N_l]``, one per hidden layer, in order.

        Entries are uniform with the standard deviation of the network readout's initial
        weights (``weight_scale / sqrt(N_l)``), drawn on the CPU from ``generator``.
        """
        readout = self._check(net)
        w = readout.weight
        mats = []
        for layer in net.spiking_layers:
            g = torch.empty(net.n_out, layer.n_out, dtype=w.dtype)
            init_uniform_(g, readout.weight_scale, generator)
            mats.append(g.to(w.device))
        self.local_readouts = tuple(mats)

    def simulate(self, net: Network, x: Tensor) -> Rollout:
        """``unroll`` with every layer's input detached (gradients stay inside each layer)."""
        self._check(net)
        if len(self.local_readouts) != len(net.spiking_layers):
            raise ValueError("DECOLLE.prepare(net, generator=...) must be called before "
                             "simulate: the local readouts are drawn there")
        return unroll(net, x, projection=lambda k, layer, seq: layer.project(seq.detach()))

    def local_losses(self, net: Network, rollout: Rollout, labels: Tensor) -> tuple[Tensor, ...]:
        """The local loss ``L_l`` of every hidden layer (module docstring), each differentiable
        with respect to its own layer's parameters only."""
        readout: Readout = net.layers[-1]
        losses = []
        for g, z in zip(self.local_readouts, rollout.spikes, strict=True):
            drive = F.linear(z.flatten(2), g.to(z))
            if self.local_loss == "per_step":
                steps = drive.flatten(0, 1)
                losses.append(F.cross_entropy(steps, labels.repeat(z.shape[0])))
                continue
            state = readout.neuron.initial_state((z.shape[1], g.shape[0]), device=z.device,
                                                 dtype=z.dtype)
            y, _ = li_sequence(drive, state, readout.neuron, net.dt)
            fn = max_membrane_cross_entropy if self.local_loss == "max" else \
                mean_membrane_cross_entropy
            losses.append(fn(y, labels))
        return tuple(losses)

    def assign_grads(
        self, net: Network, rollout: Rollout, loss: Tensor, *, target: Tensor | None = None
    ) -> None:
        """Write ``dL/dW_out`` (readout) and ``dL_l/dW_l`` (each hidden layer) into ``.grad``."""
        for p in net.parameters():
            p.grad = None
        if target is not None:  # the runner passes the labels
            labels = target
        else:
            (error,) = torch.autograd.grad(loss, rollout.outputs, retain_graph=True)
            labels = labels_from_error(error)
        total = loss + self.local_weight * sum(self.local_losses(net, rollout, labels))
        total.backward()
        for p in net.parameters():
            if p.grad is None:
                p.grad = torch.zeros_like(p)

    def _check(self, net: Network) -> Readout:
        readout = net.layers[-1]
        if not isinstance(readout, Readout):
            raise ValueError("DECOLLE needs a network that ends in a Readout (trained by the task "
                             f"loss), got {type(readout).__name__}")
        return readout
