r"""Neuroevolution: an OpenAI-style evolution strategy over the weights of a spiking network.

The search distribution over the weight vector is an isotropic Gaussian in *scaled* coordinates
:math:`u`, with :math:`w = s \odot u` and :math:`s` the root-mean-square of each weight tensor at
initialisation (so one ``sigma`` suits layers of different scales; a diagonal preconditioning).
Each generation draws ``population / 2`` directions :math:`\epsilon_i \sim \mathcal N(0, I)` and
evaluates the antithetic pairs :math:`u^{\pm}_i = \mu \pm \sigma \epsilon_i` on one minibatch
(common random numbers: the same inputs and, for rate codes, the same spikes for every member).
The fitness is :math:`F = -L`, the task's loss on the minibatch. With fitness shaping by centred
ranks (:math:`\hat F \in [-\tfrac12, \tfrac12]`, invariant to monotone transforms of the loss) the
search gradient is (Salimans et al. 2017)

.. math::

    \hat g = \frac{1}{P \sigma} \sum_{i=1}^{P/2} (\hat F^{+}_i - \hat F^{-}_i) \, \epsilon_i,
    \qquad \mu \leftarrow \operatorname{Adam}(\mu, -\hat g + \kappa \mu; \eta)

with the runner's learning rate :math:`\eta` (its schedule included) and weight decay
:math:`\kappa`; Adam uses :math:`\beta = (0.9, 0.999)`, :math:`\epsilon = 10^{-8}`. After each epoch
the mean :math:`s \odot \mu` is written into ``net``, which is what is evaluated.

Exact and approximated: :math:`\hat g` is an unbiased Monte-Carlo estimate of the gradient of the
Gaussian-smoothed fitness :math:`\mathbb E_\epsilon F(\mu + \sigma \epsilon)` when
``fitness_shaping="none"`` (tested against the true gradient of a smooth function); rank shaping
trades that for robustness. No derivative of the spiking dynamics is needed, so no surrogate
is involved and any loss works.

Parallel evaluation: the whole population runs as one batched forward pass. Member ``p``'s weights
are a slice ``[P, N_l, N_{l-1}]``; each layer's currents for all members are one product (the
first layer: the shared input times the members' weights side by side; later layers: one product
per member on a view, event-driven when the input is sparse spikes), laid out sample-major so
that nothing of size ``T * B * P * N`` is copied; the neuron dynamics then run once on the batch
``B * P`` through :func:`~snnlearn.simulate.unroll` (the same equations as evaluating each
member alone; tested).

Memory: O(T * P * B * N) for the population's rollout (no autograd), plus ``population / 2``
noise vectors and three vectors of the size of the weights (mean and Adam moments).

Supported networks: feed-forward layers (LIF or ALIF hidden layers, LI readout or spiking
output), with or without biases. Recurrent layers are refused (their recurrent weights are used
inside the neuron step, which runs once for the whole population).

References:
    Salimans, T., Ho, J., Chen, X., Sidor, S. & Sutskever, I. (2017). Evolution strategies as a
    scalable alternative to reinforcement learning. arXiv:1703.03864

    Wierstra, D., Schaul, T., Glasmachers, T., Sun, Y., Peters, J. & Schmidhuber, J. (2014).
    Natural evolution strategies. JMLR 15, 949-980.
"""

from __future__ import annotations

import math
from typing import Any, Literal, get_args

import torch
from torch import Tensor

from snnlearn.layers import Network
from snnlearn.learning.base import EpochContext, LearningRule, Rollout, Support
from snnlearn.simulate import check_input_sequence, unroll

__all__ = ["Evolution", "FitnessShaping", "centered_ranks", "es_gradient", "population_unroll",
           "flatten_weights"]

FitnessShaping = Literal["centered_rank", "none"]

_BETA1, _BETA2, _ADAM_EPS = 0.9, 0.999, 1e-8


