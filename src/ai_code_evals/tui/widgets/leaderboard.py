"""Leaderboard: one table per task, updated by diff (add, update cells, remove, re-sort).

Which task is shown is one line above the table (its id, N of M): a run of 164 tasks does not
fit in tabs. `g` (or a click on that line) opens the searchable task list, `s`/`S` step tasks.

In step-all time travel the board shows the run as it was at the travel cursor (the model
filters by arrival); stepping one pane alone leaves it live.

Never cleared and rebuilt: a refresh touches only the cells that changed, so the table does
not flicker and keeps its cursor on the same candidate while rows move.
"""
from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.events import Click
from textual.message import Message
from textual.widgets import DataTable, Static
from textual.widgets.data_table import CellDoesNotExist

from ai_code_evals.tui.model import LeaderRow, RunModel
from ai_code_evals.tui.travel import TimeTravel

COLUMNS = (("pick", "Pick"), ("cand", "Candidate"), ("score", "Score"), ("tests", "Tests"),
           ("errors", "Errors handled"), ("median", "Median ms"), ("peak", "Peak KiB"), ("status", "Status"))
STATUS_WIDTH = 26  # "timeout (profiles differ)", "running 120/120"
STATUS_COLOUR = {"passed": "success", "failed": "error", "error": "error", "timeout": "warning",
                 "killed": "warning", "skipped": "text-muted"}


class CandidateChosen(Message):
    """The user picked a row (enter, or a click on the highlighted row)."""

    def __init__(self, task_id: str, candidate_id: str) -> None:
        super().__init__()
        self.task_id, self.candidate_id = task_id, candidate_id


class CandidateHighlighted(Message):
    def __init__(self, task_id: str, candidate_id: str) -> None:
        super().__init__()
        self.task_id, self.candidate_id = task_id, candidate_id


class TaskShown(Message):
    """The leaderboard now shows another task (the grid turns to its panes)."""

    def __init__(self, task_id: str) -> None:
        super().__init__()
        self.task_id = task_id


class TaskListWanted(Message):
    """The task line was clicked: open the task list."""


class TaskLine(Static):
    """The task shown, N of M, and the keys that change it."""

    def on_click(self, event: Click) -> None:
        event.stop()
        self.post_message(TaskListWanted())


class LeaderTable(DataTable):
    """The leaderboard's table (its own type so CSS and tests can find it). ``user_moved``: the
    cursor was last moved by a key or a click. Only then does the selection follow it: rows
    arriving under the cursor, or a re-sort, are not the user choosing another version."""

    user_moved = False

    def _moved(self, action) -> None:
        self.user_moved = True
        action()

    def action_cursor_up(self) -> None:
        self._moved(super().action_cursor_up)

    def action_cursor_down(self) -> None:
        self._moved(super().action_cursor_down)

    def action_page_up(self) -> None:
        self._moved(super().action_page_up)

    def action_page_down(self) -> None:
        self._moved(super().action_page_down)

    def action_scroll_top(self) -> None:
        self._moved(super().action_scroll_top)

    def action_scroll_bottom(self) -> None:
        self._moved(super().action_scroll_bottom)

    def on_click(self, event) -> None:
        """Before DataTable's own click handler (Textual calls the subclass's first), which
        moves the cursor."""
        self.user_moved = True


