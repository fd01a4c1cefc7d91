"""Environment profiles (DESIGN §3.7): the same candidate observed under different settings."""
from __future__ import annotations

from dataclasses import dataclass, field, replace

from ai_code_evals.errors import InputError
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


def resolve_profiles(names: list[str] | None) -> list[EnvProfile]:
    """Profiles by name, in the order given; ``default`` when none are named."""
    names = names or ["default"]
    unknown = [n for n in names if n not in BUILTIN_PROFILES]
    if unknown:
        raise InputError(
            f"unknown environment profile {unknown[0]!r} (choose from {', '.join(BUILTIN_PROFILES)})"
        )
    seen: list[str] = []
    for n in names:
        if n not in seen:
            seen.append(n)
    return [BUILTIN_PROFILES[n] for n in seen]
