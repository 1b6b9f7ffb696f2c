"""An adaptive limit on requests in flight (additive increase, multiplicative decrease).

Object stores throttle: S3 answers ``503 SlowDown`` when a prefix gets more than a few thousand
requests a second, GCS and Azure ``429``/``503``. A fixed concurrency either wastes the link or
keeps hammering a throttled prefix. Like TCP congestion control, the limit halves when the
store says "slow down" (at most once per ``cooldown``, so one burst of throttled replies counts
once) and grows by one for every ``limit`` requests that succeed, back up to ``maximum``.

>>> import asyncio
>>> lim = AdaptiveLimit(8)
>>> async def demo():
...     await lim.acquire(); lim.release(throttled=True)
...     return lim.limit
>>> asyncio.run(demo())
4
"""

from __future__ import annotations

import asyncio
import time


class AdaptiveLimit:
    """Requests in flight at most ``limit`` (between ``minimum`` and ``maximum``); see the module docstring."""

    def __init__(self, maximum: int, minimum: int = 1, cooldown: float = 0.1) -> None:
        if maximum < 1 or minimum < 1 or minimum > maximum:
            raise ValueError(f"AdaptiveLimit: need 1 <= minimum <= maximum, got {minimum}, {maximum}")
        self.maximum, self.minimum, self.cooldown = maximum, minimum, cooldown
        self.limit = maximum
        self.in_flight = 0
        self.throttled = 0  # how many times the store said "slow down"
        self.peak = 0
        self.lowest = maximum  # the smallest the limit has been
        self._successes = 0
        self._last_cut = 0.0
        self._waiters: list[asyncio.Future[None]] = []

    def __getstate__(self) -> dict[str, float]:
        return {"maximum": self.maximum, "minimum": self.minimum, "cooldown": self.cooldown}

    def __setstate__(self, state: dict[str, float]) -> None:
        self.__init__(int(state["maximum"]), int(state["minimum"]), state["cooldown"])  # type: ignore[misc]

    async def acquire(self) -> None:
        """Wait for a free slot (call on the event loop that runs the requests)."""
        while self.in_flight >= self.limit:
            fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._waiters.append(fut)
            try:
                await fut
            finally:
                if fut in self._waiters:
                    self._waiters.remove(fut)
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)

    def release(self, *, ok: bool = True, throttled: bool = False) -> None:
        """Free a slot; ``throttled`` when the store answered "slow down" (429/503)."""
        self.in_flight -= 1
        if throttled:
            self.throttled += 1
            now = time.monotonic()
            if now - self._last_cut >= self.cooldown:
                self.limit = max(self.minimum, self.limit // 2)
                self.lowest = min(self.lowest, self.limit)
                self._last_cut = now
                self._successes = 0
        elif ok:
            self._successes += 1
            if self._successes >= self.limit and self.limit < self.maximum:
                self.limit += 1
                self._successes = 0
        self._wake()

    def _wake(self) -> None:
        free = self.limit - self.in_flight
        for fut in self._waiters[: max(free, 0)]:
            if not fut.done():
                fut.set_result(None)
