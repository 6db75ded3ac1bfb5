r"""Plasticity-aware training: differentiable Hebbian plasticity and a meta-learned local rule.

The network learns *within* an episode through plastic synapses and *across* episodes by
backpropagation through time (BPTT, surrogate gradients) through the whole episode, plasticity
included. The spiking layers of ``net`` (trained, not plastic) turn each presented example ``k``
into hidden spikes :math:`z^{(k)}_t` (``t = 1 .. T``, the task's ``n_steps``); they drive
``n_way`` LIF output neurons (the LIF model of ``net``'s last hidden layer) through plastic
synapses whose trace :math:`H` starts at 0 in every episode and changes once per presentation:

.. math::

    I^{(k)}_t = (W + \alpha \odot H_{k-1})\, z^{(k)}_t + c\, \ell_k, \qquad
    (z^{out,(k)}_t, v'^{(k)}_t) = \mathrm{LIF}(I^{(k)}_t),

.. math::

    H_k = (1 - \lambda) H_{k-1} + \eta \left(A\, y_k x_k^\top + B\, \mathbf 1 x_k^\top
          + C\, y_k \mathbf 1^\top + D\right), \qquad
    x_k = \sum_t z^{(k)}_t, \quad y_k = \sum_t z^{out,(k)}_t

(:func:`plasticity_step`): the pre- and postsynaptic activities are the spike counts of the
presentation (spikes filtered by a box of length ``T``), :math:`v'` is the membrane before the
spike and reset, and :math:`\ell_k` is the one-hot episode label of a support example (zero for a
query), a teacher current of strength :math:`c` that makes the labelled output neuron fire.
Variants (``plasticity``):

- ``"miconi"`` (Miconi et al. 2018, eq. 1-2, with one plasticity step per presentation as in
  their Omniglot task): decaying Hebbian trace, :math:`\lambda = \eta`,
  :math:`(A, B, C, D) = (1, 0, 0, 0)`; learned: :math:`W`, the per-synapse plasticity
  coefficients :math:`\alpha` and :math:`\eta = \sigma(\theta_\eta)` (a logistic
  reparametrisation that keeps :math:`0 < \eta < 1`).
- ``"abcd"``: a parameterised local rule :math:`\Delta w = \eta (A\,pre\,post + B\,pre + C\,post
  + D)` (Bengio et al. 1991) with no decay (:math:`\lambda = 0`), :math:`\alpha \equiv 1` and a
  fixed step ``eta``; learned: :math:`W` and the rule's four scalars :math:`A, B, C, D`, shared by
  all synapses.
- ``"none"``: the control, :math:`\alpha \equiv 0` (no plasticity), the same network otherwise.

The answer to a query is :math:`\arg\max_c \max_t v'_{t,c}`, trained with
:func:`~snnlearn.losses.max_membrane_cross_entropy`. Every example is presented from rest (neuron
states are reset between examples, as after a long pause), so :math:`H` is the *only* memory that
crosses examples and the control is at chance by construction. Queries are answered in parallel,
each from the state after the support set (:math:`H_S`).

Episodes (:mod:`snnlearn.tasks.episodes`) draw ``n_way`` classes in a random order (the episode
labels), ``k_shot`` support examples per class and ``n_query`` queries. :meth:`MetaPlasticity.
fit_epoch` trains on episodes from the training split; the runner scores a split with
:meth:`MetaPlasticity.evaluate`: the query accuracy on 100 episodes drawn entirely from that split
(support and queries), which is what ``snnlearn train`` reports as test accuracy.

Exact and approximated: BPTT through the episode; only each spike's derivative is a surrogate
(exact with ``Triangle`` and no membrane in its support; tested against finite differences).

Memory: ``S + 1`` traces and effective weights ``[B, n_way, N_hidden]`` (``S = n_way k_shot``)
and the hidden layers' O(T * B * (S + n_query) * N) activations, kept for the backward pass.

Supported: feed-forward or recurrent LIF/ALIF hidden layers (the outputs use the LIF part of the
last one); ``net``'s readout is not used.

References:
    Miconi, T., Clune, J. & Stanley, K. O. (2018). Differentiable plasticity: training plastic
    neural networks with backpropagation. ICML. arXiv:1804.02464

    Bengio, Y., Bengio, S. & Cloutier, J. (1991). Learning a synaptic learning rule. IJCNN.
    doi:10.1109/IJCNN.1991.155621
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Literal, NamedTuple, get_args

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from snnlearn.kernels.lif_scan import lif_sequence
from snnlearn.layers import Network
from snnlearn.learning.base import EpochContext, LearningRule, Rollout, Support
from snnlearn.losses import max_membrane_cross_entropy
from snnlearn.neurons import LIFParams
from snnlearn.neurons.lif import lif_fire, lif_integrate
from snnlearn.simulate import unroll
from snnlearn.tasks.base import Task, TaskData
from snnlearn.tasks.episodes import sample_episodes

__all__ = ["MetaPlasticity", "Plasticity", "PlasticSynapses", "EpisodeOutputs", "Encoder",
           "plasticity_step"]

Plasticity = Literal["miconi", "abcd", "none"]
Encoder = Callable[[Tensor, "torch.Generator | None"], Tensor]
"""``encode(inputs [M, ...], generator) -> spikes [T, M, n_in]``."""

_EVAL_EPISODES = 256  # episodes simulated at once by evaluate_episodes


class EpisodeOutputs(NamedTuple):
    """Query outputs of a batch of episodes.

    Attributes:
        outputs: output membranes ``v'`` during the queries ``[T, B * n_query, n_way]``.
        labels: the queries' episode labels ``[B * n_query]`` (int64).
    """

    outputs: Tensor
    labels: Tensor


def plasticity_step(
    trace: Tensor, pre: Tensor, post: Tensor, *, eta: Tensor | float, decay: Tensor | float,
    coefficients: Tensor,
) -> Tensor:
    r"""One plasticity step ``H_k = (1 - decay) H + eta (A y x^T + B 1 x^T + C y 1^T + D)``.

    Args:
        trace: ``H_{k-1}`` (dimensionless).
        pre: presynaptic activity ``x`` (spike counts of the presentation).
        post: postsynaptic activity ``y`` (spike counts of the presentation).
        eta: learning rate ``eta`` per step.
        decay: ``lambda`` (``eta`` for Miconi's decaying trace, 0 for an accumulating one).
        coefficients: ``(A, B, C, D)``.

    Shapes:
        ``trace [B, N_post, N_pre]``, ``pre [B, N_pre]``, ``post [B, N_post]``,
        ``coefficients [4]`` -> ``[B, N_post, N_pre]``.

    Returns:
        ``H_k``.

    Example:
        >>> import torch
        >>> h = plasticity_step(torch.ones(1, 1, 2), torch.tensor([[1.0, 2.0]]),
        ...                     torch.tensor([[3.0]]), eta=0.5, decay=0.5,
        ...                     coefficients=torch.tensor([1.0, 0.0, 0.0, 0.0]))
        >>> h  # 0.5 * 1 + 0.5 * 3 * (1, 2)
        tensor([[[2.0000, 3.5000]]])
    """
    a, b, c, d = coefficients.unbind()
    hebb = a * post.unsqueeze(-1) * pre.unsqueeze(-2) + b * pre.unsqueeze(-2)
    return (1.0 - decay) * trace + eta * (hebb + c * post.unsqueeze(-1) + d)


class PlasticSynapses(nn.Module):
    """The plastic output synapses: fixed weights ``W`` plus what the variant learns, and the
    support set that :meth:`MetaPlasticity.simulate` presents.

    :meth:`MetaPlasticity.prepare` adds one to the network as ``net.plastic``, so that it is part
    of the model (its parameters train with the network's and are saved in its ``state_dict``).

    Args:
        n_in: presynaptic (hidden) neurons.
        n_out: output neurons (``n_way``).
        plasticity: ``"miconi"``, ``"abcd"`` or ``"none"`` (see the module docstring).
        weight_scale: ``W`` is uniform with standard deviation ``weight_scale / sqrt(n_in)``.
        alpha: initial plasticity coefficient ``alpha`` of every synapse (``"miconi"``).
        eta: initial ``eta`` (``"miconi"``, learned) or the fixed step ``eta`` (``"abcd"``).
        generator: random generator of ``W`` and of the support-set ``seed``.

    Attributes:
        support: encoded support examples ``[T, S, n_in]`` (buffer; empty until the first epoch
            has set it, :meth:`set_support`).
        support_classes: their classes ``[S]`` (int64 buffer).
        seed: seed of the episode permutations of :meth:`MetaPlasticity.simulate` (int64
            buffer).

    Example:
        >>> sorted(n for n, _ in PlasticSynapses(4, 2, "miconi").named_parameters())
        ['alpha', 'eta_logit', 'weight']
    """

    def __init__(self, n_in: int, n_out: int, plasticity: Plasticity, *, weight_scale: float = 1.0,
                 alpha: float = 1.0, eta: float = 0.1,
                 generator: torch.Generator | None = None) -> None:
        super().__init__()
        bound = weight_scale * math.sqrt(3.0 / n_in)
        self.plasticity: Plasticity = plasticity
        self.weight = nn.Parameter(torch.empty(n_out, n_in).uniform_(-bound, bound,
                                                                     generator=generator))
        self.eta = float(eta)
        if plasticity == "miconi":
            self.alpha = nn.Parameter(torch.full((n_out, n_in), float(alpha)))
            self.eta_logit = nn.Parameter(torch.tensor(math.log(eta / (1.0 - eta))))
        elif plasticity == "abcd":
            self.coefficients = nn.Parameter(torch.tensor([1.0, 0.0, 0.0, 0.0]))
        self.register_buffer("support", torch.zeros(0, 0, 0))
        self.register_buffer("support_classes", torch.zeros(0, dtype=torch.int64))
        self.register_buffer("seed", torch.randint(2**31 - 1, (), generator=generator))

    def rule(self) -> tuple[Tensor | float, Tensor | float, Tensor | float, Tensor]:
        """``(alpha, eta, decay, (A, B, C, D))`` of the variant (``alpha = 0`` for ``"none"``)."""
        w = self.weight
        if self.plasticity == "miconi":
            eta = torch.sigmoid(self.eta_logit)
            return self.alpha, eta, eta, torch.tensor([1.0, 0.0, 0.0, 0.0]).to(w)
        if self.plasticity == "abcd":
            return 1.0, self.eta, 0.0, self.coefficients
        return 0.0, 0.0, 0.0, w.new_zeros(4)

    def set_support(self, spikes: Tensor, classes: Tensor) -> None:
        """Replace the support set: encoded examples ``[T, S, n_in]`` and their classes ``[S]``."""
        self.support = spikes.detach().to(self.weight.device, self.weight.dtype)
        self.support_classes = classes.to(self.weight.device, torch.int64)

    def _load_from_state_dict(self, state_dict: Any, prefix: str, *args: Any) -> None:
        # the support set's shape is the task's ([T, S, n_in]): take it from the saved one
        for name in ("support", "support_classes"):
            saved = state_dict.get(prefix + name)
            if isinstance(saved, Tensor):
                setattr(self, name, torch.empty_like(saved, device=self.weight.device))
        super()._load_from_state_dict(state_dict, prefix, *args)


def _effective_weight(syn: PlasticSynapses, trace: Tensor, alpha: Tensor | float) -> Tensor:
    """``W + alpha * H`` ``[B, N, N_h]`` (``W`` alone, broadcast, without plasticity)."""
    if syn.plasticity == "none":
        return syn.weight.expand(trace.shape[0], -1, -1)
    return syn.weight + alpha * trace


def _learn_example(syn: PlasticSynapses, neuron: LIFParams, z: Tensor, teacher: Tensor,
                   trace: Tensor, dt: float) -> Tensor:
    """Present a support example (hidden spikes ``z [T, B, N_h]``) from rest; return ``H_k``."""
    alpha, eta, decay, coefficients = syn.rule()
    current = torch.einsum("tbh,bnh->tbn", z, _effective_weight(syn, trace, alpha)) + teacher
    state = neuron.initial_state(tuple(current.shape[1:]), device=z.device, dtype=z.dtype)
    z_out, _ = lif_sequence(current, state, neuron, dt)
    return plasticity_step(trace, z.sum(0), z_out.sum(0), eta=eta, decay=decay,
                           coefficients=coefficients)


def _answer_query(syn: PlasticSynapses, neuron: LIFParams, z: Tensor, trace: Tensor,
                  dt: float) -> Tensor:
    """Present a query (hidden spikes ``z [T, B, N_h]``) from rest; return ``v' [T, B, N]``."""
    current = torch.einsum("tbh,bnh->tbn", z, _effective_weight(syn, trace, syn.rule()[0]))
    state = neuron.initial_state(tuple(current.shape[1:]), device=z.device, dtype=z.dtype)
    membranes = []
    for current_t in current:
        state = lif_integrate(current_t, state, neuron, dt)
        membranes.append(state.v)
        _, state = lif_fire(state, neuron, dt)
    return torch.stack(membranes)


class MetaPlasticity(LearningRule):
    """Few-shot learning by plastic synapses, trained by BPTT through whole episodes.

    Args:
        plasticity: ``"miconi"`` (differentiable Hebbian plasticity, learned ``alpha`` and
            ``eta``), ``"abcd"`` (meta-learned rule ``eta (A pre post + B pre + C post + D)``)
            or ``"none"`` (the control: ``alpha = 0``).
        n_way: classes per episode (>= 2); :meth:`simulate` needs it equal to the task's classes.
        k_shot: support examples per class (>= 1).
        n_query: queries per training or evaluation episode (>= 1).
        episodes_per_epoch: training episodes per :meth:`fit_epoch` (>= 1), in minibatches of
            the run's ``batch_size``.
        teacher: teacher current ``c`` into the labelled output neuron during a support
            example (dimensionless, >= 0).
        alpha: initial ``alpha`` (``"miconi"``).
        eta: initial ``eta`` (``"miconi"``, in ``(0, 1)``) or the fixed step (``"abcd"``, > 0).
        weight_scale: initial ``W`` has standard deviation ``weight_scale / sqrt(N_hidden)``.

    Raises:
        ValueError: an unknown ``plasticity`` (the message lists the choices) or a value out of
            range.

    Example:
        >>> import torch
        >>> from snnlearn.layers import build_network
        >>> from snnlearn.tasks.base import TaskData
        >>> net = build_network(6, [8], 2, dt=1e-3, generator=torch.Generator().manual_seed(0))
        >>> rule = MetaPlasticity(n_way=2, k_shot=1, n_query=3)
        >>> rule.prepare(net, generator=torch.Generator().manual_seed(1))
        >>> data = TaskData(torch.rand(12, 6), torch.arange(12) % 3)
        >>> encode = lambda u, g: (torch.rand(5, *u.shape, generator=g) < u).float()
        >>> out = rule.episode_outputs(net, data, encode, n_episodes=4,
        ...                            generator=torch.Generator().manual_seed(2))
        >>> tuple(out.outputs.shape), tuple(out.labels.shape)
        ((5, 12, 2), (12,))

    References:
        Miconi, Clune & Stanley (2018), arXiv:1804.02464.
    """

    name = "meta_plasticity"
    supports = Support()

    def __init__(self, *, plasticity: Plasticity = "miconi", n_way: int = 10, k_shot: int = 1,
                 n_query: int = 10, episodes_per_epoch: int = 256, teacher: float = 3.0,
                 alpha: float = 1.0, eta: float = 0.1, weight_scale: float = 1.0) -> None:
        if plasticity not in get_args(Plasticity):
            raise ValueError(f"plasticity must be one of {list(get_args(Plasticity))}, got "
                             f"{plasticity!r}")
        for name, value, low in (("n_way", n_way, 2), ("k_shot", k_shot, 1),
                                 ("n_query", n_query, 1),
                                 ("episodes_per_epoch", episodes_per_epoch, 1)):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"{name} must be an int >= {low}, got {value!r}")
        for name, value, low in (("weight_scale", weight_scale, 1e-300), ("teacher", teacher, 0.0),
                                 ("alpha", alpha, -math.inf)):
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= low):
                raise ValueError(f"{name} must be a finite number >= {low:g}, got {value!r}")
        high = 1.0 if plasticity == "miconi" else math.inf
        if not (isinstance(eta, (int, float)) and 0 < eta < high):
            raise ValueError(f"eta must be a number in (0, {high}) for plasticity="
                             f"{plasticity!r}, got {eta!r}")
        self.plasticity: Plasticity = plasticity
        self.n_way, self.k_shot, self.n_query = n_way, k_shot, n_query
        self.episodes_per_epoch = episodes_per_epoch
        self.teacher, self.alpha, self.eta = float(teacher), float(alpha), float(eta)
        self.weight_scale = float(weight_scale)
        self.synapses: PlasticSynapses | None = None

    def prepare(self, net: Network, *, generator: torch.Generator | None = None) -> None:
        """Give ``net`` its plastic synapses ``net.plastic`` (``W`` drawn from ``generator``).

        A network that already has plastic synapses of this variant and shape (one reloaded
        from its run folder) keeps them.
        """
        layers = net.spiking_layers
        if not layers:
            raise ValueError("meta_plasticity needs a network with at least one spiking hidden "
                             "layer (build_network(n_in, [N], n_out, ...)), got none")
        have = getattr(net, "plastic", None)
        shape = (self.n_way, layers[-1].n_out)
        if (isinstance(have, PlasticSynapses) and have.plasticity == self.plasticity
                and tuple(have.weight.shape) == shape):
            self.synapses = have
            return
        p = self._neuron(net)  # the scale of build_network: gain 1 means one spike's charge
        synapse = 1.0 if p.tau_syn is None else 1.0 - math.exp(-net.dt / p.tau_syn)
        scale = self.weight_scale * synapse / ((1.0 - math.exp(-net.dt / p.tau_mem)) * abs(p.r))
        self.synapses = PlasticSynapses(
            layers[-1].n_out, self.n_way, self.plasticity, weight_scale=scale, alpha=self.alpha,
            eta=self.eta, generator=generator).to(layers[0].weight.device)
        net.add_module("plastic", self.synapses)

    def configure_optimizer(self, net: Network, lr: float) -> torch.optim.Optimizer:
        """Adam over the parameters of ``net``'s spiking layers and of its plastic synapses."""
        params = [q for layer in net.spiking_layers for q in layer.parameters()]
        return torch.optim.Adam(params + list(self._synapses(net).parameters()), lr=lr)

    @staticmethod
    def _neuron(net: Network) -> LIFParams:
        neuron = net.spiking_layers[-1].neuron
        return getattr(neuron, "lif", neuron)

    @staticmethod
    def _synapses(net: Network) -> PlasticSynapses:
        syn = getattr(net, "plastic", None)
        if not isinstance(syn, PlasticSynapses):
            raise RuntimeError("meta_plasticity: the network has no plastic synapses; call "
                               "rule.prepare(net) before using the rule")
        return syn

    def run_episodes(self, net: Network, support: Tensor, support_labels: Tensor,
                     query: Tensor) -> Rollout:
        """Simulate episodes: the support examples in order, then each query from that state.

        Args:
            net: the network (its spiking layers compute the hidden spikes).
            support: encoded support examples ``[T, B, S, n_in]``, in presentation order.
            support_labels: their episode labels ``[B, S]`` (int64 in ``0 .. n_way - 1``).
            query: encoded queries ``[T, B, Q, n_in]``.

        Shapes:
            ``outputs [T, B * Q, n_way]`` (episode-major: query ``q`` of episode ``b`` is column
            ``b * Q + q``); ``spikes``: the last hidden layer's spikes ``[T, B * (S + Q), N_h]``.

        Returns:
            A :class:`~snnlearn.simulate.Rollout` whose ``outputs`` are the output membranes
            ``v'`` during the queries, with ``extras["trace"]`` the trace ``H_S`` after the
            support set ``[B, n_way, N_h]``.
        """
        syn = self._synapses(net)
        n_steps, batch, n_support, n_in = support.shape
        n_query = query.shape[2]
        features = Network(net.spiking_layers, dt=net.dt)
        seq = torch.cat([support, query], 2).reshape(n_steps, -1, n_in)
        hidden = unroll(features, seq).spikes[-1]
        z = hidden.view(n_steps, batch, n_support + n_query, -1)
        teacher = self.teacher * F.one_hot(support_labels, self.n_way).to(z.dtype)
        neuron, dt = self._neuron(net), net.dt
        trace = z.new_zeros(batch, self.n_way, z.shape[-1])
        for s in range(n_support if self.plasticity != "none" else 0):
            trace = _learn_example(syn, neuron, z[:, :, s], teacher[:, s], trace, dt)
        z_query = z[:, :, n_support:].reshape(n_steps, batch * n_query, -1)
        v = _answer_query(syn, neuron, z_query, trace.repeat_interleave(n_query, 0), dt)
        return Rollout(v, (hidden,), (), (), {"trace": trace})

    def episode_outputs(self, net: Network, data: TaskData, encode: Encoder, *,
                        n_episodes: int, generator: torch.Generator | None = None
                        ) -> EpisodeOutputs:
        """Draw ``n_episodes`` episodes from ``data``, encode them and simulate them.

        Args:
            net: the network.
            data: the split the episodes are drawn from.
            encode: ``encode(inputs [M, ...], generator) -> spikes [T, M, n_in]`` (e.g.
                ``lambda u, g: task.encode(u, generator=g)``).
            n_episodes: number of episodes ``B``.
            generator: random generator of the draw and of the encoding.

        Returns:
            The query membranes ``[T, B * n_query, n_way]`` and episode labels ``[B * n_query]``.
        """
        ep = sample_episodes(data, n_episodes=n_episodes, n_way=self.n_way, k_shot=self.k_shot,
                             n_query=self.n_query, generator=generator)
        device = self._synapses(net).weight.device
        x = encode(data.inputs[torch.cat([ep.support, ep.query], 1).flatten()], generator)
        x = x.to(device).view(x.shape[0], n_episodes, -1, x.shape[-1])
        s = ep.support.shape[1]
        rollout = self.run_episodes(net, x[:, :, :s], ep.support_labels.to(device), x[:, :, s:])
        return EpisodeOutputs(rollout.outputs, ep.query_labels.flatten().to(device))

    def evaluate_episodes(self, net: Network, task: Task, data: TaskData, *, n_episodes: int,
                          generator: torch.Generator | None = None) -> float:
        """Query accuracy (0..1) on ``n_episodes`` episodes drawn entirely from ``data``.

        Support examples and queries both come from ``data`` (e.g. the test split), so every
        image is new to the network and the labels are a fresh permutation in each episode.
        """
        correct = 0
        with torch.no_grad():
            for start in range(0, n_episodes, _EVAL_EPISODES):
                out = self.episode_outputs(
                    net, data, lambda u, g: task.encode(u, generator=g),
                    n_episodes=min(_EVAL_EPISODES, n_episodes - start), generator=generator)
                correct += int((out.outputs.amax(0).argmax(-1) == out.labels).sum())
        return correct / (n_episodes * self.n_query)

    def fit_epoch(self, net: Network, ctx: EpochContext) -> tuple[float, float]:
        """Train on ``episodes_per_epoch`` episodes of the training split, then draw the support
        set of :meth:`simulate`.

        Episodes are drawn and encoded with ``ctx.generator``, ``ctx.batch_size`` at a time, and
        ``ctx.optimizer`` (that of :meth:`configure_optimizer`, at ``ctx.lr``) steps the
        episode loss. Afterwards ``k_shot`` examples of each class of the training split are
        drawn and encoded with ``ctx.generator`` into ``net.plastic``'s support set.

        Returns:
            Mean query cross-entropy and query accuracy over the epoch.
        """
        self._synapses(net)
        optimizer = ctx.optimizer
        for group in optimizer.param_groups:
            group["lr"] = ctx.lr
        total, correct, count = 0.0, 0, 0
        params = [p for group in optimizer.param_groups for p in group["params"]]
        for start in range(0, self.episodes_per_epoch, ctx.batch_size):
            n = min(ctx.batch_size, self.episodes_per_epoch - start)
            out = self.episode_outputs(net, ctx.data,
                                       lambda u, g: ctx.task.encode(u, generator=g),
                                       n_episodes=n, generator=ctx.generator)
            loss = max_membrane_cross_entropy(out.outputs, out.labels)
            value = float(loss.detach())
            if not math.isfinite(value):
                raise ValueError(f"meta_plasticity: the episode loss became {value}; lower the "
                                 "learning rate (--lr)")
            for p in params:
                p.grad = None
            loss.backward()
            optimizer.step()
            total += value * len(out.labels)
            correct += int((out.outputs.detach().amax(0).argmax(-1) == out.labels).sum())
            count += len(out.labels)
        self._draw_support(net, ctx)
        return total / count, correct / count

    def _draw_support(self, net: Network, ctx: EpochContext) -> None:
        """``k_shot`` training examples of every class, encoded, as ``net.plastic``'s support."""
        labels = ctx.data.labels
        n_classes = int(labels.max()) + 1
        picks = []
        for c in range(n_classes):
            members = torch.nonzero(labels == c).flatten()
            if len(members) < self.k_shot:
                raise ValueError(f"meta_plasticity: class {c} has {len(members)} training "
                                 f"examples, fewer than k_shot = {self.k_shot}")
            picks.append(members[torch.randperm(len(members), generator=ctx.generator)
                                 [:self.k_shot]])
        index = torch.cat(picks)
        spikes = ctx.task.encode(ctx.data.inputs[index], generator=ctx.generator)
        self._synapses(net).set_support(spikes, labels[index])

    def evaluate(self, net: Network, task: Task, data: TaskData, *, generator: Any) -> float:
        """The runner's accuracy: queries of 100 episodes drawn entirely from ``data``."""
        return self.evaluate_episodes(net, task, data, n_episodes=100, generator=generator)

    def simulate(self, net: Network, x: Tensor) -> Rollout:
        """Classify each input of ``x [T, B, n_in]`` as the query of its own episode.

        Episode ``b`` presents the network's support set (``net.plastic.support``: ``k_shot``
        encoded training examples of each of the ``C`` classes, drawn after the last epoch) in
        a random order and with a random class-to-label permutation, then ``x[:, b]``. The
        output membranes are returned in *class* order (column ``c`` is the output neuron that
        episode's support labelled with class ``c``), so ``task.predict`` gives the class.
        Orders and permutations come from a generator seeded with ``net.plastic.seed``,
        restarted on every call: the same ``x`` gives the same result, and a network reloaded
        from its run folder answers as the trained one.

        Raises:
            RuntimeError: no support set yet (train the network first).
            ValueError: ``n_way`` differs from the support set's number of classes.
        """
        syn = self._synapses(net)
        if syn.support.numel() == 0:
            raise RuntimeError("meta_plasticity.simulate presents the network's support set, "
                               "which the first fit_epoch draws; train the network first")
        classes = syn.support_classes
        n_classes, n_support = int(classes.max()) + 1, len(classes)
        if self.n_way != n_classes:
            raise ValueError(f"meta_plasticity.simulate needs n_way equal to the task's "
                             f"{n_classes} classes, got n_way={self.n_way}")
        g = torch.Generator().manual_seed(int(syn.seed))
        batch = x.shape[1]
        label_of = torch.stack([torch.randperm(n_classes, generator=g) for _ in range(batch)])
        order = torch.stack([torch.randperm(n_support, generator=g) for _ in range(batch)])
        label_of, order = label_of.to(x.device), order.to(x.device)
        support = syn.support.to(x.dtype)[:, order]  # [T, B, S, n_in]
        labels = label_of.gather(1, classes[order])
        rollout = self.run_episodes(net, support, labels, x.unsqueeze(2))
        # column c of episode b is the output neuron of label label_of[b, c]
        return rollout._replace(outputs=rollout.outputs.gather(
            2, label_of.expand(x.shape[0], -1, -1)))

    def assign_grads(
        self, net: Network, rollout: Rollout, loss: Tensor, *, target: Tensor | None = None
    ) -> None:
        """Not used: the rule trains by episodes in :meth:`fit_epoch`; raises ``RuntimeError``."""
        raise RuntimeError(
            "meta_plasticity trains by episodes (fit_epoch) and has no per-batch update; train "
            "it with snnlearn.experiments.run or call fit_epoch"
        )

    def summary_metrics(self) -> dict[str, float]:
        """The learned plasticity: ``eta`` and mean ``alpha`` (miconi), ``A, B, C, D`` (abcd)."""
        syn = self.synapses
        if syn is None or self.plasticity == "none":
            return {}
        with torch.no_grad():
            alpha, eta, _, coefficients = syn.rule()
            if self.plasticity == "abcd":
                return {f"plasticity_{k}": float(v) for k, v in zip("ABCD", coefficients,
                                                                     strict=True)}
            return {"plasticity_eta": float(eta), "plasticity_alpha_mean": float(alpha.mean())}
