"""Retrying what Daytona's infrastructure gets wrong: capped exponential backoff, full jitter.

The SDK does not retry a 429 (DaytonaRateLimitError), a 5xx, a timeout or a dropped
connection; at scale those are routine, so every call of the backend goes through ``retry``.
Full jitter (a delay drawn uniformly between 0 and the capped exponential step) spreads the
retries of many sandboxes that failed together, so they do not come back as a herd.
"""
from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

import aiohttp
from daytona import DaytonaConnectionError, DaytonaError, DaytonaRateLimitError, DaytonaTimeoutError

log = logging.getLogger(__name__)
T = TypeVar("T")

# A 429 says "later", not "broken": it gets this many times the attempts of other failures.
RATE_LIMITED_ATTEMPTS_FACTOR = 4


def is_transient(exc: BaseException) -> bool:
    """Worth another try: rate limited, a server-side error, a dropped or timed-out call."""
    if isinstance(exc, (DaytonaRateLimitError, DaytonaConnectionError, DaytonaTimeoutError)):
        return True
    if isinstance(exc, DaytonaError):
        return (exc.status_code or 0) >= 500 or (exc.status_code is None and _from_transport(exc))
    return isinstance(exc, (aiohttp.ClientError, ConnectionError, TimeoutError))


def _from_transport(exc: BaseException) -> bool:
    """An SDK error without a status that wraps a dropped connection or a timeout."""
    seen: set[int] = set()
    cur: BaseException | None = exc.__cause__ or exc.__context__
    while cur is not None and id(cur) not in seen:
        if isinstance(cur, (aiohttp.ClientError, ConnectionError, TimeoutError)):
            return True
        seen.add(id(cur))
        cur = cur.__cause__ or cur.__context__
    return False


def is_rate_limited(exc: BaseException) -> bool:
    return isinstance(exc, DaytonaRateLimitError) or getattr(exc, "status_code", None) == 429


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
    """Capped exponential backoff with full jitter (attempt counts from 1)."""
    step = min(max_s, base_s * (2 ** (attempt - 1)))
    return random.uniform(0.0, step)


def describe(exc: BaseException) -> str:
    """One line about a failure, for logs and for the 'infrastructure: ...' reason."""
    status = getattr(exc, "status_code", None)
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    name = type(exc).__name__
    bits = [name + (f" (HTTP {status})" if status else "")]
    if text:
        bits.append(text[:200])
    return ": ".join(bits)


async def retry(
    op: Callable[[], Awaitable[T]],
    *,
    what: str,
    attempts: int,
    base_s: float,
    max_s: float,
    retryable: Callable[[BaseException], bool] = is_transient,
    before_retry: Callable[[BaseException], Awaitable[None]] | None = None,
    delay_for: Callable[[BaseException, int], float | None] | None = None,
) -> T:
    """Run ``op`` until it succeeds, a non-retryable error occurs or attempts run out.

    ``attempts`` bounds failures other than 429; 429s (nothing happened, come back later) get
    RATE_LIMITED_ATTEMPTS_FACTOR times as many. The delay before a retry is the full-jitter
    backoff, at least the server's Retry-After; ``delay_for`` may decide it instead (None: the
    default), for example when a create pacer already waits for the server."""
    failures = limited = 0
    while True:
        try:
            return await op()
        except Exception as exc:
            if not retryable(exc):
                raise
            rate_limited = is_rate_limited(exc)
            if rate_limited:
                limited += 1
                exhausted = limited >= attempts * RATE_LIMITED_ATTEMPTS_FACTOR
            else:
                failures += 1
                exhausted = failures >= attempts
            if exhausted:
                raise
            if before_retry is not None:
                await before_retry(exc)
            n = limited if rate_limited else failures
            delay = delay_for(exc, n) if delay_for is not None else None
            if delay is None:
                delay = backoff_s(n, base_s, max_s)
                hinted = retry_after_s(exc) if rate_limited else None
                if hinted is not None:
                    delay = max(delay, min(hinted, max_s))
            log.info("daytona: %s failed (%s); retry in %.2fs", what, describe(exc), delay)
            if delay > 0:
                await asyncio.sleep(delay)
