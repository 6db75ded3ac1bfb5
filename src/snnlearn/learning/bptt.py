"""Backpropagation through time (BPTT) with surrogate gradients.

The network is unrolled with autograd recording every step, and ``loss.backward()`` computes the
exact gradient of the *surrogate* network: the only approximation is the replacement of the
Heaviside derivative by the pseudo-derivative of each neuron's ``surrogate``
(``dz/dv = sigma'(v - v_th)``); everything else (membrane, synaptic and recurrent dynamics, the
reset unless ``detach_reset``) is differentiated exactly.

Memory: O(T * N) activations are kept for the backward pass (linear in the sequence length).

References:
    Neftci, E. O., Mostafa, H. & Zenke, F. (2019). Surrogate gradient learning in spiking neural
    networks. IEEE Signal Processing Magazine 36(6). doi:10.1109/MSP.2019.2931595
"""

from __future__ import annotations

import torch
from torch import Tensor

from snnlearn.layers import Network
from snnlearn.learning.base import ALL_SYNAPSES, ALL_TRANSFORMS, LearningRule, Rollout, Support
from snnlearn.simulate import unroll

__all__ = ["BPTT"]


class BPTT(LearningRule):
    """Surrogate-gradient BPTT: autograd through the unrolled network.

    Example:
        >>> import torch
        >>> from snnlearn.layers import build_network
        >>> net = build_network(3, [8], 2, dt=1e-3, generator=torch.Generator().manual_seed(0))
        >>> rule = BPTT()
        >>> r = rule.simulate(net, torch.rand(5, 4, 3))
        >>> rule.assign_grads(net, r, r.outputs.sum())
        >>> net.layers[-1].weight.grad is not None
        True
    """

    name = "bptt"
    supports = Support(synapses=ALL_SYNAPSES, neurons=frozenset({"lif", "alif", "izhikevich",
                                                                "hh"}),
                       recurrent=True, graded=True, transforms=ALL_TRANSFORMS,
                       spiking_output=True)

    def prepare(self, net: Network, *, generator: torch.Generator | None = None) -> None:
        """Nothing to set up: BPTT has no state of its own."""

    def simulate(self, net: Network, x: Tensor) -> Rollout:
        return unroll(net, x)

    def assign_grads(
        self, net: Network, rollout: Rollout, loss: Tensor, *, target: Tensor | None = None
    ) -> None:
        """Write ``d loss / d p`` into ``p.grad`` of every parameter of ``net``.

        Gradients are written, not accumulated: any previous ``p.grad`` of ``net`` is replaced,
        as for every other rule.
        """
        for p in net.parameters():
            p.grad = None
        loss.backward()
