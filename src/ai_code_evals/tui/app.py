"""WorkspaceApp: the live and replay TUI, and the two entry points the CLI calls.

Live: the engine runs as an async worker on the app's loop and publishes on an EventBus; the
app's subscriber only feeds the model (no widget work per event), and a timer flushes the
model's changes to the widgets 18 times a second. Replay: the same model, fed from a run log.
Workers never touch widgets; every UI change happens in this module's handlers.
"""
from __future__ import annotations

import asyncio
import gc
import re
import sys
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from textual import work
from textual.app import App, ComposeResult, SystemCommand
from textual.containers import Horizontal
from textual.content import Content
from textual.screen import ModalScreen, Screen
from textual.widgets import Static
from textual.worker import Worker, WorkerCancelled, WorkerFailed

from ai_code_evals.core.errors import EXIT_INTERRUPTED, EXIT_OK, InputError
from ai_code_evals.core.events import Event, EventBus, TaskSelected
from ai_code_evals.core.settings import Settings
from ai_code_evals.tui.amend import amend_user_selection
from ai_code_evals.tui.clipboard import osc52_supported, write_code_file
from ai_code_evals.tui.exit_summary import exit_summary
from ai_code_evals.tui.filter import PaneFilter
from ai_code_evals.tui.keys import KEYMAP, PANE_KEYS, bindings
from ai_code_evals.tui.model import PaneKey, RunModel, format_ts
from ai_code_evals.tui.screens.confirm import ConfirmScreen
from ai_code_evals.tui.screens.detail import DetailScreen
from ai_code_evals.tui.screens.find import FilterScreen, JumpScreen
from ai_code_evals.tui.screens.help import HelpScreen
from ai_code_evals.tui.themes import DEFAULT_THEME, load_themes
from ai_code_evals.tui.travel import TimeTravel
from ai_code_evals.tui.widgets.code import CodePanel
from ai_code_evals.tui.widgets.footer import KeyFooter
from ai_code_evals.tui.widgets.grid import Workspace
from ai_code_evals.tui.widgets.leaderboard import (
    CandidateChosen,
    CandidateHighlighted,
    Leaderboard,
    LeaderTable,
    TaskShown,
)
from ai_code_evals.tui.widgets.pane import PaneFocused, SandboxPane

EngineFn = Callable[[EventBus], Awaitable[dict]]

if TYPE_CHECKING:  # the TUI is handed a run; it never builds one
    from ai_code_evals.session import Run
# workspace actions, switched off while the help screen is up (quit stays available)
WORKSPACE_ACTIONS = {k.action.split("(")[0] for k in KEYMAP + PANE_KEYS} - {"quit", "help"}
REFRESH_HZ = 18  # widget updates per second: smooth to the eye, cheap at 100k lines/s
QUIT_GRACE_S = 60.0  # how long `q` waits for the engine to destroy its sandboxes
MAX_TOASTS_PER_FLUSH = 3
GC_THRESHOLDS = (10_000, 20, 50)  # see _freeze_startup_objects
CODE_FOLLOW_S = 0.05  # the code panel follows a new selection after this delay
BOARD_REFRESH_S = 0.25  # the leaderboard follows the run at most 4 times a second
SHORT_HEIGHT = 32  # below this many rows the grid and the board take turns (v switches)
NARROW_WIDTH = 120


def format_eta(seconds: float) -> str:
    seconds = max(0, round(seconds))
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


