"""The help screen: every key binding and mouse action, generated from the key map."""
from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Static

from ai_code_evals.tui.keys import BUILTIN_KEYS, KEYMAP, MOUSE_HELP, NOTES


def help_content() -> Content:
    rows: list[tuple[str, str]] = [(k.shown, k.help) for k in KEYMAP] + list(BUILTIN_KEYS)
    width = max(len(key) for key, _ in rows + list(MOUSE_HELP) + list(NOTES)) + 2
    parts: list = [("Keys\n", "bold $text-primary")]
    for key, text in rows:
        parts += [(f"  {key:<{width}}", "bold $text-accent"), text, "\n"]
    parts.append(("\nMouse\n", "bold $text-primary"))
    for key, text in MOUSE_HELP:
        parts += [(f"  {key:<{width}}", "bold $text-accent"), text, "\n"]
    parts.append(("\nGood to know\n", "bold $text-primary"))
    for key, text in NOTES:
        parts += [(f"  {key:<{width}}", "bold $text-accent"), text, "\n"]
    parts.append(("\nPress escape, q or ? to close.", "$text-muted"))
    return Content.assemble(*parts)


class HelpScreen(ModalScreen[None]):
    BINDINGS: ClassVar = [Binding("escape,q,question_mark", "dismiss", "Close", priority=True)]
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll { width: 110; max-width: 95%; height: auto; max-height: 90%;
        border: round $accent; border-title-color: $text; background: $surface; padding: 1 2; }
    """

    def compose(self) -> ComposeResult:
        with VerticalScroll() as box:
            box.border_title = "ai-code-evals · help"
            yield Static(help_content(), id="help-text")
