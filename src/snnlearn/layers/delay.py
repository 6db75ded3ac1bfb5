r"""Learnable synaptic delays: dense synapses each of which has a delay (a synapse kind).

Synapse ``(i, j)`` (input ``i``, neuron ``j``) has a weight :math:`w_{ji}` and a real-valued delay
:math:`d_{ji} \in [0, d_{max}]` (seconds). The feed-forward current is a causal temporal
convolution over :math:`K = \mathrm{round}(d_{max} / dt) + 1` taps,

.. math::

    I_j(t) = \sum_i \sum_{k=0}^{K-1} w_{ji}\, \kappa(k;\, d_{ji} / dt)\, x_i(t - k) + b_j,

where the tap kernel :math:`\kappa(k; \delta)` spreads the weight over time around
:math:`\delta` steps (``x(t) = 0`` for ``t < 0``):

- ``"gaussian"`` (DCLS, Hammouamri et al. 2023):
  :math:`\kappa(k; \delta) = e^{-(k-\delta)^2 / 2\sigma^2} / \sum_{k'} e^{-(k'-\delta)^2/2\sigma^2}`
  with width :math:`\sigma` (steps); differentiable in :math:`\delta` everywhere, and as
  :math:`\sigma \to 0` it becomes the one-hot kernel at the nearest integer delay.
- ``"linear"``: :math:`\kappa(k; \delta) = \max(0, 1 - |k - \delta|)`, linear interpolation
  between the two neighbouring integer delays (exact at integer :math:`\delta`).
- ``"integer"``: :math:`\kappa(k; \delta) = [k = \mathrm{round}(\delta)]`, an exact
  delayed-synapse network (each input spike reaches neuron ``j`` once, ``round(d/dt)`` steps
  later); the delays get no gradient.

Delays are clamped to :math:`[0, d_{max}]` where they are used. A training recipe (DCLS): train
with ``"gaussian"`` while shrinking :math:`\sigma` towards a fraction of a step (replace
``synapse.delay_params`` between epochs), then call :meth:`Delayed.with_integer_delays` to
obtain the exact delayed-synapse network. The recurrent synapses of a layer (``recurrent=True``)
have no delay. Because the current needs the input's history, :class:`Delayed` takes whole
sequences ``[T, B, n_in]`` only (as :func:`snnlearn.simulate.unroll` passes them), never a
single step.

References:
    Hammouamri, I., Khalfaoui-Hassani, I. & Masquelier, T. (2023). Learning delays in spiking
    neural networks using dilated convolutions with learnable spacings. ICLR 2024.
    arXiv:2306.17670
"""

from __future__ import annotations

import copy
import dataclasses
import math
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from snnlearn.layers.synapses import _Signed, check_dale
from snnlearn.neurons._checks import check_dt

__all__ = ["DelayParams", "Delayed", "delay_kernel", "DELAY_KERNELS"]

DelayKernel = Literal["gaussian", "linear", "integer"]
DELAY_KERNELS: tuple[DelayKernel, ...] = ("gaussian", "linear", "integer")


@dataclass(frozen=True)
class DelayParams:
    """How the synaptic delays of a :class:`Delayed` synapse are realised.

    Times are in seconds (SI), like every time in snnlearn.

    Args:
        max_delay: the largest delay :math:`d_{max}` (s, > 0); the layer has
            ``round(max_delay / dt) + 1`` taps.
        kernel: ``"gaussian"`` (DCLS), ``"linear"`` (interpolation) or ``"integer"`` (exact
            rounded delays, not learned).
        sigma: width :math:`\\sigma` of the Gaussian kernel (s, > 0); ``None`` means one time
            step ``dt``. Only for ``kernel="gaussian"``.

    Raises:
        ValueError: a non-positive or non-finite ``max_delay`` or ``sigma``, an unknown
            ``kernel``, or a ``sigma`` given for another kernel.

    Example:
        >>> DelayParams(max_delay=20e-3).kernel
        'gaussian'
    """

    max_delay: float
    kernel: DelayKernel = "gaussian"
    sigma: float | None = None

    def __post_init__(self) -> None:
        if not (_is_number(self.max_delay) and self.max_delay > 0):
            raise ValueError(f"DelayParams.max_delay must be a finite number > 0 seconds, got "
                             f"{self.max_delay!r}")
        if self.kernel not in DELAY_KERNELS:
            raise ValueError(f"DelayParams.kernel must be one of {', '.join(DELAY_KERNELS)}, "
                             f"got {self.kernel!r}")
        if self.sigma is not None:
            if self.kernel != "gaussian":
                raise ValueError(f"DelayParams.sigma applies to kernel='gaussian' only, got "
                                 f"sigma={self.sigma!r} with kernel={self.kernel!r}; drop sigma")
            if not (_is_number(self.sigma) and self.sigma > 0):
                raise ValueError(f"DelayParams.sigma must be a finite number > 0 seconds (or "
                                 f"None for one step dt), got {self.sigma!r}")


