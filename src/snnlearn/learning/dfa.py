r"""Direct feedback alignment (DFA): the output error, sent to every hidden layer by fixed random
matrices, trains each layer through its own dynamics only.

Every layer is simulated on the *detached* spikes of the layer below, so no gradient crosses a
layer. The last layer (readout or spiking output), with input current
``I^{out}_t = W_{out} z^{L}_t + b_{out}``, is trained by its exact gradient. With the output error
``e_t`` ``[T, B, n_out]`` (see ``error``) each hidden layer ``l`` gets the spike error

.. math::

    \frac{\partial L}{\partial z^l_t} := e_t \, B_l, \qquad
    e_t = \frac{\partial L}{\partial I^{out}_t} \ (\texttt{error="current"}) \quad\text{or}\quad
    e_t = \frac{\partial L}{\partial y_t} \ (\texttt{error="output"}),

(``y_t``: the network output, the readout membrane), which is then backpropagated through time
inside the layer (surrogate ``dz/du``, membrane, synaptic current, recurrence) to its input
weights: ``\Delta W_l \propto -\sum_t \delta^l_t (z^{l-1}_t)^\top`` with
``\delta^l_t = \partial L / \partial I^l_t``. ``B_l`` ``[n_out, N_l]`` is fixed, drawn once in
:meth:`prepare` like the output weights (uniform, standard deviation
``weight_scale_out / sqrt(N_l)``, where ``weight_scale_out`` is the last layer's init scale), so
with one hidden layer it has the distribution of ``W_out``.

``error="current"`` (default) is Nokland's output error ``e = dL/da_y`` at the output layer's
*pre-activation*, which for a spiking network is the readout's input current: then
``e_t W_out`` is exactly BPTT's spike error of the last hidden layer, and with ``B_L = W_out``
DFA equals BPTT for a single hidden layer (tested to 1e-12). The error already carries the
readout's temporal filter backwards, so a loss on one time step (max over time) still reaches
earlier steps. ``error="output"`` projects the error of the readout membrane itself; it equals
``dL/dI^out`` only for a memoryless readout (no synapse, ``a_m = exp(-dt/tau_mem) = 0``, when
``dL/dz_t = e_t R W_out``), otherwise it drops the readout's filter.

Exact and approximated: the last layer's gradient and each layer's dynamics are exact (BPTT within
the layer); the between-layer error transport is replaced by the random projections ``B_l``.
An activity regulariser on the spikes (part of ``loss``) acts on each layer directly.

Memory: O(T * N) stored activations (as BPTT, linear in the sequence length), plus ``B_l``.

Supported neurons: every network :func:`~snnlearn.simulate.unroll` runs (LIF and ALIF hidden
layers, feed-forward or recurrent; LI readout or spiking output).

References:
    Nokland, A. (2016). Direct feedback alignment provides learning in deep neural networks.
    NeurIPS 29. arXiv:1609.01596

    Frenkel, C., Lefebvre, M. & Bol, D. (2021). Learning without feedback: fixed random learning
    signals allow for feedforward training of deep neural networks. Frontiers in Neuroscience
    15, 629892. doi:10.3389/fnins.2021.629892 (DRTP, a variant for spiking and on-chip
    learning that projects the target instead of the error; not implemented here)
"""

from __future__ import annotations

from collections.abc import Sequence
from types import MappingProxyType
from typing import Any, Literal

import torch
from torch import Tensor

from snnlearn.layers import Network
from snnlearn.learning.base import LearningRule, Rollout, Support
from snnlearn.learning.fa import random_feedback
from snnlearn.simulate import unroll

__all__ = ["DirectFeedbackAlignment", "DFAError"]

DFAError = Literal["current", "output"]
_ERRORS: tuple[str, ...] = ("current", "output")
_CURRENT = "output_current"  # Rollout.extras key: the last layer's input current [T, B, n_out]


