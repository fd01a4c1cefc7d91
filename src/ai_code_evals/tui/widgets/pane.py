"""One sandbox pane: status line, current snapshot and output of a (candidate, profile).

A pane widget is a view slot: the grid binds it to whichever pane of the model is on the current
page, and it renders from the model (live, or at a snapshot index when time-travelling).
"""
from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding
from textual.content import Content
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Static

from ai_code_evals.tui.model import VERDICT_WORDS, PaneKey, RunModel, format_ts
from ai_code_evals.tui.widgets.output import OutputView

VERDICT_ICONS = {"passed": "✔", "failed": "✘", "error": "✘", "timeout": "✘", "killed": "✘", "skipped": "–",
                 "unchecked": "○"}
VERDICT_STYLE = {"passed": "bold $text-success", "failed": "bold $text-error", "error": "bold $text-error",
                 "timeout": "bold $text-warning", "killed": "bold $text-warning", "skipped": "$text-muted",
                 "unchecked": "bold $text-secondary"}
STATE_CLASSES = ("-queued", "-running", "-passed", "-failed", "-error", "-timeout", "-killed", "-skipped", "-unchecked",
                 "-travel")


def _mem(kib: int | None) -> str:
    if kib is None:
        return "–"
    return f"{kib / 1024:.1f}MiB" if kib < 1024 * 1024 else f"{kib / 1024 / 1024:.2f}GiB"


def progress_text(snap: dict, result: dict | None) -> str:
    """What the pane counts. Finished with a result: the result's own figures (tests passed,
    bad inputs handled), the same as the leaderboard's; a duplicate says whose verdict it
    shares. Otherwise the runner's steps (tests, bad inputs, generated tests and perf cases
    together), called steps so that they are not mistaken for tests."""
    if result is not None:
        if result.get("duplicate_of"):
            return f"same program as {result['duplicate_of']}"
        text = f"passes {result.get('tests_passed', 0)}/{result.get('tests_total', 0)}"
        if result.get("errors_total"):
            text += f" · bad inputs {result.get('errors_handled', 0)}/{result['errors_total']}"
        return text
    total = snap.get("tests_total") or 0
    return f"step {snap.get('test_index', 0)}/{total}" if total else "step –"


def status_content(cid: str, snap: dict | None, result: dict | None) -> Content:
    """Status line: candidate id, status word, progress, elapsed, CPU, memory."""
    if snap is None:
        return Content.assemble((cid, "bold"), "  ", ("not started", "$text-muted"))
    status = None
    if snap.get("state") == "finished":
        status = snap.get("status") or (result or {}).get("status")
    if status:
        word = (VERDICT_ICONS.get(status, "?") + " " + VERDICT_WORDS.get(status, status.upper()), VERDICT_STYLE.get(
            status, "bold"))
    else:
        word = (snap.get("state", "?").upper(), "bold $text-primary")
    tests = progress_text(snap, result if snap.get("state") == "finished" else None)
    cpu = snap.get("cpu_s")
    parts = [
        (cid, "bold"), " ", word, " · ", tests,
        f" · {float(snap.get('elapsed_s') or 0):.1f}s",
        f" · cpu {cpu:.2f}s" if isinstance(cpu, (int, float)) else " · cpu –",
        f" · mem {_mem(snap.get('rss_kib'))}",
    ]
    return Content.assemble(*parts)


