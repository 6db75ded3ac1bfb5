r"""Synapses: the weighted connections that turn a layer's input into its neurons' current.

A synapse maps a time-first sequence ``[T, B, *in_shape]`` (or one step ``[B, *in_shape]``) to
currents ``[T, B, *out_shape]``; it holds weights (and buffers) only, never state. Kinds:

- :class:`Dense`: ``I = W x + b`` (``W`` ``[n_out, n_in]``);
- :class:`Conv1d`, :class:`Conv2d`: ``I = W \star x + b`` over ``[C, L]`` or ``[C, H, W]``, applied
  to every time step (zero padding, ``padding="same"`` by default);
- :class:`~snnlearn.layers.delay.Delayed`: dense synapses with learnable delays (whole sequences
  only).

Dale's law (``dale=f``, the fraction of excitatory presynaptic units): presynaptic unit ``i``
(an input feature of a dense synapse, an input channel of a convolution) is excitatory for
``i < round(f n_in)`` and inhibitory otherwise, and every weight leaving it keeps that sign: the
initial weights are drawn as ``|w| s_i`` (inhibitory magnitudes scaled by ``f / (1 - f)`` so that
excitation and inhibition balance on average) and :meth:`Dense.constrain_` (called by the runner
after every optimizer step) sets to zero any weight a step pushed across zero (projected gradient
descent). ``.weight`` is therefore always the effective signed weight, which tools can check.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from snnlearn.kernels.spike_matmul import spike_linear

__all__ = ["Dense", "Conv1d", "Conv2d", "SYNAPSE_KINDS", "check_dale", "init_uniform_"]

SYNAPSE_KINDS: tuple[str, ...] = ("dense", "conv1d", "conv2d", "delayed")
"""Every synapse kind a :class:`~snnlearn.layers.SpikingLayer` can have (``synapse.kind``)."""


def _positive_int(owner: str, name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{owner}.{name} must be a positive int, got {value!r}")
    return value


def check_dale(owner: str, dale: object) -> float | None:
    """``dale`` if it is ``None`` or a fraction of excitatory units in ``(0, 1]``."""
    if dale is None:
        return None
    if isinstance(dale, bool) or not isinstance(dale, (int, float)) or not 0 < dale <= 1:
        raise ValueError(f"{owner}.dale must be the fraction of excitatory presynaptic units in "
                         f"(0, 1] (e.g. 0.8), or None for unsigned weights, got {dale!r}")
    return float(dale)


def init_uniform_(weight: Tensor, scale: float, generator: torch.Generator | None,
                  fan_in: int | None = None) -> None:
    """Fill ``weight`` uniformly with std ``scale / sqrt(fan_in)``, in place."""
    fan_in = weight[0].numel() if fan_in is None else fan_in
    bound = scale * math.sqrt(3.0 / fan_in)
    with torch.no_grad():
        weight.uniform_(-bound, bound, generator=generator)


def _dale_signs(n_pre: int, dale: float, **factory: object) -> Tensor:
    n_exc = round(dale * n_pre)
    signs = torch.full((n_pre,), -1.0, **factory)  # type: ignore[arg-type]
    signs[:n_exc] = 1.0
    return signs


class _Signed(nn.Module):
    """What every synapse kind shares: weight initialisation, the Dale signs and ``constrain_``.

    Not a public base: :class:`Dense`, :class:`Conv1d`, :class:`Conv2d` and ``Delayed`` compose
    it by inheritance of these few helpers only (each is final).
    """

    kind: str
    weight: nn.Parameter
    bias: nn.Parameter | None
    dale_sign: Tensor | None

    def _setup(self, weight_shape: tuple[int, ...], n_pre: int, bias: int | None,
               dale: float | None, weight_scale: float, **factory: object) -> None:
        if not (isinstance(weight_scale, (int, float)) and math.isfinite(weight_scale)
                and weight_scale > 0):
            raise ValueError(f"{type(self).__name__}.weight_scale must be > 0, got "
                             f"{weight_scale!r}")
        self.weight_scale, self.dale = float(weight_scale), dale
        self.weight = nn.Parameter(torch.empty(weight_shape, **factory))  # type: ignore[arg-type]
        self.bias = (nn.Parameter(torch.zeros(bias, **factory))  # type: ignore[arg-type]
                     if bias is not None else None)
        if dale is None:
            self.dale_sign = None
        else:
            self.register_buffer("dale_sign", _dale_signs(n_pre, dale, **factory))

    def _sign_view(self) -> Tensor:
        """The Dale signs broadcast against ``weight`` (presynaptic axis 1)."""
        assert self.dale_sign is not None
        shape = [1] * self.weight.ndim
        shape[1] = -1
        return self.dale_sign.view(shape)

    def reset_parameters(self, *, generator: torch.Generator | None = None) -> None:
        """Draw fresh initial weights (zero bias); signed by Dale's law when ``dale`` is set."""
        init_uniform_(self.weight, self.weight_scale, generator)
        with torch.no_grad():
            if self.bias is not None:
                self.bias.zero_()
            if self.dale_sign is not None:
                f = self.dale if self.dale is not None else 1.0
                inhibitory_scale = f / (1.0 - f) if f < 1.0 else 1.0
                sign = self._sign_view()
                magnitude = self.weight.abs() * torch.where(sign > 0, 1.0, inhibitory_scale)
                self.weight.copy_(magnitude * sign)

    def constrain_(self) -> None:
        """Project the weights back onto Dale's law (a weight that crossed zero becomes 0)."""
        if self.dale_sign is None:
            return
        with torch.no_grad():
            self.weight.mul_((self.weight * self._sign_view() >= 0).to(self.weight.dtype))


