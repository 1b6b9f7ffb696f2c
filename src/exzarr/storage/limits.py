"""An adaptive limit on requests in flight (additive increase, multiplicative decrease).

Object stores throttle: S3 answers ``503 SlowDown`` when a prefix gets more than a few thousand
requests a second, GCS and Azure ``429``/``503``. A fixed concurrency either wastes the link or
keeps hammering a throttled prefix. Like TCP congestion control, the limit shrinks when the
store says "slow down" and grows back one request at a time once it stops.

What counts as "slow down" is a smoothed share of throttled replies (an exponentially weighted
average over the last few dozen requests) above ``threshold``: an overloaded prefix answers most
requests with 503s, while the odd 503 of a healthy store (or 20% random ones) must not collapse
the limit, which would only make the retries slower. When the share is above it, the limit is
cut by ``factor`` at most once per ``cooldown``; every ``limit // 2`` successes add one, back up
to ``maximum``.

Latency is the other signal (as in gradient concurrency limiters): a server that is saturated
answers later the more requests wait on it, and more in flight then only adds contention. The
time to a response's headers is tracked against the smallest seen; once per ``limit`` responses
the limit moves towards ``limit * tolerance * fastest / average + sqrt(limit)``, so it settles
where latency starts to grow and stays at the maximum while latency does not depend on it.

>>> import asyncio
>>> lim = AdaptiveLimit(8)
>>> async def demo():
...     for _ in range(20):  # every reply throttled: the share is far above the threshold
...         await lim.acquire(); lim.release(throttled=True)
...     return lim.limit < 8
>>> asyncio.run(demo())
True
"""

from __future__ import annotations

import asyncio
import math
import time


class AdaptiveLimit:
    """Requests in flight at most ``limit`` (between ``minimum`` and ``maximum``); see the module docstring."""

    def __init__(
        self, maximum: int, minimum: int = 1, cooldown: float = 0.1, threshold: float = 0.3, factor: float = 0.7
    ) -> None:
        if maximum < 1 or minimum < 1 or minimum > maximum:
            raise ValueError(f"AdaptiveLimit: need 1 <= minimum <= maximum, got {minimum}, {maximum}")
        self.maximum, self.minimum, self.cooldown = maximum, minimum, cooldown
        self.threshold, self.factor = threshold, factor
        self.share = 0.0  # smoothed share of throttled replies
        self.tolerance = 1.2  # latency up to this multiple of the fastest is not contention
        self.rtt_min: float | None = None
        self.rtt_avg: float | None = None
        self._samples = 0
        self.limit = maximum
        self.in_flight = 0
        self.throttled = 0  # how many times the store said "slow down"
        self.peak = 0
        self.lowest = maximum  # the smallest the limit has been
        self._successes = 0
        self._last_cut = 0.0
        self._waiters: list[asyncio.Future[None]] = []

    def __getstate__(self) -> dict[str, float]:
        return {"maximum": self.maximum, "minimum": self.minimum, "cooldown": self.cooldown,
                "threshold": self.threshold, "factor": self.factor}  # fmt: skip

    def __setstate__(self, state: dict[str, float]) -> None:
        self.__init__(int(state["maximum"]), int(state["minimum"]), state["cooldown"], state["threshold"], state["factor"])  # type: ignore[misc]

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
        self.share += 0.05 * ((1.0 if throttled else 0.0) - self.share)
        if throttled:
            self.throttled += 1
            now = time.monotonic()
            if self.share > self.threshold and now - self._last_cut >= self.cooldown:
                self.limit = max(self.minimum, int(self.limit * self.factor))
                self.lowest = min(self.lowest, self.limit)
                self._last_cut = now
                self._successes = 0
        elif ok:
            self._successes += 1
            if self._successes >= max(1, self.limit // 2) and self.limit < self.maximum:
                self.limit += 1
                self._successes = 0
        self._wake()

    def observe(self, rtt: float) -> None:
        """Record a response's latency (seconds to its headers) and adjust the limit by the
        latency gradient once per ``limit`` responses."""
        self.rtt_min = rtt if self.rtt_min is None else min(self.rtt_min, rtt)
        self.rtt_avg = rtt if self.rtt_avg is None else self.rtt_avg + 0.1 * (rtt - self.rtt_avg)
        self._samples += 1
        if self._samples < self.limit:
            return
        self._samples = 0
        gradient = max(0.5, min(1.0, self.tolerance * self.rtt_min / max(self.rtt_avg, 1e-9)))
        target = self.limit * gradient + math.sqrt(self.limit)
        self.limit = max(self.minimum, min(self.maximum, round(0.8 * self.limit + 0.2 * target)))
        self.lowest = min(self.lowest, self.limit)
        self.rtt_min = self.rtt_min * 1.01  # forget slowly: the fastest of long ago may no longer be possible
        self._wake()

    def _wake(self) -> None:
        free = self.limit - self.in_flight
        for fut in self._waiters[: max(free, 0)]:
            if not fut.done():
                fut.set_result(None)
