"""Learning rules: strategies that simulate a network and write a descent direction to ``.grad``."""

from snnlearn.learning.base import LearningRule, Rollout
from snnlearn.learning.bptt import BPTT

__all__ = ["LearningRule", "Rollout", "BPTT"]
