"""Environment profiles (`--env`): the same candidate observed under different settings."""
from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field, replace

from ai_code_evals.core.errors import InputError
from ai_code_evals.sandbox.base import SandboxLimits


@dataclass(frozen=True)
class EnvProfile:
    name: str
    description: str
    limits: SandboxLimits = field(default_factory=SandboxLimits)
    env: dict[str, str] = field(default_factory=dict)
    python: str = "python"  # interpreter inside the sandbox ("python" = the backend's default)


BUILTIN_PROFILES: dict[str, EnvProfile] = {
    p.name: p
    for p in (
        EnvProfile("default", "1 GiB address space, 30 CPU s, fixed hash seed",
                   env={"PYTHONHASHSEED": "0"}),
        EnvProfile("low-memory", "256 MiB address space: finds memory-hungry versions",
                   limits=replace(SandboxLimits(), memory_mb=256), env={"PYTHONHASHSEED": "0"}),
        EnvProfile("hash-seed", "a different hash seed: finds hidden dependence on set/dict order",
                   env={"PYTHONHASHSEED": "4242"}),
    )
}


INTERPRETER_PROFILE = re.compile(r"^python3\.\d{1,2}$")


def interpreter_profile(name: str) -> EnvProfile:
    """``python3.N``: the default profile's limits and hash seed under that interpreter (the
    sandbox finds it on PATH, in pyenv or with uv; see sandbox/interpreter.py)."""
    return EnvProfile(name, f"the default profile under {name}", env={"PYTHONHASHSEED": "0"}, python=name)


def resolve_profiles(names: list[str] | None) -> list[EnvProfile]:
    """Profiles by name, in the order given; ``default`` when none are named. Besides the
    built-in ones, ``python3.N`` names an interpreter profile."""
    names = names or ["default"]
    unknown = [n for n in names if n not in BUILTIN_PROFILES and not INTERPRETER_PROFILE.match(n)]
    if unknown:
        raise InputError(
            f"unknown environment profile {unknown[0]!r} (choose from {', '.join(BUILTIN_PROFILES)}, "
            "or python3.N for an interpreter)"
        )
    seen: list[str] = []
    for n in names:
        if n not in seen:
            seen.append(n)
    return [BUILTIN_PROFILES[n] if n in BUILTIN_PROFILES else interpreter_profile(n) for n in seen]


def runs_the_apps_python(profile: EnvProfile, backend: str) -> bool:
    """Does this profile run versions under the app's own Python version? Only then do the app's
    parser and scoping, which decide which versions are copies (generation/dedupe.py), speak for
    theirs: other versions parse some programs differently (an identifier with a newer Unicode
    letter, parenthesized context managers before 3.10) and, from 3.12, scope comprehensions
    differently. ``python`` is the app's own base interpreter on the local backend, anything on
    another backend (a Daytona image has its own)."""
    own = f"python{sys.version_info[0]}.{sys.version_info[1]}"
    return profile.python == own or (profile.python == "python" and backend == "local")
