"""The workload of :mod:`snnlearn.bench.workload` written in each peer library's own API.

Each builder takes the shared initial :class:`~snnlearn.bench.workload.Weights` and returns an
``nn.Module`` with ``forward(x [T, B, 700]) -> (logits [B, 20], hidden firing rate)``. Every peer
computes the projection of a layer for all ``T`` steps in one matrix product and then runs its
neuron over time, layer by layer (the fastest way each API allows; SpikingJelly's multi-step mode
does exactly this itself). How each neuron is made to match ``u_t = 0.95 v_{t-1} + W x_t``,
``z_t = H(u_t - 1)``, ``v_t = u_t - z_t`` with the surrogate ``1 / (1 + |u - 1|)^2``:

- **snnTorch** ``snn.Leaky(beta=0.95, threshold=1, reset_mechanism="subtract",
  reset_delay=False, spike_grad=fast_sigmoid(slope=1))``: ``mem = beta mem + input`` then the
  reset of the spike just emitted (with the default ``reset_delay=True`` the reset would land
  one step late).
- **Norse** ``LIFBoxCell`` (the LIF without a synaptic current) with ``tau_mem_inv = 50 /s``,
  ``dt = 1 ms``, ``reset_method=reset_subtract``, ``method="super"``: Euler
  ``v + dt/tau (x - v) = 0.95 v + 0.05 x``, so its input weights are the shared ones times 20.
  Norse's ``SuperSpike`` is ``1 / (1 + |x|)^2`` whatever ``alpha`` is. Adam's steps do not
  scale with the gradient, so these weights also get a 20 times larger learning rate
  (``NorseModel.param_groups``): the trajectory, and so the firing rate, stays the same.
- **SpikingJelly** ``neuron.LIFNode(tau=20., decay_input=False, v_reset=None,
  surrogate_function=SuperSpike(alpha=1.), step_mode="m")`` with ``layer.Linear``:
  ``h = v - v/tau + x``, soft reset. Its own kernels (CUDA/Triton, picked automatically on a GPU
  for built-in surrogates such as ``SuperSpike``) run the time loop; on the CPU it uses its
  torch implementation. It fires at ``h >= 1`` rather than ``> 1`` (a measure-zero difference).
"""

from __future__ import annotations

import importlib
import importlib.metadata
import warnings
from collections.abc import Callable

import torch
from torch import Tensor, nn

from snnlearn.bench.workload import (
    DECAY,
    DT,
    N_OUT,
    SURROGATE_SLOPE,
    V_TH,
    Weights,
    hidden_firing_rate,
)

__all__ = ["PEERS", "PEER_MODULES", "peer_installed", "library_version", "build_peer"]

PEER_MODULES: dict[str, str] = {"snntorch": "snntorch", "norse": "norse",
                                "spikingjelly": "spikingjelly"}
"""Peer name -> the module it imports (also its distribution name)."""


def peer_installed(name: str) -> bool:
    """Whether the peer library ``name`` can be imported."""
    try:
        with warnings.catch_warnings():  # Norse 1.1 calls the deprecated torch.jit.script
            warnings.simplefilter("ignore", DeprecationWarning)
            importlib.import_module(PEER_MODULES[name])
    except ImportError:
        return False
    return True


def library_version(name: str) -> str:
    """Installed version of ``name`` (``"snnlearn"`` or a peer); ``"unknown"`` if not found."""
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def _linear(w: Tensor, *, scale: float = 1.0, module: type[nn.Linear] = nn.Linear) -> nn.Linear:
    layer = module(w.shape[1], w.shape[0], bias=False)
    with torch.no_grad():
        layer.weight.copy_(w * scale)
    return layer


def _readout(weights: Weights, module: type[nn.Linear] = nn.Linear) -> nn.Linear:
    layer = module(weights.readout.shape[1], N_OUT)
    with torch.no_grad():
        layer.weight.copy_(weights.readout)
        layer.bias.copy_(weights.readout_bias)
    return layer


