"""The workspace grid: as many pane slots as fit, paged when there are more sandboxes.

Only the slots on screen exist and only they are updated; a pane that comes into view is drawn
from the model in one go (its catch-up costs the view cap, not its history). A filter (`/`)
narrows the panes paged through; the model keeps them all.
"""
from __future__ import annotations

import math

from textual.containers import Container
from textual.message import Message

from ai_code_evals.tui.filter import PaneFilter
from ai_code_evals.tui.model import PaneKey, RunModel
from ai_code_evals.tui.travel import TimeTravel
from ai_code_evals.tui.widgets.pane import SandboxPane

MIN_PANE_W = 36
MIN_PANE_H = 11
TARGET_ASPECT = 3.5  # preferred pane width/height in cells


def grid_shape(width: int, height: int, count: int) -> tuple[int, int]:
    """(columns, rows) of one page for ``count`` panes in a ``width`` x ``height`` area."""
    max_cols = max(1, width // MIN_PANE_W)
    max_rows = max(1, height // MIN_PANE_H)
    if count <= 0:
        return 1, 1
    if count >= max_cols * max_rows:
        return max_cols, max_rows
    best: tuple[float, int, int] | None = None
    for cols in range(1, max_cols + 1):
        rows = math.ceil(count / cols)
        if rows > max_rows:
            continue
        waste = cols * rows - count
        aspect = (width / cols) / max(1.0, height / rows)
        cost = waste * 2 + abs(math.log(aspect / TARGET_ASPECT))
        if best is None or cost < best[0]:
            best = (cost, cols, rows)
    assert best is not None
    return best[1], best[2]


class Workspace(Container):
    """Grid of ``SandboxPane`` slots over ``model.pane_order``."""

    DEFAULT_CSS = """
    Workspace { layout: grid; grid-size: 1 1; grid-gutter: 0; height: 1fr; }
    Workspace > .workspace--empty { color: $text-muted; content-align: center middle; }
    """

    def __init__(self, model: RunModel, travel: TimeTravel, **kwargs) -> None:
        super().__init__(**kwargs)
        self.model = model
        self.travel = travel
        self.page = 0
        self.cols = self.rows = 1
        self.slots: list[SandboxPane] = []
        self._known = 0
        self._known_all = 0  # panes in the model at the last sync (a filter looks again when it grows)
        self._shape_size = (0, 0)
        self.filter: PaneFilter | None = None
        self._filtered: list[PaneKey] = []
        self.laid_out = False  # the shape is known (before the first layout a page is 1 pane)

    class Reflowed(Message):
        """The grid's shape, page or filter changed (the top bar shows page N/M)."""

    @property
    def keys(self) -> list[PaneKey]:
        """The panes paged through: all of them, or those the filter keeps."""
        return self._filtered if self.filter is not None else self.model.pane_order

    @property
    def per_page(self) -> int:
        return self.cols * self.rows

    @property
    def pages(self) -> int:
        return max(1, math.ceil(len(self.keys) / self.per_page))

    def keys_on_page(self) -> list[PaneKey]:
        start = self.page * self.per_page
        return self.keys[start:start + self.per_page]

    def set_filter(self, flt: PaneFilter | None) -> None:
        self.filter = None if flt is None or flt.empty else flt
        self._refilter()
        self.page = 0
        self.reflow(force=True)

    def _refilter(self) -> bool:
        """Recompute the filtered keys; returns whether they changed."""
        if self.filter is None:
            return False
        panes, flt = self.model.panes, self.filter
        keys = [k for k in self.model.pane_order if flt.matches(panes[k])]
        if keys == self._filtered:
            return False
        self._filtered = keys
        return True

    def on_resize(self) -> None:
        self.reflow()

    def reflow(self, force: bool = False) -> None:
        """Recompute the shape for the current size and pane count; rebind the slots."""
        count = len(self.keys)
        size = (self.size.width, self.size.height)
        if size[0] == 0 or size[1] == 0:
            return
        cols, rows = grid_shape(size[0], size[1], count)
        changed = (cols, rows) != (self.cols, self.rows) or force or not self.laid_out
        self.cols, self.rows = cols, rows
        self.laid_out = True
        self.page = min(self.page, self.pages - 1)
        self.styles.grid_size_columns = cols
        self.styles.grid_size_rows = rows
        self._known = count
        keys = self.keys_on_page()
        want = len(keys)
        if len(self.slots) > want:
            for slot in self.slots[want:]:
                slot.remove()
            del self.slots[want:]
        new_slots = []
        while len(self.slots) < want:
            slot = SandboxPane(self.model, len(self.slots))
            self.slots.append(slot)
            new_slots.append(slot)
        for slot, key in zip(self.slots, keys):
            if slot.key != key or changed or slot in new_slots:
                slot.key, slot.index = key, self.travel.index_for(key)
                if slot.is_mounted:
                    slot.render_full()
        if new_slots:
            self.mount_all(new_slots)
        if changed:
            self.post_message(self.Reflowed())

    def sync(self, dirty: set[PaneKey], paused: bool) -> None:
        """Refresh timer: new panes reflow the grid; visible panes get new output and status."""
        if paused:  # frozen: new panes and output appear on resume
            return
        grew = len(self.model.pane_order) != self._known_all
        refiltered = self._refilter() if grew or (dirty and self.filter is not None and self.filter.status) else False
        self._known_all = len(self.model.pane_order)
        if refiltered or len(self.keys) != self._known:
            self.reflow()
        for slot in self.slots:
            if slot.is_mounted:
                slot.update_live(slot.key in dirty)

    def redraw(self) -> None:
        """Every visible slot from the model (resume, time travel, theme)."""
        self._refilter()
        if len(self.keys) != self._known:
            self.reflow()
        for slot in self.slots:
            if slot.key is not None:
                slot.index = self.travel.index_for(slot.key)
            if slot.is_mounted:
                slot.render_full()

    def set_page(self, page: int) -> bool:
        page = max(0, min(page, self.pages - 1))
        if page == self.page:
            return False
        self.page = page
        self.reflow(force=True)
        return True

    def move_focus(self, slot: SandboxPane, dx: int, dy: int) -> SandboxPane | None:
        """The slot an arrow key leads to from ``slot``; past the page's edge, the next or
        previous page (its first or last pane). None when there is nowhere to go."""
        if slot not in self.slots:
            return None
        i = self.slots.index(slot)
        target = i + dx + dy * self.cols  # left/right run on into the row before or after
        if 0 <= target < len(self.slots):
            return self.slots[target]
        step = 1 if target >= len(self.slots) else -1
        if not self.set_page(self.page + step):
            return None
        if not self.slots:
            return None
        return self.slots[0] if step > 0 else self.slots[-1]

    def show_key(self, key: PaneKey) -> SandboxPane | None:
        """Turn to the page holding ``key`` and return its slot."""
        if key not in self.model.panes or key not in self.keys:
            return None
        index = self.keys.index(key)
        self.set_page(index // self.per_page)
        for slot in self.slots:
            if slot.key == key:
                return slot
        return None
