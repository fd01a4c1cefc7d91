"""The runner's source, as every sandbox receives it (read once)."""
from __future__ import annotations

import functools
from importlib import resources


@functools.cache
def runner_source() -> bytes:
    """``runner.py``'s bytes: what the engine uploads, and what the warm server may preload."""
    return resources.files("ai_code_evals.sandbox").joinpath("runner.py").read_bytes()