class SandboxPane(Widget, can_focus=True):
    """A view slot of the workspace grid; ``bind`` it to a pane of the model."""

    ALLOW_MAXIMIZE = True
    BINDINGS: ClassVar = [
        Binding("left", "move(-1, 0)", "Left", show=False),
        Binding("right", "move(1, 0)", "Right", show=False),
        Binding("up", "move(0, -1)", "Up", show=False),
        Binding("down", "move(0, 1)", "Down", show=False),
        Binding("shift+up", "scroll_output(1)", "Scroll up", show=False),
        Binding("shift+down", "scroll_output(-1)", "Scroll down", show=False),
        Binding("shift+pageup", "scroll_output_page(1)", "Scroll up", show=False),
        Binding("shift+pagedown", "scroll_output_page(-1)", "Scroll down", show=False),
    ]
    DEFAULT_CSS = """
    SandboxPane {
        border: round $panel-lighten-2; border-title-color: $text; border-subtitle-color: $text-muted;
        height: 1fr; width: 1fr; padding: 0 1; layout: vertical;
    }
    SandboxPane:focus { border: round $accent; border-title-style: bold; }
    SandboxPane.-running { border: round $primary 70%; }
    SandboxPane.-passed { border: round $success; border-subtitle-color: $text-success; }
    SandboxPane.-failed, SandboxPane.-error { border: round $error; border-subtitle-color: $text-error; }
    SandboxPane.-timeout, SandboxPane.-killed { border: round $warning; border-subtitle-color: $text-warning; }
    SandboxPane.-unchecked { border: round $secondary; border-subtitle-color: $text-secondary; }
    SandboxPane.-travel { border: double $secondary; }
    SandboxPane:focus.-passed, SandboxPane:focus.-failed, SandboxPane:focus.-error,
    SandboxPane:focus.-timeout, SandboxPane:focus.-killed, SandboxPane:focus.-running { border: thick $accent; }
    SandboxPane > .pane--status { height: 2; }
    SandboxPane > .pane--snap { height: 1; color: $text-muted; }
    SandboxPane.-travel > .pane--snap { color: $text-secondary; text-style: bold; }
    """

    def __init__(self, model: RunModel, slot: int) -> None:
        super().__init__()
        self.model = model
        self.slot = slot
        self.key: PaneKey | None = None
        self.index: int | None = None  # snapshot index shown; None = live
        self.written = 0  # stream position already in the output view (live mode)
        self._status = Static(classes="pane--status", markup=False)
        self._snap = Static(classes="pane--snap", markup=False)
        self._output = OutputView()

    def compose(self) -> ComposeResult:
        yield self._status
        yield self._snap
        yield self._output

    @property
    def output(self) -> OutputView:
        return self._output

    def on_mount(self) -> None:
        self.render_full()

    # -- rendering from the model ---------------------------------------------------------
    def bind(self, key: PaneKey | None, index: int | None) -> None:
        self.key, self.index = key, index
        if self.is_mounted:
            self.render_full()

    def render_full(self) -> None:
        """Draw everything from the model at the bound index; O(view cap)."""
        if self.key is None or self.key not in self.model.panes:
            self.border_title = ""
            self._status.update("")
            self._snap.update("")
            self._output.set_lines([])
            return
        pane = self.model.panes[self.key]
        if self.index is not None and self.index < 0:  # global time before this pane existed
            snap, end = None, 0
        else:
            snap, end = self.model.pane_snapshot(self.key, self.index)
        lines, missing = pane.tail(end, self._output.cap)
        notice = f"… {missing} earlier line(s) not kept in memory" if missing else None
        trailer = None
        seen = max(end, int((snap or {}).get("output_lines") or 0))
        if seen > pane.total and self.model.finished:  # replay: the run log keeps the first lines only
            trailer = f"… {seen - pane.total} later line(s) were not recorded in the run log"
        self._output.set_lines(lines, notice, trailer)
        if not lines and self.index is None and pane.total == 0 and snap and snap.get("output_tail"):
            self._output.set_lines([(t, False) for t in snap["output_tail"]])
        self.written = end if self.index is None else self.written
        self._render_status(snap)

    def update_live(self, changed: bool) -> None:
        """Refresh timer: append new output, redraw the status when the pane changed."""
        if self.key is None or self.index is not None:
            return
        pane = self.model.panes.get(self.key)
        if pane is None:
            return
        new = pane.total - self.written
        if new > 0:
            if new >= self._output.cap:
                lines, _ = pane.tail(pane.total, self._output.cap)
                self._output.set_lines(lines)
            else:
                lines, _ = pane.tail(pane.total, new)
                self._output.append(lines)
            self.written = pane.total
        if changed:
            self._render_status(pane.latest)

    def _render_status(self, snap: dict | None) -> None:
        assert self.key is not None
        cid, profile = self.key
        pane = self.model.panes[self.key]
        live = self.index is None
        result = pane.result if live else None
        task = self.model.tasks.get(pane.task_id)
        info = task.candidates.get(cid) if task else None
        title = [cid]
        if len(self.model.profiles) > 1 or profile != "default":
            title.append(profile)
        if info is not None and info.label:
            title.append(info.label)
        self.border_title = Content(" · ".join(title))  # Content: ids and labels are not markup
        self._set_status(status_content(cid, snap, result))
        n = len(pane.snapshots)
        detail = (snap or {}).get("detail", "")
        if live:
            end = "final" if self.model.finished or pane.result is not None else "live"
            where = f"{end} · snapshot {n}/{n}" if n else end
        elif snap is None:
            where = "« not started yet at this time"
        else:
            where = (f"« snapshot {self.index + 1}/{n} · {snap.get('state', '?')} · "
                     f"{format_ts(snap.get('ts'), self.model.started_at)}")
        self._snap.update(f"{where} · {detail}" if detail else where, layout=False)  # one line, always
        status = None
        if snap is not None and snap.get("state") == "finished":
            status = snap.get("status") or (result or {}).get("status")
        if status:
            self.border_subtitle = VERDICT_WORDS.get(status, status.upper())
        elif snap is not None:
            self.border_subtitle = snap.get("state", "")
        else:
            self.border_subtitle = ""
        state_class = f"-{status}" if status else ("-running" if snap and snap.get("state") != "queued"
                                                   else "-queued")
        for cls in STATE_CLASSES:
            self.set_class(cls == state_class or (cls == "-travel" and not live), cls)

    def _set_status(self, content: Content) -> None:
        """The status line: a fixed two lines, so that an update never relays out the screen
        (a layout per update was most of the app's cost in a big run)."""
        self._status.update(content, layout=False)  # two lines, always

    def action_move(self, dx: int, dy: int) -> None:
        """Arrow keys: focus the neighbouring pane (the next page past the edge)."""
        grid = self.parent
        target = grid.move_focus(self, dx, dy) if hasattr(grid, "move_focus") else None
        if target is not None:
            target.focus()
            self.app.call_after_refresh(target.focus)  # a slot rebound by a page turn

    def action_scroll_output(self, lines: int) -> None:
        """shift+up / shift+down: scroll the output back and forward by a line."""
        self._output.scroll_back(lines)

    def action_scroll_output_page(self, pages: int) -> None:
        """shift+pgup / shift+pgdn: by a screenful."""
        self._output.scroll_back(pages * max(1, self._output.size.height - 1))

    def on_focus(self) -> None:
        if self.key is not None:
            self.post_message(PaneFocused(self.key))


class PaneFocused(Message):
    """A pane received focus: its candidate becomes the selected one."""

    def __init__(self, key: PaneKey) -> None:
        super().__init__()
        self.key = key
