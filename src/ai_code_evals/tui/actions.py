"""The workspace's keys: one method per action of the key map (tui/keys.py).

Part of ``WorkspaceApp`` (a mixin). Actions change the view (page, zoom, filter, task, time
travel) or record a pick; what they show is drawn by the view sync and the widgets.
"""
from __future__ import annotations

import re
from pathlib import Path

from textual.screen import ModalScreen

from ai_code_evals.core.errors import InputError
from ai_code_evals.core.events import TaskSelected
from ai_code_evals.tui.amend import amend_user_selection
from ai_code_evals.tui.clipboard import osc52_supported, write_code_file
from ai_code_evals.tui.filter import PaneFilter
from ai_code_evals.tui.keys import KEYMAP, PANE_KEYS
from ai_code_evals.tui.screens.confirm import ConfirmScreen
from ai_code_evals.tui.screens.detail import DetailScreen
from ai_code_evals.tui.screens.find import FilterScreen, JumpScreen
from ai_code_evals.tui.screens.help import HelpScreen
from ai_code_evals.tui.widgets.code import CodePanel
from ai_code_evals.tui.widgets.leaderboard import TaskListWanted
from ai_code_evals.tui.widgets.pane import SandboxPane

# workspace actions, switched off while the help screen is up (quit stays available)
WORKSPACE_ACTIONS = {k.action.split("(")[0] for k in KEYMAP + PANE_KEYS} - {"quit", "help"}
SHORT_HEIGHT = 32  # below this many rows the grid and the board take turns (v switches)


def export_name(task_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", task_id).strip("._") + "_winner.py"


class WorkspaceActions:
    """Every key's action; ``check_action`` turns the workspace's keys off under a box."""

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

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Workspace keys are off while a modal screen (help, detail, filter ...) is up."""
        return not (action in WORKSPACE_ACTIONS and isinstance(self.screen, ModalScreen))

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
            self.focus_slot(slots[n - 1])
        else:
            self.notify(f"there is no pane {n} on this page", severity="warning", timeout=3)

    def focus_slot(self, slot: SandboxPane) -> None:
        """Focus a pane and select its version now, so that the frame showing a new page or
        task shows its focus too (a slot rebound to another pane keeps its focus and gets no
        focus event, so the selection is set here). A slot still mounting: after the refresh."""
        if not slot.is_mounted:
            self.call_after_refresh(self.focus_slot, slot)
            return
        self.screen.set_focus(slot)
        if slot.key is not None:
            self._last_pane = slot.key
            self.select_candidate(slot.key[0])

    def action_page(self, delta: int) -> None:
        if isinstance(self.focused, CodePanel):  # pgup/pgdn scroll the code panel it has focus
            (self.focused.scroll_page_down if delta > 0 else self.focused.scroll_page_up)()
            return
        if self.workspace.set_page(self.workspace.page + delta):
            self._focus_first_slot()
        self.update_topbar()

    def _focus_first_slot(self) -> None:
        if self.workspace.slots:
            self.focus_slot(self.workspace.slots[0])

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
            # the model and the run log both subscribe; while the engine runs, published from its
            # thread, so that the log has one writer (the model gets it through the inbox)
            if self._engine_thread is None or not self._engine_thread.call_soon(self.bus.publish, event):
                self.bus.publish(event)
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
        if osc52_supported(override=self.settings.ace_clipboard or ""):
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
        self.push_screen(JumpScreen(self.model, self.leaderboard.task_id), self.jump_to_task)

    def on_task_list_wanted(self, message: TaskListWanted) -> None:
        self.action_jump_task()

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
            self.focus_slot(slot)

    def action_raw_reply(self) -> None:
        self.show_reply = not self.show_reply
        self.show_code()

    def action_switch_task(self, step: int = 1) -> None:
        """Page by task: the leaderboard and the grid turn to the next (``step`` -1: previous)
        task, its first pane focused. With a filter on, tasks with no pane in it are skipped."""
        ids = self.model.task_ids
        if len(ids) < 2:
            self.notify("this run has one task", timeout=3)
            return
        if self.workspace.filter is not None:
            present = {self.model.panes[k].task_id for k in self.workspace.keys}
            ids = [t for t in ids if t in present] or ids
        current = self.leaderboard.task_id
        i = ids.index(current) if current in ids else (-1 if step > 0 else 0)
        self.jump_to_task(ids[(i + step) % len(ids)])

    def action_focus_leaderboard(self) -> None:
        if self.has_class("-short") and not self.board_view:
            self.action_toggle_view()
        self.leaderboard.table.focus()

    def action_cycle_theme(self) -> None:
        names = self.theme_names or list(self.available_themes)
        i = names.index(self.theme) if self.theme in names else -1
        self.theme = names[(i + 1) % len(names)]
        self.notify(f"Theme: {self.theme}", timeout=3)
