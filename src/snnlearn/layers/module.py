"""``SpikingModule``: the stateful ``nn.Module`` form of a network or layer, sequence in and out."""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn

__all__ = ["SpikingModule"]


class SpikingModule(nn.Module):
    """Wrap layers as an ``nn.Module`` for models written by hand: ``forward(x, state=None)``.

    Maps a whole sequence ``[T, B, *in_shape]`` to ``(outputs [T, B, *out_shape],
    final_state)`` through :func:`snnlearn.simulate.unroll` (the fused kernels); the state is
    passed in and returned, never stored, so it composes with other modules in a hand-written
    ``forward`` and with autograd.

    Args:
        layers: the layers (as for :class:`~snnlearn.layers.Network`).
        dt: time step (s).

    Example:
        >>> import torch
        >>> from snnlearn.layers import SpikingLayer
        >>> lif = SpikingModule([SpikingLayer.dense(3, 5)], dt=1e-3)
        >>> z, state = lif(torch.zeros(10, 2, 3))
        >>> tuple(z.shape)
        (10, 2, 5)
    """

    def __init__(self, layers: list[nn.Module], *, dt: float) -> None:
        super().__init__()
        from snnlearn.layers.network import Network

        self.network = Network(layers, dt=dt)

    def forward(self, x: Tensor, state: tuple[Any, ...] | None = None
                ) -> tuple[Tensor, tuple[Any, ...]]:
        from snnlearn.simulate import unroll

        rollout = unroll(self.network, x, state)
        return rollout.outputs, rollout.final_state
