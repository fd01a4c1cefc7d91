"""The project's config file: `ai-code-evals.toml` in the working directory (or the file
`ACE_CONFIG` names, in the environment or `.env`). Its `[env]` table is the lowest source of
the settings (core/settings.py); the `.env` is read here only for `ACE_CONFIG`, into a mapping,
never into os.environ.
"""
from __future__ import annotations

import os
import tomllib
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