class SnnTorchModel(nn.Module):
    """The workload in snnTorch (``nn.Linear`` + ``snn.Leaky``, stepped over time)."""

    def __init__(self, weights: Weights) -> None:
        super().__init__()
        import snntorch as snn
        from snntorch import surrogate

        self.fcs = nn.ModuleList(_linear(w) for w in weights.hidden)
        self.lifs = nn.ModuleList(
            snn.Leaky(beta=DECAY, threshold=V_TH, reset_mechanism="subtract", reset_delay=False,
                      spike_grad=surrogate.fast_sigmoid(slope=SURROGATE_SLOPE))
            for _ in weights.hidden)
        self.readout = _readout(weights)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        seq, spikes = x, []
        for fc, lif in zip(self.fcs, self.lifs, strict=True):
            cur = fc(seq)
            mem = torch.zeros_like(cur[0])
            out = []
            for t in range(cur.shape[0]):
                spk, mem = lif(cur[t], mem)
                out.append(spk)
            seq = torch.stack(out)
            spikes.append(seq)
        return self.readout(seq).mean(0), hidden_firing_rate(spikes)


class NorseModel(nn.Module):
    """The workload in Norse (``nn.Linear`` + ``LIFBoxCell``, stepped over time)."""

    def __init__(self, weights: Weights) -> None:
        super().__init__()
        with warnings.catch_warnings():  # Norse 1.1 calls the deprecated torch.jit.script
            warnings.simplefilter("ignore", DeprecationWarning)
            import norse.torch as norse

        gain = 1.0 - DECAY  # Euler input gain dt / tau_mem
        p = norse.LIFBoxParameters(
            tau_mem_inv=torch.as_tensor(gain / DT), v_leak=torch.as_tensor(0.0),
            v_th=torch.as_tensor(V_TH), v_reset=torch.as_tensor(0.0), method="super",
            alpha=torch.as_tensor(SURROGATE_SLOPE), reset_method=norse.reset_subtract)
        self.fcs = nn.ModuleList(_linear(w, scale=1.0 / gain) for w in weights.hidden)
        self.cells = nn.ModuleList(norse.LIFBoxCell(p, dt=DT) for _ in weights.hidden)
        self.readout = _readout(weights)
        self.lr_scale = 1.0 / gain

    def param_groups(self, lr: float) -> list[dict[str, object]]:
        """Adam groups that keep the training trajectory the same as in the other libraries:
        the input weights are ``1 / 0.05`` times larger, so their learning rate is too."""
        return [{"params": self.fcs.parameters(), "lr": lr * self.lr_scale},
                {"params": self.readout.parameters(), "lr": lr}]

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        seq, spikes = x, []
        for fc, cell in zip(self.fcs, self.cells, strict=True):
            cur = fc(seq)
            state = None
            out = []
            for t in range(cur.shape[0]):
                z, state = cell(cur[t], state)
                out.append(z)
            seq = torch.stack(out)
            spikes.append(seq)
        return self.readout(seq).mean(0), hidden_firing_rate(spikes)


class SpikingJellyModel(nn.Module):
    """The workload in SpikingJelly (``layer.Linear`` + multi-step ``neuron.LIFNode``)."""

    def __init__(self, weights: Weights) -> None:
        super().__init__()
        from spikingjelly.activation_based import functional, layer, neuron, surrogate

        tau = 1.0 / (1.0 - DECAY)
        self.fcs = nn.ModuleList(_linear(w, module=layer.Linear) for w in weights.hidden)
        self.lifs = nn.ModuleList(
            neuron.LIFNode(tau=tau, decay_input=False, v_threshold=V_TH, v_reset=None,
                           surrogate_function=surrogate.SuperSpike(alpha=SURROGATE_SLOPE),
                           detach_reset=False)
            for _ in weights.hidden)
        self.readout = _readout(weights, module=layer.Linear)
        functional.set_step_mode(self, "m")
        self._reset = functional.reset_net

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        self._reset(self)
        seq, spikes = x, []
        for fc, lif in zip(self.fcs, self.lifs, strict=True):
            seq = lif(fc(seq))
            spikes.append(seq)
        return self.readout(seq).mean(0), hidden_firing_rate(spikes)


PEERS: dict[str, Callable[[Weights], nn.Module]] = {
    "snntorch": SnnTorchModel, "norse": NorseModel, "spikingjelly": SpikingJellyModel,
}
"""Peer name -> builder of its workload model."""


def build_peer(name: str, weights: Weights) -> nn.Module:
    """The workload model of the peer ``name``.

    Raises:
        ValueError: an unknown peer name.
    """
    if name not in PEERS:
        raise ValueError(f"unknown peer {name!r}; valid peers: {', '.join(PEERS)}")
    return PEERS[name](weights)