def _weight_tensors(net: Network) -> list[Tensor]:
    """The evolved tensors in a fixed order: each layer's weight, then its bias (if any)."""
    tensors = []
    for k, layer in enumerate(net.layers):
        if getattr(layer, "recurrent_weight", None) is not None:
            raise ValueError(
                f"evolution: layer {k} is recurrent; the batched population evaluation needs "
                "feed-forward layers (build the network with recurrent=False)"
            )
        tensors.append(layer.weight)
        if layer.bias is not None:
            tensors.append(layer.bias)
    return tensors


def flatten_weights(net: Network) -> Tensor:
    """All evolved weights of ``net`` as one vector (each layer's weight, then bias).

    Example:
        >>> import torch
        >>> from snnlearn.layers import build_network
        >>> flatten_weights(build_network(3, [4], 2, dt=1e-3)).shape
        torch.Size([20])
    """
    return torch.cat([t.detach().flatten() for t in _weight_tensors(net)])


def population_unroll(net: Network, weights: Tensor, x: Tensor) -> Rollout:
    """Simulate ``P`` copies of ``net`` with their own weights on the same input, in one pass.

    Args:
        net: the network (its neuron models and ``dt``; its own weights are not used).
        weights: one flat weight vector per member, ordered as :func:`flatten_weights`.
        x: input ``[T, B, n_in]`` shared by every member.

    Shapes:
        ``weights [P, n_weights]``, ``x [T, B, n_in] -> outputs [T, B * P, n_out]``
        (sample-major: member ``p`` on sample ``b`` is ``outputs[:, b * P + p]``, i.e.
        ``outputs.view(T, B, P, n_out)[:, :, p]``; likewise ``spikes``).

    The layout is chosen so that no tensor of size ``T * B * P * N`` is ever copied: the first
    layer's currents of all members are one product of the shared input with the members'
    weights side by side (``[T * B, n_in] @ [n_in, P * N]``, already in the layout of the batch
    ``B * P``), and each later layer is one product over members on a view. Both products are
    event-driven when their input is sparse (spikes: one row of weights added per spike).

    Returns:
        A :class:`~snnlearn.simulate.Rollout` of the whole population.

    Raises:
        ValueError: a recurrent layer, a ``weights`` of the wrong size, or an invalid ``x``.

    Example:
        >>> import torch
        >>> from snnlearn.layers import build_network
        >>> net = build_network(3, [4], 2, dt=1e-3, generator=torch.Generator().manual_seed(0))
        >>> w = flatten_weights(net).expand(5, -1)
        >>> population_unroll(net, w, torch.rand(10, 4, 3)).outputs.shape
        torch.Size([10, 20, 2])
    """
    tensors = _weight_tensors(net)
    n_weights = sum(t.numel() for t in tensors)
    if weights.ndim != 2 or weights.shape[1] != n_weights:
        raise ValueError(
            f"weights must be [P, {n_weights}] (one flat vector per member, see "
            f"flatten_weights), got {tuple(weights.shape)}"
        )
    check_input_sequence(x, net.n_in, tensors[0].dtype)
    n_pop, (n_steps, batch, n_in) = weights.shape[0], x.shape
    per_layer, offset = [], 0
    for layer in net.layers:
        w = weights[:, offset:offset + layer.weight.numel()].view(n_pop, *layer.weight.shape)
        offset += layer.weight.numel()
        b = None
        if layer.bias is not None:
            b = weights[:, offset:offset + layer.n_out]
            offset += layer.n_out
        per_layer.append((w, b))

    def projection(k: int, layer: Any, seq: Tensor) -> Tensor:
        w, b = per_layer[k]  # w [P, n_out, n_prev]
        if k == 0:  # the shared input (seq is only a placeholder of the population's shape)
            current = _shared_input_products(x.reshape(n_steps * batch, n_in),
                                             w.permute(2, 0, 1).reshape(n_in, -1))
            current = current.view(n_steps * batch, n_pop, layer.n_out)
        else:  # seq [T, B * P, n_prev], spikes of the previous layer
            current = _member_products(seq.reshape(n_steps * batch, n_pop, -1), w)
        if b is not None:
            current = current + b
        return current.reshape(n_steps, batch * n_pop, layer.n_out)

    # unroll reads only the shape, dtype and device of its input (check=False); the first
    # projection uses x itself, so the population's input is a zero-stride placeholder
    placeholder = x.new_zeros(()).expand(n_steps, batch * n_pop, n_in)
    return unroll(net, placeholder, check=False, projection=projection)


