"""Delays between reconnection attempts: exponential, capped and jittered."""

import random
from dataclasses import dataclass

MAX_DOUBLINGS = 32


@dataclass
class Backoff:
    base_seconds: float = 0.1
    cap_seconds: float = 5.0
    attempt: int = 0

    def next_delay(self) -> float:
        ceiling = min(self.cap_seconds, self.base_seconds * 2 ** min(self.attempt, MAX_DOUBLINGS))
        self.attempt += 1
        # Equal jitter: processes cut off together spread their reconnects, yet none of
        # them retries at once.
        return random.uniform(ceiling / 2, ceiling)

    def reset(self) -> None:
        self.attempt = 0
