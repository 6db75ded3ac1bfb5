r"""Error-triggered learning: write a synapse only when its integrated error crosses a threshold.

Any per-batch rule (BPTT, SuperSpike, e-prop, ...) computes a descent direction ``g`` every
minibatch, and the run's optimizer turns it into a proposed step ``u = step(g)`` (for Adam,
``-lr m_hat / (sqrt(v_hat) + eps)``; the optimizer's moment estimates see every minibatch). Instead
of writing ``u`` into the weights, the wrapper integrates it per synapse and writes a synapse only
when the integral crosses a positive or a negative threshold, after which the integral restarts
from zero (Payvand et al. 2020, with the error of each synapse, ``delta_i P_j``, integrated):

.. math::

    A_{ij} &\leftarrow A_{ij} + u_{ij} \\
    \text{if } |A_{ij}| \ge \theta\, \mathrm{lr}_e:\quad w_{ij} &\leftarrow w_{ij} + A_{ij},
        \qquad A_{ij} \leftarrow 0

``lr_e`` is the epoch's learning rate, so ``theta`` counts optimizer steps: ``theta = 3`` writes a
synapse once its pending change is as large as three full steps in one direction. Nothing is lost,
only delayed: ``w + A`` is the weight the optimizer alone would have reached if the gradients
had been the same; they are not, since the gradients are evaluated at the written weights
(``w``), which lag by at most ``theta lr_e`` per synapse. Updates that oscillate in sign cancel
in ``A`` and are never written.

Weight updates. One weight update is one write of one synapse (one entry of a parameter tensor,
biases included). The wrapped rule writes every synapse at every minibatch (an optimizer step
changes every weight whose gradient or moment is non-zero), i.e. ``batches x synapses`` writes;
:meth:`ErrorTriggered.summary_metrics` reports both counts and the number of minibatches in which
at least one synapse was written.

What is approximated: the deferral above (the wrapped rule's own approximations are unchanged).
Payvand et al. quantise the local error of each neuron and write ternary increments; here the
threshold acts on each synapse's integrated, optimizer-preconditioned update, which any rule that
writes ``.grad`` provides, and the full integral is written.

Memory: one accumulator per parameter and one copy of the weights during a step (``2 x`` the
parameters), on top of the wrapped rule's.

References:
    Payvand, M., Fouda, M. E., Kurdahi, F., Eltawil, A. M. & Neftci, E. O. (2020). On-chip
    error-triggered learning of multi-layer memristive spiking neural networks. IEEE Journal on
    Emerging and Selected Topics in Circuits and Systems 10(4), 522-535.
    doi:10.1109/JETCAS.2020.3040248
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from snnlearn.layers import Network
from snnlearn.learning.base import EpochContext, LearningRule, Rollout

__all__ = ["ErrorTriggered"]

_COUNTS = ("batches", "update_steps", "weight_updates")


class ErrorTriggered(LearningRule):
    """Wrap a per-batch rule so that each synapse is written only when its error crosses ``±theta``.

    Training goes through the runner's minibatch loop: :meth:`simulate`, :meth:`assign_grads`
    and the other hooks are the wrapped rule's, and :meth:`optimizer_step` wraps its update.
    The support matrix is the wrapped rule's.

    Args:
        inner: the wrapped rule; it must train by per-batch descent directions (not override
            ``fit_epoch``).
        threshold: ``theta``, in units of the epoch's learning rate (> 0).

    Raises:
        ValueError: a rule that trains by whole epochs, or a non-positive ``threshold``.

    Example:
        >>> from snnlearn.learning import BPTT
        >>> rule = ErrorTriggered(BPTT(), threshold=5.0)
        >>> rule.inner.name, rule.threshold, rule.summary_metrics()["synapse_writes"]
        ('bptt', 5.0, 0.0)
    """

    name = "error_triggered"

    def __init__(self, inner: LearningRule, *, threshold: float = 3.0) -> None:
        if not isinstance(inner, LearningRule):
            raise ValueError(f"ErrorTriggered.inner must be a LearningRule, got "
                             f"{type(inner).__name__}")
        if type(inner).fit_epoch is not LearningRule.fit_epoch:
            raise ValueError(
                f"ErrorTriggered wraps rules that learn by per-batch descent directions; "
                f"{inner.name!r} trains whole epochs itself (fit_epoch); wrap e.g. 'bptt' or "
                "'superspike'"
            )
        if (isinstance(threshold, bool) or not isinstance(threshold, (int, float))
                or not (math.isfinite(threshold) and threshold > 0)):
            raise ValueError(f"ErrorTriggered.threshold must be a finite number > 0 (in "
                             f"learning-rate units), got {threshold!r}")
        self.inner, self.threshold = inner, float(threshold)
        self.supports = inner.supports
        self.accumulators: list[Tensor] = []
        self.counts = dict.fromkeys(_COUNTS, 0)
        self.synapses = 0

    def prepare(self, net: Network, *, generator: torch.Generator | None = None) -> None:
        """Prepare the wrapped rule and zero one accumulator per parameter of ``net``."""
        self.inner.prepare(net, generator=generator)
        self.accumulators = [torch.zeros_like(p) for p in net.parameters()]
        self.synapses = sum(p.numel() for p in net.parameters())
        self.counts = dict.fromkeys(_COUNTS, 0)

    def simulate(self, net: Network, x: Tensor) -> Rollout:
        """The wrapped rule's simulation."""
        return self.inner.simulate(net, x)

    def assign_grads(
        self, net: Network, rollout: Rollout, loss: Tensor, *, target: Tensor | None = None
    ) -> None:
        """The wrapped rule's descent direction (the triggering happens in
        :meth:`optimizer_step`)."""
        self.inner.assign_grads(net, rollout, loss, target=target)

    def configure_optimizer(self, net: Network, lr: float) -> torch.optim.Optimizer:
        """The wrapped rule's optimizer."""
        return self.inner.configure_optimizer(net, lr)

    def optimizer_step(self, net: Network, optimizer: torch.optim.Optimizer) -> None:
        """The wrapped rule's step, integrated per synapse and written only past ``theta``."""
        params = list(net.parameters())
        if len(self.accumulators) != len(params):
            raise ValueError("ErrorTriggered.prepare(net) must be called before training")
        self._triggered_step(net, params, optimizer, float(optimizer.param_groups[0]["lr"]))

    def minibatch_size(self, configured: int) -> int:
        """The wrapped rule's minibatch size."""
        return self.inner.minibatch_size(configured)

    def begin_epoch(self, net: Network, ctx: EpochContext) -> None:
        """The wrapped rule's hook."""
        self.inner.begin_epoch(net, ctx)

    def after_step(self, net: Network) -> None:
        """The wrapped rule's hook."""
        self.inner.after_step(net)

    def end_epoch(self, net: Network, ctx: EpochContext) -> None:
        """The wrapped rule's hook."""
        self.inner.end_epoch(net, ctx)

    def _triggered_step(self, net: Network, params: list[Tensor],
                        optimizer: torch.optim.Optimizer, lr: float) -> None:
        written = [p.detach().clone() for p in params]
        self.inner.optimizer_step(net, optimizer)
        writes = 0
        with torch.no_grad():
            for p, w, acc in zip(params, written, self.accumulators, strict=True):
                acc.add_(p - w)
                crossed = acc.abs() >= self.threshold * lr
                p.copy_(torch.where(crossed, w + acc, w))
                acc.masked_fill_(crossed, 0.0)
                writes += int(crossed.sum())
        self.counts["batches"] += 1
        self.counts["update_steps"] += int(writes > 0)
        self.counts["weight_updates"] += writes

    def summary_metrics(self) -> dict[str, float]:
        """Weight updates made, in the units of the runner's count for the wrapped rule.

        ``weight_updates`` is ``synapse_writes / synapses``: the number of dense optimizer steps
        (each writing every synapse, as the wrapped rule makes one per minibatch) that carry as
        many synapse writes. Also ``synapse_writes``, ``synapse_writes_unwrapped``
        (``batches x synapses``), ``update_steps`` (minibatches with at least one write) and
        ``update_steps_unwrapped`` (minibatches), all over the whole training.
        """
        c = self.counts
        return {"weight_updates": c["weight_updates"] / max(self.synapses, 1),
                "synapse_writes": float(c["weight_updates"]),
                "synapse_writes_unwrapped": float(c["batches"] * self.synapses),
                "update_steps": float(c["update_steps"]),
                "update_steps_unwrapped": float(c["batches"])}

    def state_dict(self) -> dict[str, Any]:
        """The accumulators, the counts and the wrapped rule's own state."""
        return {"accumulators": [a.detach().clone() for a in self.accumulators],
                "counts": dict(self.counts), "inner": self.inner.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict` (after :meth:`prepare`).

        The counts never go back: loading the state of an earlier epoch (the runner restores the
        best epoch's state before it writes the summary) keeps the larger counts, so the summary
        counts all the training done, as the runner does for unwrapped rules.
        """
        if set(state) != {"accumulators", "counts", "inner"}:
            raise ValueError("ErrorTriggered state must have keys ['accumulators', 'counts', "
                             f"'inner'], got {sorted(state)}")
        saved = state["accumulators"]
        if [tuple(a.shape) for a in saved] != [tuple(a.shape) for a in self.accumulators]:
            raise ValueError("ErrorTriggered state has accumulators of shapes "
                             f"{[tuple(a.shape) for a in saved]}, but the network's parameters "
                             f"are {[tuple(a.shape) for a in self.accumulators]}")
        for acc, a in zip(self.accumulators, saved, strict=True):
            acc.copy_(a)
        self.counts = {k: max(self.counts[k], int(state["counts"][k])) for k in _COUNTS}
        self.inner.load_state_dict(state["inner"])
