"""A code eval's args, checked when the eval is built so a typo fails before any sandbox starts.

Args come from the registry YAML (typed) or from ``--extra_eval_params k=v,...`` (strings or
numbers; there a list of profiles is written ``profiles=default+hash-seed``).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from ai_code_evals.core.errors import InputError
from ai_code_evals.sandbox.registry import BACKENDS


def _whole(name: str, value: Any, *, allow_none: bool = False) -> int | None:
    if value is None and allow_none:
        return None
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise InputError(f"eval arg {name!r} must be a whole number of at least 1, got {value!r}")
    return value


def _profiles(value: Any) -> list[str]:
    if value is None or value == "":
        return ["default"]
    if isinstance(value, str):
        return [p for p in re.split(r"[\s+;|]+", value) if p]
    if isinstance(value, (list, tuple)) and all(isinstance(p, str) for p in value):
        return list(value)
    raise InputError(f"eval arg 'profiles' must be a list of profile names, got {value!r}")


@dataclass
class EvalOptions:
    backend: Any = "local"  # a name, or a SandboxBackend object (in-process use)
    n: int = 8
    select: str = "score"
    jobs: int | None = None  # None: the backend's default (cores for local)
    profiles: list[str] = field(default_factory=lambda: ["default"])
    generated_tests: str | None = None

    @classmethod
    def parse(cls, *, backend: Any = "local", n: Any = 8, select: Any = "score", jobs: Any = None,
              profiles: Any = None, generated_tests: Any = None) -> EvalOptions:
        from ai_code_evals.engine.profiles import resolve_profiles
        from ai_code_evals.selectors import get_selector

        if isinstance(backend, str):
            if backend not in BACKENDS:
                raise InputError(f"eval arg 'backend' must be one of {', '.join(BACKENDS)}, got {backend!r}")
        elif not hasattr(backend, "create"):
            raise InputError(f"eval arg 'backend' must be a backend name, got {backend!r}")
        if not isinstance(select, str):
            raise InputError(f"eval arg 'select' must be a strategy name, got {select!r}")
        get_selector(select)
        names = _profiles(profiles)
        resolve_profiles(names)
        if generated_tests is not None and not isinstance(generated_tests, str):
            raise InputError(f"eval arg 'generated_tests' must be a file path, got {generated_tests!r}")
        return cls(backend=backend, n=_whole("n", n), select=select, jobs=_whole("jobs", jobs, allow_none=True),
                   profiles=names, generated_tests=generated_tests or None)