def _is_number(value: object) -> bool:
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(value))


def delay_kernel(delay_steps: Tensor, n_taps: int, kernel: DelayKernel,
                 sigma_steps: float = 1.0) -> Tensor:
    """The tap weights :math:`\\kappa(k; \\delta)` for ``k = 0 .. n_taps - 1`` (see the module).

    Args:
        delay_steps: delays :math:`\\delta` in time steps (expected in ``[0, n_taps - 1]``).
        n_taps: number of taps ``K`` (>= 1).
        kernel: ``"gaussian"``, ``"linear"`` or ``"integer"``.
        sigma_steps: Gaussian width in steps (> 0); ignored by the other kernels.

    Shapes:
        ``delay_steps [...] -> [..., n_taps]``.

    Returns:
        Non-negative tap weights summing to 1 over the last dimension.

    Example:
        >>> import torch
        >>> delay_kernel(torch.tensor([1.25]), 4, "linear")
        tensor([[0.0000, 0.7500, 0.2500, 0.0000]])
    """
    taps = torch.arange(n_taps, dtype=delay_steps.dtype, device=delay_steps.device)
    diff = taps - delay_steps.unsqueeze(-1)
    if kernel == "gaussian":
        # softmax of the log-Gaussian: normalised and stable even for sigma -> 0
        return torch.softmax(-0.5 * (diff / sigma_steps) ** 2, dim=-1)
    if kernel == "linear":
        return torch.relu(1.0 - diff.abs())
    if kernel == "integer":
        return (taps == torch.round(delay_steps.detach()).unsqueeze(-1)).to(delay_steps.dtype)
    raise ValueError(f"kernel must be one of {', '.join(DELAY_KERNELS)}, got {kernel!r}")


