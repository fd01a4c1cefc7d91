"""Finding things in a big run: the grid filter box (`/`) and the jump-to-task list (`g`)."""
from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, OptionList, Static
from textual.widgets.option_list import Option

from ai_code_evals.tui.filter import PaneFilter
from ai_code_evals.tui.model import RunModel

FILTER_HELP = ("words match a task or version id · status:failed status:passed status:running · "
               "task:HumanEval/12 · env:low-memory · enter applies, esc clears")
MAX_JUMP_OPTIONS = 500


class FilterScreen(ModalScreen[str | None]):
    """Returns the filter text (enter), "" (esc: clear the filter)."""

    BINDINGS: ClassVar = [Binding("escape", "clear", "Clear", priority=True)]
    DEFAULT_CSS = """
    FilterScreen { align: center middle; }
    FilterScreen > Vertical { width: 110; max-width: 95%; height: auto; background: $surface;
        border: round $accent; padding: 0 1; }
    FilterScreen #filter-help { color: $text-muted; }
    FilterScreen #filter-error { color: $text-error; display: none; }
    FilterScreen #filter-error.-shown { display: block; }
    """

    def __init__(self, current: str = "") -> None:
        super().__init__()
        self.current = current

    def compose(self) -> ComposeResult:
        with Vertical() as box:
            box.border_title = "Filter the sandboxes"
            yield Input(self.current, placeholder="e.g. status:failed env:low-memory", id="filter-input")
            yield Static("", id="filter-error", markup=False)
            yield Static(FILTER_HELP, id="filter-help", markup=False)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        try:
            PaneFilter.parse(event.value)
        except ValueError as exc:  # say it under the box, keep the text for fixing
            error = self.query_one("#filter-error", Static)
            error.update(str(exc))
            error.add_class("-shown")
            return
        self.dismiss(event.value.strip())

    def action_clear(self) -> None:
        self.dismiss("")


class JumpScreen(ModalScreen[str | None]):
    """Type to narrow the task list, arrows choose, enter jumps; esc cancels (None)."""

    BINDINGS: ClassVar = [Binding("escape", "cancel", "Cancel", priority=True),
                          Binding("down", "move(1)", show=False, priority=True),
                          Binding("up", "move(-1)", show=False, priority=True)]
    DEFAULT_CSS = """
    JumpScreen { align: center middle; }
    JumpScreen > Vertical { width: 70; max-width: 95%; height: auto; max-height: 80%;
        background: $surface; border: round $accent; padding: 0 1; }
    JumpScreen OptionList { height: auto; max-height: 20; border: none; }
    """

    def __init__(self, model: RunModel, current: str | None = None) -> None:
        super().__init__()
        self.model = model
        self.current = current  # highlighted at first, so enter alone keeps it and arrows go from it

    def compose(self) -> ComposeResult:
        with Vertical() as box:
            box.border_title = f"Tasks ({len(self.model.task_ids)}) · type to narrow, enter shows"
            yield Input(placeholder="type part of a task id", id="jump-input")
            yield OptionList(id="jump-list")

    def on_mount(self) -> None:
        self._fill("")
        self.query_one("#jump-input", Input).focus()

    def matching(self, text: str) -> list[str]:
        words = text.lower().split()
        return [t for t in self.model.task_ids if all(w in t.lower() for w in words)]

    def _label(self, task_id: str) -> str:
        task = self.model.tasks[task_id]
        done = len({c for c, _ in task.results})
        passed = len({c for (c, _), r in task.results.items() if r.get("status") == "passed"})
        winner = task.winner
        return (f"{task_id}  ·  {passed}/{len(task.candidates)} pass  ·  {done} finished"
                + (f"  ·  winner {winner}" if winner else ""))

    def _fill(self, text: str) -> None:
        options = self.query_one("#jump-list", OptionList)
        options.clear_options()
        found = self.matching(text)
        options.add_options([Option(self._label(t), id=t) for t in found[:MAX_JUMP_OPTIONS]])
        if found:
            here = found.index(self.current) if not text and self.current in found else 0
            options.highlighted = here

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        self._fill(event.value)

    def action_move(self, delta: int) -> None:
        options = self.query_one("#jump-list", OptionList)
        if options.option_count:
            options.highlighted = ((options.highlighted or 0) + delta) % options.option_count

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        options = self.query_one("#jump-list", OptionList)
        if options.highlighted is not None and options.option_count:
            self.dismiss(options.get_option_at_index(options.highlighted).id)
        else:
            self.app.notify(f"no task matches {event.value!r}", severity="warning", timeout=3)

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.dismiss(event.option.id)

    def action_cancel(self) -> None:
        self.dismiss(None)