def export_name(task_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", task_id).strip("._") + "_winner.py"


class WorkspaceApp(App[int]):
    """The workspace. Give ``run`` (live), ``record`` (replay), or for tests and benchmarks an
    ``engine`` coroutine function publishing on ``bus``."""

    TITLE = "ai-code-evals"
    CSS_PATH = Path(__file__).with_name("app.tcss")  # absolute: subclasses live elsewhere
    BINDINGS = bindings()

    def __init__(self, *, run: Run | None = None, engine: EngineFn | None = None, runlog=None,
                 record: Path | None = None,
                 log_subscriber: Callable[[Event], None] | None = None, history: Path | None = None,
                 bus: EventBus | None = None, theme: str | None = None,
                 theme_dirs: list[Path] | None = None, export_dir: Path | None = None,
                 refresh_hz: float = REFRESH_HZ, reference_code: dict[str, str] | None = None,
                 gc_freeze: bool = False) -> None:
        super().__init__()
        if run is not None:  # a live run: it owns the bus and records its own log
            engine = engine or (lambda _bus: run.execute())
            bus, runlog, history = run.bus, run.log, run.history
            reference_code = reference_code or run.reference_code()
        self.mode = "replay" if record is not None else "live"
        self.model = RunModel()
        self.travel = TimeTravel(self.model)
        self.bus = bus or EventBus()
        self.runlog = runlog
        self._log_sub = log_subscriber or (runlog.on_event if runlog is not None and run is None else None)
        self.history_path = Path(history) if history is not None else None
        self.record_path = Path(record) if record is not None else None
        self.export_dir = Path(export_dir) if export_dir else Path.cwd()
        self.refresh_hz = refresh_hz
        self._engine = engine
        self._gc_freeze = gc_freeze
        self._gc_saved: tuple[int, int, int] | None = None
        self._engine_worker: Worker | None = None
        self._reference_code = dict(reference_code or {})
        self.paused = False
        self.selected: str | None = None  # candidate shown in the code panel, picked by enter
        self.diff_against: str | None = None  # "reference" or a candidate id
        self.show_reply = False  # code panel: the model's whole reply instead of the code
        self._last_pane: PaneKey | None = None
        self._seen_version = -1
        self._topbar_text = ""
        self._code_timer = None
        self._quitting = False
        self._log_failed = False
        self.exit_status = EXIT_OK
        self.run_done = False
        self.engine_error: str | None = None
        self.exported: list[Path] = []
        self.messages: deque[tuple[str, str]] = deque(maxlen=200)  # (severity, text) of notifications
        self._started = time.monotonic()
        self._board_dirty = False
        self._board_due = 0.0
        self._pick_history: list[tuple[str, str | None, str | None]] = []  # (task, user pick before, after)
        self.board_view = False  # short terminals: the board instead of the grid
        themes, self._theme_problems = load_themes(theme_dirs)
        self.theme_names = [t.name for t in themes]
        for t in themes:
            self.register_theme(t)
        theme = theme or (Settings.load().ace_theme or "").strip() or None  # environment > .env > toml
        wanted = theme or DEFAULT_THEME
        if wanted not in self.available_themes:
            if theme:
                self._theme_problems.append(f"theme {theme!r} not found; using {DEFAULT_THEME}")
            wanted = DEFAULT_THEME if DEFAULT_THEME in self.available_themes else "textual-dark"
        self.theme = wanted

    def notify(self, message: str, *, title: str = "", severity="information", timeout=None,
               markup: bool = False) -> None:
        """As App.notify, without markup (messages quote untrusted text) and remembered.
        Textual's own messages are written in markup: shown as the text they mean."""
        caller = sys._getframe(1).f_globals.get("__name__", "")
        if not markup and caller.startswith("textual"):
            message = Content.from_markup(message).plain
            title = Content.from_markup(title).plain if title else title
        self.messages.append((severity, f"{title}: {message}" if title else message))
        super().notify(message, title=title, severity=severity, timeout=timeout, markup=markup)

    # -- layout -------------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        self.topbar = Static("", id="topbar", markup=False)
        self.gridbar = Static("", id="gridbar", markup=False)
        self.workspace = Workspace(self.model, self.travel, id="workspace")
        self.leaderboard = Leaderboard(self.model, self.travel, id="leaderboard")
        self.code = CodePanel(id="code")
        yield self.topbar
        yield self.gridbar
        yield self.workspace
        with Horizontal(id="bottom"):
            yield self.leaderboard
            yield self.code
        yield KeyFooter()

    def on_mount(self) -> None:
        if self._theme_problems:
            self.notify("Some themes were not loaded:\n" + "\n".join(self._theme_problems),
                        title="Themes", severity="warning", timeout=12)
        if self.mode == "replay":
            self._load_record()
        else:
            if self.history_path is not None:  # resume: show what the log already holds
                self._load_history()
            if self._log_sub is not None:
                self.bus.subscribe(self._log_event)
            self.bus.subscribe(self._on_event)
            if self._engine is not None:
                self._engine_worker = self._run_engine()
        self.set_interval(1 / self.refresh_hz, self.flush)
        self.flush()
        if self._gc_freeze:
            self.call_after_refresh(self._freeze_startup_objects)

    def _freeze_startup_objects(self) -> None:
        """Garbage-collector settings for streaming (once per process: the CLI, not tests).

        Measured here (benchmarks/bench_tui.py): with the default thresholds a full collection
        ran about once a second at 100k lines/s and took 50–200 ms over Textual's objects, the
        worst key latencies. Everything alive after start-up (modules, widgets, styles) is frozen
        out of the collector's reach, and the young generation is larger, so that short-lived
        per-line objects die by reference counting before a collection sees them."""
        self._gc_saved = gc.get_threshold()
        gc.collect()
        gc.freeze()
        gc.set_threshold(*GC_THRESHOLDS)

    def on_resize(self, event) -> None:
        self.set_class(event.size.width < NARROW_WIDTH, "-narrow")
        short = event.size.height < SHORT_HEIGHT
        self.set_class(short, "-short")
        self.set_class(short and self.board_view, "-board")
        self._topbar_text = ""
        self.update_topbar()

    def action_toggle_view(self) -> None:
        """Short terminals show the grid or the leaderboard with the code, not both squeezed."""
        if not self.has_class("-short"):
            self.notify("the grid and the leaderboard are both on screen (v matters below "
                        f"{SHORT_HEIGHT} rows)", timeout=3)
            return
        self.board_view = not self.board_view
        self.set_class(self.board_view, "-board")
        if self.board_view:
            self.leaderboard.table.focus()
        else:
            self.call_after_refresh(self._focus_first_slot)

    def _load_history(self) -> None:
        from ai_code_evals.runlog.reader import read_record

        try:
            record = read_record(self.history_path)
        except InputError as exc:
            self.notify(str(exc), title="Earlier results not shown", severity="warning")
            return
        for ev in record.events:
            self.model.ingest(ev.get("type", ""), ev.get("data") or {})
        self.model.finished = False

    def _load_record(self) -> None:
        from ai_code_evals.runlog.reader import read_record

        assert self.record_path is not None
        try:
            record = read_record(self.record_path)
        except InputError as exc:
            self.notify(str(exc), title="Cannot replay", severity="error", timeout=30)
            return
        self.model.ingest_record(record)
        self.run_done = True
        if record.truncated_tail:
            self.notify("The log ends with a half-written line (the run was cut); it was ignored.",
                        severity="warning")
        if record.final_report is None:
            self.notify("This run did not finish (no final report): `ai-code-evals resume` can finish it.",
                        severity="warning", timeout=10)

    # -- engine and events ---------------------------------------------------------------------
    def _on_event(self, event: Event) -> None:
        """Bus subscriber (the loop thread): feed the model; widgets follow on the timer."""
        self.model.ingest_event(event)
        if self._reference_code and event.kind == "run_started":
            for task_id, code in self._reference_code.items():
                if task_id in self.model.tasks and code:
                    self.model.tasks[task_id].reference = code
                    self.model.tasks[task_id].has_reference = True

    def _log_event(self, event: Event) -> None:
        try:
            self._log_sub(event)
        except (InputError, OSError) as exc:  # a full disk must not stop the run or the UI
            if not self._log_failed:
                self._log_failed = True
                self.notify(f"run log: {exc}", title="Run log", severity="error", timeout=20)

    @work(exclusive=True, exit_on_error=False, group="engine")
    async def _run_engine(self) -> dict | None:
        assert self._engine is not None
        try:
            summary = await self._engine(self.bus)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - an engine bug: say it, keep the UI
            self.engine_error = f"{type(exc).__name__}: {exc}"
            self.notify(f"The run stopped: {self.engine_error}", title="Engine", severity="error",
                        timeout=30)
            return None
        self.run_done = True
        winners = [f"{t['task_id']}: {t.get('winner') or 'none'}" for t in (summary or {}).get("tasks", [])]
        self.notify("Run finished. " + "; ".join(winners[:4]) + (" …" if len(winners) > 4 else "")
                    + "\nenter picks another winner, e exports, q quits.", title="Done", timeout=8)
        return summary

    @property
    def engine_running(self) -> bool:
        return self._engine_worker is not None and self._engine_worker.is_running

    # -- refresh -------------------------------------------------------------------------------
    def flush(self) -> None:
        """Move the model's pending changes to the widgets (runs REFRESH_HZ times a second).
        Not while a modal screen (help, detail, filter, jump, confirm) is up: every frame would
        redraw the whole dimmed workspace behind it; the widgets catch up when it closes."""
        if isinstance(self.screen, ModalScreen):
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

    # -- selection helpers ----------------------------------------------------------------------
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

    # -- actions --------------------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Workspace keys are off while a modal screen (help, detail, filter ...) is up."""
        return not (action in WORKSPACE_ACTIONS and isinstance(self.screen, ModalScreen))

    def focused_candidate(self) -> str | None:
        """The version the user points at: the focused pane, the leaderboard's highlighted row
        when the board has focus, else the selected one."""
        if isinstance(self.focused, SandboxPane) and self.focused.key is not None:
            return self.focused.key[0]
        if isinstance(self.focused, LeaderTable) and self.leaderboard.highlighted:
            return self.leaderboard.highlighted
        return self.selected

    def action_detail(self) -> None:
        cid = self.focused_candidate()
        if cid is None or self.model.task_of(cid) is None:
            self.notify("focus a pane or a leaderboard row first", severity="warning", timeout=3)
            return
        self.push_screen(DetailScreen(self.model, cid))

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    def action_focus_pane(self, n: int) -> None:
        """Focus and select at once, not on a later focus event: keys typed together ("3d",
        "3i") would otherwise act on the version that had focus before."""
        slots = self.workspace.slots
        if 1 <= n <= len(slots) and slots[n - 1].key is not None:
            slot = slots[n - 1]
            self.screen.set_focus(slot)
            self._last_pane = slot.key
            self.select_candidate(slot.key[0])
        else:
            self.notify(f"there is no pane {n} on this page", severity="warning", timeout=3)

    def action_page(self, delta: int) -> None:
        if isinstance(self.focused, CodePanel):  # pgup/pgdn scroll the code panel it has focus
            (self.focused.scroll_page_down if delta > 0 else self.focused.scroll_page_up)()
            return
        if self.workspace.set_page(self.workspace.page + delta):
            self.call_after_refresh(self._focus_first_slot)
        self.update_topbar()

    def _focus_first_slot(self) -> None:
        if self.workspace.slots:
            self.workspace.slots[0].focus()

    def action_zoom(self) -> None:
        screen = self.screen
        if screen.maximized is not None:
            screen.minimize()
            return
        key = self.focused_pane_key()
        slot = self.workspace.show_key(key) if key else None
        if slot is None:
            self.notify("no pane to zoom", severity="warning", timeout=3)
            return
        slot.focus()
        screen.maximize(slot)

    def action_pause(self) -> None:
        self.paused = not self.paused
        if not self.paused:
            self.workspace.redraw()
        self.notify("Streaming paused: panes are frozen (space resumes)" if self.paused
                    else "Streaming resumed", timeout=3)
        self.update_topbar()

    def action_step(self, delta: int) -> None:
        key = self.focused_pane_key()
        visible = [s.key for s in self.workspace.slots if s.key is not None]
        if self.travel.step(key, delta, visible):
            if key is not None and not self.travel.all_panes:
                slot = self.workspace.show_key(key)
                if slot is not None:
                    slot.index = self.travel.index_for(key)
                    slot.render_full()
            else:
                self.workspace.redraw()
                self.leaderboard.refresh_rows()  # step-all: the board follows the timeline
        self.update_topbar()

    def action_toggle_step_all(self) -> None:
        all_panes = self.travel.toggle_all()
        self.workspace.redraw()
        self.leaderboard.refresh_rows()
        self.notify("[ and ] now step ALL panes along the run's timeline" if all_panes
                    else "[ and ] now step the focused pane", timeout=4)
        self.update_topbar()

    def action_live(self) -> None:
        self.travel.live()
        self.workspace.redraw()
        self.leaderboard.refresh_rows()
        self.update_topbar()

    def action_pick(self) -> None:
        cid = self.selected
        if isinstance(self.focused, SandboxPane) and self.focused.key:
            cid = self.focused.key[0]
        task_id = self.model.task_of(cid) if cid else None
        if not cid or not task_id:
            self.notify("select a candidate first (a pane or a leaderboard row)", severity="warning")
            return
        self.confirm_pick(task_id, cid)

    def confirm_pick(self, task_id: str, cid: str) -> None:
        """A pick changes the recorded winner: ask first."""
        task = self.model.tasks.get(task_id)
        current = task.winner if task else None
        if current == cid:
            self.notify(f"{cid} is already the winner of {task_id}", timeout=3)
            return
        where = "the run log" if self.mode == "live" else str(self.record_path)
        question = (f"Make {cid} the winner of {task_id}" + (f" instead of {current}" if current else "")
                    + f"?\nThe pick is recorded in {where}, beside the engine's; u undoes it.")

        def answered(yes: bool | None) -> None:
            if yes:
                self.pick(task_id, cid)

        self.push_screen(ConfirmScreen(question, "Pick a winner"), answered)

    def action_undo_pick(self) -> None:
        """Undo the last pick: the user pick before it comes back (the engine's pick when there
        was none, recorded as a pick of that version)."""
        if not self._pick_history:
            self.notify("no pick to undo", timeout=3)
            return
        task_id, before, _after = self._pick_history.pop()
        task = self.model.tasks.get(task_id)
        target = before or ((task.engine_selection or {}).get("winner") if task else None)
        if not target:
            self.notify(f"{task_id} had no winner before your pick; pick one with enter", severity="warning")
            return
        self.pick(task_id, target, undo=True)

    def pick(self, task_id: str, cid: str, undo: bool = False) -> None:
        """The user's winner: recorded beside the engine's pick (bus + run log, or the record file)."""
        task = self.model.tasks.get(task_id)
        engine = (task.engine_selection or {}).get("winner") if task else None
        before = (task.user_selection or {}).get("winner") if task else None
        reason = ("pick undone" if undo else "picked by the user in the TUI") + (
            f" (engine picked {engine})" if engine and engine != cid else "")
        event = TaskSelected(task_id=task_id, winner=cid, reason=reason, strategy="user", by="user")
        if self.mode == "live":
            self.bus.publish(event)  # the model and the run log both subscribe
            if self.runlog is not None:
                self.runlog.note_user_selection(task_id, cid, reason)
        else:
            self.model.ingest_event(event)
            if self.record_path is not None:
                try:
                    amend_user_selection(self.record_path, event.to_data())
                except InputError as exc:
                    self.notify(str(exc), title="Not saved", severity="error", timeout=15)
                    return
        if not undo:
            self._pick_history.append((task_id, before, cid))
        self.leaderboard.show_task(task_id)
        self.flush()
        where = "run log" if self.mode == "live" else str(self.record_path)
        self.notify(f"{cid} is {'again' if undo else 'now'} the winner of {task_id} (recorded in the {where})."
                    + ("" if undo else " u undoes."), timeout=5)

    def action_export(self) -> None:
        task_id = self.leaderboard.task_id
        task = self.model.tasks.get(task_id) if task_id else None
        if task is None:
            self.notify("nothing to export yet", severity="warning")
            return
        winner = task.winner
        if not winner:
            self.notify(f"{task_id} has no winner yet: pick one with enter", severity="warning")
            return
        code = self.model.code_of(winner) or ""
        path = self.export_dir / export_name(task_id)
        try:
            path.write_text(code if code.endswith("\n") else code + "\n", encoding="utf-8")
        except OSError as exc:
            self.notify(f"cannot write {path}: {exc.strerror or exc}", severity="error")
            return
        self.exported.append(path)
        shown = f"./{path.name}" if path.parent.resolve() == Path.cwd().resolve() else str(path)
        self.notify(f"Exported {winner} to {shown}", title="Export", timeout=8)

    def action_copy_code(self) -> None:
        """The focused version's code to the clipboard (OSC 52) or, where the terminal is not
        known to take that, to ./<version>.py; the notification says which."""
        cid = self.focused_candidate()
        code = self.model.code_of(cid) if cid else None
        if not cid or code is None:
            self.notify("focus a pane or a leaderboard row first", severity="warning", timeout=3)
            return
        if osc52_supported():
            self.copy_to_clipboard(code)
            self.notify(f"Copied {cid}'s code ({len(code.splitlines())} lines) to the clipboard (OSC 52).",
                        title="Copy", timeout=5)
            return
        try:
            path = write_code_file(self.export_dir, cid, code)
        except OSError as exc:
            self.notify(f"cannot write {cid}'s code: {exc.strerror or exc}", severity="error")
            return
        self.notify(f"This terminal is not known to take clipboard writes (OSC 52): wrote {cid}'s code to "
                    f"{path} (ACE_CLIPBOARD=osc52 forces the clipboard).", title="Copy", timeout=8)

    def action_help_quit(self) -> None:
        """ctrl+c: say how to quit (Textual's own message is markup)."""
        self.notify("q stops the run (every sandbox is destroyed), saves the log and quits.",
                    title="Do you want to quit?", timeout=5)

    def action_diff(self) -> None:
        cid = self.selected
        task_id = self.model.task_of(cid) if cid else None
        task = self.model.tasks.get(task_id) if task_id else None
        if task is None:
            self.notify("select a candidate first", severity="warning", timeout=3)
            return
        targets: list[str | None] = [None]
        if task.reference:
            targets.append("reference")
        winner = task.winner
        others = [c for c in task.candidates if c != cid]
        if winner in others:
            others.remove(winner)
            others.insert(0, winner)
        targets += others
        i = targets.index(self.diff_against) if self.diff_against in targets else 0
        self.diff_against = targets[(i + 1) % len(targets)]
        if len(targets) == 1:
            self.notify("nothing to compare with: no reference and no other candidate", timeout=3)
        self.show_code()

    def action_filter(self) -> None:
        current = self.workspace.filter.text if self.workspace.filter else ""
        self.push_screen(FilterScreen(current), self.apply_filter)

    def apply_filter(self, text: str | None) -> None:
        """Narrow the grid to the panes the filter keeps ("" or None: every pane)."""
        if text is None:
            return
        flt = PaneFilter.parse(text) if text else None
        self.workspace.set_filter(flt)
        self.update_gridbar()
        self.update_topbar()
        if flt is not None and not self.workspace.keys:
            self.notify(f"no sandbox matches {text!r} (/ then esc clears the filter)", severity="warning",
                        timeout=5)
        self.call_after_refresh(self._focus_first_slot)

    def action_jump_task(self) -> None:
        if not self.model.task_ids:
            self.notify("no task yet", severity="warning", timeout=3)
            return
        self.push_screen(JumpScreen(self.model), self.jump_to_task)

    def jump_to_task(self, task_id: str | None) -> None:
        """Show the task's leaderboard and turn the grid to its first pane, focused."""
        if not task_id or task_id not in self.model.tasks:
            return
        self.leaderboard.show_task(task_id)
        keys = [k for k in self.workspace.keys if self.model.panes[k].task_id == task_id]
        if not keys and self.workspace.filter is not None:
            self.notify(f"the filter hides every pane of {task_id}", severity="warning", timeout=4)
            return
        slot = self.workspace.show_key(keys[0]) if keys else None
        self.update_topbar()
        if slot is not None:
            self.call_after_refresh(slot.focus)

    def action_raw_reply(self) -> None:
        self.show_reply = not self.show_reply
        self.show_code()

    def action_switch_task(self) -> None:
        if len(self.model.tasks) < 2:
            self.notify("this run has one task", timeout=3)
        self.leaderboard.next_task()

    def action_focus_leaderboard(self) -> None:
        if self.has_class("-short") and not self.board_view:
            self.action_toggle_view()
        self.leaderboard.table.focus()

    def action_cycle_theme(self) -> None:
        names = self.theme_names or list(self.available_themes)
        i = names.index(self.theme) if self.theme in names else -1
        self.theme = names[(i + 1) % len(names)]
        self.notify(f"Theme: {self.theme}", timeout=3)

    async def action_quit(self) -> None:
        """Stop the run (the engine destroys every sandbox), close the log, exit."""
        if self._quitting:
            return
        self._quitting = True
        if self.engine_running:
            self.notify("Stopping the run: destroying every sandbox…", timeout=QUIT_GRACE_S)
        await self.stop_engine()
        self.close_runlog()
        self.exit(self.exit_status)

    async def stop_engine(self) -> None:
        """Cancel a running engine and wait until it has destroyed its sandboxes."""
        worker = self._engine_worker
        if worker is None or not worker.is_running:
            return
        self.exit_status = EXIT_INTERRUPTED
        worker.cancel()
        try:
            await asyncio.wait_for(worker.wait(), QUIT_GRACE_S)
        except (TimeoutError, WorkerCancelled, WorkerFailed, asyncio.CancelledError):
            pass

    async def on_unmount(self) -> None:
        """Any other way out (an error, App.exit from elsewhere): the sandboxes still go."""
        await self.stop_engine()
        if self._gc_saved is not None:
            gc.set_threshold(*self._gc_saved)
            gc.unfreeze()

    def close_runlog(self) -> None:
        if self.runlog is not None:
            try:
                self.runlog.close()
            except (InputError, OSError) as exc:
                self.notify(f"run log: {exc}", severity="error")

    # -- command palette -----------------------------------------------------------------------
    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        for k in KEYMAP:
            if k.palette and k.action != "quit":
                yield SystemCommand(f"{k.title} ({k.shown})", k.help, self._palette_action(k.action))
        yield SystemCommand("Next page of panes", "Show the next page of panes", self._palette_action("page(1)"))
        for name in self.theme_names:
            yield SystemCommand(f"Theme: {name}", f"Switch to the {name} theme", self._set_theme(name),
                                discover=False)

    def _palette_action(self, action: str):
        async def run() -> None:
            await self.run_action(action)
        return run

    def _set_theme(self, name: str):
        def run() -> None:
            self.theme = name
        return run


# -- entry points ----------------------------------------------------------------------------
def live_app(run: Run, *, theme: str | None = None, theme_dirs: list[Path] | None = None,
             gc_freeze: bool = False) -> WorkspaceApp:
    """The app for ``run`` (a ``session.Run``): it shows what the run publishes on its bus
    (streamed code and retry notices included) and executes it; the run records its own log."""
    return WorkspaceApp(run=run, theme=theme, theme_dirs=theme_dirs, gc_freeze=gc_freeze)


def run_live(run: Run, *, theme: str | None = None, theme_dirs: list[Path] | None = None) -> int:
    """Execute ``run`` with the TUI open. On resume the results already in the log are shown too.
    The log is closed on every way out. Returns 0 when the run completed, 2 when interrupted."""
    app = live_app(run, theme=theme, theme_dirs=theme_dirs, gc_freeze=True)
    try:
        result = app.run()
    finally:
        run.close()  # idempotent; covers an exit that did not go through `q`
    if result is None:  # the app ended without `q` (a crash or ctrl+c before the run ended)
        status = EXIT_INTERRUPTED if not app.run_done else EXIT_OK
    else:
        status = int(result)
    print_exit_summary(app, run.config.record, interrupted=status == EXIT_INTERRUPTED)
    return status


def print_exit_summary(app: WorkspaceApp, record, *, interrupted: bool) -> None:
    """Winners, the log and the commands to replay or resume, on the terminal the TUI left."""
    try:
        for line in exit_summary(app.model, record, mode=app.mode, interrupted=interrupted):
            print(line)
        sys.stdout.flush()
    except (OSError, ValueError):  # stdout closed: nothing to tell
        pass


def run_replay(record_path: Path, *, theme: str | None = None, theme_dirs: list[Path] | None = None) -> int:
    """Open a recorded run; every snapshot is navigable and a pick amends the record. Returns 0."""
    from ai_code_evals.runlog.reader import read_record

    read_record(record_path)  # a missing or malformed log is one readable line, before the UI opens
    app = WorkspaceApp(record=Path(record_path), theme=theme, theme_dirs=theme_dirs, gc_freeze=True)
    app.run()
    print_exit_summary(app, record_path, interrupted=False)
    return EXIT_OK
