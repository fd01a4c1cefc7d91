"""Where `c` puts a version's code: the terminal's clipboard (OSC 52) when the terminal is
known to accept it, else a file. No Textual import.

A terminal never says whether it honours OSC 52, so this goes by what it is: tmux (with
set-clipboard), kitty, WezTerm, iTerm2, foot, Alacritty, Ghostty, Windows Terminal and VS Code's
terminal do. ``ACE_CLIPBOARD=osc52`` or ``ACE_CLIPBOARD=file`` overrides the guess.
"""
from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path

CLIPBOARD_ENV = "ACE_CLIPBOARD"
OSC52_PROGRAMS = {"iTerm.app", "WezTerm", "vscode", "ghostty", "tmux"}
OSC52_TERMS = ("xterm-kitty", "wezterm", "foot", "alacritty", "xterm-ghostty", "tmux")


def osc52_supported(env: Mapping[str, str] | None = None, override: str | None = None) -> bool:
    """By the terminal's own variables (``env``, default this process's); ``override`` is the
    ``ACE_CLIPBOARD`` setting (environment, .env or toml), else ``env``'s."""
    env = os.environ if env is None else env
    forced = (override if override is not None else env.get(CLIPBOARD_ENV, "")).lower()
    if forced in ("osc52", "file"):
        return forced == "osc52"
    if env.get("TMUX") or env.get("KITTY_WINDOW_ID") or env.get("WT_SESSION"):
        return True
    if env.get("TERM_PROGRAM", "") in OSC52_PROGRAMS:
        return True
    return env.get("TERM", "").startswith(OSC52_TERMS)


def code_file_name(candidate_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", candidate_id).strip("._") + ".py"


def write_code_file(directory: Path, candidate_id: str, code: str) -> Path:
    path = Path(directory) / code_file_name(candidate_id)
    path.write_text(code if code.endswith("\n") else code + "\n", encoding="utf-8")
    return path
