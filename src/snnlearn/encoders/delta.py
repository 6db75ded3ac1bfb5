"""Delta (send-on-delta) coding: a spike each time a signal has moved by one threshold.

Each channel keeps a reference level ``m`` (initialised at the first sample). Whenever the signal
is at least one threshold above (below) the reference, an ON (OFF) spike is emitted and the
reference moves one threshold towards the signal, as in the pixels of a dynamic vision sensor.
The reference therefore equals ``m_0 + theta * sum(ON - OFF)``, which is what
:func:`delta_decode` reconstructs.
"""

from __future__ import annotations

import torch
from torch import Tensor

from snnlearn.encoders._checks import check_finite_tensor, check_real, check_tensor, float_dtype

__all__ = ["delta_encode", "delta_decode"]


def delta_encode(signal: Tensor, threshold: float, *, off_spikes: bool = True) -> Tensor:
    """Send-on-delta modulation of a time-first signal into ON and OFF spikes.

    With ``m_{-1} = s_0`` (so there is no spike at ``t = 0``), for ``t = 0, ..., T-1``:

    .. math::

        \\text{ON}_t = [s_t - m_{t-1} \\ge \\theta], \\quad
        \\text{OFF}_t = [s_t - m_{t-1} \\le -\\theta], \\quad
        m_t = m_{t-1} + \\theta (\\text{ON}_t - \\text{OFF}_t)

    At most one spike per channel and step: a jump larger than ``theta`` is sent over several
    steps while the reference catches up. If the signal moves by less than ``theta`` per step,
    then ``|s_t - m_t| < theta`` at every step, and a monotone ramp of total change ``A``
    emits ``floor(A / theta)`` spikes.

    Args:
        signal: the signal to encode (finite, same units as ``threshold``).
        threshold: change per spike ``theta`` (> 0, units of ``signal``).
        off_spikes: if true, return ON and OFF channels; if false, return the ON channels only
            (decreases still move the reference, they are just not reported).

    Shapes:
        ``signal [T, B, N] -> spikes [T, B, 2N]`` (ON channels ``0..N-1``, then OFF channels
        ``N..2N-1``), or ``[T, B, N]`` with ``off_spikes=False``.

    Returns:
        Spikes (0/1) with the dtype of ``signal`` (``float32`` for integer input).

    Raises:
        ValueError: ``signal`` not a finite real ``[T, B, N]`` tensor, or ``threshold`` not a
            finite number > 0.

    Example:
        >>> import torch
        >>> s = torch.tensor([0.0, 0.6, 1.1, 0.4]).view(4, 1, 1)
        >>> delta_encode(s, 0.5)[:, 0]
        tensor([[0., 0.],
                [1., 0.],
                [1., 0.],
                [0., 1.]])

    References:
        Miskowicz, M. (2006). Send-on-delta concept: an event-based data reporting strategy.
        Sensors 6(1), 49-63. doi:10.3390/s6010049

        Lichtsteiner, P., Posch, C. & Delbruck, T. (2008). A 128x128 120 dB 15 us latency
        asynchronous temporal contrast vision sensor. IEEE Journal of Solid-State Circuits
        43(2), 566-576. doi:10.1109/JSSC.2007.914337
    """
    signal = check_tensor(signal, "signal", ndim=3, layout="[T, B, N] (time first)")
    threshold = check_real(threshold, "threshold", positive=True)
    signal = signal.to(float_dtype(signal))
    check_finite_tensor(signal, "signal")
    if signal.shape[0] == 0:
        channels = 2 * signal.shape[-1] if off_spikes else signal.shape[-1]
        return signal.new_zeros((0, signal.shape[1], channels))
    reference = signal[0]
    on_steps, off_steps = [], []
    for t in range(signal.shape[0]):
        change = signal[t] - reference
        on = (change >= threshold).to(signal.dtype)
        off = (change <= -threshold).to(signal.dtype)
        reference = reference + threshold * (on - off)
        on_steps.append(on)
        off_steps.append(off)
    on_spikes = torch.stack(on_steps)
    if not off_spikes:
        return on_spikes
    return torch.cat([on_spikes, torch.stack(off_steps)], dim=-1)


def delta_decode(
    spikes: Tensor, threshold: float, initial: Tensor | None = None, *, off_spikes: bool = True
) -> Tensor:
    """Reconstruct a signal from its ON/OFF delta spikes.

    .. math::

        \\hat s_t = s_0 + \\theta \\sum_{k=0}^{t} (\\text{ON}_k - \\text{OFF}_k)

    which is the encoder's reference level ``m_t`` (exactly, up to floating-point rounding).
    With ``off_spikes=False`` only ON spikes are available and the reconstruction can only
    increase.

    Args:
        spikes: spikes from :func:`delta_encode` with the same ``off_spikes``.
        threshold: change per spike ``theta`` used to encode (> 0).
        initial: the first sample ``s_0`` ``[B, N]``; default zeros (the reconstruction is then
            the change since ``t = 0``).
        off_spikes: whether ``spikes`` holds ON and OFF channels (``[T, B, 2N]``) or ON only.

    Shapes:
        ``spikes [T, B, 2N] -> signal [T, B, N]`` (``[T, B, N] -> [T, B, N]`` with
        ``off_spikes=False``); ``initial [B, N]``.

    Returns:
        The reconstructed signal with the dtype of ``spikes`` (``float32`` for integer spikes).

    Raises:
        ValueError: ``spikes`` not a real ``[T, B, C]`` tensor, an odd ``C`` with
            ``off_spikes=True``, ``threshold`` not > 0, or ``initial`` of the wrong shape or
            not finite.

    Example:
        >>> import torch
        >>> s = torch.tensor([0.0, 0.6, 1.1, 0.4]).view(4, 1, 1)
        >>> delta_decode(delta_encode(s, 0.5), 0.5, initial=s[0])[:, 0, 0]
        tensor([0.0000, 0.5000, 1.0000, 0.5000])
    """
    spikes = check_tensor(spikes, "spikes", ndim=3, layout="[T, B, 2N] (time first)")
    threshold = check_real(threshold, "threshold", positive=True)
    spikes = spikes.to(float_dtype(spikes))
    if off_spikes:
        if spikes.shape[-1] % 2 != 0:
            raise ValueError(
                f"spikes must have an even number 2N of channels (N ON, then N OFF) when "
                f"off_spikes=True, got shape {tuple(spikes.shape)}; pass off_spikes=False for "
                "ON-only spikes"
            )
        on, off = spikes.chunk(2, dim=-1)
        steps = on - off
    else:
        steps = spikes
    out = threshold * torch.cumsum(steps, dim=0)
    if initial is None:
        return out
    initial = check_tensor(initial, "initial", layout="[B, N]")
    if tuple(initial.shape) != tuple(out.shape[1:]):
        raise ValueError(
            f"initial must have shape [B, N] = {tuple(out.shape[1:])}, got "
            f"{tuple(initial.shape)}"
        )
    initial = initial.to(out.dtype)
    check_finite_tensor(initial, "initial")
    return initial + out
