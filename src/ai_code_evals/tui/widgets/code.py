"""Code panel: the selected candidate's code, or a diff against the reference or another candidate.

Highlighted with pygments through ``textual.highlight`` (styles are theme variables), and
highlighted again whenever the theme changes.
"""
from __future__ import annotations

import difflib

from pygments.token import Token
from textual.containers import VerticalScroll
from textual.content import Content
from textual.highlight import HighlightTheme, highlight
from textual.widgets import Static


class DiffTheme(HighlightTheme):
    """Textual's highlight theme plus the diff tokens it leaves plain."""

    STYLES = {  # noqa: RUF012 - same shape as the base class attribute
        **HighlightTheme.STYLES,
        Token.Generic.Deleted: "$text-error",
        Token.Generic.Inserted: "$text-success",
        Token.Generic.Subheading: "bold $text-primary",
        Token.Generic.Heading: "bold $text-secondary",
    }


def numbered(content: Content) -> Content:
    lines = content.split("\n")
    width = len(str(len(lines)))
    parts: list = []
    for n, line in enumerate(lines, 1):
        parts.append((f"{n:>{width}} ", "$text-muted"))
        parts.append(line)
        if n < len(lines):
            parts.append("\n")
    return Content.assemble(*parts)


def diff_text(old: str, new: str, old_name: str, new_name: str) -> str:
    lines = list(difflib.unified_diff(old.splitlines(), new.splitlines(), fromfile=old_name,
                                      tofile=new_name, lineterm="", n=3))
    return "\n".join(lines) if lines else f"(no difference between {new_name} and {old_name})"


class CodePanel(VerticalScroll):
    """Shows one candidate; ``show`` is cheap to call again with the same arguments."""

    DEFAULT_CSS = """
    CodePanel { border: round $panel-lighten-2; border-title-color: $text; padding: 0 1; height: 1fr; }
    CodePanel:focus-within { border: round $accent; }
    CodePanel > Static { width: auto; }
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self._body = Static("", markup=False)
        self._args: tuple | None = None
        self.plain = ""  # what is shown, without styles (tests and export read it)
        self.border_title = "Code"

    def compose(self):
        yield self._body

    def on_mount(self) -> None:
        self.app.theme_changed_signal.subscribe(self, lambda _theme: self.rehighlight())

    def show(self, candidate_id: str | None, code: str | None, label: str = "",
             against: tuple[str, str] | None = None, generating: bool = False,
             raw_reply: str | None = None, raw: bool = False) -> None:
        """``against`` = (name, code) switches to a diff view; ``raw`` shows ``raw_reply``, the
        model's whole reply, instead of the code taken out of it."""
        args = (candidate_id, code, label, against, generating, raw_reply, raw)
        if args == self._args:
            return
        self._args = args
        self.rehighlight()

    @property
    def mode(self) -> str:
        if not self._args or self._args[0] is None:
            return "empty"
        if self._args[6]:
            return "reply"
        return "diff" if self._args[3] else "code"

    def rehighlight(self) -> None:
        if self._args is None:
            return
        cid, code, label, against, generating, raw_reply, raw = self._args
        if cid is None:
            self.border_title = "Code"
            self.plain = ""
            self._body.update(Content.styled("Select a pane or a leaderboard row to see its code.",
                                             "$text-muted"))
            return
        suffix = f" · {label}" if label else ""
        if generating:
            suffix += " · generating…"
        if raw:
            self.border_title = Content(f"Model reply · {cid}{suffix} · r: code")
            self.plain = raw_reply or ""
            if raw_reply:
                self._body.update(highlight(raw_reply, language="markdown"))
            else:
                self._body.update(Content.styled("(no model reply: this version was not written by a model "
                                                 "in this run)", "$text-muted"))
        elif against is not None:
            name, other = against
            self.border_title = Content(f"Diff · {name} → {cid}")  # not markup: ids are data
            self.plain = diff_text(other, code or "", name, cid)
            self._body.update(highlight(self.plain, language="diff", theme=DiffTheme))
        elif code:
            self.border_title = Content(f"Code · {cid}{suffix}")
            self.plain = code
            self._body.update(numbered(highlight(code, language="python")))
        else:
            self.border_title = Content(f"Code · {cid}{suffix}")
            self.plain = ""
            self._body.update(Content.styled("(no code)", "$text-muted"))
