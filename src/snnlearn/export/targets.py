"""What each NIR reader expects: the time step it assumes, its integrator, and its constraints.

NIR has no ``dt``; every reader picks one and integrates the graph's ODEs with it. snnlearn
integrates a membrane exactly for an input held over the step (decay ``a = exp(-dt/tau)``,
input gain ``(1 - a) R``); snnTorch, Norse and SpikingJelly take forward-Euler steps
(``a = 1 - dt_p/tau``, input gain ``dt_p/tau * r``) with their own ``dt_p``. A graph written for
such a reader is *retimed*: every time constant becomes ``tau' = dt_p / (1 - exp(-dt/tau))``, so
that one Euler step of length ``dt_p`` decays exactly as one snnlearn step of length ``dt``, and
the per-step input gains are arranged (``r``, ``w_in``, and a factor folded into the incoming
weights) the way the reader's importer demands. The reader then reproduces snnlearn's spikes
step for step (up to float rounding of the folded weights).

======================  =========  =========================================================
target                  ``dt_p``   what its importer (version tested) needs
======================  =========  =========================================================
``"exact"``             net ``dt`` snnlearn's :func:`~snnlearn.export.from_nir`: exact
                                   integration, ``r = R``, ``w_in = tau_syn/dt``; LI readout
``"snntorch"``          1e-4 s     ``import_from_nir`` (1.0): dt fixed at 1e-4 s; ``v_leak = 0``,
                                   resets to 0; ``r = tau/dt`` in CubaLIF; no LI,
                                   SumPool2d, Conv1d; its recurrent path fails in nirtorch;
                                   its Flatten also flattens the batch axis
``"norse"``             1e-3 s     ``from_nir(graph, dt=1e-3)`` (1.1): ignores ``r`` of LIF,
                                   resets to 0, drops LI silently; no recurrence, Conv1d;
                                   its Flatten also flattens the batch axis
``"spikingjelly"``      1e-4 s     ``nir_exchange.import_from_nir(graph, dt=1e-4)`` (2.0):
                                   uniform parameters, LIF ``r`` is 1 or ``tau/dt`` and
                                   ``v_leak = v_reset``; CubaLIF ``r = tau_mem/dt``,
                                   ``w_in = tau_syn/dt``, ``v_leak = 0``; no LI, SumPool2d
======================  =========  =========================================================

For the peer targets a readout (LI / CubaLI, which none of these importers reads) is written as
a LIF / CubaLIF node with ``v_threshold = +inf``: a neuron that never fires *is* a leaky
integrator, and its membrane is the readout. Sum pooling is written as ``AvgPool2d`` (snnTorch,
SpikingJelly) with the window size folded into the next synapse.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, get_args

__all__ = ["Target", "TARGETS", "Convention", "convention"]

Target = Literal["exact", "snntorch", "norse", "spikingjelly"]
TARGETS: tuple[Target, ...] = get_args(Target)

_PEER_DT: dict[str, float] = {"snntorch": 1e-4, "norse": 1e-3, "spikingjelly": 1e-4}


@dataclass(frozen=True)
class Convention:
    """How a graph is written for one reader.

    Attributes:
        target: the reader.
        dt: the time step (s) the reader integrates with (stored as ``metadata["dt"]``).
        net_dt: the network's own step (s).
        euler: the reader takes forward-Euler steps (so every ``tau`` is retimed).
        unit_gain_lif: LIF nodes get ``r = tau/dt`` (per-step input gain 1), the membrane gain
            ``(1 - a) R`` being folded into the incoming weights; otherwise ``r = 1`` and ``R``
            is folded.
        unit_gain_cuba: the same for CubaLIF nodes (``r = tau_mem/dt``); otherwise ``r = R``.
        sum_pool: the reader reads ``SumPool2d`` (else it is written as ``AvgPool2d``).
        conv1d: the reader reads ``Conv1d``.
        recurrent: the reader reads a recurrent edge.
        delays: the reader reads ``Delay`` nodes.
        flatten: the reader reads ``Flatten`` as NIR defines it (no batch axis).
        shift_voltages: voltages are shifted so that ``v_reset = v_leak = 0`` (the reader resets
            to 0 or needs ``v_leak = 0``).
    """

    target: Target
    dt: float
    net_dt: float
    euler: bool
    unit_gain_lif: bool
    unit_gain_cuba: bool
    sum_pool: bool
    conv1d: bool
    recurrent: bool
    delays: bool
    flatten: bool
    shift_voltages: bool

    def tau(self, tau: float) -> float:
        """The time constant written for ``tau``: itself, or retimed for an Euler reader."""
        if not self.euler:
            return tau
        return self.dt / -math.expm1(-self.net_dt / tau)

    def decay(self, tau: float) -> float:
        """snnlearn's per-step decay ``exp(-dt/tau)`` of the network."""
        return math.exp(-self.net_dt / tau)


def convention(target: str, net_dt: float, peer_dt: float | None = None) -> Convention:
    """The :class:`Convention` of ``target`` for a network stepping at ``net_dt``.

    Args:
        target: one of :data:`TARGETS`.
        net_dt: the network's ``dt`` (s).
        peer_dt: the reader's ``dt`` (s); default: what its importer uses by default
            (snnTorch cannot change it).

    Raises:
        ValueError: an unknown target, or a ``peer_dt`` for snnTorch other than 1e-4 s or for
            ``"exact"``.
    """
    if target not in TARGETS:
        raise ValueError(f"unknown NIR target {target!r}; valid targets: {', '.join(TARGETS)}")
    if target == "exact":
        if peer_dt is not None and not math.isclose(peer_dt, net_dt, rel_tol=1e-9):
            raise ValueError("the 'exact' target integrates at the network's dt; peer_dt is "
                             "for the peer targets")
        return Convention("exact", net_dt, net_dt, euler=False, unit_gain_lif=False,
                          unit_gain_cuba=False, sum_pool=True, conv1d=True, recurrent=True,
                          delays=True, flatten=True, shift_voltages=False)
    dt = _PEER_DT[target] if peer_dt is None else peer_dt
    if not (isinstance(dt, (int, float)) and math.isfinite(dt) and dt > 0):
        raise ValueError(f"peer_dt must be a finite number of seconds > 0, got {peer_dt!r}")
    if target == "snntorch" and not math.isclose(dt, _PEER_DT["snntorch"], rel_tol=1e-9):
        raise ValueError(f"snnTorch's importer always steps at dt = 1e-4 s; got peer_dt={dt!r}")
    return Convention(
        target, float(dt), net_dt, euler=True,
        unit_gain_lif=target == "snntorch", unit_gain_cuba=target != "norse",
        sum_pool=target == "norse", conv1d=target == "spikingjelly",
        recurrent=target == "spikingjelly", delays=False, flatten=target == "spikingjelly",
        shift_voltages=True)
