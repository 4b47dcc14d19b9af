"""Reconnect delays: exponential backoff with full jitter, capped."""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class Backoff:
    """Retry ``n`` (0 for the first after a loss) waits a uniformly random time in
    ``0 … min(maximum, initial · factor**n)`` seconds, so clients that lost the relay together do
    not come back together."""

    initial: float = 0.25
    maximum: float = 10.0
    factor: float = 2.0

    def window(self, attempt: int) -> float:
        """The upper bound (seconds) of retry ``attempt``'s delay."""
        try:
            grown = self.initial * self.factor ** max(0, attempt)
        except OverflowError:
            grown = self.maximum
        return min(self.maximum, grown)

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        """A delay (seconds) for retry ``attempt``: uniform in ``0 … window(attempt)``."""
        return (rng or random).uniform(0.0, self.window(attempt))
