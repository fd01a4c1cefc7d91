"""What the user points at (a pane, a leaderboard row) and what follows it.

Part of ``WorkspaceApp`` (a mixin): focusing a pane or a row selects its version; the code
panel and the leaderboard follow a moment later, and a task shown on the board turns the grid.
"""
from __future__ import annotations

from ai_code_evals.tui.model import PaneKey
from ai_code_evals.tui.widgets.leaderboard import (
    CandidateChosen,
    CandidateHighlighted,
    LeaderTable,
    TaskShown,
)
from ai_code_evals.tui.widgets.pane import PaneFocused, SandboxPane

CODE_FOLLOW_S = 0.05  # the code panel follows a new selection after this delay


class SelectionFollow:
    """Focus and selection: the focused pane or row, and the panels that follow it."""

    def focused_pane_key(self) -> PaneKey | None:
        if isinstance(self.focused, SandboxPane) and self.focused.key is not None:
            return self.focused.key
        if self._last_pane in self.model.panes:
            return self._last_pane
        slots = [s for s in self.workspace.slots if s.key is not None]
        return slots[0].key if slots else None

    def on_pane_focused(self, message: PaneFocused) -> None:
        self._last_pane = message.key
        self.select_candidate(message.key[0])

    def on_candidate_highlighted(self, message: CandidateHighlighted) -> None:
        self.select_candidate(message.candidate_id)

    def on_task_shown(self, message: TaskShown) -> None:
        """Turn the grid to the page holding the task's first pane (not for the first task
        at start, and not when one of its panes is already on screen)."""
        keys = [k for k in self.workspace.keys if self.model.panes[k].task_id == message.task_id]
        if not keys or any(s.key in keys for s in self.workspace.slots):
            return
        self.workspace.show_key(keys[0])
        self.update_topbar()

    def on_candidate_chosen(self, message: CandidateChosen) -> None:
        self.confirm_pick(message.task_id, message.candidate_id)

    def select_candidate(self, cid: str) -> None:
        """The code panel follows the selection a moment later, so the frame that shows the
        new focus is not held up by highlighting (and holding tab does not highlight each)."""
        if cid != self.selected:
            self.selected = cid
            if self._code_timer is not None:
                self._code_timer.stop()
            self._code_timer = self.set_timer(CODE_FOLLOW_S, self._follow_selection)

    def _follow_selection(self) -> None:
        """Code panel and leaderboard follow the selected candidate (its task's board)."""
        task_id = self.model.task_of(self.selected) if self.selected else None
        if task_id:
            self.leaderboard.show_task(task_id)
        self.show_code()

    def focused_candidate(self) -> str | None:
        """The version the user points at: the focused pane, the leaderboard's highlighted row
        when the board has focus, else the selected one."""
        if isinstance(self.focused, SandboxPane) and self.focused.key is not None:
            return self.focused.key[0]
        if isinstance(self.focused, LeaderTable) and self.leaderboard.highlighted:
            return self.leaderboard.highlighted
        return self.selected