def _shared_input_products(x: Tensor, w: Tensor) -> Tensor:
    """``x @ w`` for ``x [N, I]``, ``w [I, M]``, event-driven where ``x`` is sparse (spikes)."""
    idx = x.nonzero()
    if idx.shape[0] > x.numel() // 10:
        return x @ w
    out = torch.zeros(x.shape[0], w.shape[1], dtype=w.dtype, device=w.device)
    rows, cols = idx[:, 0], idx[:, 1]
    return out.index_add_(0, rows, w[cols] * x[rows, cols].unsqueeze(1))


def _member_products(seq: Tensor, w: Tensor) -> Tensor:
    """``out[n, p] = w[p] @ seq[n, p]`` for ``seq [N, P, I]``, ``w [P, O, I]`` -> ``[N, P, O]``.

    Spikes are sparse, so the product is event-driven (one ``index_add_`` of the weight columns
    of the non-zero entries) unless more than a tenth of the entries are non-zero; then it is one
    batched matrix product over members.
    """
    n_rows, n_pop, n_prev = seq.shape
    flat = seq.reshape(-1)
    idx = flat.nonzero().squeeze(1)
    if idx.numel() > flat.numel() // 10:
        return torch.bmm(seq.transpose(0, 1).contiguous(), w.transpose(1, 2)).transpose(0, 1)
    row, col = idx // n_prev, idx % n_prev
    columns = w[row % n_pop, :, col] * flat[idx].unsqueeze(1)
    out = torch.zeros(n_rows * n_pop, w.shape[1], dtype=seq.dtype, device=seq.device)
    return out.index_add_(0, row, columns).view(n_rows, n_pop, -1)


def centered_ranks(values: Tensor) -> Tensor:
    """Fitness shaping: each value's rank mapped linearly onto ``[-0.5, 0.5]`` (ties by order).

    Example:
        >>> centered_ranks(torch.tensor([3.0, -1.0, 10.0]))
        tensor([ 0.0000, -0.5000,  0.5000])
    """
    n = values.numel()
    ranks = torch.empty_like(values)
    ranks[values.argsort()] = torch.arange(n, dtype=values.dtype, device=values.device)
    return ranks / max(n - 1, 1) - 0.5


def es_gradient(fitness: Tensor, noise: Tensor, sigma: float) -> Tensor:
    r"""Antithetic search-gradient estimate of the Gaussian-smoothed fitness.

    .. math::

        \hat g = \frac{1}{P \sigma} \sum_{i=1}^{P/2} (F(\mu + \sigma\epsilon_i)
                 - F(\mu - \sigma\epsilon_i)) \, \epsilon_i

    Args:
        fitness: ``[P]``, the ``+`` members first, then the ``-`` members in the same order.
        noise: the directions ``epsilon`` ``[P / 2, n]``.
        sigma: the search standard deviation (> 0).

    Returns:
        ``[n]``, an ascent direction for the fitness.

    Example:
        >>> eps = torch.eye(2)
        >>> es_gradient(torch.tensor([1.0, 0.0, -1.0, 0.0]), eps, sigma=0.5)
        tensor([1., 0.])
    """
    half = noise.shape[0]
    if fitness.shape != (2 * half,):
        raise ValueError(
            f"fitness must be [P] = [{2 * half}] (+ members, then - members), got "
            f"{tuple(fitness.shape)}"
        )
    return (fitness[:half] - fitness[half:]) @ noise / (2 * half * sigma)


