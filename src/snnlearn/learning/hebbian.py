r"""Rate-based Hebbian plasticity with compensatory processes: Oja's rule and BCM.

For presynaptic rates ``x`` and postsynaptic rates ``y`` of a synapse ``j -> i`` (any
``[n_out, n_in]`` Linear weight), over a time step ``dt`` (explicit Euler in ``w``):

.. math::

    \text{Oja:}\quad \Delta w_{ij} = \eta\, dt\, y_i (x_j - y_i w_{ij}) \\
    \text{BCM:}\quad \Delta w_{ij} = \eta\, dt\, x_j\, y_i (y_i - \theta_i), \qquad
    \theta_i \leftarrow a\,\theta_i + (1 - a)\, \langle y_i^2 \rangle / y_0, \quad
    a = e^{-dt/\tau_\theta}

(``\langle\cdot\rangle`` the batch mean; the threshold is the exact exponential filter of
``y^2 / y_0``). For a linear neuron ``y = w . x`` Oja's decay term normalises the weight
vector (``|w| -> 1``, the principal component of the input); for the spiking rule below, where
``y`` is a spike rate, it does not (``docs/rules/hebbian.md`` measures it). BCM's sliding
threshold is the compensatory process: with a fast ``tau_theta`` (faster than the Hebbian growth,
``~ 1 / (\eta |x|^2 y_0^2)``) the weights settle
at a selective fixed point, with a slow one the positive feedback ``y -> w -> y`` outruns the
threshold and the weights diverge (Zenke & Gerstner 2017). :func:`bcm_trajectory` runs this on a
linear rate neuron; the tests and ``docs/rules/hebbian.md`` show both cases on the same input.

The ``hebbian`` rule (:class:`Hebbian`) learns the hidden layer of a spiking network without
labels: the rates are spike counts per step (``x = mean_t s_t``, ``y = mean_t z_t``, in
``[0, 1]``) of one presentation of ``T`` steps, so ``dt`` above is ``T dt`` of the simulation.
A readout fitted on the hidden spikes (the task loss, by autograd on the readout alone, applied
by the run's optimizer) then reports a real test accuracy. Exact: the Hebbian updates are those
above for rates measured over one presentation; the batch is averaged (one update per
minibatch).

References:
    Oja, E. (1982). Simplified neuron model as a principal component analyzer. J. Math. Biol.
    15, 267-273. doi:10.1007/BF00275687

    Bienenstock, E. L., Cooper, L. N. & Munro, P. W. (1982). Theory for the development of
    neuron selectivity. J. Neurosci. 2(1), 32-48. doi:10.1523/JNEUROSCI.02-01-00032.1982

    Zenke, F. & Gerstner, W. (2017). Hebbian plasticity requires compensatory processes on
    multiple timescales. Phil. Trans. R. Soc. B 372, 20160259. doi:10.1098/rstb.2016.0259
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal, get_args

import torch
from torch import Tensor

from snnlearn.layers import Network, Readout, SpikingLayer
from snnlearn.learning.base import LearningRule, Rollout, Support
from snnlearn.neurons._checks import check_dt, check_finite, check_positive_time
from snnlearn.simulate import unroll

__all__ = ["Hebbian", "HebbianParams", "HebbianKind", "oja_delta", "bcm_delta", "bcm_threshold",
           "bcm_trajectory"]

HebbianKind = Literal["bcm", "oja"]


@dataclass(frozen=True)
class HebbianParams:
    """Parameters of Oja's rule and BCM (times in seconds, rates dimensionless).

    Args:
        lr: learning rate ``eta`` (1/s, > 0).
        tau_theta: time constant of BCM's sliding threshold (s, > 0).
        y0: BCM's target rate ``y_0`` (> 0): ``theta`` tracks ``<y^2> / y_0``.

    Raises:
        ValueError: a non-positive value.

    Example:
        >>> HebbianParams(tau_theta=0.01).y0
        1.0
    """

    lr: float = 10.0
    tau_theta: float = 0.1
    y0: float = 1.0

    def __post_init__(self) -> None:
        name = type(self).__name__
        for attr in ("lr", "y0"):
            check_finite(name, attr, getattr(self, attr))
            if getattr(self, attr) <= 0:
                raise ValueError(f"{name}.{attr} must be > 0, got {getattr(self, attr)!r}")
        check_positive_time(name, "tau_theta", self.tau_theta)


def oja_delta(weight: Tensor, pre: Tensor, post: Tensor, p: HebbianParams, dt: float) -> Tensor:
    """Oja's update ``eta dt <y_i (x_j - y_i w_ij)>`` (batch mean).

    Shapes:
        ``weight [n_out, n_in]``, ``pre [B, n_in]``, ``post [B, n_out] -> [n_out, n_in]``.

    Example:
        >>> import torch
        >>> w = torch.tensor([[1.0, 0.0]])  # unit norm along the input: a fixed point
        >>> oja_delta(w, torch.tensor([[2.0, 0.0]]), torch.tensor([[2.0]]), HebbianParams(), 1e-3)
        tensor([[0., 0.]])
    """
    n = pre.shape[0]
    return p.lr * dt * (post.T @ pre - (post * post).sum(0)[:, None] * weight) / n


def bcm_delta(pre: Tensor, post: Tensor, theta: Tensor, p: HebbianParams, dt: float) -> Tensor:
    """BCM's update ``eta dt <x_j y_i (y_i - theta_i)>`` (batch mean).

    Shapes:
        ``pre [B, n_in]``, ``post [B, n_out]``, ``theta [n_out] -> [n_out, n_in]``.
    """
    return p.lr * dt * (post * (post - theta)).T @ pre / pre.shape[0]


def bcm_threshold(theta: Tensor, post: Tensor, p: HebbianParams, dt: float) -> Tensor:
    """The sliding threshold after ``dt``: ``a theta + (1 - a) <y^2> / y_0``, ``a = e^{-dt/tau}``.

    Shapes:
        ``theta [n_out]``, ``post [B, n_out] -> [n_out]``.
    """
    a = math.exp(-dt / p.tau_theta)
    return a * theta + (1.0 - a) * (post * post).mean(0) / p.y0


def bcm_trajectory(
    patterns: Tensor, weight: Tensor, p: HebbianParams, dt: float, n_steps: int, *,
    generator: torch.Generator | None = None, limit: float = 1e6,
) -> Tensor:
    """Weight norms of a linear rate neuron ``y = w . x`` learning by BCM, one step at a time.

    Each step presents one of ``patterns`` drawn uniformly from ``generator``, applies
    :func:`bcm_delta`, then :func:`bcm_threshold` (starting from ``theta = 0``). Once the norm
    exceeds ``limit`` (divergence) the remaining entries are ``inf``.

    Args:
        patterns: input rates ``[K, n_in]``.
        weight: initial weights ``[n_in]``.
        p: BCM parameters.
        dt: time per step (s).
        n_steps: number of steps.
        generator: draws the pattern sequence.
        limit: the norm counted as divergence.

    Returns:
        ``|w|`` before each step and after the last, ``[n_steps + 1]``.

    Example:
        >>> import torch
        >>> x = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
        >>> fast = bcm_trajectory(x, torch.full((2,), 0.5), HebbianParams(tau_theta=0.01), 1e-3,
        ...                       5000, generator=torch.Generator().manual_seed(0))
        >>> bool(fast[-1] < 10)
        True
    """
    dt = check_dt(dt)
    w, theta = weight.clone()[None], weight.new_zeros(1)
    index = torch.randint(patterns.shape[0], (n_steps,), generator=generator)
    norms = torch.full((n_steps + 1,), math.inf, dtype=weight.dtype)
    norms[0] = w.norm()
    for t in range(n_steps):
        x = patterns[index[t]][None]
        y = x @ w.T
        w = w + bcm_delta(x, y, theta, p, dt)
        theta = bcm_threshold(theta, y, p, dt)
        norm = float(w.norm())
        if not norm <= limit:
            break
        norms[t + 1] = norm
    return norms


class Hebbian(LearningRule):
    """Unsupervised Hebbian features (BCM or Oja) in the hidden layer, plus a fitted readout.

    It trains in the runner's epoch loop. Per minibatch, :meth:`simulate` runs the network with
    the hidden layer's input current detached (no autograd through the hidden layer);
    :meth:`assign_grads` writes the hidden layer's ``-Delta w`` (module docstring, rates over the
    presentation of ``T dt`` seconds) to its ``.grad`` and the task loss's gradient to the
    readout's; :meth:`optimizer_step` steps the run's optimizer (Adam over the readout, from
    :meth:`configure_optimizer`) and applies the Hebbian step with ``torch.optim.SGD(lr=1)``.
    Labels reach the readout only. BCM thresholds (used in training only) and update counts are
    the rule's state.

    Args:
        kind: ``"bcm"`` or ``"oja"``.
        params: learning rate, threshold time constant and target rate (default ``lr = 2 /s``,
            ``tau_theta = 0.2 s``, ``y0 = 0.1``).

    Raises:
        ValueError: an unknown ``kind``.

    Example:
        >>> import torch
        >>> from snnlearn.layers import build_network
        >>> net = build_network(4, [6], 2, dt=1e-3, generator=torch.Generator().manual_seed(0))
        >>> rule = Hebbian()
        >>> rule.prepare(net)
        >>> r = rule.simulate(net, torch.ones(5, 3, 4))
        >>> rule.assign_grads(net, r, r.outputs.sum())
        >>> net.layers[0].weight.grad.shape, net.layers[1].weight.grad is not None
        (torch.Size([6, 4]), True)
    """

    name = "hebbian"
    supports = Support(dale=False)

    def __init__(self, *, kind: HebbianKind = "bcm", params: HebbianParams | None = None) -> None:
        if kind not in get_args(HebbianKind):
            raise ValueError(f"Hebbian.kind must be one of {list(get_args(HebbianKind))}, got "
                             f"{kind!r}")
        self.kind = kind
        self.params = HebbianParams(lr=2.0, tau_theta=0.2, y0=0.1) if params is None else params
        self.theta = torch.zeros(0)
        self.updates = 0
        self._hebbian_step: torch.optim.Optimizer | None = None

    def prepare(self, net: Network, *, generator: torch.Generator | None = None) -> None:
        """Check the network (one feed-forward hidden layer, then a readout); reset ``theta``."""
        layer, _ = self._layers(net)
        self.theta = layer.weight.new_zeros(layer.n_out)
        self.updates = 0

    def simulate(self, net: Network, x: Tensor) -> Rollout:
        """:func:`snnlearn.simulate.unroll` with the hidden layer's input current detached (only
        the readout has autograd history); the inputs are kept in ``extras``."""
        def projection(k: int, layer: Any, seq: Tensor) -> Tensor:
            current = layer.project(seq)
            return current.detach() if isinstance(layer, SpikingLayer) else current

        return unroll(net, x, projection=projection)._replace(extras={"inputs": (x,)})

    def assign_grads(
        self, net: Network, rollout: Rollout, loss: Tensor, *, target: Tensor | None = None
    ) -> None:
        """Hidden layer: ``-Delta w`` (advances BCM's ``theta``); readout: ``d loss / d W_out``
        (autograd)."""
        layer, readout = self._layers(net)
        for p in net.parameters():
            p.grad = None
        params = [p for p in readout.parameters() if p.requires_grad]
        for p, g in zip(params, torch.autograd.grad(loss, params, allow_unused=True), strict=True):
            p.grad = torch.zeros_like(p) if g is None else g
        layer.weight.grad = -self._delta(layer, rollout.extras["inputs"][0],
                                         rollout.spikes[0].detach(), net.dt)

    def configure_optimizer(self, net: Network, lr: float) -> torch.optim.Optimizer:
        """Adam over the readout's parameters (the hidden layer learns by its Hebbian step)."""
        layer, readout = self._layers(net)
        self._hebbian_step = torch.optim.SGD([layer.weight], lr=1.0)
        return torch.optim.Adam(readout.parameters(), lr=lr)

    def optimizer_step(self, net: Network, optimizer: torch.optim.Optimizer) -> None:
        """Step the readout (``optimizer``), then apply the hidden layer's ``Delta w`` exactly."""
        optimizer.step()
        if self._hebbian_step is None:
            raise RuntimeError("Hebbian.configure_optimizer(net, lr) must be called before "
                               "training (the runner does)")
        self._hebbian_step.step()
        self._layers(net)[0].weight.grad = None
        self.updates += 1

    def state_dict(self) -> dict[str, Any]:
        """BCM thresholds and the number of Hebbian updates."""
        return {"theta": self.theta.clone(), "updates": self.updates}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict` (after :meth:`prepare`)."""
        if state:
            self.theta = state["theta"].to(self.theta.device, self.theta.dtype)
            self.updates = state["updates"]

    def summary_metrics(self) -> dict[str, float]:
        """``weight_updates``: Hebbian updates applied to the hidden layer."""
        return {"weight_updates": float(self.updates)}

    def _delta(self, layer: SpikingLayer, x: Tensor, spikes: Tensor, dt: float) -> Tensor:
        """``Delta w`` from one presentation; advances ``theta`` for BCM."""
        pre, post, elapsed = x.mean(0), spikes.mean(0), x.shape[0] * dt
        if self.kind == "oja":
            return oja_delta(layer.weight.detach(), pre, post, self.params, elapsed)
        delta = bcm_delta(pre, post, self.theta, self.params, elapsed)
        self.theta = bcm_threshold(self.theta, post, self.params, elapsed)
        return delta

    def _layers(self, net: Network) -> tuple[SpikingLayer, Readout]:
        layers = list(net.layers)
        if not (len(layers) == 2 and isinstance(layers[0], SpikingLayer)
                and not layers[0].recurrent and isinstance(layers[1], Readout)):
            raise ValueError(
                "Hebbian needs one feed-forward hidden layer and a readout; got "
                f"{[type(m).__name__ for m in layers]}; use --hidden N with a single size"
            )
        return layers[0], layers[1]
