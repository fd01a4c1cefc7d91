"""Neutralise terminal control sequences in untrusted candidate output.

A candidate can print anything: ``\\x1b[2J`` (clear screen), an OSC title change, cursor moves,
bells, bidi overrides. None of it may reach the terminal. Colour (SGR) sequences are dropped
silently because they are common and harmless; every other escape sequence and control character
is shown as a visible placeholder, so a reader can still see that the program printed it.
No Textual import: the headless progress, the CLI and the TUI all use it.
"""
from __future__ import annotations

import re

MAX_DISPLAY_CHARS = 2000  # longer lines are cut for display (the run log keeps its own copy)

# SGR: ESC [ params m  (8-bit form: CSI = \x9b)
_SGR = re.compile(r"(?:\x1b\[|\x9b)[0-9;:]*m")
# OSC ... terminated by BEL or ST (ESC \\ or \x9c), or unterminated to the end of the line
_OSC = re.compile(r"(?:\x1b\]|\x9d)[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?")
# Other CSI sequences (cursor moves, erase, modes) and DCS/PM/APC strings
_CSI = re.compile(r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]?")
_STRING_SEQ = re.compile(r"(?:\x1b[P^_X]|[\x90\x9e\x9f\x98])[^\x1b\x9c]*(?:\x1b\\|\x9c)?")
# Any remaining control character: C0 (but tab), DEL, C1, and bidi/isolate overrides
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_NEEDS_WORK = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\t]")


def _picture(match: re.Match) -> str:
    """Caret notation (as ``cat -v``): ESC -> ^[, BEL -> ^G, DEL -> ^?; others as <U+XXXX>.
    Plain ASCII, so it draws in any terminal font."""
    code = ord(match.group(0))
    if code < 0x20:
        return "^" + chr(0x40 + code)
    if code == 0x7F:
        return "^?"
    return f"<U+{code:04X}>"  # C1 controls and bidi overrides


def _visible(match: re.Match) -> str:
    """An escape sequence made inert and visible: ESC -> ^[, the rest kept as text."""
    return _CONTROL.sub(_picture, match.group(0))


def sanitize_line(text: str) -> str:
    """One line of untrusted output, safe to draw inside a pane."""
    if len(text) > MAX_DISPLAY_CHARS:
        text = text[:MAX_DISPLAY_CHARS] + "…"
    if not _NEEDS_WORK.search(text):
        return text  # the common case: plain printable text
    return _CONTROL.sub(_picture, _inert_sequences(text.rstrip("\r\n")).expandtabs(4))


def _inert_sequences(line: str) -> str:
    """One line with what a terminal would overwrite dropped (everything before the last
    carriage return), colours removed and every other escape sequence made visible."""
    if "\r" in line:
        line = line.rsplit("\r", 1)[-1]
    line = _SGR.sub("", line)
    line = _OSC.sub(_visible, line)
    line = _STRING_SEQ.sub(_visible, line)
    return _CSI.sub(_visible, line)


def sanitize_text(text: str) -> str:
    """Untrusted text of any length and shape (code, a reason, a task id, a notice), safe for a
    terminal: line breaks and tabs stay, every other control character and escape sequence
    (OSC 52 clipboard writes, cursor moves, bidi overrides) is made visible and inert. Colour
    sequences are dropped as in ``sanitize_line``; nothing is cut."""
    if not _NEEDS_WORK.search(text.replace("\n", "").replace("\t", "")):
        return text
    lines = []
    for line in text.split("\n"):
        line = _inert_sequences(line.removesuffix("\r"))
        lines.append("\t".join(_CONTROL.sub(_picture, part) for part in line.split("\t")))
    return "\n".join(lines)


def sanitize_data(value):
    """``value`` (an event's data, a summary: dicts, lists, strings) with every string made safe
    by ``sanitize_text``, keys included. Only what needs it is copied."""
    if isinstance(value, str):
        return sanitize_text(value)
    if isinstance(value, dict):
        return {sanitize_data(k) if isinstance(k, str) else k: sanitize_data(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(sanitize_data(v) for v in value)
    return value
