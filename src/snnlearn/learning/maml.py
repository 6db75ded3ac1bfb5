r"""Model-agnostic meta-learning (MAML) of a spiking network's initial weights, with a
surrogate-gradient (BPTT) inner loop, on few-shot episodes.

An episode (:mod:`snnlearn.tasks.episodes`) draws ``n_way`` classes in a random order (its
labels), ``k_shot`` support examples per class and ``n_query`` queries. Episode label ``j`` is
read from readout unit ``j`` (the first ``n_way`` units; the rest are unused). The inner loop
adapts a copy of the parameters :math:`\theta` to the support set by ``inner_steps`` steps of
gradient descent on the task's loss :math:`L`, with the network simulated by
:func:`~snnlearn.simulate.unroll` and differentiated by BPTT with surrogate spike derivatives:

.. math::

    \theta'_0 = \theta, \qquad
    \theta'_{k+1} = \theta'_k - \alpha \nabla_{\theta'} L_{support}(\theta'_k),

and the outer loop (the run's optimizer, Adam at the run's learning rate) descends the query loss
after adaptation, averaged over ``meta_batch`` episodes:

.. math::

    \nabla_\theta L_{query}(\theta'_K) = \prod_{k<K} (I - \alpha \nabla^2 L_{support}(\theta'_k))
        \, \nabla_{\theta'} L_{query}(\theta'_K)

(``first_order=False``: second-order MAML, Finn et al. 2017, differentiating through the inner
updates: the network is then simulated with the ``reference`` kernels, which record every step,
and dense synaptic products, so that the backward pass itself can be differentiated) or
:math:`\nabla_{\theta'} L_{query}(\theta'_K)` alone (``first_order=True``: first-order MAML,
the Hessian terms dropped; fused kernels).

Few-shot evaluation (:meth:`MAML.evaluate`, what ``snnlearn train`` reports as accuracy):
``n_eval_episodes`` episodes drawn entirely from the split scored, each adapted from
:math:`\theta` by ``inner_steps_eval`` inner steps on its support set and scored on its queries.
With ``held_out_classes = h > 0`` the last ``h`` classes of the task are never seen in training
(training episodes draw from the other classes) and evaluation episodes draw only from them:
the accuracy is then on unseen classes.

Exact and approximated: the inner and outer gradients are BPTT's (only each spike's derivative is
a surrogate); first-order MAML drops the second-derivative terms.

Memory: second order keeps the graphs of all ``inner_steps`` simulations of the support set and
one of the queries, per episode: O(K T N) activations (``K`` inner steps).

Supported: dense LIF/ALIF hidden layers (feed-forward or recurrent) and a readout with at least
``n_way`` units; no Dale's-law synapses (the inner loop does not project its steps).

References:
    Finn, C., Abbeel, P. & Levine, S. (2017). Model-agnostic meta-learning for fast adaptation of
    deep networks. ICML, PMLR 70:1126-1135. arXiv:1703.03400

    Stewart, K. M. & Neftci, E. O. (2022). Meta-learning spiking neural networks with surrogate
    gradient descent. Neuromorphic Computing and Engineering 2(4), 044002.
    doi:10.1088/2634-4386/ac8828
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from snnlearn.layers import Network
from snnlearn.learning.base import EpochContext, LearningRule, Rollout, Support
from snnlearn.simulate import unroll
from snnlearn.tasks.base import Task, TaskData
from snnlearn.tasks.episodes import sample_episodes

__all__ = ["MAML", "class_subset", "rotated_classes", "adapt"]

Params = dict[str, Tensor]


class _Unrolled(nn.Module):
    """``net``'s outputs as a module ``forward`` (for :func:`torch.func.functional_call`)."""

    def __init__(self, net: Network, backend: str | None) -> None:
        super().__init__()
        self.net, self.backend = net, backend

    def forward(self, x: Tensor) -> Tensor:
        if self.backend != "reference":
            return unroll(self.net, x, check=False).outputs
        return unroll(self.net, x, check=False, backend="reference",
                      projection=_dense_projection).outputs


def _dense_projection(k: int, layer: Any, x: Tensor) -> Tensor:
    """The plain product ``x W^T + b`` (the event-driven one has no second derivative)."""
    syn = layer.synapse
    return F.linear(x, syn.weight, syn.bias)