class Leaderboard(Vertical):
    DEFAULT_CSS = """
    Leaderboard { border: round $panel-lighten-2; border-title-color: $text; border-title-style: bold;
                  height: 1fr; padding: 0 0; }
    Leaderboard:focus-within { border: round $accent; }
    Leaderboard > TaskLine { height: 1; padding: 0 1; color: $text-accent; text-style: bold; }
    Leaderboard > TaskLine.-single { display: none; }
    Leaderboard > #reason { height: auto; max-height: 3; padding: 0 1; color: $text; }
    Leaderboard > LeaderTable { height: 1fr; }
    """

    def __init__(self, model: RunModel, travel: TimeTravel | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.model = model
        self.travel = travel
        self.border_title = "Leaderboard"
        self.task_id: str | None = None
        self.table = LeaderTable(cursor_type="row", zebra_stripes=True)
        self.task_line = TaskLine("", classes="-single", markup=False)
        self.reason = Static("", id="reason", markup=False)
        self._cells: dict[str, tuple[str, ...]] = {}
        self._reason_shown: str | None = None
        self._task_line_text = ""
        self._theme_key = ""
        self._colours: dict[str, str] = {}

    def compose(self) -> ComposeResult:
        yield self.task_line
        yield self.reason
        yield self.table

    def on_mount(self) -> None:
        for key, label in COLUMNS:  # Status: a fixed width, so the layout never depends on timing
            self.table.add_column(label, key=key, width=STATUS_WIDTH if key == "status" else None)
        self.app.theme_changed_signal.subscribe(self, lambda _t: self.refresh_rows(force=True))

    # -- tasks ------------------------------------------------------------------------------
    def sync_tasks(self) -> None:
        """The task line follows the run's tasks; the first task becomes current."""
        ids = self.model.task_ids
        if self.task_id is None and ids:
            self.show_task(ids[0])
        self._update_task_line()

    def _update_task_line(self) -> None:
        ids = self.model.task_ids
        self.task_line.set_class(len(ids) <= 1, "-single")
        if self.task_id is None or len(ids) <= 1:
            return
        text = (f"{self.task_id}  ·  task {self.model.task_position(self.task_id) + 1} of {len(ids)}  ·  "
                "g chooses, s / S next / previous")
        if text != self._task_line_text:  # an update costs a repaint
            self._task_line_text = text
            self.task_line.update(text)

    def show_task(self, task_id: str) -> None:
        if task_id not in self.model.tasks or task_id == self.task_id:
            return
        self.task_id = task_id
        self._update_task_line()
        self.refresh_rows()
        self.post_message(TaskShown(task_id))

    # -- rows -------------------------------------------------------------------------------
    def _palette(self) -> dict[str, str]:
        name = self.app.theme
        if name != self._theme_key:
            variables = self.app.get_css_variables()
            self._colours = {k: variables.get(k, "") for k in ("success", "error", "warning", "accent",
                                                               "text-muted", "primary")}
            self._theme_key = name
        return self._colours

    def _cells_for(self, row: LeaderRow) -> tuple[str, ...]:
        score = f"{row.score:.1f}" if row.score is not None else ("~" if row.finished else "")
        return (row.pick, row.candidate_id, score, row.tests, row.errors, row.median_ms, row.peak_kib,
                row.status)

    def _styled(self, column: str, value: str) -> Text:
        colours = self._palette()
        if column == "pick" and value:
            colour = colours["accent"] if value.startswith("winner") else colours["text-muted"]
            return Text(value, style=f"bold {colour}".strip())
        if column == "status":
            base = value.split(" ", 1)[0]
            colour = colours.get(STATUS_COLOUR.get(base, "primary"), "")
            return Text(value, style=colour or "")
        if column in ("score", "tests", "errors", "median", "peak"):
            return Text(value, justify="right")
        return Text(value)

    def refresh_rows(self, force: bool = False) -> None:
        """Bring the table in line with the model by diff; ``force`` re-styles every cell."""
        table = self.table
        if not table.is_mounted or not table.columns:
            return
        if force:
            self._theme_key = ""
        task = self.model.tasks.get(self.task_id) if self.task_id else None
        at = self.at
        reason = self._reason_text(task, at)
        if reason != self._reason_shown:  # an update relays out the screen: only on change
            self._reason_shown = reason
            self.reason.update(reason)
        rows = self.model.leaderboard(self.task_id, at) if task else []
        want = {r.candidate_id for r in rows}
        gone = [c for c in self._cells if c not in want]
        if gone and len(gone) == len(self._cells):  # another task: one clear, not a removal per row
            table.clear()
            self._cells.clear()
        for cid in gone:
            if cid in self._cells:
                table.remove_row(cid)
                del self._cells[cid]
        keys = [k for k, _ in COLUMNS]
        for row in rows:
            cells = self._cells_for(row)
            old = self._cells.get(row.candidate_id)
            if old is None:
                table.add_row(*(self._styled(k, v) for k, v in zip(keys, cells)), key=row.candidate_id)
            else:
                for k, a, b in zip(keys, old, cells):
                    if a != b or force:  # widths recomputed (a relayout) only when a cell grows
                        wider = len(b) > table.columns[k].content_width
                        table.update_cell(row.candidate_id, k, self._styled(k, b), update_width=wider)
            self._cells[row.candidate_id] = cells
        order = [r.candidate_id for r in rows]
        current = [r.key.value for r in table.ordered_rows]
        if order != current:
            rank = {cid: i for i, cid in enumerate(order)}
            keep = self.highlighted
            table.sort("cand", key=lambda cell: rank.get(str(cell), len(rank)))
            if keep in rank:
                table.move_cursor(row=table.get_row_index(keep), animate=False)

    @property
    def at(self) -> int | None:
        """The global timeline point shown (step-all time travel), None = live."""
        return self.travel.global_pos if self.travel is not None else None

    def _reason_text(self, task, at: int | None = None) -> str:
        if task is None:
            return "waiting for the first task…"
        winner = task.winner_at(at)
        reason = task.reason_at(at)
        if winner:
            if reason.startswith(f"{winner}: "):
                reason = reason[len(winner) + 2:]
            return f"★ winner {winner} — {reason}"
        return reason

    @property
    def highlighted(self) -> str | None:
        table = self.table
        if not table.row_count:
            return None
        try:
            return table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        except CellDoesNotExist:
            return None

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        if self.task_id and event.row_key.value:
            self.post_message(CandidateChosen(self.task_id, event.row_key.value))

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        event.stop()
        by_user, self.table.user_moved = self.table.user_moved, False
        if by_user and self.task_id and event.row_key.value and self.table.has_focus:
            self.post_message(CandidateHighlighted(self.task_id, event.row_key.value))