class Dense(_Signed):
    """Fully connected synapses ``I = W x + b``.

    Args:
        n_in: presynaptic units.
        n_out: postsynaptic units.
        bias: a learnable constant current per postsynaptic unit.
        weight_scale: initial weights have standard deviation ``weight_scale / sqrt(n_in)``.
        dale: fraction of excitatory presynaptic units (Dale's law), or ``None``.
        generator: random generator for the initial weights.
        device: device of the parameters.
        dtype: dtype of the parameters.

    Shapes:
        ``[..., n_in] -> [..., n_out]``.

    Example:
        >>> import torch
        >>> syn = Dense(3, 2, dale=0.5, generator=torch.Generator().manual_seed(0))
        >>> bool((syn.weight[:, :2] >= 0).all()), bool((syn.weight[:, 2:] <= 0).all())
        (True, True)
    """

    kind = "dense"

    def __init__(self, n_in: int, n_out: int, *, bias: bool = False, weight_scale: float = 1.0,
                 dale: float | None = None, generator: torch.Generator | None = None,
                 device: torch.device | str | None = None,
                 dtype: torch.dtype | None = None) -> None:
        super().__init__()
        self.n_in = _positive_int("Dense", "n_in", n_in)
        self.n_out = _positive_int("Dense", "n_out", n_out)
        self.in_shape, self.out_shape = (n_in,), (n_out,)
        self._setup((n_out, n_in), n_in, n_out if bias else None, check_dale("Dense", dale),
                    weight_scale, device=device, dtype=dtype)
        self.reset_parameters(generator=generator)

    @property
    def fan_out(self) -> int:
        """Synaptic events one presynaptic spike causes."""
        return self.n_out

    def forward(self, x: Tensor) -> Tensor:
        """The current for one step or a whole sequence (event-driven on sparse CPU inputs)."""
        return spike_linear(x, self.weight, self.bias)

    def extra_repr(self) -> str:
        return f"{self.n_in}, {self.n_out}, dale={self.dale}"


