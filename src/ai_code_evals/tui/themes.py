"""Themes from TOML files: one file per theme, keys = ``textual.theme.Theme`` fields.

Where themes come from, in order (a later file with the same ``name`` wins):
1. the bundled themes: the top-level ``themes/`` folder of a source checkout (the canonical
   copy, found relative to this file); in an installed wheel, the copy packaged as
   ``ai_code_evals/themes`` (pyproject's hatch ``force-include``);
2. every directory named by ``ACE_THEME_DIR`` (``os.pathsep``-separated; from the environment,
   the project's ``.env`` or ``ai-code-evals.toml``, like every setting), then those the caller
   passes (``WorkspaceApp(theme_dirs=...)``, for tests and embedding).

A file that cannot be used is skipped and described in one line; the app shows all such lines
in a single notification and starts anyway.
"""
from __future__ import annotations

import dataclasses
import os
import tomllib
from importlib import resources
from pathlib import Path

from textual.color import Color, ColorParseError
from textual.theme import Theme

THEME_ENV = "ACE_THEME_DIR"
THEME_NAME_ENV = "ACE_THEME"  # the theme to start with (default ace-dark)
DEFAULT_THEME = "ace-dark"
_COLOUR_FIELDS = ("primary", "secondary", "warning", "error", "success", "accent", "foreground",
                  "background", "surface", "panel", "boost")
_FIELDS = {f.name: f for f in dataclasses.fields(Theme)}


class ThemeFileError(ValueError):
    """A theme file that cannot be used; the message is one readable line."""


def bundled_theme_dir() -> Path | None:
    """The top-level ``themes/`` of a checkout, else the packaged copy."""
    checkout = Path(__file__).resolve().parents[3] / "themes"
    if checkout.is_dir() and any(checkout.glob("*.toml")):
        return checkout
    try:
        packaged = resources.files("ai_code_evals").joinpath("themes")
        if packaged.is_dir():
            return Path(str(packaged))
    except (ModuleNotFoundError, OSError):
        pass
    return None


def user_theme_dirs(extra: list[Path] | None = None, theme_dir_setting: str | None = None) -> list[Path]:
    """``ACE_THEME_DIR`` (a path list, from the app's settings), then ``extra``."""
    dirs = [Path(p).expanduser() for p in (theme_dir_setting or "").split(os.pathsep) if p.strip()]
    return dirs + [Path(p).expanduser() for p in (extra or [])]


def _check_colour(name: str, key: str, value: object) -> str:
    if not isinstance(value, str):
        raise ThemeFileError(f"{name}: '{key}' must be a colour string, not {type(value).__name__}")
    try:
        Color.parse(value)
    except ColorParseError:
        raise ThemeFileError(f"{name}: '{key}' = {value!r} is not a colour") from None
    return value


def parse_theme(text: str, source: str = "theme") -> Theme:
    """A validated Theme from TOML text; ThemeFileError with one line when it is not usable."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ThemeFileError(f"{source}: not valid TOML ({exc})") from None
    unknown = sorted(set(data) - set(_FIELDS))
    if unknown:
        raise ThemeFileError(f"{source}: unknown key {unknown[0]!r} (theme keys are "
                             f"{', '.join(k for k in _FIELDS if k != 'ansi')})")
    for required in ("name", "primary"):
        if required not in data:
            raise ThemeFileError(f"{source}: missing required key '{required}'")
    if not isinstance(data["name"], str) or not data["name"].strip():
        raise ThemeFileError(f"{source}: 'name' must be a non-empty string")
    kwargs: dict = {"name": data["name"].strip()}
    for key in _COLOUR_FIELDS:
        if key in data:
            kwargs[key] = _check_colour(source, key, data[key])
    for key in ("dark", "ansi"):
        if key in data:
            if not isinstance(data[key], bool):
                raise ThemeFileError(f"{source}: '{key}' must be true or false")
            kwargs[key] = data[key]
    for key in ("luminosity_spread", "text_alpha"):
        if key in data:
            if not isinstance(data[key], (int, float)) or isinstance(data[key], bool) or not 0 <= data[key] <= 1:
                raise ThemeFileError(f"{source}: '{key}' must be a number between 0 and 1")
            kwargs[key] = float(data[key])
    variables = data.get("variables", {})
    if not isinstance(variables, dict):
        raise ThemeFileError(f"{source}: [variables] must be a table of name = \"value\"")
    for key, value in variables.items():
        if not isinstance(value, str):
            raise ThemeFileError(f"{source}: variable '{key}' must be a string")
    kwargs["variables"] = dict(variables)
    theme = Theme(**kwargs)
    try:
        theme.to_color_system().generate()  # the same work Textual does when it applies a theme
    except Exception as exc:  # noqa: BLE001 - any failure here means "this file is unusable"
        raise ThemeFileError(f"{source}: cannot build colours ({exc})") from None
    return theme


def load_theme_file(path: Path) -> Theme:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ThemeFileError(f"{path}: cannot read ({getattr(exc, 'strerror', None) or exc})") from None
    return parse_theme(text, str(path))


def load_themes(extra_dirs: list[Path] | None = None, theme_dir_setting: str | None = None
                ) -> tuple[list[Theme], list[str]]:
    """Every usable theme (bundled first, then ``ACE_THEME_DIR``'s and ``extra_dirs``) and one
    line per problem."""
    themes: dict[str, Theme] = {}
    problems: list[str] = []
    dirs: list[Path] = []
    bundled = bundled_theme_dir()
    if bundled is None:
        problems.append("the bundled themes folder was not found; using Textual's themes")
    else:
        dirs.append(bundled)
    for d in user_theme_dirs(extra_dirs, theme_dir_setting):
        if not d.is_dir():
            problems.append(f"{d}: theme directory not found")
            continue
        dirs.append(d)
    for d in dirs:
        for path in sorted(d.glob("*.toml")):
            try:
                theme = load_theme_file(path)
            except ThemeFileError as exc:
                problems.append(str(exc))
                continue
            themes[theme.name] = theme
    return list(themes.values()), problems
