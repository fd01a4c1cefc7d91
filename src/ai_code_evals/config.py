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

from dotenv import dotenv_values

from ai_code_evals.errors import ConfigError

CONFIG_FILE = "ai-code-evals.toml"


def file_config(cwd: Path | None = None) -> dict:
    """The parsed ai-code-evals.toml (or $ACE_CONFIG), {} when there is none."""
    path = Path(os.environ.get("ACE_CONFIG") or (cwd or Path.cwd()) / CONFIG_FILE)
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
    dotenv = cwd / ".env"
    if dotenv.is_file():
        merged.update({k: v for k, v in dotenv_values(dotenv).items() if v is not None})
    merged.update(os.environ)
    return merged


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