class _Conv(_Signed):
    """Convolution over the feature axes of every time step (``dims`` spatial dimensions)."""

    dims: int

    def __init__(self, in_shape: Sequence[int], channels: int, kernel: int | Sequence[int], *,
                 stride: int = 1, padding: int | str = "same", bias: bool = False,
                 weight_scale: float = 1.0, dale: float | None = None,
                 generator: torch.Generator | None = None,
                 device: torch.device | str | None = None,
                 dtype: torch.dtype | None = None) -> None:
        super().__init__()
        name = type(self).__name__
        in_shape = tuple(in_shape)
        if len(in_shape) != self.dims + 1 or not all(
                isinstance(n, int) and not isinstance(n, bool) and n > 0 for n in in_shape):
            axes = "[C, L]" if self.dims == 1 else "[C, H, W]"
            raise ValueError(f"{name} needs an input shape {axes} of positive ints, got "
                             f"{in_shape!r}; put a conv layer on an image task or after "
                             f"another conv/pool layer")
        _positive_int(name, "channels", channels)
        kernel = (kernel,) * self.dims if isinstance(kernel, int) else tuple(kernel)
        for k in kernel:
            _positive_int(name, "kernel", k)
        _positive_int(name, "stride", stride)
        if padding == "same":
            if stride != 1:
                raise ValueError(f"{name}: padding='same' needs stride 1, got stride={stride}; "
                                 "give an int padding")
            pad = tuple(k // 2 for k in kernel)
        elif isinstance(padding, int) and not isinstance(padding, bool) and padding >= 0:
            pad = (padding,) * self.dims
        else:
            raise ValueError(f"{name}.padding must be 'same' or an int >= 0, got {padding!r}")
        self.in_shape, self.channels, self.kernel = in_shape, channels, kernel
        self.stride, self.padding = stride, pad
        spatial = tuple((n + 2 * p - k) // stride + 1
                        for n, p, k in zip(in_shape[1:], pad, kernel, strict=True))
        if min(spatial) < 1:
            raise ValueError(f"{name}: kernel {kernel} does not fit the input {in_shape}")
        self.out_shape = (channels, *spatial)
        self.n_in, self.n_out = math.prod(in_shape), math.prod(self.out_shape)
        self._setup((channels, in_shape[0], *kernel), in_shape[0], channels if bias else None,
                    check_dale(name, dale), weight_scale, device=device, dtype=dtype)
        self.reset_parameters(generator=generator)

    @property
    def fan_out(self) -> int:
        """Synaptic events one presynaptic spike causes (away from the borders)."""
        return self.channels * math.prod(self.kernel) // self.stride ** self.dims

    def forward(self, x: Tensor) -> Tensor:
        """The current ``[..., *out_shape]`` of ``x`` ``[..., *in_shape]`` (any leading axes)."""
        lead = x.shape[: x.ndim - len(self.in_shape)]
        flat = x.reshape(-1, *self.in_shape)
        conv = F.conv1d if self.dims == 1 else F.conv2d
        out = conv(flat, self.weight, self.bias, stride=self.stride, padding=self.padding)
        return out.reshape(*lead, *self.out_shape)

    def extra_repr(self) -> str:
        return (f"in_shape={self.in_shape}, channels={self.channels}, kernel={self.kernel}, "
                f"stride={self.stride}, dale={self.dale}")


class Conv1d(_Conv):
    """1-d convolution over ``[C, L]`` inputs, at every time step.

    Args:
        in_shape: input shape ``(C, L)``.
        channels: output channels.
        kernel: kernel length.
        stride: stride.
        padding: ``"same"`` (stride 1) or zero padding on each side.
        bias: a learnable current per output channel.
        weight_scale: initial std ``weight_scale / sqrt(C * kernel)``.
        dale: fraction of excitatory input channels, or ``None``.
        generator: random generator for the initial weights.
        device: device of the parameters.
        dtype: dtype of the parameters.

    Example:
        >>> import torch
        >>> Conv1d((2, 10), 4, 3)(torch.zeros(5, 3, 2, 10)).shape
        torch.Size([5, 3, 4, 10])
    """

    kind = "conv1d"
    dims = 1


class Conv2d(_Conv):
    """2-d convolution over ``[C, H, W]`` inputs, at every time step.

    Args:
        in_shape: input shape ``(C, H, W)``.
        channels: output channels.
        kernel: kernel size (int or pair).
        stride: stride.
        padding: ``"same"`` (stride 1) or zero padding on each side.
        bias: a learnable current per output channel.
        weight_scale: initial std ``weight_scale / sqrt(C * kh * kw)``.
        dale: fraction of excitatory input channels, or ``None``.
        generator: random generator for the initial weights.
        device: device of the parameters.
        dtype: dtype of the parameters.

    Example:
        >>> import torch
        >>> Conv2d((1, 8, 8), 4, 3)(torch.zeros(5, 3, 1, 8, 8)).shape
        torch.Size([5, 3, 4, 8, 8])
    """

    kind = "conv2d"
    dims = 2
