r"""Differentiable architecture search (DARTS) over the synaptic operations between spiking layers,
then retraining of the network found.

Search space. Every layer with weights (each spiking layer and the readout) receives its input
spikes :math:`x_t` through a *mixed operation*: a weighted sum of candidate operations, each a
temporal filter of the input followed by its own weight matrix,

.. math::

    I_t = \sum_o \bar\alpha_o\, W_o (\kappa_o * x)_t, \qquad
    (\kappa_o * x)_t = a_o (\kappa_o * x)_{t-1} + (1 - a_o) x_t, \quad
    a_o = e^{-\Delta t / \tau_o},

with :math:`\bar\alpha = \mathrm{softmax}(\alpha)` per layer. The candidate time constants
``taus`` (s) give the operations; :math:`\tau_o = 0` is the identity (no filter), and that
operation uses the layer's own synapse (weights and bias), the others extra weights of the same
shape and initial distribution. The filter is a leaky integrator with unit DC gain
(:class:`~snnlearn.neurons.LIParams`, ``r = 1``, run by the fused LI kernel), so every operation
delivers the same total charge per spike, spread over :math:`\tau_o`. Extra weights, the
architecture parameters :math:`\alpha` ``[L, n_ops]`` and the chosen operations (``mask``) live
on the network (``net.darts``, a :class:`SearchSpace` added by :meth:`Darts.prepare`), so the
saved network is the model that was scored.

Search (first ``search_epochs`` epochs; Liu et al. 2019, first-order): the training split is
halved once (a fixed permutation); each step takes one Adam step of the weights on a minibatch of
the first half and one of :math:`\alpha` (learning rate ``arch_lr``) on a minibatch of the
second, both by BPTT with surrogate gradients through the mixed network.

Retraining (the remaining epochs): each layer keeps the ``keep`` operations of largest
:math:`\alpha` (``mask``, summed with equal weight 1), every weight is drawn afresh, the optimizer
state is reset, and the network found is trained on the whole training split by BPTT, with the
run's learning-rate schedule restarted over the retraining epochs.

Exact and approximated: first-order DARTS (the architecture gradient ignores how the weights
depend on :math:`\alpha`); the gradients are BPTT's with surrogate spike derivatives.

Memory: BPTT's O(T N) activations, plus one filtered copy of each layer's input per operation.

Supported: dense LIF/ALIF hidden layers (feed-forward or recurrent; the search acts on the
feed-forward synapses) and a readout; no Dale's-law synapses.

References:
    Liu, H., Simonyan, K. & Yang, Y. (2019). DARTS: differentiable architecture search. ICLR.
    arXiv:1806.09055

    Kim, Y., Li, Y., Park, H., Venkatesha, Y. & Panda, P. (2022). Neural architecture search for
    spiking neural networks. ECCV. arXiv:2201.10355
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from snnlearn.kernels.li_scan import li_sequence
from snnlearn.layers import Network, Readout, SpikingLayer
from snnlearn.layers.synapses import init_uniform_
from snnlearn.learning.base import EpochContext, LearningRule, Rollout, Support
from snnlearn.neurons import LIParams
from snnlearn.simulate import unroll

__all__ = ["Darts", "SearchSpace", "input_filter"]


def input_filter(x: Tensor, tau: float, dt: float) -> Tensor:
    """``(kappa * x)_t = a (kappa * x)_{t-1} + (1 - a) x_t``, ``a = exp(-dt / tau)`` (``tau`` > 0).

    Example:
        >>> import torch, math
        >>> y = input_filter(torch.tensor([1.0, 0.0]).view(2, 1, 1), 1e-3, 1e-3)
        >>> [round(float(v), 4) for v in y.flatten()], round(1 - math.exp(-1), 4)
        ([0.6321, 0.2325], 0.6321)
    """
    p = LIParams(tau_mem=tau, tau_syn=None, r=1.0)
    state = p.initial_state(tuple(x.shape[1:]), device=x.device, dtype=x.dtype)
    return li_sequence(x, state, p, dt)[0]


class SearchSpace(nn.Module):
    """What the search adds to a network: extra operation weights, ``alpha`` and the choice.

    Args:
        net: the network (one entry per layer with weights, in order).
        taus: candidate filter time constants (s); ``0`` (the layer's own synapse) must be one.
        generator: random generator of the extra weights.

    Attributes:
        weights: per layer, the extra weights ``[N_out, N_in]`` of the operations with
            ``tau > 0``.
        alpha: architecture parameters ``[L, n_ops]``.
        mask: ``[L, n_ops]``: the operations kept (1) after the search; all zero during it.
    """

    def __init__(self, net: Network, taus: Sequence[float], *,
                 generator: torch.Generator | None = None) -> None:
        super().__init__()
        self.taus = tuple(float(t) for t in taus)
        layers = _weighted_layers(net)
        ref = layers[0].weight
        self.weights = nn.ParameterList()
        for layer in layers:
            for tau in self.taus:
                if tau > 0:
                    w = torch.empty_like(layer.weight)
                    init_uniform_(w, layer.synapse.weight_scale, generator)
                    self.weights.append(nn.Parameter(w))
        shape = (len(layers), len(self.taus))
        self.alpha = nn.Parameter(torch.zeros(shape, device=ref.device, dtype=ref.dtype))
        self.register_buffer("mask", torch.zeros(shape, device=ref.device, dtype=ref.dtype))

    def reset_weights(self, net: Network, generator: torch.Generator | None) -> None:
        """Draw every extra weight afresh (as at construction)."""
        extra = iter(self.weights)
        with torch.no_grad():
            for layer in _weighted_layers(net):
                for tau in self.taus:
                    if tau > 0:
                        init_uniform_(next(extra), layer.synapse.weight_scale, generator)

    def op_weights(self) -> Tensor:
        """``softmax(alpha)`` during the search, the 0/1 ``mask`` once it is fixed."""
        if bool(self.mask.any()):
            return self.mask
        return torch.softmax(self.alpha, dim=-1)


def _weighted_layers(net: Network) -> list[Any]:
    return [m for m in net.layers if isinstance(m, (SpikingLayer, Readout))]


class Darts(LearningRule):
    """DARTS over input filters between spiking layers, then retraining of the found network.

    Args:
        taus: candidate filter time constants (s, >= 0, distinct); 0 must be one of them. A
            string of comma-separated numbers (as given on the command line) or a sequence.
        search_epochs: epochs of bi-level search (>= 1); the rest retrain.
        arch_lr: Adam learning rate of ``alpha`` (> 0).
        keep: operations kept per layer after the search (1 .. ``len(taus)``).

    Raises:
        ValueError: a value out of range.

    Example:
        >>> import torch
        >>> from snnlearn.layers import build_network
        >>> net = build_network(4, [8], 2, dt=1e-3, generator=torch.Generator().manual_seed(0))
        >>> rule = Darts(taus=(0.0, 5e-3))
        >>> rule.prepare(net, generator=torch.Generator().manual_seed(1))
        >>> out = rule.simulate(net, torch.zeros(5, 3, 4)).outputs
        >>> tuple(net.darts.alpha.shape), tuple(out.shape)
        ((2, 2), (5, 3, 2))

    References:
        Liu, Simonyan & Yang (2019), arXiv:1806.09055; Kim et al. (2022), arXiv:2201.10355.
    """

    name = "darts"
    supports = Support(neurons=frozenset({"lif", "alif"}), recurrent=True, dale=False)

    def __init__(self, *, taus: str | Sequence[float] = "0,0.005,0.02,0.05",
                 search_epochs: int = 5, arch_lr: float = 3e-3, keep: int = 1) -> None:
        if isinstance(taus, str):
            try:
                taus = tuple(float(t) for t in taus.split(","))
            except ValueError:
                raise ValueError(f"taus must be comma-separated numbers (s), got "
                                 f"{taus!r}") from None
        taus = tuple(taus)
        if (not taus or any(not isinstance(t, (int, float)) or not math.isfinite(t) or t < 0
                            for t in taus) or len(set(taus)) != len(taus) or 0 not in taus):
            raise ValueError(f"taus must be distinct finite time constants >= 0 s including 0 "
                             f"(the layer's own synapse), got {taus!r}")
        if isinstance(search_epochs, bool) or not isinstance(search_epochs, int) or \
                search_epochs < 1:
            raise ValueError(f"search_epochs must be an int >= 1, got {search_epochs!r}")
        if isinstance(keep, bool) or not isinstance(keep, int) or not 1 <= keep <= len(taus):
            raise ValueError(f"keep must be an int in 1 .. {len(taus)}, got {keep!r}")
        if not (isinstance(arch_lr, (int, float)) and math.isfinite(arch_lr) and arch_lr > 0):
            raise ValueError(f"arch_lr must be a finite number > 0, got {arch_lr!r}")
        self.taus = tuple(float(t) for t in taus)
        self.search_epochs, self.arch_lr, self.keep = search_epochs, float(arch_lr), keep
        self._seed = 0

    def prepare(self, net: Network, *, generator: torch.Generator | None = None) -> None:
        """Add the :class:`SearchSpace` to ``net`` as ``net.darts`` (kept if already there)."""
        self._seed = int(torch.randint(2**31 - 1, (1,), generator=generator))
        if not isinstance(getattr(net, "darts", None), SearchSpace):
            net.darts = SearchSpace(net, self.taus, generator=generator)
        elif net.darts.taus != self.taus:
            raise ValueError(f"darts: the network was searched over taus {net.darts.taus}, "
                             f"not {self.taus}")

    @staticmethod
    def _space(net: Network) -> SearchSpace:
        space = getattr(net, "darts", None)
        if not isinstance(space, SearchSpace):
            raise RuntimeError("darts: call prepare(net) before using the rule")
        return space

    def configure_optimizer(self, net: Network, lr: float) -> torch.optim.Optimizer:
        """Adam over the weights (group 0) and over ``alpha`` at ``arch_lr`` (group 1)."""
        space = self._space(net)
        weights = [p for p in net.parameters() if p is not space.alpha]
        return torch.optim.Adam([{"params": weights},
                                 {"params": [space.alpha], "lr": self.arch_lr,
                                  "betas": (0.5, 0.999)}], lr=lr)

    def simulate(self, net: Network, x: Tensor) -> Rollout:
        """The mixed (during the search) or the found network on ``x [T, B, n_in]``."""
        space = self._space(net)
        mix = space.op_weights()
        extra = list(space.weights)
        n_extra = sum(t > 0 for t in space.taus)
        index = {id(m): k for k, m in enumerate(_weighted_layers(net))}

        def projection(k: int, layer: Any, seq: Tensor) -> Tensor:
            row = index[id(layer)]
            current = None
            own = iter(extra[row * n_extra:(row + 1) * n_extra])
            for o, tau in enumerate(space.taus):
                w = None if tau == 0 else next(own)
                if float(mix[row, o].detach()) == 0.0:
                    continue
                if tau == 0:
                    term = layer.project(seq)
                else:
                    term = F.linear(input_filter(seq, tau, net.dt), w)
                term = mix[row, o] * term
                current = term if current is None else current + term
            assert current is not None  # narrowing: at least one operation has weight
            return current

        return unroll(net, x, projection=projection)

    def assign_grads(
        self, net: Network, rollout: Rollout, loss: Tensor, *, target: Tensor | None = None
    ) -> None:
        """Write ``d loss / d p`` (BPTT) into ``p.grad`` of every parameter of ``net``."""
        for p in net.parameters():
            p.grad = None
        loss.backward()

    def discretise(self, net: Network) -> Tensor:
        """Fix ``mask`` to the ``keep`` operations of largest ``alpha`` per layer; returns it."""
        space = self._space(net)
        top = space.alpha.detach().topk(self.keep, dim=-1).indices
        with torch.no_grad():
            space.mask.zero_().scatter_(1, top, 1.0)
        return space.mask

    def _step(self, net: Network, ctx: EpochContext, x: Tensor, y: Tensor,
              group: int) -> tuple[float, int, Tensor]:
        out = self.simulate(net, x).outputs
        loss = ctx.task.loss(out, y)
        value = float(loss.detach())
        if not math.isfinite(value):
            raise ValueError(f"darts: the loss became {value}; lower the learning rate (--lr)")
        ctx.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        keep = ctx.optimizer.param_groups[group]["params"]
        for g in ctx.optimizer.param_groups:  # only this group's parameters move
            for p in g["params"]:
                if not any(p is q for q in keep):
                    p.grad = None
        ctx.optimizer.step()
        net.constrain_()
        return value, int((ctx.task.predict(out.detach()) == y).sum()), out

    def fit_epoch(self, net: Network, ctx: EpochContext) -> tuple[float, float]:
        """One epoch of search (bi-level, halves of the training split) or of retraining.

        At the first retraining epoch the operations are fixed (:meth:`discretise`), every
        weight is drawn afresh from the rule's generator and the optimizer state is cleared.
        """
        space = self._space(net)
        ctx.optimizer.param_groups[1]["lr"] = self.arch_lr
        data, bs = ctx.data, ctx.batch_size
        total, correct, count = 0.0, 0, 0
        if ctx.epoch <= self.search_epochs:
            halves = torch.randperm(len(data), generator=torch.Generator().manual_seed(
                self._seed))
            train, arch = halves[: len(data) // 2], halves[len(data) // 2:]
            train = train[torch.randperm(len(train), generator=ctx.generator)]
            arch = arch[torch.randperm(len(arch), generator=ctx.generator)]
            for i in range(0, len(train), bs):
                index = train[i:i + bs]
                x = ctx.task.encode(data.inputs[index], generator=ctx.generator).to(ctx.device)
                y = data.labels[index].to(ctx.device)
                value, right, _ = self._step(net, ctx, x, y, group=0)
                total, correct, count = total + value * len(index), correct + right, \
                    count + len(index)
                a_index = arch[i:i + bs] if i < len(arch) else arch[:bs]
                xa = ctx.task.encode(data.inputs[a_index], generator=ctx.generator).to(ctx.device)
                self._step(net, ctx, xa, data.labels[a_index].to(ctx.device), group=1)
            return total / max(count, 1), correct / max(count, 1)
        if not bool(space.mask.any()):
            self.discretise(net)
            g = torch.Generator().manual_seed(self._seed + 1)
            for layer in _weighted_layers(net):
                layer.reset_parameters(generator=g)
            space.reset_weights(net, g)
            ctx.optimizer.state.clear()
        if ctx.schedule is not None:  # retraining restarts the run's schedule
            retrain, left = ctx.epoch - self.search_epochs, ctx.epochs - self.search_epochs
            ctx.optimizer.param_groups[0]["lr"] = ctx.schedule(retrain, left)
        order = torch.randperm(len(data), generator=ctx.generator)
        for i in range(0, len(data), bs):
            index = order[i:i + bs]
            x = ctx.task.encode(data.inputs[index], generator=ctx.generator).to(ctx.device)
            value, right, _ = self._step(net, ctx, x, data.labels[index].to(ctx.device), group=0)
            total, correct, count = total + value * len(index), correct + right, count + len(index)
        return total / count, correct / count

    def summary_metrics(self) -> dict[str, float]:
        """Nothing beyond the runner's (the choice is ``net.darts.mask`` in the checkpoint)."""
        return {}
