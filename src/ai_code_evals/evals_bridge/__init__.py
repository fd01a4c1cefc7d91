"""OpenAI Evals integration: registry, Eval and completion functions (needs the `evals` extra
only for running inside oaieval; the registry location is always available)."""
from __future__ import annotations

from pathlib import Path


def registry_dir() -> Path:
    return Path(__file__).resolve().parent / "registry"
