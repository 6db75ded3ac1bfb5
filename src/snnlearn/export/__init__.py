"""Export to and import from the Neuromorphic Intermediate Representation (NIR)."""

from snnlearn.export.nir import SubtractReset, from_nir, to_nir

__all__ = ["to_nir", "from_nir", "SubtractReset"]
