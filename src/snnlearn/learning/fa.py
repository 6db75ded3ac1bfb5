r"""Feedback alignment (FA): BPTT with fixed random feedback synapses in place of ``W^T``.

The network is simulated exactly as in BPTT. Layer ``k`` receives the input current
``I^k_t = W_k x^{k-1}_t + b_k`` (``x^{k-1}`` are the spikes of layer ``k - 1``); writing
``\delta^k_t = \partial L / \partial I^k_t`` for the error at that current (obtained by BPTT
through the layer's own neuron dynamics and surrogate), the updates and the error sent down are

.. math::

    \Delta W_k \propto -\sum_t \delta^k_t \, (x^{k-1}_t)^\top, \qquad
    \Delta b_k \propto -\sum_t \delta^k_t, \qquad
    \frac{\partial L}{\partial x^{k-1}_t} := \delta^k_t \, B_k
    \quad (\text{BPTT: } \delta^k_t \, W_k),

with ``B_k`` a fixed random matrix of ``W_k``'s shape, drawn once in :meth:`prepare` with the
distribution of ``W_k``'s initialisation (uniform, standard deviation ``weight_scale / sqrt(n_in)``
of layer ``k``). The substitution is made by :func:`fa_linear` in every layer but the first (whose
input error is not used), through the ``projection`` hook of :func:`snnlearn.simulate.unroll`.

Exact and approximated: the weight updates of the last layer (readout) and everything inside a
layer (membrane, synaptic current, reset, refractoriness, the surrogate pseudo-derivative ``dz/du``)
are as in BPTT. Only the transport of errors from one layer to the one below is replaced by
``B_k``. Recurrent synapses ``W_rec`` are differentiated exactly (the error reaches ``z_{t-1}``
through ``W_rec^T``, as in BPTT): FA here replaces the feed-forward (between-layer) feedback only.
With ``B_k = W_k`` the rule is BPTT (tested to 1e-12 in float64).

Memory: as BPTT, O(T * N) stored activations (linear in the sequence length), plus one fixed
matrix per layer after the first.

Supported neurons: every network :func:`~snnlearn.simulate.unroll` runs (LIF and ALIF hidden
layers, feed-forward or recurrent; LI readout or spiking output).

References:
    Lillicrap, T. P., Cownden, D., Tweed, D. B. & Akerman, C. J. (2016). Random synaptic feedback
    weights support error backpropagation for deep learning. Nature Communications 7, 13276.
    doi:10.1038/ncomms13276
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from snnlearn.layers import Network
from snnlearn.layers.dense import init_uniform_
from snnlearn.learning.base import LearningRule, Rollout, Support
from snnlearn.simulate import unroll

__all__ = ["FeedbackAlignment", "fa_linear", "random_feedback"]


class _FALinear(torch.autograd.Function):
    """``F.linear`` forward; backward sends the input error through ``feedback``, not ``weight``."""

    @staticmethod
    def forward(  # type: ignore[override]
        x: Tensor, weight: Tensor, bias: Tensor | None, feedback: Tensor
    ) -> Tensor:
        return F.linear(x, weight, bias)

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Any, ...], output: Tensor) -> None:
        x, _, bias, feedback = inputs
        ctx.has_bias = bias is not None
        ctx.save_for_backward(x, feedback)

    @staticmethod
    def backward(  # type: ignore[override]
        ctx: Any, grad_y: Tensor
    ) -> tuple[Tensor | None, Tensor | None, Tensor | None, None]:
        x, feedback = ctx.saved_tensors
        grad_x = grad_w = grad_b = None
        if ctx.needs_input_grad[0]:
            grad_x = grad_y @ feedback
        flat_g = grad_y.reshape(-1, grad_y.shape[-1])
        if ctx.needs_input_grad[1]:
            grad_w = flat_g.T @ x.reshape(-1, x.shape[-1])
        if ctx.has_bias and ctx.needs_input_grad[2]:
            grad_b = flat_g.sum(dim=0)
        return grad_x, grad_w, grad_b, None


def fa_linear(x: Tensor, weight: Tensor, bias: Tensor | None, feedback: Tensor) -> Tensor:
    r"""``y = x W^T + b`` whose backward sends the error to ``x`` through ``feedback``.

    .. math::

        y = x W^\top + b, \qquad \bar x = \bar y \, B, \qquad
        \bar W = \bar y^\top x, \qquad \bar b = \textstyle\sum \bar y

    (sums over all leading dimensions). ``bar x`` is deliberately not the true gradient
    ``bar y W`` unless ``feedback`` equals ``weight``; ``feedback`` receives no gradient.

    Args:
        x: input ``[..., n_in]``.
        weight: ``W`` ``[n_out, n_in]``.
        bias: ``b`` ``[n_out]`` or ``None``.
        feedback: ``B`` ``[n_out, n_in]``, the matrix that carries errors back to ``x``.

    Shapes:
        ``x [..., n_in] -> y [..., n_out]``.

    Returns:
        ``F.linear(x, weight, bias)``.

    Raises:
        ValueError: ``feedback`` does not have ``weight``'s shape.

    Example:
        >>> import torch
        >>> x = torch.ones(1, 2, requires_grad=True)
        >>> y = fa_linear(x, torch.ones(3, 2), None, torch.full((3, 2), 2.0))
        >>> y.sum().backward(); x.grad
        tensor([[6., 6.]])
    """
    if feedback.shape != weight.shape:
        raise ValueError(
            f"feedback must have the weight's shape {tuple(weight.shape)} [n_out, n_in], got "
            f"{tuple(feedback.shape)}"
        )
    return _FALinear.apply(x, weight, bias, feedback.to(weight).detach())


def random_feedback(
    shape: tuple[int, int], scale: float, *, like: Tensor, generator: torch.Generator | None
) -> Tensor:
    """A fixed random matrix ``[rows, cols]`` drawn like a weight: std ``scale / sqrt(cols)``.

    Entries are uniform on ``[-scale sqrt(3 / cols), scale sqrt(3 / cols)]`` (the initial-weight
    distribution of :class:`~snnlearn.layers.SpikingLayer` and :class:`~snnlearn.layers.Readout`),
    drawn on the generator's device in ``like``'s dtype, then moved to ``like``'s device.

    Args:
        shape: ``(rows, cols)``; ``cols`` is the fan-in that sets the scale.
        scale: standard deviation times ``sqrt(cols)`` (dimensionless, > 0).
        like: a tensor giving the dtype and device of the result.
        generator: random generator (``None``: PyTorch's default generator).

    Returns:
        A tensor of ``shape`` that does not require gradients.

    Example:
        >>> import torch
        >>> b = random_feedback((2, 3), 1.0, like=torch.zeros(()),
        ...                     generator=torch.Generator().manual_seed(0))
        >>> tuple(b.shape), bool(b.abs().max() <= 1.0)
        ((2, 3), True)
    """
    device = generator.device if generator is not None else torch.device("cpu")
    matrix = torch.empty(shape, dtype=like.dtype, device=device)
    init_uniform_(matrix, scale, generator)
    return matrix.to(like.device)


class FeedbackAlignment(LearningRule):
    """Feedback alignment: surrogate-gradient BPTT with fixed random feedback between layers.

    See the module docstring for the equations. :meth:`prepare` must be called (the runner does)
    before :meth:`simulate`; it draws ``feedback[k - 1] = B_k`` for every layer ``k >= 1``.

    Example:
        >>> import torch
        >>> from snnlearn.layers import build_network
        >>> g = torch.Generator().manual_seed(0)
        >>> net = build_network(3, [8, 8], 2, dt=1e-3, generator=g)
        >>> rule = FeedbackAlignment()
        >>> rule.prepare(net, generator=g)
        >>> [tuple(b.shape) for b in rule.feedback]
        [(8, 8), (2, 8)]
        >>> r = rule.simulate(net, torch.rand(5, 4, 3))
        >>> rule.assign_grads(net, r, r.outputs.sum())
        >>> net.layers[0].weight.grad is not None
        True

    References:
        Lillicrap, T. P., Cownden, D., Tweed, D. B. & Akerman, C. J. (2016). Random synaptic
        feedback weights support error backpropagation for deep learning. Nature Communications
        7, 13276. doi:10.1038/ncomms13276
    """

    name = "fa"
    supports = Support(neurons=frozenset({"lif", "alif"}), recurrent=True, graded=True,
                       spiking_output=True)

    def __init__(self) -> None:
        self._feedback: tuple[Tensor, ...] | None = None

    @property
    def feedback(self) -> tuple[Tensor, ...]:
        """The fixed feedback matrices ``(B_1, ..., B_{L-1})``; empty before :meth:`prepare`."""
        return self._feedback if self._feedback is not None else ()

    def prepare(self, net: Network, *, generator: torch.Generator | None = None) -> None:
        """Draw ``B_k`` for layers ``k = 1 .. L-1`` like their weights' initialisation."""
        layers = list(net.layers)[1:]
        self.set_feedback(net, [
            random_feedback(tuple(layer.weight.shape), layer.weight_scale, like=layer.weight,
                            generator=generator)
            for layer in layers
        ])

    def set_feedback(self, net: Network, matrices: Sequence[Tensor]) -> None:
        """Use ``matrices[k - 1]`` (copied) as the feedback ``B_k`` of layer ``k >= 1`` of ``net``.

        Raises:
            ValueError: not one matrix per layer after the first, or a shape other than the
                layer's weight shape.
        """
        layers = list(net.layers)[1:]
        if len(matrices) != len(layers):
            raise ValueError(
                f"expected {len(layers)} feedback matrices (one per layer after the first), "
                f"got {len(matrices)}"
            )
        for k, (layer, b) in enumerate(zip(layers, matrices, strict=True), start=1):
            if tuple(b.shape) != tuple(layer.weight.shape):
                raise ValueError(
                    f"feedback for layer {k} must have its weight's shape "
                    f"{tuple(layer.weight.shape)}, got {tuple(b.shape)}"
                )
        self._feedback = tuple(b.detach().clone() for b in matrices)

    def _checked_feedback(self, net: Network) -> tuple[Tensor, ...]:
        layers = list(net.layers)[1:]
        fb = self._feedback
        if fb is None or len(fb) != len(layers) or any(
            b.shape != layer.weight.shape for b, layer in zip(fb, layers, strict=True)
        ):
            raise ValueError(
                "FeedbackAlignment has no feedback matrices for this network (layer weight "
                f"shapes {[tuple(m.weight.shape) for m in layers]}); call "
                "rule.prepare(net, generator=...) first"
            )
        return fb

    def simulate(self, net: Network, x: Tensor) -> Rollout:
        """Unroll ``net`` on ``x`` ``[T, B, n_in]`` with :func:`fa_linear` synapses after layer 0.

        Raises:
            ValueError: :meth:`prepare` was not called for a network of this shape, or an
                invalid input (see :func:`~snnlearn.simulate.unroll`).
        """
        feedback = self._checked_feedback(net)

        def projection(k: int, layer: Any, seq: Tensor) -> Tensor:
            if k == 0:
                return layer.project(seq)
            return fa_linear(seq, layer.weight, layer.bias, feedback[k - 1])

        return unroll(net, x, projection=projection)

    def assign_grads(
        self, net: Network, rollout: Rollout, loss: Tensor, *, target: Tensor | None = None
    ) -> None:
        """Write the FA direction for ``loss`` into ``p.grad`` of every parameter (not accumulated).

        ``rollout`` must come from :meth:`simulate` (its graph carries the random feedback).
        """
        for p in net.parameters():
            p.grad = None
        loss.backward()
