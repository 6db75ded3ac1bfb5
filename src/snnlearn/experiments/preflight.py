"""A memory estimate at start-up: refuse a run that cannot fit before any epoch is spent."""

from __future__ import annotations

__all__ = ["MemoryBudgetError"]


class MemoryBudgetError(ValueError):
    """The run needs more memory than the device has (the message gives the estimate)."""
