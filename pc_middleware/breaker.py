"""A circuit breaker: after repeated failures, stop calling PureClarity for a while.

While it is open, pages skip the call at once instead of each waiting out the timeout against an
API that is down. After the cooldown one probe call decides: success closes it, failure opens it
again. A 429 or 503 with Retry-After opens it for that long, capped. Its state belongs to one
middleware instance in one process.
"""

from __future__ import annotations

import time
from collections.abc import Callable

MAX_RETRY_AFTER = 30.0


class CircuitBreaker:
    __slots__ = ("_clock", "_cooldown", "_failures", "_open_until", "_probing", "_threshold")

    def __init__(self, threshold: int, cooldown: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._threshold = threshold
        self._cooldown = cooldown
        self._clock = clock
        self._failures = 0
        self._open_until: float | None = None
        self._probing = False

    @property
    def state(self) -> str:
        """``closed`` (calls flow), ``open`` (calls skipped) or ``half-open`` (one probe allowed or in flight)."""
        if self._open_until is None:
            return "closed"
        return "open" if self._clock() < self._open_until and not self._probing else "half-open"

    def seconds_left(self) -> float:
        return max(0.0, (self._open_until or 0.0) - self._clock())

    def allow(self) -> bool:
        """May a call go out now? In half-open state only the first caller gets to probe."""
        if self._open_until is None:
            return True
        if self._probing or self._clock() < self._open_until:
            return False
        self._probing = True
        return True

    def succeeded(self) -> None:
        self._failures = 0
        self._open_until = None
        self._probing = False

    def failed(self, *, retry_after: float | None = None) -> None:
        self._failures += 1
        if retry_after is not None:
            self._open_for(min(retry_after, MAX_RETRY_AFTER))
        elif self._probing or self._failures >= self._threshold:
            self._open_for(self._cooldown)

    def abandoned(self) -> None:
        """A call that ended without a verdict (cancelled) must not leave the probe slot taken."""
        self._probing = False

    def _open_for(self, seconds: float) -> None:
        self._open_until = self._clock() + seconds
        self._probing = False
