"""Named benchmark settings of ``snnlearn compare --preset NAME``: settings where rules differ.

A preset is plain data: the table that :func:`snnlearn.experiments.compare.compare_spec` reads
(``task``, ``rules``, ``seeds`` and any :class:`~snnlearn.experiments.Config` keys). The other
options of the command line (and a ``--config`` file) win over it, so that
``snnlearn compare --preset deep-yinyang --epochs 5`` is the same setting trained for 5 epochs.
``docs/comparison.md`` holds the measured tables and the command beside each.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

__all__ = ["PRESETS", "preset"]

PRESETS: Mapping[str, Mapping[str, Any]] = MappingProxyType({
    "deep-yinyang": {
        "description": "Yin-Yang through 3 hidden layers of 64 LIF neurons: feedback "
                       "alignment, direct feedback alignment and DECOLLE's local losses "
                       "against BPTT where credit must cross several layers",
        "task": "yinyang", "rules": ["bptt", "fa", "dfa", "decolle"], "seeds": [0, 1, 2],
        "hidden": [64, 64, 64],
    },
    "evidence": {
        "description": "evidence accumulation (Bellec et al. 2020): 7 cues, a 0.5 s delay, "
                       "recall; one recurrent layer of 100 adaptive (ALIF) neurons; e-prop's "
                       "truncated recurrent credit against BPTT",
        "task": "evidence", "rules": ["bptt", "eprop"], "seeds": [0, 1, 2],
    },
    "randman-long": {
        "description": "Randman with long sequences (10 classes, 1 s at 1 ms: T = 1000) and a "
                       "recurrent hidden layer of 128: rules whose memory or cost grows with T",
        "task": "randman", "rules": ["bptt", "eprop", "superspike", "eventprop"],
        "seeds": [0, 1, 2], "recurrent": True, "hidden": [128],
        "task_options": {"n_steps": 1000, "dt": 1e-3},
        "rule_options": {"eventprop.mode": "grid"},
    },
    "yinyang-ttfs": {
        "description": "the 4-30-3 Yin-Yang network of the time-to-first-spike literature "
                       "(4 coordinates plus a bias spike, 30 hidden LIF, 3 readouts; DelGrad "
                       "reports 96.7 % with weights only)",
        "task": "yinyang", "rules": ["bptt", "eventprop"], "seeds": [0, 1, 2],
        "hidden": [30],
    },
    "shd-eventprop": {
        "description": "the SHD network of the EventProp literature: 700 -> 256 recurrent LIF "
                       "-> 20, 1 ms steps over 1.4 s (the shd task's defaults; EventProp on the "
                       "time grid; needs the SHD files, see docs/comparison.md)",
        "task": "shd", "rules": ["eventprop", "bptt"], "seeds": [0, 1, 2],
        "hidden": [256], "recurrent": True, "rule_options": {"eventprop.mode": "grid"},
    },
})
"""Preset name -> its table (``description`` is documentation, the rest the comparison)."""


def preset(name: str) -> dict[str, Any]:
    """The comparison table of preset ``name`` (a copy; ``description`` left out).

    Raises:
        ValueError: an unknown name (the message lists the presets).

    Example:
        >>> preset("deep-yinyang")["hidden"]
        [64, 64, 64]
    """
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; valid presets: {', '.join(sorted(PRESETS))}")
    return {k: copy.deepcopy(v) for k, v in PRESETS[name].items() if k != "description"}

