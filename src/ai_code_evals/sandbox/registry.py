"""The sandbox backends by name, for ``--backend`` and the evals bridge's ``backend`` arg.

A backend module is imported only when a run asks for it (Daytona's client is heavy). A new
backend is one module with a factory ``make(env, jobs, unsafe) -> SandboxBackend`` plus one line
in ``BACKENDS``.
"""
from __future__ import annotations

import importlib
from collections.abc import Mapping

from ai_code_evals.core.errors import InputError

# name -> "module:factory"
BACKENDS: dict[str, str] = {
    "local": "ai_code_evals.sandbox.local:make_local_backend",
    "daytona": "ai_code_evals.sandbox.daytona:make_backend_from_settings",
}


def make_backend(name: str, env: Mapping[str, str], jobs: int | None = None, *, unsafe: bool = False):
    """The sandbox backend ``name``. ``jobs`` (``--jobs``) sizes what a backend keeps alive at
    once where it has its own cap (Daytona's sandboxes); None: the backend's default. ``unsafe``
    (--unsafe-isolation): a local level that cannot contain candidates may be used."""
    try:
        module, factory = BACKENDS[name].split(":")
    except KeyError:
        raise InputError(f"unknown backend {name!r} (choose from {', '.join(BACKENDS)})") from None
    return getattr(importlib.import_module(module), factory)(env, jobs, unsafe)
