"""Model to widgets: the refresh timer's work, and the bars and the code panel it keeps current.

Part of ``WorkspaceApp`` (a mixin): what the screen shows follows the run model here, never in
an event handler, so that per frame the work is what changed since the last one.
"""
from __future__ import annotations

import time

from textual.screen import ModalScreen

from ai_code_evals.tui.model import format_ts
from ai_code_evals.tui.widgets.grid import Workspace

MAX_TOASTS_PER_FLUSH = 3
BOARD_REFRESH_S = 0.25  # the leaderboard follows the run at most 4 times a second
NARROW_WIDTH = 120


def format_eta(seconds: float) -> str:
    seconds = max(0, round(seconds))
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


class ViewSync:
    """The refresh timer (``flush``), notifications of engine notices, the top bar (progress
    line), the grid's title and the code panel."""

    def flush(self) -> None:
        """Move the model's pending changes to the widgets (runs REFRESH_HZ times a second).
        Not while a modal screen (help, detail, filter, jump, confirm) is up: every frame would
        redraw the whole dimmed workspace behind it; the widgets catch up when it closes."""
        self.ingest_inbox()
        if not self.screen_stack or isinstance(self.screen, ModalScreen):  # (no screen: shutting down)
            return
        if self.model.version == self._seen_version:
            if self._board_dirty and time.monotonic() >= self._board_due:
                self._board_dirty = False
                self._board_due = time.monotonic() + BOARD_REFRESH_S
                self.leaderboard.refresh_rows()
            return
        self._seen_version = self.model.version
        panes, tasks, code, notices = self.model.drain()
        self.show_notices(notices)
        self.workspace.sync(panes, self.paused)
        self.leaderboard.sync_tasks()
        if self.leaderboard.task_id in tasks:
            self._board_dirty = True
        now = time.monotonic()
        if self._board_dirty and (now >= self._board_due or self.model.finished):  # progress cells change on every snapshot
            self._board_dirty = False
            self._board_due = now + BOARD_REFRESH_S
            self.leaderboard.refresh_rows()
        if self.selected is None:
            # the first pane, or before any pane exists a version a model is writing, so its
            # code streams into the code panel as it arrives
            first = self.model.pane_order[0][0] if self.model.pane_order else self._first_writing(code)
            if first is not None:
                self.selected = first
                code.add(first)
        if self.selected in code or tasks:
            self.show_code()
        self.update_topbar()

    def _first_writing(self, changed: set[str]) -> str | None:
        """Among candidates whose code just changed, the first one a model is still writing."""
        for cid in sorted(changed):
            task = self.model.tasks.get(self.model.task_of(cid) or "")
            info = task.candidates.get(cid) if task else None
            if info is not None and info.generating:
                return cid
        return None

    def show_notices(self, notices: list[tuple[str, str]]) -> None:
        """Engine notices as notifications; a burst becomes one toast, not a wall of them."""
        rank = {"information": 0, "warning": 1, "error": 2}
        levels = [{"info": "information", "error": "error"}.get(level, "warning") for level, _ in notices]
        if len(notices) <= MAX_TOASTS_PER_FLUSH:
            for severity, (_, message) in zip(levels, notices):
                self.notify(message, severity=severity, timeout=8)
            return
        worst = max(levels, key=rank.__getitem__)
        lines = [m for _, m in notices[:MAX_TOASTS_PER_FLUSH]]
        self.notify("\n".join(lines) + f"\n… and {len(notices) - len(lines)} more (see the run log)",
                    title=f"{len(notices)} engine notices", severity=worst, timeout=12)

    def update_topbar(self) -> None:
        m = self.model
        done, total = m.results_done, m.expected_panes
        narrow = self.size.width < NARROW_WIDTH
        bits = [f"ai-code-evals · {self.mode.upper()}"]
        if not narrow:
            bits.append(f"run {m.run_id or '…'}")
            if m.backend:
                bits.append(f"{m.backend}{' (' + m.isolation + ')' if m.isolation else ''}")
        if m.unsafe_isolation:
            bits.append("UNSAFE ISOLATION: candidates are not contained")
        bits.append(f"{done}/{total} done" if narrow else f"{done}/{total} sandboxes finished")
        if m.results_failed:
            bits.append(f"{m.results_failed} failed")
        if m.tokens:
            bits.append(f"{m.tokens:,} tokens")
        infra = m.infrastructure_errors()
        if infra:
            bits.append(f"{infra} infrastructure error(s)")
        if m.backend_status and not m.finished:
            bits.append(m.backend_status)
        if m.finished:
            bits.append("run interrupted" if m.interrupted else "run complete")
        elif self.mode == "live" and 0 < done < total:
            rate = done / max(1e-6, time.monotonic() - self._started)
            bits.append(f"ETA {format_eta((total - done) / rate)}")
        if self.workspace.laid_out and self.workspace.pages > 1:
            bits.append(f"page {self.workspace.page + 1}/{self.workspace.pages}")
        if self.paused:
            bits.append("PAUSED (space resumes)")
        if self.travel.global_pos is not None:
            bits.append(f"« ALL PANES at {format_ts(self.travel.global_ts(), m.started_at)} (end: live)")
        elif self.travel.per_pane:
            bits.append(f"« time travel in {len(self.travel.per_pane)} pane(s) (end: live)")
        elif self.travel.all_panes:
            bits.append("[ ] step all panes")
        text = " · ".join(bits)
        if text != self._topbar_text:  # an update costs a repaint; most flushes change nothing here
            self._topbar_text = text
            self.topbar.update(text, layout=False)

    def show_code(self) -> None:
        cid = self.selected
        if cid is None:
            self.code.show(None, None)
            return
        task_id = self.model.task_of(cid)
        task = self.model.tasks.get(task_id) if task_id else None
        info = task.candidates.get(cid) if task else None
        against = None
        if self.diff_against and task is not None:
            if self.diff_against == "reference" and task.reference:
                against = ("reference", task.reference)
            elif self.diff_against in task.candidates and self.diff_against != cid:
                against = (self.diff_against, task.candidates[self.diff_against].code)
        self.code.show(cid, info.code if info else None, info.label if info else "", against,
                       bool(info and info.generating), info.raw_reply if info else None, self.show_reply)

    def on_workspace_reflowed(self, message: Workspace.Reflowed) -> None:
        self.update_gridbar()
        self.update_topbar()

    def update_gridbar(self) -> None:
        """The grid's title while a filter is on: what it keeps, N of M."""
        flt = self.workspace.filter
        self.gridbar.set_class(flt is not None, "-shown")
        if flt is not None:
            self.gridbar.update(f"Filter: {flt.text} · {len(self.workspace.keys)} of "
                                f"{len(self.model.pane_order)} sandboxes · / edits, esc in the box clears")