def class_subset(data: TaskData, first: int, stop: int) -> TaskData:
    """The examples of classes ``first .. stop - 1`` of ``data``, relabelled ``0 .. stop-first-1``.

    Example:
        >>> import torch
        >>> d = class_subset(TaskData(torch.zeros(6, 1), torch.arange(6) % 3), 1, 3)
        >>> d.labels.tolist()
        [0, 1, 0, 1]
    """
    keep = (data.labels >= first) & (data.labels < stop)
    return TaskData(data.inputs[keep], data.labels[keep] - first)


def rotated_classes(data: TaskData, shape: tuple[int, ...] | None) -> TaskData:
    """``data`` plus its images rotated by 90, 180 and 270 degrees, each rotation new classes.

    Class ``c`` rotated ``k`` quarter turns is class ``c + k C``. ``shape`` is the images'
    ``(channels, H, W)`` with ``H == W``; each raw input must hold ``channels * H * W`` values.

    Example:
        >>> import torch
        >>> d = rotated_classes(TaskData(torch.arange(4.0).view(1, 4), torch.tensor([0])),
        ...                     (1, 2, 2))
        >>> d.labels.tolist(), d.inputs[1].tolist()
        ([0, 1, 2, 3], [1.0, 3.0, 0.0, 2.0])
    """
    n = len(data)
    if shape is None or len(shape) != 3 or shape[1] != shape[2] or \
            data.inputs[0].numel() != shape[0] * shape[1] * shape[2]:
        raise ValueError(f"rotations need a task of square images (C, H, H) whose raw inputs "
                         f"hold C*H*H values; got image shape {shape} and raw inputs "
                         f"{tuple(data.inputs.shape)}")
    images = data.inputs.reshape(n, *shape)
    n_classes = int(data.labels.max()) + 1
    inputs = [torch.rot90(images, k, dims=(-2, -1)).reshape(data.inputs.shape)
              for k in range(4)]
    labels = [data.labels + k * n_classes for k in range(4)]
    return TaskData(torch.cat(inputs), torch.cat(labels))


def adapt(model: nn.Module, params: Params, loss_fn: Any, x: Tensor, labels: Tensor, *,
          steps: int, lr: float, create_graph: bool) -> Params:
    r"""``steps`` inner steps ``theta' <- theta' - lr * grad L(theta')`` on ``(x, labels)``.

    Args:
        model: the module whose ``forward(x)`` gives the outputs (parameters named as ``params``).
        params: the starting parameters ``theta``.
        loss_fn: ``loss_fn(outputs, labels) -> scalar``.
        x: the support inputs.
        labels: their labels.
        steps: number of steps ``K`` (>= 0).
        lr: inner learning rate ``alpha`` (> 0).
        create_graph: keep the graph of each step (second-order MAML).

    Returns:
        The adapted parameters ``theta'_K``.
    """
    names = list(params)
    for _ in range(steps):
        loss = loss_fn(torch.func.functional_call(model, params, (x,)), labels)
        grads = torch.autograd.grad(loss, [params[n] for n in names], create_graph=create_graph,
                                    allow_unused=True)
        params = {n: params[n] if g is None else params[n] - lr * g
                  for n, g in zip(names, grads, strict=True)}
    return params


