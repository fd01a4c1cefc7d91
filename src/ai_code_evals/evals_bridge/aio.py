"""Running the async engine from evals' synchronous world.

evals calls ``Eval.run`` and completion functions synchronously, sometimes from worker threads
(``eval_all_samples`` uses a thread pool). Each call gets its own event loop; when the calling
thread already runs one (a notebook), the loop runs in a fresh thread instead.
"""
from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()
