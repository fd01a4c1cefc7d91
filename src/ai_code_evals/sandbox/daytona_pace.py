"""Pacing sandbox creates to the account's create limit: a token bucket that a 429 slows down.

Daytona limits creates per minute per organisation (300 to 600 by tier). Creates leave at the
configured rate, with a small burst; a 429 pauses every create until its Retry-After has passed
(then they leave one token at a time, not as a herd) and lowers the rate a little, once per
pause; each create that goes through raises it back towards the configured rate. So a
configured rate above the account's limit settles just under that limit instead of bouncing
off it, and a run says when and how much it is being throttled.
"""
from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable

DECREASE = 0.8  # on a 429, at most once per pause
INCREASE = 0.02  # of the configured rate, per create that went through
FLOOR = 0.05  # never below this share of the configured rate
RATE_WINDOW_S = 10.0  # the effective rate is measured over this many seconds


class CreatePacer:
    """Creates per minute, with ``burst`` allowed at once. ``acquire()`` before each create;
    ``rate_limited(retry_after_s)`` on a 429; ``succeeded()`` after a create went through."""

    def __init__(self, per_minute: float, burst: int = 1, clock: Callable[[], float] = time.monotonic) -> None:
        self.ceiling = max(1e-3, per_minute / 60.0)  # creates per second, as configured
        self.rate = self.ceiling  # as learned
        self.burst = max(1, burst)
        self._clock = clock
        self._tokens = float(self.burst)
        self._updated = clock()
        self.paused_until = 0.0
        self._last_cut = -1e9
        self._lock = asyncio.Lock()
        self.waiting = 0  # creates waiting for their turn now
        self.rate_limited_total = 0  # 429s answered to creates
        self.wait_s_total = 0.0  # time creates spent waiting here
        self._sent: deque[float] = deque()  # when creates left, over the last RATE_WINDOW_S

    def _refill(self, now: float) -> None:
        since = max(self._updated, min(self.paused_until, now))  # nothing accrues during a pause
        self._tokens = min(float(self.burst), self._tokens + max(0.0, now - since) * self.rate)
        self._updated = now

    async def acquire(self) -> None:
        """Wait for this create's turn (waiters go in order)."""
        self.waiting += 1
        started = self._clock()
        try:
            async with self._lock:
                while True:
                    now = self._clock()
                    self._refill(now)
                    wait = max(self.paused_until - now, (1.0 - self._tokens) / self.rate)
                    if wait <= 0:
                        self._tokens -= 1.0
                        self._sent.append(now)
                        return
                    await asyncio.sleep(wait)
        finally:
            self.waiting -= 1
            self.wait_s_total += self._clock() - started

    def rate_limited(self, retry_after_s: float | None) -> None:
        """A create got a 429: nobody creates until Retry-After has passed (one token's time
        when it says nothing), and the rate drops, once per pause however many 429s arrive."""
        now = self._clock()
        self.rate_limited_total += 1
        pause = retry_after_s if retry_after_s is not None else 1.0 / self.rate
        self._refill(now)
        self._tokens = min(self._tokens, 1.0)  # after the pause: one create, then one per token
        if now >= self._last_cut + max(pause, 1.0 / self.rate):
            self.rate = max(self.ceiling * FLOOR, self.rate * DECREASE)
            self._last_cut = now
        self.paused_until = max(self.paused_until, now + pause)

    def succeeded(self) -> None:
        self.rate = min(self.ceiling, self.rate + self.ceiling * INCREASE)

    def effective_per_minute(self) -> float:
        """Creates that left over the last RATE_WINDOW_S (or since the first), per minute."""
        now = self._clock()
        while self._sent and now - self._sent[0] > RATE_WINDOW_S:
            self._sent.popleft()
        return len(self._sent) * 60.0 / RATE_WINDOW_S

    def status(self) -> dict:
        """For the progress line and the TUI header."""
        now = self._clock()
        return {
            "creates_per_min": round(self.effective_per_minute(), 1),
            "limit_per_min": round(self.rate * 60.0, 1),
            "configured_per_min": round(self.ceiling * 60.0, 1),
            "waiting": self.waiting,
            "paused_s": round(max(0.0, self.paused_until - now), 1),
            "rate_limited": self.rate_limited_total,
        }
