"""Textual's Footer, rebuilt only when the keys it shows change.

The stock footer recomposes (a dozen widgets, restyled, and a layout of the screen) on every
focus change; here focus moves between panes all the time and the shown keys stay the same, so
that work is skipped. Nor is it rebuilt while a box (filter, task list, help) is open over the
workspace: the workspace's keys are off then, the footer is behind the box, and the keys are
the same again when it closes (two rebuilds per `/` or `g`, measured in
benchmarks/bench_tui_scale.py).
"""
from __future__ import annotations

from textual.screen import ModalScreen, Screen
from textual.widgets import Footer


class KeyFooter(Footer):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._shown: tuple | None = None

    def bindings_changed(self, screen: Screen) -> None:
        if isinstance(self.app.screen, ModalScreen) and self._bindings_ready:
            return
        shown = tuple((b.key, b.description, enabled, tooltip)
                      for (_, b, enabled, tooltip) in screen.active_bindings.values() if b.show)
        if shown == self._shown and self._bindings_ready:
            return
        self._shown = shown
        super().bindings_changed(screen)
