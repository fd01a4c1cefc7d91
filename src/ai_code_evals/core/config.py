"""Settings: environment variables win over the project's `.env`, which wins over
`ai-code-evals.toml` (the `[env]` table) in the working directory.

The `.env` is read into a mapping, never into os.environ, so nothing in it can reach a
sandbox even by accident (the sandboxes get a cleared environment anyway).
"""
from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path

from ai_code_evals.core.errors import ConfigError

CONFIG_FILE = "ai-code-evals.toml"


def _dotenv(cwd: Path) -> dict[str, str]:
    dotenv = cwd / ".env"
    if not dotenv.is_file():
        return {}
    from dotenv import dotenv_values  # here: the sandbox modules import this one under a bare python

    return {k: v for k, v in dotenv_values(dotenv).items() if v is not None}


def file_config(cwd: Path | None = None) -> dict:
    """The parsed ai-code-evals.toml (or ACE_CONFIG, from the environment or .env), {} when there
    is none."""
    cwd = cwd or Path.cwd()
    named = os.environ.get("ACE_CONFIG") or _dotenv(cwd).get("ACE_CONFIG")
    path = Path(named).expanduser() if named else cwd / CONFIG_FILE
    if not path.is_file():
        return {}
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"invalid TOML: {exc}", path=str(path)) from None


def settings_env(cwd: Path | None = None) -> dict[str, str]:
    """All settings as one str->str mapping: toml [env] < .env < process environment."""
    cwd = cwd or Path.cwd()
    merged: dict[str, str] = {}
    env_table = file_config(cwd).get("env", {})
    if isinstance(env_table, Mapping):
        merged.update({str(k): str(v) for k, v in env_table.items()})
    merged.update(_dotenv(cwd))
    merged.update(os.environ)
    return merged


def setting(name: str, default: str | None = None) -> str | None:
    """One setting, from the environment, .env or ai-code-evals.toml, for code that reads only one."""
    return settings_env().get(name, default)


def int_setting(env: Mapping[str, str], name: str, default: int, minimum: int = 1) -> int:
    raw = (env.get(name) or "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, got {raw!r}") from None
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, got {value}")
    return value
