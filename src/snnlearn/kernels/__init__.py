"""Fused sequence operations with results identical to the step-by-step reference.

Each runs through one dispatch (:mod:`snnlearn.kernels.dispatch`): ``reference``, ``torch`` or the
compiled ``cpu`` loops.
"""

from snnlearn.kernels.li_scan import li_sequence
from snnlearn.kernels.lif_scan import lif_sequence

__all__ = ["li_sequence", "lif_sequence"]