class DirectFeedbackAlignment(LearningRule):
    """Direct feedback alignment: random projections of the output error train hidden layers.

    See the module docstring for the equations. :meth:`prepare` must be called (the runner does)
    before :meth:`simulate`; it draws ``feedback[l] = B_l`` ``[n_out, N_l]`` for every hidden
    layer ``l`` (every layer but the last).

    Args:
        error: which output error is projected: ``"current"`` (``dL/dI^out``, at the last layer's
            input current) or ``"output"`` (``dL/dy``, at the network output).

    Raises:
        ValueError: an unknown ``error`` (the message lists the valid choices).

    Example:
        >>> import torch
        >>> from snnlearn.layers import build_network
        >>> g = torch.Generator().manual_seed(0)
        >>> net = build_network(3, [8, 6], 2, dt=1e-3, generator=g)
        >>> rule = DirectFeedbackAlignment()
        >>> rule.prepare(net, generator=g)
        >>> [tuple(b.shape) for b in rule.feedback]
        [(2, 8), (2, 6)]
        >>> r = rule.simulate(net, torch.rand(5, 4, 3))
        >>> rule.assign_grads(net, r, r.outputs.sum())
        >>> net.layers[0].weight.grad is not None
        True

    References:
        Nokland, A. (2016). Direct feedback alignment provides learning in deep neural networks.
        NeurIPS 29. arXiv:1609.01596
    """

    name = "dfa"
    supports = Support(neurons=frozenset({"lif", "alif"}), recurrent=True, graded=True)

    def __init__(self, *, error: DFAError = "current") -> None:
        if error not in _ERRORS:
            raise ValueError(
                f"DirectFeedbackAlignment.error must be one of {', '.join(_ERRORS)}, got {error!r}"
            )
        self.error = error
        self._feedback: tuple[Tensor, ...] | None = None

    @property
    def feedback(self) -> tuple[Tensor, ...]:
        """The fixed matrices ``(B_0, ..., B_{L-1})`` of the hidden layers; empty before prepare."""
        return self._feedback if self._feedback is not None else ()

    def prepare(self, net: Network, *, generator: torch.Generator | None = None) -> None:
        """Draw ``B_l`` ``[n_out, N_l]`` per hidden layer, scaled like the last layer's init."""
        out = net.layers[-1]
        self.set_feedback(net, [
            random_feedback((out.n_out, layer.n_out), out.weight_scale, like=out.weight,
                            generator=generator)
            for layer in list(net.layers)[:-1]
        ])

    def set_feedback(self, net: Network, matrices: Sequence[Tensor]) -> None:
        """Use ``matrices[l]`` (copied) as ``B_l`` ``[n_out, N_l]`` of hidden layer ``l``.

        Raises:
            ValueError: not one matrix per hidden layer, or a wrong shape.
        """
        hidden = list(net.layers)[:-1]
        if len(matrices) != len(hidden):
            raise ValueError(
                f"expected {len(hidden)} feedback matrices (one per hidden layer), got "
                f"{len(matrices)}"
            )
        for index, (layer, b) in enumerate(zip(hidden, matrices, strict=True)):
            expected = (net.n_out, layer.n_out)
            if tuple(b.shape) != expected:
                raise ValueError(
                    f"feedback for hidden layer {index} must have shape [n_out, N_l] = {expected}, "
                    f"got {tuple(b.shape)}"
                )
        self._feedback = tuple(b.detach().clone() for b in matrices)

    def _checked_feedback(self, net: Network) -> tuple[Tensor, ...]:
        hidden = list(net.layers)[:-1]
        shapes = [(net.n_out, layer.n_out) for layer in hidden]
        fb = self._feedback
        if fb is None or [tuple(b.shape) for b in fb] != shapes:
            raise ValueError(
                f"DirectFeedbackAlignment has no feedback matrices for this network (expected "
                f"shapes {shapes}); call rule.prepare(net, generator=...) first"
            )
        return fb

    def simulate(self, net: Network, x: Tensor) -> Rollout:
        """Unroll ``net`` on ``x`` ``[T, B, n_in]``, each layer on the detached layer below.

        The returned rollout also holds the last layer's input current in
        ``extras["output_current"]`` ``[T, B, n_out]``.

        Raises:
            ValueError: :meth:`prepare` was not called for a network of this shape, or an
                invalid input (see :func:`~snnlearn.simulate.unroll`).
        """
        self._checked_feedback(net)
        last = len(net.layers) - 1
        currents: list[Tensor] = []

        def projection(k: int, layer: Any, seq: Tensor) -> Tensor:
            current = layer.project(seq if k == 0 else seq.detach())
            if k == last:
                currents.append(current)
            return current

        rollout = unroll(net, x, projection=projection)
        return rollout._replace(extras=MappingProxyType({_CURRENT: currents[0]}))

    def assign_grads(
        self, net: Network, rollout: Rollout, loss: Tensor, *, target: Tensor | None = None
    ) -> None:
        """Write the DFA direction for ``loss`` into every ``p.grad`` (written, not accumulated).

        Raises:
            ValueError: ``rollout`` was not produced by :meth:`simulate` of this rule.
        """
        feedback = self._checked_feedback(net)
        if _CURRENT not in rollout.extras:
            raise ValueError(
                "rollout has no output current; pass the Rollout returned by "
                "DirectFeedbackAlignment.simulate (not unroll's)"
            )
        for p in net.parameters():
            p.grad = None
        target = rollout.extras[_CURRENT] if self.error == "current" else rollout.outputs
        (e,) = torch.autograd.grad(loss, target, retain_graph=True, allow_unused=True)
        if e is None:
            e = torch.zeros_like(target)
        tensors, grads = [loss], [torch.ones_like(loss)]
        for z, b in zip(rollout.spikes, feedback, strict=False):  # hidden spikes come first
            if z.requires_grad:
                tensors.append(z)
                grads.append(e @ b.to(e))
        torch.autograd.backward(tensors, grads)
