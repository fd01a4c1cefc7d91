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


def osc52_supported(env: Mapping[str, str] | None = None) -> bool:
    if env is None:  # the terminal's own variables; the override is a setting (.env, toml too)
        from ai_code_evals.core.settings import Settings

        env, forced = os.environ, (Settings.load().ace_clipboard or "").lower()
    else:
        forced = env.get(CLIPBOARD_ENV, "").lower()
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