class Delayed(_Signed):
    """Dense synapses with learnable delays: the causal convolution of the module docstring.

    Args:
        n_in: number of presynaptic inputs.
        n_out: number of postsynaptic units.
        delay: the delay realisation (:class:`DelayParams`).
        dt: simulation time step (s, > 0); must equal the network's.
        bias: add a learnable constant input current per unit.
        weight_scale: initial weights have standard deviation ``weight_scale / sqrt(n_in)``.
        dale: fraction of excitatory presynaptic units (Dale's law), or ``None``.
        generator: random generator for the initial weights and delays (delays start uniform
            in ``[0, max_delay]``).
        device: device of the parameters.
        dtype: dtype of the parameters.

    Attributes:
        delay: the delays :math:`d_{ji}` ``[n_out, n_in]`` (s), a parameter.

    Shapes:
        ``[T, B, n_in] -> [T, B, n_out]`` (whole sequences only).

    Raises:
        ValueError: invalid sizes, ``delay`` not a :class:`DelayParams`, or an invalid ``dt``.

    Example:
        >>> import torch
        >>> syn = Delayed(2, 3, delay=DelayParams(5e-3, kernel="integer"), dt=1e-3,
        ...               generator=torch.Generator().manual_seed(0))
        >>> syn.n_taps, tuple(syn(torch.zeros(10, 4, 2)).shape)
        (6, (10, 4, 3))

    References:
        Hammouamri, I., Khalfaoui-Hassani, I. & Masquelier, T. (2023). Learning delays in
        spiking neural networks using dilated convolutions with learnable spacings.
        arXiv:2306.17670
    """

    kind = "delayed"

    def __init__(
        self, n_in: int, n_out: int, *, delay: DelayParams, dt: float, bias: bool = False,
        weight_scale: float = 1.0, dale: float | None = None,
        generator: torch.Generator | None = None, device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        for name, value in (("n_in", n_in), ("n_out", n_out)):
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"Delayed.{name} must be a positive int, got {value!r}")
        if not isinstance(delay, DelayParams):
            raise ValueError(f"Delayed.delay must be a DelayParams, got "
                             f"{type(delay).__name__}; e.g. DelayParams(max_delay=20e-3)")
        self.dt, self.delay_params = check_dt(dt), delay
        if self.n_taps > 100_000:
            raise ValueError(f"Delayed: max_delay={delay.max_delay!r} s at dt={dt!r} s needs "
                             f"{self.n_taps} taps per synapse; use a max_delay of at most "
                             f"{100_000 * dt!r} s")
        self.n_in, self.n_out = n_in, n_out
        self.in_shape, self.out_shape = (n_in,), (n_out,)
        self._setup((n_out, n_in), n_in, n_out if bias else None, check_dale("Delayed", dale),
                    weight_scale, device=device, dtype=dtype)
        self.delay = nn.Parameter(torch.empty(n_out, n_in, device=device, dtype=dtype))
        self.reset_parameters(generator=generator)

    @property
    def fan_out(self) -> int:
        """Synaptic events one presynaptic spike causes."""
        return self.n_out

    @property
    def n_taps(self) -> int:
        """Number of time taps ``K = round(max_delay / dt) + 1``."""
        return round(self.delay_params.max_delay / self.dt) + 1

    def reset_parameters(self, *, generator: torch.Generator | None = None) -> None:
        """Draw fresh initial weights, then fresh delays."""
        super().reset_parameters(generator=generator)
        if "delay" in self._parameters:
            with torch.no_grad():
                self.delay.uniform_(0.0, (self.n_taps - 1) * self.dt, generator=generator)

    def delay_steps(self) -> Tensor:
        """The delays in steps, clamped to ``[0, K - 1]`` (differentiable inside the range)."""
        return torch.clamp(self.delay / self.dt, 0.0, float(self.n_taps - 1))

    def synaptic_kernel(self) -> Tensor:
        """The weight spread over the taps, ``w_ji kappa(k; d_ji / dt)``: ``[n_out, n_in, K]``."""
        p = self.delay_params
        sigma = 1.0 if p.sigma is None else p.sigma / self.dt
        taps = delay_kernel(self.delay_steps(), self.n_taps, p.kernel, sigma)
        return self.weight.unsqueeze(-1) * taps

    def forward(self, x: Tensor) -> Tensor:
        """Delayed current of a whole sequence (see the module docstring).

        Raises:
            ValueError: ``x`` is not a time-first sequence ``[T, B, n_in]``.
        """
        if x.ndim != 3 or x.shape[-1] != self.n_in:
            raise ValueError(
                f"Delayed synapses need a whole sequence [T, B, n_in] = [T, B, {self.n_in}] "
                f"(a delay needs the input's history), got shape {tuple(x.shape)}; simulate "
                "delayed networks with snnlearn.simulate.unroll, not step by step"
            )
        steps, batch = x.shape[0], x.shape[1]
        # conv1d correlates: out[t] = sum_k W[k] xpad[t + k]; with K - 1 zeros of left padding
        # and the kernel flipped this is sum_k w kappa(k) x(t - k).
        signal = F.pad(x.permute(1, 2, 0), (self.n_taps - 1, 0))
        current = F.conv1d(signal, self.synaptic_kernel().flip(-1), self.bias)
        return current.permute(2, 0, 1).reshape(steps, batch, self.n_out)

    def with_integer_delays(self) -> Delayed:
        """A copy whose delays are rounded to the time grid and realised exactly.

        The copy uses ``kernel="integer"``: each input spike reaches unit ``j`` once,
        ``round(d_ji / dt)`` steps later, so its outputs equal this synapse's whenever its
        kernel is already one-hot (a Gaussian with ``sigma`` well below a step).
        """
        hard = copy.deepcopy(self)
        hard.delay_params = dataclasses.replace(self.delay_params, kernel="integer", sigma=None)
        with torch.no_grad():
            hard.delay.copy_(torch.round(self.delay_steps()) * self.dt)
        return hard

    def extra_repr(self) -> str:
        return f"{self.n_in}, {self.n_out}, delay={self.delay_params}, dt={self.dt}"
