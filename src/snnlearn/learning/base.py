"""The interface every learning rule implements.

A rule decides how the network is simulated (with autograd, without it, or inside one custom
autograd Function) and turns the result into a descent direction written to ``p.grad``; an ordinary
``torch.optim`` optimizer then applies it, so one runner serves every rule::

    rule.prepare(net, generator=g)        # once, after the network is built (fixed random
                                          # matrices such as feedback weights are drawn here)
    rollout = rule.simulate(net, spikes)
    loss = task.loss(rollout.outputs, target)
    rule.assign_grads(net, rollout, loss)
    optimizer.step()
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import torch
from torch import Tensor

from snnlearn.layers import Network
from snnlearn.simulate import Rollout

__all__ = ["LearningRule", "Rollout"]


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
    def assign_grads(self, net: Network, rollout: Rollout, loss: Tensor) -> None:
        """Write the rule's descent direction for ``loss`` into each parameter's ``.grad``."""
