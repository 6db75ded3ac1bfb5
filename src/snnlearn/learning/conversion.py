r"""ANN-to-SNN conversion: train a ReLU network, normalise its weights, run it as a rate-coded SNN.

A bias-free ReLU network (ANN) with the shapes of the spiking network ``net`` is trained with
Adam on cross-entropy. Its input is what the SNN's first layer receives, averaged over time: the
encoded sample's mean spike count per step, :math:`\bar x = \frac{1}{T}\sum_t x_t`, so that any
encoding works (rate coding gives ``p * max_rate * dt``; latency coding gives ``1/T`` per active
pixel), divided by a constant :math:`\rho`, the largest :math:`\bar x` of the normalisation data
of the first epoch (kept for the run), so that the ANN sees inputs in ``[0, 1]``. Layer ``l``
computes

.. math::

    a_l = \max(0, W_l a_{l-1} + b_l) \ (\text{hidden}), \qquad a_L = W_L a_{L-1} + b_L
    \ (\text{output logits}), \qquad a_0 = \bar x / \rho.

**Data-based normalisation** (Diehl et al. 2015; Rueckauer et al. 2017): with
:math:`\lambda_l` the maximum (``normalisation="max"``) or the ``percentile``-th percentile of the
positive activations of layer ``l`` over the training data (``normalisation="percentile"``,
robust to outliers; a few neurons then saturate), and :math:`\lambda_0 = 1 / \rho` (the SNN's
input is the rate :math:`\bar x` itself),

.. math::

    \tilde W_l = W_l \, \lambda_{l-1} / \lambda_l, \qquad \tilde b_l = b_l / \lambda_l,

so the normalised activations :math:`\tilde a_l = a_l / \lambda_l` reach 1 (at most one spike per
step) at the maximum (or percentile). **Conversion** to the network's neurons: a spike train of
mean ``r`` per step drives a layer with LIF neurons (:mod:`snnlearn.neurons.lif`) through the
synaptic current :math:`I = a_s I + W x` (mean :math:`W r / (1 - a_s)`) and the membrane gain
:math:`(1 - a_m) R`, i.e. a per-step drive :math:`g \, W r` with
:math:`g = (1 - a_m) R / (1 - a_s)` (:math:`1 - a_s \to 1` without synapse). The SNN weights are

.. math::

    W^{snn}_l = \tilde W_l \, \theta_l / g_l, \qquad \theta_l = v_{th} - v_{reset}
    \ (\text{spiking layer}), \quad \theta_L = 1 \ (\text{readout}),

so an integrate-and-fire neuron with reset by subtraction (``reset="subtract"``, which keeps the
charge above threshold) fires at rate :math:`\min(1, \tilde a_l)` per step, and the readout
integrates :math:`\tilde W_L \bar z` per step; :meth:`ANNConversion.simulate` is plain
:func:`~snnlearn.simulate.unroll` of ``net``, and the task's own ``predict`` reads the output.

Exact and approximated: for non-leaky neurons the spike count of a layer differs from
:math:`T \min(1, \tilde a_l)` by less than one spike per neuron and layer (the residual membrane),
so the rates converge to the normalised ANN activations as ``1/T`` (tested); errors accumulate
with depth. Not modelled: the membrane leak (``a_m < 1`` lowers the rate by about
:math:`(1 - a_m) \bar v / \theta` per step and silences neurons driven below
:math:`(1 - a_m) \theta`), the onset delay of each layer, and the Poisson noise of rate-coded
inputs. The ANN's own weights live in the rule (checkpointed in :meth:`~ANNConversion.state_dict`)
and are converted into ``net`` after every epoch. The converted model is ``net`` alone: the scales
are folded into its weights, and the network also keeps them, with ``rho``, in its buffer
``net.conversion_scales = (rho, lambda_1, ..., lambda_L)`` (saved in its ``state_dict``; zeros
before the first conversion), so a reloaded network says how it was normalised.

Memory: the ANN's weights and Adam moments (three copies of ``net``'s weights), plus the
activations of the normalisation data ``[n_norm, N_l]`` during conversion; SNN inference as
:func:`~snnlearn.simulate.unroll` without autograd.

Supported networks: feed-forward :class:`~snnlearn.layers.SpikingLayer` layers with
:class:`~snnlearn.neurons.LIFParams` neurons, ``reset="subtract"`` and ``t_ref = 0`` (for IF
neurons, use a ``tau_mem`` much longer than the sample), ending in a
:class:`~snnlearn.layers.Readout` or a spiking output layer. Recurrent, ALIF (adaptive threshold)
and hard-reset layers are refused.

References:
    Diehl, P. U., Neil, D., Binas, J., Cook, M., Liu, S.-C. & Pfeiffer, M. (2015). Fast-classifying,
    high-accuracy spiking deep networks through weight and threshold balancing. IJCNN 2015.
    doi:10.1109/IJCNN.2015.7280696

    Rueckauer, B., Lungu, I.-A., Hu, Y., Pfeiffer, M. & Liu, S.-C. (2017). Conversion of
    continuous-valued deep networks to efficient event-driven networks for image classification.
    Frontiers in Neuroscience 11, 682. doi:10.3389/fnins.2017.00682
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Literal, get_args

import torch
import torch.nn.functional as F
from torch import Tensor

from snnlearn.layers import Network, Readout, SpikingLayer
from snnlearn.learning.base import EpochContext, LearningRule, Rollout, Support
from snnlearn.neurons import LIFParams
from snnlearn.neurons._checks import decay
from snnlearn.simulate import unroll

__all__ = ["ANNConversion", "Normalisation", "ann_forward", "normalisation_scales",
           "drive_gain"]

Normalisation = Literal["max", "percentile"]

AnnParams = list[tuple[Tensor, Tensor | None]]


def ann_forward(params: Sequence[tuple[Tensor, Tensor | None]], x: Tensor) -> list[Tensor]:
    """Activations of every layer of the ReLU network (ReLU on hidden layers, linear output).

    Args:
        params: ``(weight [N_l, N_{l-1}], bias [N_l] or None)`` per layer, input to output.
        x: input rates (spikes per step).

    Shapes:
        ``x [B, N_0] -> [a_1 [B, N_1], ..., a_L [B, N_L]]``.

    Returns:
        One activation tensor per layer; the last is the logits.

    Example:
        >>> import torch
        >>> w = [(torch.tensor([[1.0, -1.0]]), None), (torch.tensor([[2.0]]), None)]
        >>> [a.tolist() for a in ann_forward(w, torch.tensor([[3.0, 1.0], [1.0, 3.0]]))]
        [[[2.0], [0.0]], [[4.0], [0.0]]]
    """
    acts, a = [], x
    for k, (weight, bias) in enumerate(params):
        a = F.linear(a, weight, bias)
        if k < len(params) - 1:
            a = F.relu(a)
        acts.append(a)
    return acts


def normalisation_scales(
    activations: Sequence[Tensor], *, method: Normalisation = "percentile",
    percentile: float = 99.9,
) -> list[float]:
    """Per-layer scale ``lambda_l``: the max or a percentile of the layer's positive activations.

    Args:
        activations: each layer's activations ``[n, N_l]`` over the normalisation data.
        method: ``"max"`` (Diehl et al. 2015) or ``"percentile"`` (Rueckauer et al. 2017).
        percentile: the percentile (in ``(0, 100]``) for ``method="percentile"``.

    Returns:
        ``[lambda_1, ..., lambda_L]``; a layer without positive activations gets 1.

    Raises:
        ValueError: an unknown ``method`` or a ``percentile`` outside ``(0, 100]``.

    Example:
        >>> import torch
        >>> normalisation_scales([torch.arange(1.0, 101.0)[None]], method="max")
        [100.0]
        >>> normalisation_scales([torch.arange(1.0, 101.0)[None]], percentile=90.0)
        [90.0]
    """
    _check_options(method, percentile)
    scales = []
    for a in activations:
        pos = a.detach().flatten()
        pos = pos[pos > 0]
        if pos.numel() == 0:
            scales.append(1.0)
        elif method == "max":
            scales.append(float(pos.max()))
        else:
            k = max(1, math.ceil(percentile / 100.0 * pos.numel()))
            scales.append(float(torch.kthvalue(pos, k).values))
    return scales


def drive_gain(neuron: object, dt: float) -> float:
    """Per-step membrane drive of one unit of input rate: ``g = (1 - a_m) R / (1 - a_s)``.

    ``neuron`` is a :class:`~snnlearn.neurons.LIFParams` or
    :class:`~snnlearn.neurons.LIParams` (``1 - a_s`` is 1 without a synapse).

    Example:
        >>> from snnlearn.neurons import LIFParams
        >>> round(drive_gain(LIFParams(tau_mem=10e-3, tau_syn=5e-3), 1e-3), 4)
        0.525
    """
    a_m = decay(dt, neuron.tau_mem)  # type: ignore[attr-defined]
    tau_syn = neuron.tau_syn  # type: ignore[attr-defined]
    synapse = 1.0 if tau_syn is None else 1.0 - decay(dt, tau_syn)
    return (1.0 - a_m) * neuron.r / synapse  # type: ignore[attr-defined]


def _check_options(method: object, percentile: object) -> None:
    if method not in get_args(Normalisation):
        raise ValueError(
            f"normalisation must be one of {list(get_args(Normalisation))}, got {method!r}"
        )
    if (isinstance(percentile, bool) or not isinstance(percentile, (int, float))
            or not 0 < percentile <= 100):
        raise ValueError(f"percentile must be a number in (0, 100], got {percentile!r}")


def check_convertible(net: Network) -> None:
    """Raise ``ValueError`` unless ``net`` is a feed-forward LIF network with subtractive reset."""
    for k, layer in enumerate(net.layers):
        if isinstance(layer, Readout):
            continue
        if layer.recurrent:
            raise ValueError(
                f"conversion: layer {k} is recurrent; rate conversion needs feed-forward layers "
                "(build the network with recurrent=False)"
            )
        if not isinstance(layer.neuron, LIFParams):
            raise ValueError(
                f"conversion: layer {k} has {type(layer.neuron).__name__} neurons; the adaptive "
                "threshold breaks the rate code, use LIFParams (neuron='lif')"
            )
        if layer.neuron.reset != "subtract" or layer.neuron.t_ref != 0:
            raise ValueError(
                f"conversion: layer {k} needs reset='subtract' and t_ref=0, got "
                f"reset={layer.neuron.reset!r}, t_ref={layer.neuron.t_ref!r}"
            )


class ANNConversion(LearningRule):
    """ANN-to-SNN conversion: a ReLU network trained each epoch, normalised and written to ``net``.

    Args:
        normalisation: ``"percentile"`` (default) or ``"max"``; see the module docstring.
        percentile: the percentile of positive activations mapped to one spike per step
            (in ``(0, 100]``; ``"percentile"`` only).
        n_norm: training samples used for the normalisation statistics (>= 1); ``None`` uses
            the whole training split.

    Raises:
        ValueError: an unknown ``normalisation``, a ``percentile`` out of range or a bad
            ``n_norm``.

    Example:
        >>> import torch
        >>> from snnlearn.layers import build_network
        >>> net = build_network(3, [8], 2, dt=1e-3, generator=torch.Generator().manual_seed(0))
        >>> rule = ANNConversion(normalisation="max")
        >>> rule.prepare(net, generator=torch.Generator().manual_seed(1))
        >>> scales = rule.convert(net, torch.rand(50, 3, generator=torch.Generator()))
        >>> len(scales), rule.simulate(net, torch.rand(5, 4, 3)).outputs.shape[-1]
        (2, 2)
        >>> net.conversion_scales[1:].tolist() == scales  # (rho, lambda_1, lambda_2)
        True

    References:
        Diehl et al. (2015), doi:10.1109/IJCNN.2015.7280696; Rueckauer et al. (2017),
        doi:10.3389/fnins.2017.00682.
    """

    name = "conversion"
    supports = Support(dale=False)

    def __init__(self, *, normalisation: Normalisation = "percentile", percentile: float = 99.9,
                 n_norm: int | None = None) -> None:
        _check_options(normalisation, percentile)
        if n_norm is not None and (isinstance(n_norm, bool) or not isinstance(n_norm, int)
                                   or n_norm < 1):
            raise ValueError(f"n_norm must be an int >= 1 or None, got {n_norm!r}")
        self.normalisation: Normalisation = normalisation
        self.percentile, self.n_norm = float(percentile), n_norm
        self.params: AnnParams = []
        self.optimizer: torch.optim.Adam | None = None
        self.scales: list[float] = []
        self.input_scale: float | None = None
        self.ann_val_accuracy = float("nan")

    def prepare(self, net: Network, *, generator: torch.Generator | None = None) -> None:
        """Check ``net``, draw the ANN's initial weights (He uniform, zero bias) and give ``net``
        its ``conversion_scales`` buffer (zeros; a network that has one keeps it)."""
        check_convertible(net)
        if "conversion_scales" not in dict(net.named_buffers()):
            net.register_buffer("conversion_scales", net.layers[0].weight.new_zeros(
                len(net.layers) + 1))
        self.params = []
        for layer in net.layers:
            w = layer.weight.detach()
            bound = math.sqrt(6.0 / layer.n_in)
            weight = torch.empty_like(w).uniform_(-bound, bound, generator=generator)
            bias = None if layer.bias is None else torch.zeros_like(layer.bias.detach())
            self.params.append((weight.requires_grad_(),
                                None if bias is None else bias.requires_grad_()))
        self.optimizer = torch.optim.Adam(self._leaves(), lr=1e-3)
        self.scales, self.input_scale, self.ann_val_accuracy = [], None, float("nan")

    def _leaves(self) -> list[Tensor]:
        return [t for pair in self.params for t in pair if t is not None]

    def simulate(self, net: Network, x: Tensor) -> Rollout:
        return unroll(net, x)

    def assign_grads(
        self, net: Network, rollout: Rollout, loss: Tensor, *, target: Tensor | None = None
    ) -> None:
        """Not used: conversion trains in :meth:`fit_epoch`; raises ``RuntimeError``."""
        raise RuntimeError(
            "conversion trains a ReLU network by whole epochs (fit_epoch) and has no per-batch "
            "update; train it with snnlearn.experiments.run or call fit_epoch"
        )

    def fit_epoch(self, net: Network, ctx: EpochContext) -> tuple[float, float]:
        """One ANN epoch (Adam at ``ctx.lr`` on cross-entropy), then convert into ``net``.

        The training split is shuffled and encoded with ``ctx.generator``; the normalisation
        data (``n_norm`` samples) and the ANN's validation accuracy (reported by
        :meth:`summary_metrics`) are encoded with it afterwards.

        Returns:
            ``(mean cross-entropy, ANN training accuracy)`` of the epoch.
        """
        if self.optimizer is None:
            raise RuntimeError("call prepare(net) before fit_epoch")
        task, data, g = ctx.task, ctx.data, ctx.generator
        for group in self.optimizer.param_groups:
            group["lr"] = ctx.lr
        n_norm = len(data) if self.n_norm is None else min(self.n_norm, len(data))
        if self.input_scale is None:
            self._fix_input_scale(self._rates(ctx, data.inputs[:n_norm]))
        rho = self.input_scale
        assert rho is not None  # narrowing: fixed above
        order = torch.randperm(len(data), generator=g)
        total, correct = 0.0, 0
        for i in range(0, len(data), ctx.batch_size):
            index = order[i:i + ctx.batch_size]
            x = self._rates(ctx, data.inputs[index]) / rho
            y = data.labels[index].to(ctx.device)
            logits = ann_forward(self.params, x)[-1]
            loss = F.cross_entropy(logits, y)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            total += float(loss.detach()) * len(index)
            correct += int((logits.detach().argmax(-1) == y).sum())
        self.convert(net, self._rates(ctx, data.inputs[order[:n_norm]]))
        val = task.split("val")
        if len(val) > 0:
            with torch.no_grad():
                logits = ann_forward(self.params, self._rates(ctx, val.inputs) / rho)[-1]
            self.ann_val_accuracy = float(
                (logits.argmax(-1) == val.labels.to(ctx.device)).float().mean())
        n = max(len(data), 1)
        return total / n, correct / n

    @staticmethod
    def _rates(ctx: EpochContext, inputs: Tensor) -> Tensor:
        """Mean encoded spike count per step ``[B, n_in]`` (the ANN's input)."""
        return ctx.task.encode(inputs, generator=ctx.generator).to(ctx.device).mean(0)

    def _fix_input_scale(self, rates: Tensor) -> None:
        """Set ``rho``, the ANN's input scale, to the largest rate in ``rates`` (1 if none)."""
        top = float(rates.max()) if rates.numel() > 0 else 0.0
        self.input_scale = top if top > 0 else 1.0

    def convert(self, net: Network, rates: Tensor) -> list[float]:
        """Normalise the ANN on ``rates`` and write the SNN weights into ``net`` (in place).

        Args:
            net: the network (same shapes as the ANN).
            rates: normalisation inputs, mean spikes per step ``[n, n_in]``; if the input scale
                ``rho`` is not fixed yet, it becomes their maximum.

        Returns:
            The scales ``[lambda_1, ..., lambda_L]`` used (also written, after ``rho``, to
            ``net.conversion_scales`` if :meth:`prepare` gave ``net`` one).
        """
        if self.input_scale is None:
            self._fix_input_scale(rates)
        rho = self.input_scale
        assert rho is not None  # narrowing: fixed above
        with torch.no_grad():
            acts = ann_forward(self.params, rates.to(self.params[0][0].device) / rho)
            self.scales = normalisation_scales(acts, method=self.normalisation,
                                               percentile=self.percentile)
            previous = 1.0 / rho
            for layer, (weight, bias), scale in zip(net.layers, self.params, self.scales,
                                                    strict=True):
                if isinstance(layer, SpikingLayer):
                    theta = layer.neuron.v_th - layer.neuron.v_reset
                else:
                    theta = 1.0
                factor = theta / drive_gain(layer.neuron, net.dt)
                layer.weight.copy_(weight * (previous / scale * factor))
                if bias is not None and layer.bias is not None:
                    layer.bias.copy_(bias * (factor / scale))
                previous = scale
            buffer = dict(net.named_buffers()).get("conversion_scales")
            if buffer is not None:
                buffer.copy_(torch.tensor([rho, *self.scales], dtype=buffer.dtype))
        return list(self.scales)

    def summary_metrics(self) -> dict[str, float]:
        """The ANN's validation accuracy after the epoch of the reported weights."""
        return {"ann_val_accuracy": self.ann_val_accuracy}

    def state_dict(self) -> dict[str, Any]:
        """ANN weights, their Adam state, the scales, ``rho`` and the ANN's validation accuracy."""
        if self.optimizer is None:
            return {}
        return {
            "weights": [w.detach().clone() for w, _ in self.params],
            "biases": [None if b is None else b.detach().clone() for _, b in self.params],
            "optimizer": self.optimizer.state_dict(), "scales": list(self.scales),
            "input_scale": self.input_scale,
            "ann_val_accuracy": self.ann_val_accuracy,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned (after :meth:`prepare`)."""
        if not state:
            return
        if self.optimizer is None or len(state["weights"]) != len(self.params):
            raise ValueError(
                f"conversion state has {len(state['weights'])} layers but the rule was prepared "
                f"for {len(self.params)}; call prepare(net) with the run's network first"
            )
        with torch.no_grad():
            for (w, b), w_saved, b_saved in zip(self.params, state["weights"], state["biases"],
                                                strict=True):
                w.copy_(w_saved)
                if b is not None and b_saved is not None:
                    b.copy_(b_saved)
        self.optimizer.load_state_dict(state["optimizer"])
        self.scales = list(state["scales"])
        self.input_scale = state["input_scale"]
        self.ann_val_accuracy = float(state["ann_val_accuracy"])
