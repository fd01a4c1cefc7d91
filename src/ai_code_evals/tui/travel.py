"""Snapshot time travel: which snapshot each pane shows. No Textual import.

Two modes. Per pane (default): ``[``/``]`` move one pane's index through its own snapshots.
All panes (toggle): one cursor on the run's global timeline (every snapshot in arrival order);
each pane shows its last snapshot at or before that point, found by bisection, so a jump costs
O(log n) for a pane, whatever the history.
"""
from __future__ import annotations

from ai_code_evals.tui.model import PaneKey, RunModel


class TimeTravel:
    def __init__(self, model: RunModel) -> None:
        self.model = model
        self.per_pane: dict[PaneKey, int] = {}
        self.global_pos: int | None = None
        self.all_panes = False

    @property
    def active(self) -> bool:
        return bool(self.per_pane) or self.global_pos is not None

    def index_for(self, key: PaneKey) -> int | None:
        """Snapshot index shown for a pane: None = live, -1 = before its first snapshot."""
        if self.global_pos is not None:
            pane = self.model.panes.get(key)
            if pane is None:
                return None
            i = pane.snapshot_index_at(self.global_pos)
            return -1 if i is None else i
        return self.per_pane.get(key)

    def step(self, key: PaneKey | None, delta: int, visible: list[PaneKey] | None = None) -> bool:
        """Move back (delta < 0) or forward; stepping forward past the end returns to live.
        All panes: each step moves every ``visible`` pane to its next (previous) snapshot
        (without ``visible``: one snapshot of the run's timeline). Returns whether anything changed."""
        if self.all_panes:
            if not visible:
                return self._step_global(delta)
            changed = False
            for _ in range(abs(delta)):
                if not self._step_visible(visible, 1 if delta > 0 else -1):
                    break
                changed = True
            return changed
        if key is None or key not in self.model.panes:
            return False
        n = len(self.model.panes[key].snapshots)
        if n == 0:
            return False
        current = self.per_pane.get(key)
        if current is None:  # live: the first step back shows the snapshot before the latest
            if delta >= 0:
                return False
            new = max(0, n - 1 + delta)
        else:
            new = current + delta
            if new >= n:
                del self.per_pane[key]
                return True
            new = max(0, new)
            if new == current:
                return False
        self.per_pane[key] = new
        return True

    def _step_visible(self, keys: list[PaneKey], direction: int) -> bool:
        """One step of every visible pane on the global timeline: forward to the point where
        each of them has reached its next snapshot; back to just before the current snapshot
        of each (so no visible pane stays put while its neighbours move)."""
        n = len(self.model.timeline)
        if n == 0:
            return False
        cur = self.global_pos if self.global_pos is not None else n - 1
        if direction > 0:
            if self.global_pos is None:
                return False
            nexts = []
            for key in keys:
                pane = self.model.panes.get(key)
                if pane is None or not pane.timeline_pos:
                    continue
                i = pane.snapshot_index_at(cur)
                j = 0 if i is None else i + 1
                if j < len(pane.timeline_pos):
                    nexts.append(pane.timeline_pos[j])
            if not nexts:
                self.global_pos = None
                return True
            self.global_pos = max(nexts)
            return True
        befores = []
        for key in keys:
            pane = self.model.panes.get(key)
            i = pane.snapshot_index_at(cur) if pane is not None else None
            if i is not None:
                befores.append(pane.timeline_pos[i] - 1)
        if not befores:
            return False
        new = max(0, min(befores))
        changed = new != self.global_pos
        self.global_pos = new
        return changed

    def _step_global(self, delta: int) -> bool:
        n = len(self.model.timeline)
        if n == 0:
            return False
        if self.global_pos is None:
            if delta >= 0:
                return False
            self.global_pos = max(0, n - 1 + delta)
            return True
        new = self.global_pos + delta
        if new >= n:
            self.global_pos = None
            return True
        new = max(0, new)
        changed = new != self.global_pos
        self.global_pos = new
        return changed

    def toggle_all(self) -> bool:
        """Switch between stepping the focused pane and all panes; both start from live."""
        self.all_panes = not self.all_panes
        self.live()
        return self.all_panes

    def live(self) -> None:
        self.per_pane.clear()
        self.global_pos = None

    def global_ts(self) -> float | None:
        """Timestamp of the global cursor's snapshot (all-panes mode)."""
        if self.global_pos is None or not self.model.timeline:
            return None
        key = self.model.timeline[self.global_pos]
        pane = self.model.panes[key]
        i = pane.snapshot_index_at(self.global_pos)
        return pane.snapshots[i].get("ts") if i is not None else None
