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

The runner's epoch loop is the only one. A rule adapts it through a few hooks:
:meth:`LearningRule.configure_optimizer` (the optimizer that applies ``.grad``; Adam by default),
:meth:`LearningRule.optimizer_step` (wrapped, e.g. by error-triggered updates),
:meth:`LearningRule.after_step` (projections, normalisation, homeostasis after each update),
:meth:`LearningRule.begin_epoch` and :meth:`LearningRule.end_epoch` (e.g. label assignment),
:meth:`LearningRule.minibatch_size` (presentations per update, e.g. STDP's own).
Only methods that are not minibatch training at all (ANN-to-SNN conversion, episodic
meta-learning) override :meth:`LearningRule.fit_epoch`. Each rule declares the networks it can
train in ``supports`` (:class:`Support`); :func:`check_support` refuses the rest with one line
before training.
Rules with state of their own that changes during training (label assignments, an evolution
strategy's mean) save and restore it through :meth:`LearningRule.state_dict` and
:meth:`LearningRule.load_state_dict`, so that a resumed run ends exactly as an uninterrupted one.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from snnlearn.layers import Network, Readout, SpikingLayer, TorchModule
from snnlearn.layers.spiking import neuron_id
from snnlearn.simulate import Rollout

if TYPE_CHECKING:
    from snnlearn.tasks.base import Task, TaskData

__all__ = ["EpochContext", "LearningRule", "Rollout", "Support", "check_support", "support_matrix"]


@dataclass(frozen=True)
class Support:
    """What networks a rule can train (its row of the support matrix).

    Attributes:
        synapses: synapse kinds of spiking layers (``dense``, ``conv1d``, ``conv2d``,
            ``delayed``).
        neurons: hidden neuron models (``lif``, ``alif``, ``izhikevich``, ``hh``).
        recurrent: recurrent spiking layers.
        graded: graded spikes.
        dale: Dale's-law signed synapses.
        transforms: stateless layers between spiking layers (``pool``, ``flatten``,
            ``dropout``, ``norm``, ``torch`` for any torch module).
        spiking_output: a network ending in a spiking layer instead of a readout.
        max_hidden: the most spiking layers (``None``: any number).
    """

    synapses: frozenset[str] = frozenset({"dense"})
    neurons: frozenset[str] = frozenset({"lif"})
    recurrent: bool = False
    graded: bool = False
    dale: bool = True
    transforms: frozenset[str] = frozenset()
    spiking_output: bool = False
    max_hidden: int | None = None

    def row(self) -> dict[str, str]:
        """The matrix row as text cells."""
        yes = {True: "yes", False: "no"}
        return {"synapses": ",".join(sorted(self.synapses)),
                "neurons": ",".join(sorted(self.neurons)), "recurrent": yes[self.recurrent],
                "graded": yes[self.graded], "dale": yes[self.dale],
                "transforms": ",".join(sorted(self.transforms)) or "-",
                "spiking output": yes[self.spiking_output],
                "layers": "any" if self.max_hidden is None else f"<= {self.max_hidden}"}


ALL_SYNAPSES = frozenset({"dense", "conv1d", "conv2d", "delayed"})
ALL_TRANSFORMS = frozenset({"pool", "flatten", "dropout", "norm", "torch"})
_TRANSFORM_IDS = {"Pool": "pool", "Flatten": "flatten", "Dropout": "dropout", "Norm": "norm",
                  "TorchModule": "torch"}


def check_support(rule: str, support: Support, net: Network) -> None:
    """Raise a one-line ``ValueError`` if ``net`` has something the rule cannot train.

    Example:
        >>> from snnlearn.layers import build_network
        >>> net = build_network(3, [4], 2, dt=1e-3, recurrent=True)
        >>> try:
        ...     check_support("x", Support(), net)
        ... except ValueError as err:
        ...     print(str(err)[:56])
        rule 'x' cannot train recurrent spiking layers (layer 0)
    """
    summary = (f"synapses {','.join(sorted(support.synapses))}, neurons "
               f"{','.join(sorted(support.neurons))}, "
               f"{'recurrence' if support.recurrent else 'no recurrence'}")

    def refuse(what: str) -> None:
        raise ValueError(f"rule {rule!r} cannot train {what}; its support matrix "
                         f"(snnlearn list): {summary}")

    hidden = 0
    for k, layer in enumerate(net.layers):
        if isinstance(layer, SpikingLayer):
            hidden += 1
            kind = layer.synapse.kind
            if kind not in support.synapses:
                refuse(f"{kind} synapses (layer {k})")
            model = neuron_id(layer.neuron)
            if model not in support.neurons:
                refuse(f"{model} neurons (layer {k})")
            if layer.recurrent and not support.recurrent:
                refuse(f"recurrent spiking layers (layer {k})")
            if layer.graded and not support.graded:
                refuse(f"graded spikes (layer {k})")
            if layer.synapse.dale_sign is not None and not support.dale:
                refuse(f"Dale's-law synapses (layer {k})")
        elif not isinstance(layer, Readout):
            name = _TRANSFORM_IDS.get(type(layer).__name__, type(layer).__name__)
            if isinstance(layer, TorchModule):
                name = "torch"
            if name not in support.transforms:
                refuse(f"a {name} layer (layer {k})")
    if not isinstance(net.layers[-1], Readout):
        if not support.spiking_output:
            refuse("a network ending in a spiking layer (it needs a Readout)")
        hidden -= 1
    if support.max_hidden is not None and hidden > support.max_hidden:
        refuse(f"{hidden} hidden spiking layers (at most {support.max_hidden})")


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
        schedule: ``schedule(e, n)``, the learning rate the run's schedule gives epoch ``e`` of
            ``n`` (for a rule that restarts it, e.g. to retrain); ``None``: ``lr`` throughout.
    """

    def __init__(self, *, task: Task, data: TaskData, epoch: int, epochs: int,
                 batch_size: int, generator: torch.Generator,
                 optimizer: torch.optim.Optimizer, lr: float, device: torch.device,
                 schedule: Callable[[int, int], float] | None = None) -> None:
        self.task, self.data, self.epoch, self.epochs = task, data, epoch, epochs
        self.batch_size, self.generator, self.optimizer = batch_size, generator, optimizer
        self.lr, self.device, self.schedule = lr, device, schedule


class LearningRule(ABC):
    """Abstract learning rule; concrete rules are final (customise by composition).

    Attributes:
        name: the rule's id (as in the CLI).
    """

    name: str
    supports: Support = Support()

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

    def configure_optimizer(self, net: Network, lr: float) -> torch.optim.Optimizer:
        """The optimizer that applies the rule's ``.grad`` (Adam over every parameter)."""
        return torch.optim.Adam(net.parameters(), lr=lr)

    def optimizer_step(self, net: Network, optimizer: torch.optim.Optimizer) -> None:
        """Apply the minibatch's ``.grad`` (``optimizer.step()``); a rule may wrap it."""
        optimizer.step()

    def minibatch_size(self, configured: int) -> int:
        """Samples per update in the runner's loop: the run's ``batch_size`` by default."""
        return configured

    def begin_epoch(self, net: Network, ctx: EpochContext) -> None:  # noqa: B027 (a hook)
        """Called before the epoch's first minibatch (a rule may keep ``ctx`` for the epoch)."""

    def after_step(self, net: Network) -> None:  # noqa: B027 (a hook: empty by default)
        """Called after every update (after the network's constraints are projected)."""

    def end_epoch(self, net: Network, ctx: EpochContext) -> None:  # noqa: B027 (a hook)
        """Called after the epoch's last minibatch, before validation (e.g. label assignment)."""

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


def support_matrix(rules: dict[str, Support]) -> str:
    """The support matrix of ``rules`` (id -> :class:`Support`) as a markdown table.

    Example:
        >>> print(support_matrix({"x": Support()}).splitlines()[2])
        | x | dense | lif | no | no | yes | - | no | any |
    """
    columns = list(Support().row())
    lines = ["| rule | " + " | ".join(columns) + " |", "|---" * (len(columns) + 1) + "|"]
    for rule_id, support in rules.items():
        row = support.row()
        lines.append(f"| {rule_id} | " + " | ".join(row[c] for c in columns) + " |")
    return "\n".join(lines)
