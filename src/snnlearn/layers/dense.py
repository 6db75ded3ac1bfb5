"""Dense (fully connected) spiking layer: weights only, neuron state passed in and returned.

Per step: ``I_t = W x_t + b + W_rec z_{t-1}`` (the recurrent term only when ``recurrent=True``),
then the neuron model's step (LIF, ALIF, Izhikevich or Hodgkin-Huxley) turns ``I_t`` into spikes.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from snnlearn.kernels.spike_matmul import spike_linear
from snnlearn.neurons import (
    ALIFParams,
    ALIFState,
    HHParams,
    HHState,
    IzhikevichParams,
    IzhikevichState,
    LIFParams,
    LIFState,
)

__all__ = ["SpikingDense", "NeuronParams", "NeuronState"]

NeuronParams = LIFParams | ALIFParams | IzhikevichParams | HHParams
NeuronState = LIFState | ALIFState | IzhikevichState | HHState


def check_layer_args(owner: str, n_in: object, n_out: object, weight_scale: float) -> None:
    """Raise ``ValueError`` unless the sizes are positive ints and ``weight_scale`` is > 0."""
    for name, value in (("n_in", n_in), ("n_out", n_out)):
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise ValueError(f"{owner}.{name} must be a positive int, got {value!r}")
    if not (math.isfinite(weight_scale) and weight_scale > 0):
        raise ValueError(f"{owner}.weight_scale must be > 0, got {weight_scale!r}")


def init_feedforward_(
    weight: Tensor, bias: Tensor | None, scale: float, generator: torch.Generator | None
) -> None:
    """Draw ``weight`` (see :func:`init_uniform_`) and zero ``bias``, in place."""
    init_uniform_(weight, scale, generator)
    if bias is not None:
        with torch.no_grad():
            bias.zero_()


def init_uniform_(weight: Tensor, scale: float, generator: torch.Generator | None) -> None:
    """Fill ``weight`` [n_out, n_in] uniformly with std ``scale / sqrt(n_in)``, in place."""
    bound = scale * math.sqrt(3.0 / weight.shape[1])
    with torch.no_grad():
        weight.uniform_(-bound, bound, generator=generator)


class SpikingDense(nn.Module):
    """Fully connected synapses feeding a population of spiking neurons.

    Args:
        n_in: number of presynaptic inputs.
        n_out: number of neurons.
        neuron: neuron parameters (:class:`LIFParams`, :class:`ALIFParams`,
            :class:`IzhikevichParams` or :class:`HHParams`; the last two take inputs in mV or
            uA/cm^2, so their weights must be scaled accordingly).
        recurrent: add all-to-all recurrent synapses ``W_rec`` (no self-connections).
        bias: add a learnable constant input current per neuron.
        weight_scale: initial weights have standard deviation ``weight_scale / sqrt(n_in)``.
        generator: random generator for the initial weights.
        device: device of the parameters.
        dtype: dtype of the parameters.

    Shapes:
        ``project``: ``[..., n_in] -> [..., n_out]``; ``step``: ``[B, n_out] -> [B, n_out]``.

    Example:
        >>> import torch
        >>> layer = SpikingDense(3, 2, generator=torch.Generator().manual_seed(0))
        >>> s = layer.initial_state(4)
        >>> z, s = layer.step(layer.project(torch.ones(4, 3)), s, dt=1e-3)
        >>> tuple(z.shape)
        (4, 2)
    """

    def __init__(
        self, n_in: int, n_out: int, neuron: NeuronParams | None = None, *,
        recurrent: bool = False, bias: bool = False, weight_scale: float = 1.0,
        generator: torch.Generator | None = None, device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        check_layer_args("SpikingDense", n_in, n_out, weight_scale)
        neuron = LIFParams() if neuron is None else neuron
        if not isinstance(neuron, (LIFParams, ALIFParams, IzhikevichParams, HHParams)):
            raise ValueError(
                "SpikingDense.neuron must be LIFParams, ALIFParams, IzhikevichParams or HHParams, "
                f"got {type(neuron).__name__}"
            )
        factory = {"device": device, "dtype": dtype}
        self.n_in, self.n_out, self.neuron = n_in, n_out, neuron
        self.recurrent, self.weight_scale = recurrent, weight_scale
        self.weight = nn.Parameter(torch.empty(n_out, n_in, **factory))
        self.bias = nn.Parameter(torch.zeros(n_out, **factory)) if bias else None
        self.recurrent_weight = (
            nn.Parameter(torch.empty(n_out, n_out, **factory)) if recurrent else None
        )
        self.reset_parameters(generator=generator)

    def reset_parameters(self, *, generator: torch.Generator | None = None) -> None:
        """Draw fresh initial weights (zero bias, zero recurrent diagonal)."""
        init_feedforward_(self.weight, self.bias, self.weight_scale, generator)
        if self.recurrent_weight is not None:
            init_uniform_(self.recurrent_weight, self.weight_scale, generator)
            with torch.no_grad():
                self.recurrent_weight.fill_diagonal_(0.0)

    def project(self, x: Tensor) -> Tensor:
        """Feed-forward input current ``W x + b`` for one step or a whole sequence.

        On the CPU a mostly-zero input (spikes) takes the event-driven path of
        :func:`snnlearn.kernels.spike_matmul.spike_linear`: the same product and gradients, to
        rounding, computed from the nonzero inputs only.
        """
        return spike_linear(x, self.weight, self.bias)

    def initial_state(
        self, batch_size: int, *, device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> NeuronState:
        """Resting neuron state ``[batch_size, n_out]`` on the parameters' device and dtype."""
        return self.neuron.initial_state(
            (batch_size, self.n_out), device=device or self.weight.device,
            dtype=dtype or self.weight.dtype,
        )

    def step(self, current: Tensor, state: NeuronState, dt: float) -> tuple[Tensor, NeuronState]:
        """One step: add the recurrent current (if any) and advance the neurons.

        The diagonal of ``recurrent_weight`` is excluded (no self-connections): its contribution
        is subtracted again, so it gets an exactly zero gradient and stays zero under training.
        """
        if self.recurrent_weight is not None:
            w = self.recurrent_weight
            current = current + (F.linear(state.z, w) - state.z * torch.diagonal(w))
        return self.neuron.step(current, state, dt)  # type: ignore[arg-type]

    def extra_repr(self) -> str:
        return f"{self.n_in}, {self.n_out}, recurrent={self.recurrent}, neuron={self.neuron}"
