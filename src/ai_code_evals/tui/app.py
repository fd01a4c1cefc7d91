"""WorkspaceApp: the live and replay TUI, and the two entry points the CLI calls.

This module holds the layout and the engine's wiring; the keys are in actions.py, what follows
the focus in selection.py, and the refresh timer's work in view_sync.py (mixins of the app).

Live: the engine runs on a thread and event loop of its own (tui/engine_thread.py) and
publishes on an EventBus; the run log is written on its thread, as headless, and the app's
subscriber only puts the event in an inbox. A timer feeds the model from the inbox and flushes
the model's changes to the widgets 18 times a second. Replay: the same model, fed from a run
log. Only the app's thread touches the model and the widgets.
"""
from __future__ import annotations

import asyncio
import gc
import sys
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from textual import work
from textual.app import App, ComposeResult, SystemCommand
from textual.containers import Horizontal
from textual.content import Content
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Static
from textual.worker import Worker, WorkerCancelled, WorkerFailed

from ai_code_evals.core.errors import EXIT_INTERRUPTED, EXIT_OK, InputError
from ai_code_evals.core.events import Event, EventBus
from ai_code_evals.core.settings import Settings
from ai_code_evals.tui.actions import SHORT_HEIGHT, WorkspaceActions
from ai_code_evals.tui.engine_thread import EngineThread, EventInbox
from ai_code_evals.tui.exit_summary import exit_summary
from ai_code_evals.tui.keys import KEYMAP, bindings
from ai_code_evals.tui.model import PaneKey, RunModel
from ai_code_evals.tui.selection import SelectionFollow
from ai_code_evals.tui.themes import DEFAULT_THEME, load_themes
from ai_code_evals.tui.travel import TimeTravel
from ai_code_evals.tui.view_sync import NARROW_WIDTH, ViewSync
from ai_code_evals.tui.widgets.code import CodePanel
from ai_code_evals.tui.widgets.footer import KeyFooter
from ai_code_evals.tui.widgets.grid import Workspace
from ai_code_evals.tui.widgets.leaderboard import (
    Leaderboard,
)

EngineFn = Callable[[EventBus], Awaitable[dict]]


class WorkspaceScreen(Screen):
    """The main screen, with a zoom (``z``, Textual's maximize) that restyles two widgets.

    Textual marks a maximize with a class on the screen, and a class change restyles the node and
    everything under it: every pane, the board and the footer, twice per zoom (the most costly
    key in ``bench_tui_scale.py``). The only rules that class selects are on the screen itself and
    on the maximized widget (Textual's ``Screen.-maximized-view`` and its ``.-maximized``), so the
    screen restyles itself alone and the widget its own subtree. This replaces a private watcher of
    Textual's (pinned in uv.lock): should an upgrade rename it, Textual's own would run again and
    ``test_zoom_restyles_the_screen_and_the_zoomed_pane_only`` fails."""

    def _watch_maximized(self, previously_maximized: Widget | None, maximized: Widget | None) -> None:
        self.set_class(maximized is not None, "-maximized-view", update=False)
        self.app.stylesheet.update_nodes([self])
        if previously_maximized is not None:
            previously_maximized.remove_class("-maximized")
        if maximized is not None:
            maximized.add_class("-maximized")

if TYPE_CHECKING:  # the TUI is handed a run; it never builds one
    from ai_code_evals.session import Run
REFRESH_HZ = 18  # widget updates per second: smooth to the eye, cheap at 100k lines/s
QUIT_GRACE_S = 60.0  # how long `q` waits for the engine to destroy its sandboxes
GC_THRESHOLDS = (10_000, 20, 50)  # see _freeze_startup_objects


class WorkspaceApp(WorkspaceActions, SelectionFollow, ViewSync, App[int]):
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
                 gc_freeze: bool = False, settings: Settings | None = None) -> None:
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
        self._inbox = EventInbox()  # engine events for the model, taken on the refresh timer
        self._engine_thread: EngineThread | None = None
        self._log_lock = threading.Lock()  # the engine's thread and a pick both write the log
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
        # the run's settings (environment > .env > toml), read once; replay and tests read them here
        self.settings = settings or getattr(run, "settings", None) or Settings.load()
        themes, self._theme_problems = load_themes(theme_dirs, self.settings.ace_theme_dir)
        self.theme_names = [t.name for t in themes]
        for t in themes:
            self.register_theme(t)
        theme = theme or (self.settings.ace_theme or "").strip() or None
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
    def get_default_screen(self) -> Screen:
        return WorkspaceScreen(id="_default")

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
        """Bus subscriber (the engine's thread, or the app's for a pick): into the inbox; the
        refresh timer feeds the model from it on the app's thread."""
        self._inbox.put(event)

    def ingest_inbox(self) -> None:
        """Feed the model every event that arrived since the last refresh."""
        for event in self._inbox.take_all():
            self.model.ingest_event(event)
            if self._reference_code and event.kind == "run_started":
                for task_id, code in self._reference_code.items():
                    if task_id in self.model.tasks and code:
                        self.model.tasks[task_id].reference = code
                        self.model.tasks[task_id].has_reference = True

    def _log_event(self, event: Event) -> None:
        """Bus subscriber: the run log, written on the publishing thread (the engine's, as
        headless), one writer at a time."""
        try:
            with self._log_lock:
                self._log_sub(event)
        except (InputError, OSError) as exc:  # a full disk must not stop the run or the UI
            if not self._log_failed:
                self._log_failed = True
                self.on_app_thread(self.notify, f"run log: {exc}", title="Run log", severity="error",
                                   timeout=20)

    def on_app_thread(self, fn: Callable[..., object], *args, **kwargs) -> None:
        """Call ``fn`` on the app's thread: now when already there, else soon."""
        if threading.get_ident() == self._thread_id:
            fn(*args, **kwargs)
        else:
            self._loop.call_soon_threadsafe(lambda: fn(*args, **kwargs))

    @work(exclusive=True, exit_on_error=False, group="engine")
    async def _run_engine(self) -> dict | None:
        assert self._engine is not None
        try:
            self._engine_thread = EngineThread(self._engine, self.bus)
            summary = await self._engine_thread.run()
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

    # -- quitting -------------------------------------------------------------------------------
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