class MAML(LearningRule):
    """MAML: meta-learn initial weights that a few BPTT steps adapt to a new few-shot episode.

    Args:
        n_way: classes per episode (>= 2; at most the readout's units and the classes of a
            split).
        k_shot: support examples per class (>= 1).
        n_query: queries per episode (>= 1).
        inner_steps: inner steps in training (>= 1).
        inner_steps_eval: inner steps in evaluation (>= 0; default ``inner_steps``).
        inner_lr: inner learning rate ``alpha`` (plain gradient descent, > 0).
        first_order: first-order MAML (drop the second-derivative terms).
        meta_batch: episodes per outer step (>= 1).
        episodes_per_epoch: training episodes per :meth:`fit_epoch` (>= 1).
        n_eval_episodes: episodes of :meth:`evaluate` (>= 1).
        held_out_classes: the last ``held_out_classes`` classes are kept out of training and
            are the only classes of evaluation episodes (0: every class everywhere).
        rotations: add the training classes rotated by 90, 180 and 270 degrees as new training
            classes (Santoro et al. 2016's augmentation; needs a task with square images).

    Raises:
        ValueError: a value out of range.

    Example:
        >>> import torch
        >>> from snnlearn.layers import build_network
        >>> net = build_network(4, [8], 3, dt=1e-3, generator=torch.Generator().manual_seed(0))
        >>> rule = MAML(n_way=2, k_shot=1, n_query=2, inner_steps=1, first_order=True)
        >>> rule.prepare(net)
        >>> tuple(rule.simulate(net, torch.zeros(5, 2, 4)).outputs.shape)
        (5, 2, 3)

    References:
        Finn, Abbeel & Levine (2017), arXiv:1703.03400; Stewart & Neftci (2022),
        doi:10.1088/2634-4386/ac8828.
    """

    name = "maml"
    supports = Support(neurons=frozenset({"lif", "alif"}), recurrent=True, dale=False)

    def __init__(self, *, n_way: int = 5, k_shot: int = 1, n_query: int = 10,
                 inner_steps: int = 5, inner_steps_eval: int | None = None,
                 inner_lr: float = 0.5, first_order: bool = False, meta_batch: int = 4,
                 episodes_per_epoch: int = 64, n_eval_episodes: int = 100,
                 held_out_classes: int = 0, rotations: bool = False) -> None:
        inner_steps_eval = inner_steps if inner_steps_eval is None else inner_steps_eval
        for name, value, low in (("n_way", n_way, 2), ("k_shot", k_shot, 1),
                                 ("n_query", n_query, 1), ("inner_steps", inner_steps, 1),
                                 ("inner_steps_eval", inner_steps_eval, 0),
                                 ("meta_batch", meta_batch, 1),
                                 ("episodes_per_epoch", episodes_per_epoch, 1),
                                 ("n_eval_episodes", n_eval_episodes, 1),
                                 ("held_out_classes", held_out_classes, 0)):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"{name} must be an int >= {low}, got {value!r}")
        if not (isinstance(inner_lr, (int, float)) and math.isfinite(inner_lr) and inner_lr > 0):
            raise ValueError(f"inner_lr must be a finite number > 0, got {inner_lr!r}")
        for name, flag in (("first_order", first_order), ("rotations", rotations)):
            if not isinstance(flag, bool):
                raise ValueError(f"{name} must be a bool, got {flag!r}")
        self.n_way, self.k_shot, self.n_query = n_way, k_shot, n_query
        self.inner_steps, self.inner_steps_eval = inner_steps, inner_steps_eval
        self.inner_lr, self.first_order = float(inner_lr), first_order
        self.meta_batch, self.episodes_per_epoch = meta_batch, episodes_per_epoch
        self.n_eval_episodes, self.held_out_classes = n_eval_episodes, held_out_classes
        self.rotations = rotations

    def prepare(self, net: Network, *, generator: torch.Generator | None = None) -> None:
        """Check that the readout has at least ``n_way`` units (no state to draw)."""
        if net.n_out < self.n_way:
            raise ValueError(f"maml reads episode label j from readout unit j, so it needs at "
                             f"least n_way={self.n_way} outputs; the network has {net.n_out}")

    def simulate(self, net: Network, x: Tensor) -> Rollout:
        """The meta-learned network itself, unadapted (``unroll``); used for activity figures."""
        return unroll(net, x)

    def assign_grads(
        self, net: Network, rollout: Rollout, loss: Tensor, *, target: Tensor | None = None
    ) -> None:
        """Not used: the rule trains by episodes in :meth:`fit_epoch`; raises ``RuntimeError``."""
        raise RuntimeError("maml trains by episodes (fit_epoch) and has no per-batch update; "
                           "train it with snnlearn.experiments.run or call fit_epoch")

    def _split(self, data: TaskData, *, training: bool, task: Task | None = None) -> TaskData:
        """The classes episodes of ``data`` draw from (``held_out_classes``, ``rotations``)."""
        n_classes = int(data.labels.max()) + 1
        held = self.held_out_classes
        if held >= n_classes:
            raise ValueError(f"held_out_classes={held} leaves no training class of the "
                             f"task's {n_classes}")
        if held > 0:
            first, stop = (0, n_classes - held) if training else (n_classes - held, n_classes)
            data = class_subset(data, first, stop)
        if training and self.rotations:
            data = rotated_classes(data, None if task is None else task.spatial_shape)
        return data

    def episode_loss(self, net: Network, task: Task, data: TaskData, *,
                     generator: torch.Generator, create_graph: bool, steps: int,
                     n_episodes: int) -> tuple[list[Tensor], int]:
        """Adapt to ``n_episodes`` episodes of ``data``; their query losses and correct answers.

        Returns:
            One query loss per episode (with the graph back to ``net``'s parameters) and the
            number of correctly answered queries.
        """
        ep = sample_episodes(data, n_episodes=n_episodes, n_way=self.n_way, k_shot=self.k_shot,
                             n_query=self.n_query, generator=generator)
        device = next(net.parameters()).device
        model = _Unrolled(net, "reference" if create_graph else None)
        theta = {"net." + k: v for k, v in net.named_parameters()}
        n_way = self.n_way

        def loss_fn(outputs: Tensor, labels: Tensor) -> Tensor:
            return task.loss(outputs[..., :n_way], labels)

        losses, correct = [], 0
        for b in range(n_episodes):
            support = task.encode(data.inputs[ep.support[b]], generator=generator).to(device)
            query = task.encode(data.inputs[ep.query[b]], generator=generator).to(device)
            s_labels, q_labels = ep.support_labels[b].to(device), ep.query_labels[b].to(device)
            adapted = adapt(model, theta, loss_fn, support, s_labels, steps=steps,
                            lr=self.inner_lr, create_graph=create_graph)
            if not create_graph:  # first order: the query gradient at theta' goes to theta
                adapted = {n: theta[n] + (p - theta[n]).detach() for n, p in adapted.items()}
            out = torch.func.functional_call(model, adapted, (query,))
            losses.append(loss_fn(out, q_labels))
            correct += int((task.predict(out.detach()[..., :n_way]) == q_labels).sum())
        return losses, correct

    def fit_epoch(self, net: Network, ctx: EpochContext) -> tuple[float, float]:
        """``episodes_per_epoch`` training episodes, ``meta_batch`` per step of ``ctx.optimizer``.

        Returns:
            Mean query loss and query accuracy after adaptation, over the epoch.
        """
        data = self._split(ctx.data, training=True, task=ctx.task)
        total, correct, count = 0.0, 0, 0
        for start in range(0, self.episodes_per_epoch, self.meta_batch):
            n = min(self.meta_batch, self.episodes_per_epoch - start)
            losses, right = self.episode_loss(net, ctx.task, data, generator=ctx.generator,
                                              create_graph=not self.first_order,
                                              steps=self.inner_steps, n_episodes=n)
            loss = torch.stack(losses).mean()
            value = float(loss.detach())
            if not math.isfinite(value):
                raise ValueError(f"maml: the query loss became {value}; lower the learning "
                                 "rate (--lr) or inner_lr")
            ctx.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            ctx.optimizer.step()
            total += value * n
            correct += right
            count += n
        return total / count, correct / (count * self.n_query)

    def evaluate(self, net: Network, task: Task, data: TaskData, *,
                 generator: torch.Generator) -> float:
        """Few-shot accuracy: ``n_eval_episodes`` episodes of ``data``, each adapted from the
        meta-learned weights by ``inner_steps_eval`` first-order inner steps."""
        return self.evaluate_episodes(net, task, data, n_episodes=self.n_eval_episodes,
                                      generator=generator)

    def evaluate_episodes(self, net: Network, task: Task, data: TaskData, *, n_episodes: int,
                          generator: torch.Generator) -> float:
        """Query accuracy (0..1) on ``n_episodes`` episodes of ``data`` after adaptation
        (``net`` itself is not changed)."""
        data = self._split(data, training=False)
        correct = 0
        with torch.enable_grad():
            for start in range(0, n_episodes, 16):
                _, right = self.episode_loss(net, task, data, generator=generator,
                                             create_graph=False, steps=self.inner_steps_eval,
                                             n_episodes=min(16, n_episodes - start))
                correct += right
        return correct / (n_episodes * self.n_query)
