r"""R-STDP: reward-modulated spike-timing-dependent plasticity (a three-factor rule).

Every synapse ``j -> i`` keeps an eligibility trace of its pre/post spike coincidences (pair-based
STDP with exponential traces); a scalar reward that arrives after the sample turns the trace into
a weight change (Gerstner et al. 2018, Eq. 1-3, discretised per step ``dt``):

.. math::

    x_{j,t} &= a_+ x_{j,t-1} + s_{j,t}, \qquad y_{i,t} = a_- y_{i,t-1} + z_{i,t}
        \qquad (a_\pm = e^{-dt/\tau_\pm}) \\
    e_{ij,t} &= a_e\, e_{ij,t-1} + A_+ z_{i,t}\, x_{j,t} - A_- s_{j,t}\, a_- y_{i,t-1}
        \qquad (a_e = e^{-dt/\tau_e}) \\
    \Delta w_{ij} &= \eta\, \frac1B \sum_b (R_b - \bar R)\, e_{b,ij}(t_R), \qquad
    e(t_R) = e^{-d_R/\tau_e}\, e_{T-1}

``s`` are presynaptic and ``z`` postsynaptic spikes. A presynaptic spike in the same step as the
postsynaptic one counts as causal (it is part of the input that made the neuron fire), so it
potentiates; a presynaptic spike after a postsynaptic one depresses. A pairing ``Delta`` steps apart
thus adds ``A_+ e^{-Delta dt/tau_+}`` (pre first or simultaneous) or ``-A_- e^{-Delta dt/tau_-}``
(post first) to the trace. The reward of sample ``b`` is
``R_b = +1`` if the network's decision is right and ``-1`` if it is wrong; it arrives ``d_R``
seconds (``reward_delay``) after the last step, by which time each trace has decayed by
``e^{-d_R / tau_e}``. ``R_bar`` is a running mean of the reward (the reward prediction, updated
after every minibatch: ``R_bar <- R_bar + beta (mean_b R_b - R_bar)``), so ``R - R_bar`` is the
reward prediction error. Traces start at zero for every sample (trials far apart).

Reward only. The update sees a scalar ``R_b`` per sample and nothing else about the target: no
label vector, no error vector, no gradient. The label is used once, to decide whether the
decision was right.

Decision of a readout. A :class:`~snnlearn.layers.Readout` does not spike. During training unit
``k`` decides with probability ``pi_k = softmax_k(max_t y_{k,t} / temperature)`` (escape noise on
the membrane peaks; :func:`rstdp_decision`), and each readout unit's postsynaptic event sits at
the step of its own membrane peak with amplitude ``z_k - pi_k``: the decision spike minus its
expected value, the unbiased post factor of R-max (Fremaux et al. 2010) inside the same STDP
window. Without the noise a unit that stops winning is never tried again. Evaluation uses the
task's deterministic prediction (the highest peak). Hidden layers get the plain STDP traces of
their spikes, gated by the same global ``R - R_bar`` and scaled by ``hidden_scale`` (default 0:
they keep their initial weights).

Optimiser. Adam would divide each synapse's step by its running RMS and add momentum, so the size
of the reward prediction error would no longer scale the step and earlier rewards would keep
acting. :meth:`RSTDP.configure_optimizer` therefore gives the runner's epoch loop a plain
``torch.optim.SGD``, and :meth:`RSTDP.begin_epoch` sets its step to ``eta`` (the rule's ``lr``,
annealed with a cosine over the run's epochs); ``-Delta w / eta`` is written to ``.grad``, so the
change is exactly ``Delta w``.

Exact and approximated: the traces are computed exactly as written; the reward is per sample and
the update is averaged over a minibatch (the paper's trial-by-trial update with ``B = 1``).

Memory: ``O(T B (N + M))`` per layer (the spike trains and traces of a sample are kept until its
reward arrives); nothing of size ``B N M``.

Supported neurons: feed-forward :class:`~snnlearn.layers.SpikingLayer` layers (LIF or ALIF),
ending in a :class:`~snnlearn.layers.Readout`.

References:
    Gerstner, W., Lehmann, M., Liakoni, V., Corneil, D. & Brea, J. (2018). Eligibility traces and
    plasticity on behavioral time scales: experimental support of neoHebbian three-factor
    learning rules. Frontiers in Neural Circuits 12, 53. doi:10.3389/fncir.2018.00053

    Fremaux, N., Sprekeler, H. & Gerstner, W. (2010). Functional requirements for
    reward-modulated spike-timing-dependent plasticity. Journal of Neuroscience 30(40),
    13326-13337. doi:10.1523/JNEUROSCI.6249-09.2010

    Mozafari, M., Kheradpisheh, S. R., Masquelier, T., Nowzari-Dalini, A. & Ganjtabesh, M.
    (2018). First-spike-based visual categorization using reward-modulated STDP. IEEE
    Transactions on Neural Networks and Learning Systems 29(12). doi:10.1109/TNNLS.2018.2826721
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from snnlearn.layers import Network, Readout, SpikingLayer
from snnlearn.learning.base import EpochContext, LearningRule, Rollout, Support
from snnlearn.neurons._checks import check_dt, check_positive_time
from snnlearn.simulate import unroll

__all__ = ["RSTDP", "stdp_eligibility", "rstdp_decision", "rstdp_reward"]


def stdp_eligibility(
    pre: Tensor, post: Tensor, modulation: Tensor, *, dt: float, tau_plus: float = 20e-3,
    tau_minus: float = 20e-3, a_plus: float = 1.0, a_minus: float = 1.0,
    tau_eligibility: float = 0.5, reward_delay: float = 0.0,
) -> Tensor:
    r"""Reward-weighted sum of the eligibility traces at the reward, ``sum_b m_b e_{b,ij}(t_R)``.

    Implements the module docstring's traces (``x``, ``y``, ``e``) and evaluates them when the
    reward arrives, ``d_R = reward_delay`` after the last step. The per-synapse traces are never
    materialised: with ``y'_t = a_- y_{t-1}``,
    ``e(t_R) = e^{-d_R/tau_e} sum_t a_e^{T-1-t} (A_+ z_t x_t^T - A_- y'_t s_t^T)``
    is summed over the batch as two matrix products.

    Args:
        pre: presynaptic spikes ``s``.
        post: postsynaptic spikes ``z``.
        modulation: the factor ``m_b`` of each sample (e.g. ``(R_b - R_bar) / B``); a sample with
            ``m_b = 0`` contributes nothing.
        dt: time step (s).
        tau_plus: time constant of the presynaptic trace ``x`` (s, > 0; potentiation window).
        tau_minus: time constant of the postsynaptic trace ``y`` (s, > 0; depression window).
        a_plus: potentiation amplitude ``A_+`` (>= 0).
        a_minus: depression amplitude ``A_-`` (>= 0).
        tau_eligibility: decay time constant of the eligibility trace ``e`` (s, > 0).
        reward_delay: time from the last step to the reward (s, >= 0).

    Shapes:
        ``pre [T, B, M]``, ``post [T, B, N]``, ``modulation [B] -> [N, M]``.

    Raises:
        ValueError: inconsistent shapes or an invalid time constant.

    Example:
        >>> import torch
        >>> pre, post = torch.zeros(4, 1, 1), torch.zeros(4, 1, 1)
        >>> pre[0], post[2] = 1.0, 1.0  # pre 2 steps before post: A_+ a_+^2, decayed 1 step
        >>> e = stdp_eligibility(pre, post, torch.ones(1), dt=1e-3, tau_plus=2e-3,
        ...                      tau_eligibility=1e-3)
        >>> round(float(e), 6) == round(math.exp(-2e-3 / 2e-3) * math.exp(-1e-3 / 1e-3), 6)
        True
    """
    dt = check_dt(dt)
    for name, value in (("tau_plus", tau_plus), ("tau_minus", tau_minus),
                        ("tau_eligibility", tau_eligibility)):
        check_positive_time("stdp_eligibility", name, value)
    if pre.ndim != 3 or post.ndim != 3 or pre.shape[:2] != post.shape[:2]:
        raise ValueError(
            f"stdp_eligibility needs pre [T, B, M] and post [T, B, N] with the same T and B, got "
            f"pre {tuple(pre.shape)} and post {tuple(post.shape)}"
        )
    if tuple(modulation.shape) != (pre.shape[1],):
        raise ValueError(f"modulation must be [B] = [{pre.shape[1]}] (one factor per sample), "
                         f"got {tuple(modulation.shape)}")
    n_steps = pre.shape[0]
    decay_plus, decay_minus = math.exp(-dt / tau_plus), math.exp(-dt / tau_minus)
    x, y = torch.zeros_like(pre[0]), torch.zeros_like(post[0])
    pre_traces, post_traces = [], []
    for t in range(n_steps):
        x = decay_plus * x + pre[t]
        y = decay_minus * y
        post_traces.append(y)  # a_- y_{t-1}: postsynaptic spikes strictly before t
        y = y + post[t]
        pre_traces.append(x)
    lag = torch.arange(n_steps - 1, -1, -1, dtype=pre.dtype, device=pre.device)
    weight = math.exp(-reward_delay / tau_eligibility) * torch.exp(-lag * dt / tau_eligibility)
    m = weight[:, None] * modulation.to(pre)[None, :]  # [T, B]
    ltp = torch.einsum("tbn,tbm->nm", post * m[..., None], torch.stack(pre_traces))
    ltd = torch.einsum("tbn,tbm->nm", torch.stack(post_traces) * m[..., None], pre)
    return a_plus * ltp - a_minus * ltd


def rstdp_decision(
    outputs: Tensor, temperature: float, *, generator: torch.Generator | None = None
) -> tuple[Tensor, Tensor]:
    """Sample the readout's decision and return ``(decision spikes, their probabilities)``.

    Unit ``k`` decides with probability ``pi_k = softmax_k(max_t y_{k,t} / temperature)`` (escape
    noise on the membrane peaks); the deciding unit emits one spike at the step of its peak. As
    ``temperature -> 0`` the decision is the unit with the highest peak (the task's prediction).

    Shapes:
        ``outputs [T, B, C] -> ([T, B, C], [T, B, C])``: the spikes (one 1 per sample) and
        each unit's ``pi`` at the step of its own peak (zero elsewhere).

    Example:
        >>> import torch
        >>> y = torch.zeros(3, 1, 2); y[1, 0, 1] = 20.0
        >>> z, p = rstdp_decision(y, 1.0, generator=torch.Generator().manual_seed(0))
        >>> z[:, 0].tolist(), round(float(p[1, 0, 1]), 6)  # unit 1 decides, at its peak
        ([[0.0, 0.0], [0.0, 1.0], [0.0, 0.0]], 1.0)
    """
    peak, when = outputs.max(dim=0)  # [B, C]: each unit's membrane peak and its step
    probs = torch.softmax(peak / temperature, dim=-1)
    action = torch.multinomial(probs.cpu(), 1, generator=generator).squeeze(1).to(outputs.device)
    spikes, expected = torch.zeros_like(outputs), torch.zeros_like(outputs)
    batch = torch.arange(outputs.shape[1], device=outputs.device)[:, None]
    units = torch.arange(outputs.shape[2], device=outputs.device)[None, :]
    spikes[when, batch, units] = torch.nn.functional.one_hot(action, outputs.shape[-1]).to(outputs)
    expected[when, batch, units] = probs
    return spikes, expected


def rstdp_reward(decision: Tensor, labels: Tensor) -> Tensor:
    """Reward ``+1`` where the deciding unit is the label, ``-1`` otherwise.

    Shapes:
        ``decision [T, B, C]`` (from :func:`rstdp_decision`), ``labels [B] -> [B]``.

    Example:
        >>> import torch
        >>> z = torch.tensor([[[0.0, 1.0], [1.0, 0.0]]])
        >>> rstdp_reward(z, torch.tensor([1, 1])).tolist()
        [1.0, -1.0]
    """
    right = decision.sum(dim=0).argmax(dim=-1) == labels.to(decision.device)
    return right.to(decision.dtype) * 2.0 - 1.0


class RSTDP(LearningRule):
    """Reward-modulated STDP: eligibility traces gated by the reward prediction error.

    Args:
        lr: step size ``eta`` of the rule's own SGD step (> 0), annealed with a cosine over the
            run's epochs; the run's (Adam) ``lr`` is not used.
        temperature: escape noise of the readout's decision, in membrane units (> 0).
        tau_plus: potentiation window, time constant of the presynaptic trace (s, > 0).
        tau_minus: depression window, time constant of the postsynaptic trace (s, > 0).
        a_plus: potentiation amplitude ``A_+`` (>= 0).
        a_minus: depression amplitude ``A_-`` (>= 0).
        tau_eligibility: decay time constant of the eligibility trace (s, > 0).
        reward_delay: time from a sample's last step to its reward (s, >= 0).
        baseline_rate: ``beta`` of the running reward mean ``R_bar`` (in ``[0, 1]``; 0 keeps
            ``R_bar = 0``, i.e. the raw reward gates the traces).
        hidden_scale: factor of the hidden layers' step relative to the readout's (>= 0; 0
            keeps the hidden layers fixed).

    Raises:
        ValueError: an out-of-range value.

    Example:
        >>> import torch
        >>> from snnlearn.layers import build_network
        >>> net = build_network(3, [8], 2, dt=1e-3, gain=3.0,
        ...                     generator=torch.Generator().manual_seed(0))
        >>> rule = RSTDP()
        >>> rule.prepare(net, generator=torch.Generator().manual_seed(1))
        >>> r = rule.simulate(net, (torch.rand(20, 4, 3) < 0.3).float())
        >>> rule.assign_grads(net, r, torch.zeros(()), target=torch.tensor([0, 1, 0, 1]))
        >>> tuple(net.layers[-1].weight.grad.shape), rule.samples
        ((2, 8), 4)
    """

    name = "rstdp"
    supports = Support(dale=False)

    def __init__(
        self, *, lr: float = 1.0, temperature: float = 10.0, tau_plus: float = 20e-3,
        tau_minus: float = 20e-3, a_plus: float = 1.0, a_minus: float = 1.0,
        tau_eligibility: float = 0.5, reward_delay: float = 0.0, baseline_rate: float = 0.05,
        hidden_scale: float = 0.0,
    ) -> None:
        for name, value in (("tau_plus", tau_plus), ("tau_minus", tau_minus),
                            ("tau_eligibility", tau_eligibility)):
            check_positive_time("RSTDP", name, value)
        for name, value in (("lr", lr), ("temperature", temperature)):
            if not (_is_real(value) and value > 0):
                raise ValueError(f"RSTDP.{name} must be a finite number > 0, got {value!r}")
        for name, value in (("a_plus", a_plus), ("a_minus", a_minus),
                            ("reward_delay", reward_delay), ("hidden_scale", hidden_scale)):
            if not (_is_real(value) and value >= 0):
                raise ValueError(f"RSTDP.{name} must be a finite number >= 0, got {value!r}")
        if not (_is_real(baseline_rate) and 0 <= baseline_rate <= 1):
            raise ValueError(f"RSTDP.baseline_rate must be a number in [0, 1], got "
                             f"{baseline_rate!r}")
        self.traces = {"tau_plus": float(tau_plus), "tau_minus": float(tau_minus),
                       "a_plus": float(a_plus), "a_minus": float(a_minus),
                       "tau_eligibility": float(tau_eligibility),
                       "reward_delay": float(reward_delay)}
        self.lr, self.temperature = float(lr), float(temperature)
        self.baseline_rate, self.hidden_scale = float(baseline_rate), float(hidden_scale)
        self.generator = torch.Generator().manual_seed(0)
        self.baseline = 0.0
        self.samples = 0
        self.rewarded = 0
        self.batches = 0

    def prepare(self, net: Network, *, generator: torch.Generator | None = None) -> None:
        """Check the network and seed the decision noise from ``generator``."""
        _check(net)
        seed = 0 if generator is None else int(torch.randint(2**62, (1,), generator=generator))
        self.generator = torch.Generator().manual_seed(seed)

    def simulate(self, net: Network, x: Tensor) -> Rollout:
        """``unroll`` without autograd; the input is kept in ``extras["input"]`` (the first
        layer's presynaptic spikes)."""
        _check(net)
        with torch.no_grad():
            return unroll(net, x)._replace(extras={"input": x})

    def assign_grads(
        self, net: Network, rollout: Rollout, loss: Tensor, *, target: Tensor | None = None
    ) -> None:
        """Sample the decisions, reward them and write ``-Delta w / eta`` into ``.grad``.

        Biases get a zero ``.grad``. ``loss`` is not used; ``target`` (the labels) is required
        and only decides each sample's reward. Updates ``R_bar`` afterwards.
        """
        if target is None:
            raise ValueError("RSTDP needs the minibatch labels (target=...) to compute the "
                             "reward; the runner passes them")
        if "input" not in rollout.extras:
            raise ValueError("RSTDP.assign_grads needs a rollout made by RSTDP.simulate")
        outputs = rollout.outputs.detach()
        decision, expected = rstdp_decision(outputs, self.temperature, generator=self.generator)
        reward = rstdp_reward(decision, target)
        batch = reward.shape[0]
        modulation = (reward - self.baseline) / max(batch, 1)
        pres = (rollout.extras["input"], *rollout.spikes)
        posts = (*rollout.spikes, decision - expected)
        for p in net.parameters():
            p.grad = torch.zeros_like(p)
        for k, layer in enumerate(net.layers):
            scale = 1.0 if isinstance(layer, Readout) else self.hidden_scale
            if scale == 0.0:
                continue
            delta = stdp_eligibility(pres[k].to(outputs), posts[k], modulation, dt=net.dt,
                                     **self.traces)
            layer.weight.grad = -scale * delta.to(layer.weight)
        self.samples += batch
        self.batches += 1
        self.rewarded += int((reward > 0).sum())
        self.baseline += self.baseline_rate * (float(reward.mean()) - self.baseline)

    def configure_optimizer(self, net: Network, lr: float) -> torch.optim.Optimizer:
        """Plain SGD over every parameter (no momentum, no state); the run's ``lr`` is not used:
        :meth:`begin_epoch` sets the step to this epoch's ``eta``."""
        return torch.optim.SGD(net.parameters(), lr=self.lr)

    def begin_epoch(self, net: Network, ctx: EpochContext) -> None:
        """Set the SGD step to ``eta_e = lr (1 + cos(pi (e - 1) / E)) / 2`` for epoch ``e`` of
        ``E``, so that ``w <- w - eta_e * grad`` is ``w <- w + Delta w`` exactly."""
        eta = self.lr * 0.5 * (1.0 + math.cos(math.pi * (ctx.epoch - 1) / ctx.epochs))
        for group in ctx.optimizer.param_groups:
            group["lr"] = eta

    def summary_metrics(self) -> dict[str, float]:
        """``weight_updates`` (SGD steps, one per minibatch), ``reward_baseline`` (``R_bar``) and
        ``rewarded_fraction`` (of the sampled training decisions)."""
        return {"weight_updates": float(self.batches), "reward_baseline": self.baseline,
                "rewarded_fraction": self.rewarded / max(self.samples, 1)}

    def state_dict(self) -> dict[str, Any]:
        """The reward baseline, the counts and the decision noise's generator state."""
        return {"baseline": self.baseline, "samples": self.samples, "rewarded": self.rewarded,
                "batches": self.batches, "generator": self.generator.get_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`.

        The counts never go back: loading an earlier epoch's state (the runner restores the best
        epoch's state before it writes the summary) keeps the larger counts, so the summary
        counts all the training done.
        """
        expected = {"baseline", "samples", "rewarded", "batches", "generator"}
        if set(state) != expected:
            raise ValueError(f"RSTDP state must have keys {sorted(expected)}, got {sorted(state)}")
        self.baseline = float(state["baseline"])
        if int(state["samples"]) >= self.samples:
            self.samples, self.rewarded = int(state["samples"]), int(state["rewarded"])
            self.batches = int(state["batches"])
        self.generator.set_state(state["generator"])


def _is_real(value: object) -> bool:
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(value))


def _check(net: Network) -> None:
    if not isinstance(net.layers[-1], Readout):
        raise ValueError("RSTDP needs a network that ends in a Readout (its decision is made by "
                         f"the readout's membrane peaks), got {type(net.layers[-1]).__name__}")
    for k, layer in enumerate(net.layers[:-1]):
        if not isinstance(layer, SpikingLayer) or layer.recurrent:
            raise ValueError(f"RSTDP supports feed-forward SpikingLayer hidden layers; layer {k} "
                             f"is {layer!r}")
