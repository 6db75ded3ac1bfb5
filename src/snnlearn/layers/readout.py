"""Non-spiking readout: dense synapses into leaky integrators whose membrane is the output."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from snnlearn.layers.dense import check_layer_args
from snnlearn.layers.synapses import Dense
from snnlearn.neurons import LIParams, LIState

__all__ = ["Readout"]


class Readout(nn.Module):
    """Dense synapses into leaky-integrator (LI) units; the output is their membrane ``v``.

    Args:
        n_in: number of presynaptic inputs.
        n_out: number of readout units (classes).
        neuron: LI parameters.
        bias: add a learnable constant input current per unit.
        weight_scale: initial weights have standard deviation ``weight_scale / sqrt(n_in)``.
        generator: random generator for the initial weights.
        device: device of the parameters.
        dtype: dtype of the parameters.

    Example:
        >>> import torch
        >>> ro = Readout(3, 2, generator=torch.Generator().manual_seed(0))
        >>> v, s = ro.step(ro.project(torch.ones(5, 3)), ro.initial_state(5), dt=1e-3)
        >>> tuple(v.shape)
        (5, 2)
    """

    def __init__(
        self, n_in: int, n_out: int, neuron: LIParams | None = None, *, bias: bool = False,
        weight_scale: float = 1.0, generator: torch.Generator | None = None,
        device: torch.device | str | None = None, dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        check_layer_args("Readout", n_in, n_out, weight_scale)
        neuron = LIParams() if neuron is None else neuron
        if not isinstance(neuron, LIParams):
            raise ValueError(f"Readout.neuron must be LIParams, got {type(neuron).__name__}")
        self.n_in, self.n_out, self.neuron, self.weight_scale = n_in, n_out, neuron, weight_scale
        self.in_shape, self.out_shape = (n_in,), (n_out,)
        self.recurrent, self.graded = False, False
        self.synapse = Dense(n_in, n_out, bias=bias, weight_scale=weight_scale,
                             generator=generator, device=device, dtype=dtype)

    @property
    def weight(self) -> Tensor:
        """The synapse weight ``[n_out, n_in]``."""
        return self.synapse.weight

    @property
    def bias(self) -> Tensor | None:
        """The synapse bias (``None`` without one)."""
        return self.synapse.bias

    def reset_parameters(self, *, generator: torch.Generator | None = None) -> None:
        """Draw fresh initial weights (zero bias)."""
        self.synapse.reset_parameters(generator=generator)

    def constrain_(self) -> None:
        """Nothing to project: readout weights are unconstrained."""

    def project(self, x: Tensor) -> Tensor:
        """Input current ``W x + b`` for one step or a whole sequence."""
        return self.synapse(x)

    def initial_state(
        self, batch_size: int, *, device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> LIState:
        """Resting state ``[batch_size, n_out]``."""
        return self.neuron.initial_state(
            (batch_size, self.n_out), device=device or self.weight.device,
            dtype=dtype or self.weight.dtype,
        )

    def step(self, current: Tensor, state: LIState, dt: float) -> tuple[Tensor, LIState]:
        """One step of the leaky integrators; returns ``(v_t, state_t)``."""
        return self.neuron.step(current, state, dt)

    def extra_repr(self) -> str:
        return f"{self.n_in}, {self.n_out}, neuron={self.neuron}"