class Evolution(LearningRule):
    """Evolution strategy (antithetic, rank-shaped, Adam) over all weights of a feed-forward SNN.

    Args:
        population: members per generation (even, >= 2; antithetic pairs).
        sigma: search standard deviation in units of each tensor's initial RMS (> 0).
        fitness_shaping: ``"centered_rank"`` (default) or ``"none"`` (raw ``-loss``).
        weight_decay: ``kappa`` (>= 0), added to the descent direction in scaled units.

    Raises:
        ValueError: an odd or too small ``population``, a non-positive ``sigma``, an unknown
            ``fitness_shaping`` or a negative ``weight_decay``.

    Example:
        >>> import torch
        >>> from snnlearn.layers import build_network
        >>> net = build_network(3, [8], 2, dt=1e-3, generator=torch.Generator().manual_seed(0))
        >>> rule = Evolution(population=6)
        >>> rule.prepare(net)
        >>> sorted(rule.state_dict())
        ['adam_m', 'adam_v', 'generations', 'mean', 'scale', 'step']

    References:
        Salimans et al. (2017), arXiv:1703.03864.
    """

    name = "evolution"
    supports = Support(neurons=frozenset({"lif", "alif"}), spiking_output=True)

    def __init__(self, *, population: int = 100, sigma: float = 0.1,
                 fitness_shaping: FitnessShaping = "centered_rank",
                 weight_decay: float = 0.0) -> None:
        if isinstance(population, bool) or not isinstance(population, int) or (
                population < 2 or population % 2):
            raise ValueError(f"population must be an even int >= 2 (antithetic pairs), got "
                             f"{population!r}")
        if not (isinstance(sigma, (int, float)) and math.isfinite(sigma) and sigma > 0):
            raise ValueError(f"sigma must be a finite number > 0, got {sigma!r}")
        if fitness_shaping not in get_args(FitnessShaping):
            raise ValueError(f"fitness_shaping must be one of {list(get_args(FitnessShaping))}, "
                             f"got {fitness_shaping!r}")
        if not (isinstance(weight_decay, (int, float)) and weight_decay >= 0):
            raise ValueError(f"weight_decay must be a number >= 0, got {weight_decay!r}")
        self.population, self.sigma = population, float(sigma)
        self.fitness_shaping: FitnessShaping = fitness_shaping
        self.weight_decay = float(weight_decay)
        self._state: dict[str, Any] = {}
        self._epoch: EpochContext | None = None
        self._direction: Tensor | None = None

    def prepare(self, net: Network, *, generator: torch.Generator | None = None) -> None:
        """Set the mean to ``net``'s weights (in scaled units) and zero the Adam moments."""
        tensors = _weight_tensors(net)
        scale = torch.cat([
            torch.full((t.numel(),), _rms(t), dtype=t.dtype, device=t.device) for t in tensors])
        mean = flatten_weights(net) / scale
        self._state = {"mean": mean, "scale": scale, "adam_m": torch.zeros_like(mean),
                       "adam_v": torch.zeros_like(mean), "step": 0, "generations": 0}

    def simulate(self, net: Network, x: Tensor) -> Rollout:
        """The mean network's rollout; the input is kept in ``extras["input"]`` for the search."""
        r = unroll(net, x)
        return r._replace(extras={"input": x})

    def begin_epoch(self, net: Network, ctx: EpochContext) -> None:
        """Keep the epoch's task (its loss) and generator (the search directions)."""
        self._epoch = ctx

    def assign_grads(
        self, net: Network, rollout: Rollout, loss: Tensor, *, target: Tensor | None = None
    ) -> None:
        """One generation on this minibatch: the search direction of the population.

        The antithetic members' noise is drawn from the epoch's generator (after the runner
        encoded the batch, so a resumed run draws the same), their losses are the task loss of
        :func:`population_unroll`, and the rank-shaped ES direction (plus weight decay) is kept
        for :meth:`optimizer_step`; ``.grad`` is left untouched.

        Raises:
            RuntimeError: outside the runner's epoch (no :meth:`begin_epoch`) or before
                :meth:`prepare`.
            ValueError: a member's loss is not finite.
        """
        if not self._state or self._epoch is None or target is None:
            raise RuntimeError("evolution trains in the runner's epoch loop: call prepare(net) "
                               "and begin_epoch(net, ctx), and pass target=labels")
        ctx, s = self._epoch, self._state
        x, y = rollout.extras["input"], target
        half = self.population // 2
        noise = torch.randn((half, s["mean"].numel()), generator=ctx.generator,
                            dtype=s["mean"].dtype).to(x.device)
        members = torch.cat([s["mean"] + self.sigma * noise, s["mean"] - self.sigma * noise])
        with torch.no_grad():
            outputs = population_unroll(net, members * s["scale"], x).outputs
        outputs = outputs.view(outputs.shape[0], len(y), self.population, -1)
        losses = torch.stack([ctx.task.loss(outputs[:, :, p], y) for p in range(self.population)])
        if not bool(torch.isfinite(losses).all()):
            raise ValueError(
                f"evolution: a member's loss is not finite at generation "
                f"{s['generations'] + 1}; lower sigma or the learning rate (--lr)")
        fitness = -losses if self.fitness_shaping == "none" else centered_ranks(-losses)
        self._direction = -es_gradient(fitness, noise, self.sigma) + self.weight_decay * s["mean"]

    def optimizer_step(self, net: Network, optimizer: torch.optim.Optimizer) -> None:
        """One Adam step of the mean (in scaled units) along the direction; written into ``net``."""
        if self._direction is None:
            raise RuntimeError("evolution: assign_grads must come before optimizer_step")
        s = self._state
        self._adam_step(self._direction, float(optimizer.param_groups[0]["lr"]))
        self._direction = None
        with torch.no_grad():
            offset, weights = 0, s["mean"] * s["scale"]
            for t in _weight_tensors(net):
                t.copy_(weights[offset:offset + t.numel()].view_as(t))
                offset += t.numel()

    def _adam_step(self, direction: Tensor, lr: float) -> None:
        """One Adam step of the mean along the descent ``direction``."""
        s = self._state
        s["step"] += 1
        s["generations"] += 1
        s["adam_m"] = _BETA1 * s["adam_m"] + (1 - _BETA1) * direction
        s["adam_v"] = _BETA2 * s["adam_v"] + (1 - _BETA2) * direction * direction
        m_hat = s["adam_m"] / (1 - _BETA1 ** s["step"])
        v_hat = s["adam_v"] / (1 - _BETA2 ** s["step"])
        s["mean"] = s["mean"] - lr * m_hat / (v_hat.sqrt() + _ADAM_EPS)

    def summary_metrics(self) -> dict[str, float]:
        """The generations run and the population size."""
        return {"generations": float(self._state.get("generations", 0)),
                "population": float(self.population)}

    def state_dict(self) -> dict[str, Any]:
        """The ES state: mean and scale (scaled units), Adam moments, step and generations."""
        return {k: v.clone() if isinstance(v, Tensor) else v for k, v in self._state.items()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned (after :meth:`prepare`)."""
        if not state:
            return
        if self._state and state["mean"].shape != self._state["mean"].shape:
            raise ValueError(
                f"evolution state has {state['mean'].numel()} weights but the rule was prepared "
                f"for {self._state['mean'].numel()}; call prepare(net) with the run's network"
            )
        device = self._state["mean"].device if self._state else state["mean"].device
        self._state = {k: v.clone().to(device) if isinstance(v, Tensor) else v
                       for k, v in state.items()}


def _rms(t: Tensor) -> float:
    """Root-mean-square of ``t``, or 1 for an all-zero tensor (e.g. a zero-initialised bias)."""
    value = float(t.detach().pow(2).mean().sqrt()) if t.numel() else 0.0
    return value if value > 0 else 1.0
