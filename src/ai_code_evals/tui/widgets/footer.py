"""Textual's Footer, rebuilt only when the keys it shows change.

The stock footer recomposes (a dozen widgets, restyled) on every focus change; here focus moves
between panes all the time and the shown keys stay the same, so that work is skipped.
"""
from __future__ import annotations

from textual.screen import Screen
from textual.widgets import Footer


class KeyFooter(Footer):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._shown: tuple | None = None

    def bindings_changed(self, screen: Screen) -> None:
        shown = tuple((b.key, b.description, enabled, tooltip)
                      for (_, b, enabled, tooltip) in screen.active_bindings.values() if b.show)
        if shown == self._shown and self._bindings_ready:
            return
        self._shown = shown
        super().bindings_changed(screen)
