"""Export to and import from the Neuromorphic Intermediate Representation (NIR)."""

from snnlearn.export.nir import MIN_NIR_VERSION, SubtractReset, from_nir, to_nir
from snnlearn.export.simulate_nir import GraphRun, simulate_nir
from snnlearn.export.targets import TARGETS, Target

__all__ = ["to_nir", "from_nir", "simulate_nir", "GraphRun", "SubtractReset", "Target",
           "TARGETS", "MIN_NIR_VERSION"]
