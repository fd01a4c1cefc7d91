"""A pane's output view: a capped list of already-sanitised lines, drawn line by line.

Only visible lines are rendered (line API), lines arrive in batches from the refresh timer, and
no thread or worker is started per write (``Log.write_lines`` starts one per call).
"""
from __future__ import annotations

from typing import ClassVar

from rich.cells import cell_len
from rich.segment import Segment
from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.strip import Strip

from ai_code_evals.tui.sanitize import sanitize_line

VIEW_LINE_CAP = 1000  # lines kept per pane view; the model keeps more, the run log its own


class OutputView(ScrollView, can_focus=False):
    """Append-only output with a line cap; follows the end unless the user scrolled up."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {"output--stderr", "output--notice"}
    DEFAULT_CSS = """
    OutputView { height: 1fr; overflow-x: hidden; overflow-y: auto; scrollbar-size-vertical: 1; }
    OutputView > .output--stderr { color: $text-error; }
    OutputView > .output--notice { color: $text-muted; text-style: italic; }
    """

    def __init__(self, cap: int = VIEW_LINE_CAP, **kwargs) -> None:
        super().__init__(**kwargs)
        self.cap = cap
        self._lines: list[tuple[str, int]] = []  # (sanitised text, kind: 0 out, 1 err, 2 notice)
        self._width = 0

    @property
    def line_count(self) -> int:
        return len(self._lines)

    @property
    def plain_lines(self) -> list[str]:
        return [text for text, _ in self._lines]

    def set_lines(self, lines: list[tuple[str, bool]], notice: str | None = None) -> None:
        """Replace everything (a pane was rebound, caught up, or time-travelled)."""
        self._lines = [(notice, 2)] if notice else []
        self._width = 0
        self._extend(lines[-self.cap:])
        self._update_virtual(follow=True)
        self.refresh()

    def append(self, lines: list[tuple[str, bool]]) -> None:
        if not lines:
            return
        follow = self.scroll_y >= self.max_scroll_y
        self._extend(lines[-self.cap:])
        if len(self._lines) > self.cap:
            del self._lines[: len(self._lines) - self.cap]
        self._update_virtual(follow)
        self.refresh()

    def _extend(self, lines: list[tuple[str, bool]]) -> None:
        width = self._width
        out = self._lines
        for text, is_err in lines:
            clean = sanitize_line(text)
            out.append((clean, 1 if is_err else 0))
            w = len(clean) if clean.isascii() else cell_len(clean)
            width = max(width, w)
        self._width = width

    def _update_virtual(self, follow: bool) -> None:
        self.virtual_size = Size(self._width, len(self._lines))
        if follow:
            self.scroll_to(y=max(0, len(self._lines) - self.scrollable_content_region.height),
                           animate=False, immediate=True)

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        index = scroll_y + y
        width = self.scrollable_content_region.width
        base = self.rich_style
        if index >= len(self._lines):
            return Strip.blank(width, base)
        text, kind = self._lines[index]
        style = base
        if kind == 1:
            style = base + self.get_component_rich_style("output--stderr", partial=True)
        elif kind == 2:
            style = base + self.get_component_rich_style("output--notice", partial=True)
        strip = Strip([Segment(text, style)], len(text) if text.isascii() else cell_len(text))
        return strip.crop_extend(scroll_x, scroll_x + width, base)
