"""Staying within Daytona's limits: a create-rate limiter and retries with backoff.

The SDK does not retry a 429 (DaytonaRateLimitError), a 5xx or a dropped connection; at
scale those are routine, so every idempotent call goes through ``retry``.
"""
from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import TypeVar

from daytona import DaytonaConnectionError, DaytonaError, DaytonaRateLimitError, DaytonaTimeoutError

log = logging.getLogger(__name__)
T = TypeVar("T")


class RateLimiter:
    """At most ``per_window`` acquisitions in any ``window_s`` seconds (a sliding window)."""

    def __init__(self, per_window: int, window_s: float = 60.0) -> None:
        self.per_window = max(1, per_window)
        self.window_s = window_s
        self._times: deque[float] = deque()
        self._lock = asyncio.Lock()

    async def acquire(self) -> None:
        async with self._lock:  # waiters queue in order
            while True:
                now = time.monotonic()
                while self._times and now - self._times[0] >= self.window_s:
                    self._times.popleft()
                if len(self._times) < self.per_window:
                    self._times.append(now)
                    return
                await asyncio.sleep(self._times[0] + self.window_s - now)


def is_transient(exc: BaseException) -> bool:
    """Worth another try: rate limited, a server-side error, a dropped or timed-out call."""
    if isinstance(exc, (DaytonaRateLimitError, DaytonaConnectionError, DaytonaTimeoutError)):
        return True
    if isinstance(exc, DaytonaError):
        return (exc.status_code or 0) >= 500
    return False


def retry_after_s(exc: BaseException) -> float | None:
    """The server's Retry-After (seconds), when a 429 carries one."""
    headers = getattr(exc, "headers", None) or {}
    for key, value in headers.items():
        if str(key).lower() == "retry-after":
            try:
                return max(0.0, float(value))
            except (TypeError, ValueError):
                return None
    return None


def backoff_s(attempt: int, base_s: float, max_s: float) -> float:
    """Exponential backoff with full jitter above half the step (attempt counts from 1)."""
    step = min(max_s, base_s * (2 ** (attempt - 1)))
    return step * (0.5 + random.random() / 2)


async def retry(
    op: Callable[[], Awaitable[T]],
    *,
    what: str,
    attempts: int,
    base_s: float,
    max_s: float,
    retryable: Callable[[BaseException], bool] = is_transient,
    before_retry: Callable[[BaseException], Awaitable[None]] | None = None,
) -> T:
    """Run ``op`` until it succeeds, a non-retryable error occurs or attempts run out."""
    for attempt in range(1, attempts + 1):
        try:
            return await op()
        except Exception as exc:
            if attempt >= attempts or not retryable(exc):
                raise
            if before_retry is not None:
                await before_retry(exc)
            delay = backoff_s(attempt, base_s, max_s)
            hinted = retry_after_s(exc) if isinstance(exc, DaytonaRateLimitError) else None
            if hinted is not None:
                delay = max(delay, min(hinted, max_s))
            log.info("daytona: %s failed (%s: %s); retry %d/%d in %.2fs",
                     what, type(exc).__name__, exc, attempt, attempts - 1, delay)
            await asyncio.sleep(delay)
    raise AssertionError("unreachable")
