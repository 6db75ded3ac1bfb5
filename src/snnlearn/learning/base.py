"""The interface every learning rule implements.

A rule decides how the network is simulated (with autograd, without it, or inside one custom
autograd Function) and turns the result into a descent direction written to ``p.grad``; an ordinary
``torch.optim`` optimizer then applies it, so one runner serves every rule::

    rule.prepare(net, generator=g)        # once, after the network is built (fixed random
                                          # matrices such as feedback weights are drawn here)
    rollout = rule.simulate(net, spikes)
    loss = task.loss(rollout.outputs, target)
    rule.assign_grads(net, rollout, loss, target=labels)
    optimizer.step()

Rules whose training is not a per-batch descent direction (unsupervised STDP with label
assignment, evolution strategies, ANN-to-SNN conversion) override :meth:`LearningRule.fit_epoch`
instead and run a whole epoch themselves; the runner then only evaluates, checkpoints and reports.
Rules with state of their own that changes during training (label assignments, an evolution
strategy's mean) save and restore it through :meth:`LearningRule.state_dict` and
:meth:`LearningRule.load_state_dict`, so that a resumed run ends exactly as an uninterrupted one.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from snnlearn.layers import Network
from snnlearn.simulate import Rollout

if TYPE_CHECKING:
    from snnlearn.tasks.base import Task, TaskData

__all__ = ["EpochContext", "LearningRule", "Rollout"]


class EpochContext:
    """What the runner hands to :meth:`LearningRule.fit_epoch` for one epoch.

    Attributes:
        task: the task (its ``encode``, ``loss`` and ``predict``).
        data: the training split.
        epoch: the epoch number (1-based).
        epochs: the run's number of epochs.
        batch_size: the configured minibatch size.
        generator: the epoch's generator (shuffling and encoding); the same on resume.
        optimizer: the run's optimizer over ``net.parameters()`` (a rule may ignore it).
        lr: this epoch's learning rate.
        device: where the network lives.
    """

    def __init__(self, *, task: Task, data: TaskData, epoch: int, epochs: int,
                 batch_size: int, generator: torch.Generator,
                 optimizer: torch.optim.Optimizer, lr: float, device: torch.device) -> None:
        self.task, self.data, self.epoch, self.epochs = task, data, epoch, epochs
        self.batch_size, self.generator, self.optimizer = batch_size, generator, optimizer
        self.lr, self.device = lr, device


class LearningRule(ABC):
    """Abstract learning rule; concrete rules are final (customise by composition).

    Attributes:
        name: the rule's id (as in the CLI).
    """

    name: str

    @abstractmethod
    def prepare(self, net: Network, *, generator: torch.Generator | None = None) -> None:
        """Set the rule up for ``net`` before training (draw fixed random matrices, ...).

        Called once after the network is built, with a generator derived from the run's seed, so
        a resumed run rebuilds exactly the same rule. Rules without such state do nothing.
        """

    @abstractmethod
    def simulate(self, net: Network, x: Tensor) -> Rollout:
        """Run the network on ``x`` ``[T, B, n_in]`` in the way this rule needs."""

    @abstractmethod
    def assign_grads(
        self, net: Network, rollout: Rollout, loss: Tensor, *, target: Tensor | None = None
    ) -> None:
        """Write the rule's descent direction for ``loss`` into each parameter's ``.grad``.

        ``target`` is the minibatch's labels (or targets) for rules whose update needs them
        directly (a reward, a local readout); gradient rules use ``loss`` alone.
        """

    def fit_epoch(self, net: Network, ctx: EpochContext) -> tuple[float, float] | None:
        """Train ``net`` for one epoch in the rule's own way and return (mean loss, accuracy).

        The default returns ``None``: the runner then runs its per-batch loop (``simulate``,
        ``task.loss``, ``assign_grads``, ``optimizer.step``). Rules that do not learn by
        per-batch descent directions override this; a returned loss may be ``nan`` where the
        rule has none.
        """
        return None

    def evaluate(self, net: Network, task: Task, data: TaskData, *,
                 generator: torch.Generator) -> float | None:
        """Accuracy (0..1) on ``data`` measured the rule's own way, or ``None`` (the default).

        The runner scores a split as ``task.predict(rule.simulate(net, x).outputs)`` against the
        labels; a rule whose accuracy means something else (few-shot episodes drawn from the
        split) returns it here instead. Activity figures are still counted by the runner.
        """
        return None

    def summary_metrics(self) -> dict[str, float]:
        """Extra figures for the run's ``summary.json`` (e.g. weight updates made); none by default.

        Keys must not clash with the runner's own summary keys.
        """
        return {}

    def state_dict(self) -> dict[str, Any]:
        """The rule's own training state (checkpointed every epoch); empty by default."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned (called on resume, after ``prepare``)."""
        if state:
            raise ValueError(
                f"rule {self.name!r} keeps no state but the checkpoint holds {sorted(state)}"
            )
