"""The key map: one list that makes the bindings, the help screen and the command palette,
so that none of them can miss an action."""
from __future__ import annotations

from dataclasses import dataclass

from textual.binding import Binding


@dataclass(frozen=True)
class KeyAction:
    key: str  # Textual key name(s), comma-separated
    shown: str  # how the key is written in help
    action: str  # app action
    title: str  # footer / palette title
    help: str  # one line for the help screen and the palette
    footer: bool = True
    priority: bool = False  # also works while the leaderboard table has focus
    palette: bool = True


KEYMAP: tuple[KeyAction, ...] = (
    KeyAction("question_mark", "?", "help", "Help", "Show this help: every key binding and mouse action"),
    KeyAction("q", "q", "quit", "Quit", "Stop the run (every sandbox is destroyed), save the log, quit"),
    KeyAction("z", "z", "zoom", "Zoom", "Zoom the focused pane to full screen; again to restore"),
    KeyAction("space", "space", "pause", "Pause", "Pause / resume streaming of output into the panes",
              priority=True),
    KeyAction("left_square_bracket", "[", "step(-1)", "Back",
              "Time travel: step the focused pane (or all panes) to the previous snapshot", priority=True),
    KeyAction("right_square_bracket", "]", "step(1)", "Fwd",
              "Time travel: step to the next snapshot (past the last one: live)", priority=True),
    KeyAction("a", "a", "toggle_step_all", "Step all",
              "Toggle whether [ and ] step the focused pane or all panes along the run's timeline"),
    KeyAction("end", "end", "live", "Live", "Leave time travel: every pane back to live", priority=True),
    KeyAction("enter", "enter", "pick", "Pick winner",
              "Make the selected candidate (focused pane or leaderboard row) the winner of its task "
              "(asks first; u undoes)"),
    KeyAction("i", "i", "detail", "Why",
              "Why the focused version (pane or leaderboard row) failed: failing case, stderr, exit, "
              "time and memory per profile, diff against the winner"),
    KeyAction("c", "c", "copy_code", "Copy",
              "Copy the focused version's code (terminal clipboard via OSC 52, else a file; the toast says which)"),
    KeyAction("u", "u", "undo_pick", "Undo pick", "Undo your last pick (the winner before it comes back)",
              footer=False),
    KeyAction("e", "e", "export", "Export", "Write the winner's code of the shown task to ./<task>_winner.py"),
    KeyAction("d", "d", "diff", "Diff",
              "Code panel: cycle code / diff vs the reference / diff vs each other candidate"),
    KeyAction("slash", "/", "filter", "Filter",
              "Filter the grid: words match task or version ids; status:failed, task:ID, env:PROFILE"),
    KeyAction("g", "g", "jump_task", "Tasks",
              "The task list: type part of a task id to narrow it (natural order), enter shows that task"),
    KeyAction("r", "r", "raw_reply", "Reply",
              "Code panel: show the model's whole reply for the selected version (again: its code)",
              footer=False),
    KeyAction("s", "s", "switch_task(1)", "Next task",
              "Next task: the leaderboard and the grid turn to its panes (with a filter: the next task in it)"),
    KeyAction("S", "S", "switch_task(-1)", "Prev task", "Previous task (shift+s), as s", footer=False),
    KeyAction("l", "l", "focus_leaderboard", "Board", "Focus the leaderboard (arrows move, enter picks)",
              footer=False),
    KeyAction("v", "v", "toggle_view", "Grid/board",
              "Small terminals: switch between the grid and the leaderboard with the code", footer=False),
    KeyAction("t", "t", "cycle_theme", "Theme", "Switch to the next theme (themes/*.toml and your theme dir)"),
    KeyAction("pagedown", "pgdn", "page(1)", "Next page", "Next page of panes (when they do not all fit)",
              footer=False, priority=True),
    KeyAction("pageup", "pgup", "page(-1)", "Prev page", "Previous page of panes", footer=False, priority=True),
)
# Keys with several bindings each: shown once in help, one palette entry per useful action.
PANE_KEYS = tuple(KeyAction(str(n), str(n), f"focus_pane({n})", f"Pane {n}", f"Focus pane {n} of this page",
                            footer=False, palette=False) for n in range(1, 10))
BUILTIN_KEYS = (
    ("1–9", "Focus pane 1–9 of the page shown"),
    ("tab / shift+tab", "Move focus: panes, leaderboard, code panel"),
    ("ctrl+p", "Command palette: every action above, plus theme choice"),
    ("← → ↑ ↓ (pane)", "Focus the neighbouring pane (the next page past the edge)"),
    ("shift+↑ ↓, shift+pgup pgdn", "Scroll the focused pane's output back and forward"),
    ("↑ ↓ (leaderboard)", "Move the row cursor; the code panel follows"),
    ("↑ ↓ pgup pgdn (code)", "Scroll the code panel (tab moves focus there)"),
    ("escape", "Close this help / the palette; leave zoom"),
)
MOUSE_HELP = (
    ("click a pane", "Focus it (its code shows in the code panel)"),
    ("click a leaderboard row", "Highlight it; click it again to pick it as winner"),
    ("click the task line", "Open the task list (as g)"),
    ("wheel", "Scroll a pane's output or the code"),
)

NOTES = (
    ("panes", "One per sandbox (candidate × profile): status, test i/N, time, CPU, memory, output"),
    ("verdicts", "PASSED / FAILED / ERROR / TIMEOUT / KILLED, as a word and a border colour"),
    ("leaderboard", "Sorted by score; 'winner' marks the pick (yours: 'winner (you)'), reason above"),
    ("time travel", ("Stepping all panes ('a', then [ ]) takes the leaderboard along: only results and "
                     "picks made by then; stepping the focused pane alone leaves the board live")),
    ("output", "Control sequences from candidates are shown as ^[ … and never reach the terminal"),
    ("themes", "themes/*.toml; add yours with ACE_THEME_DIR=dir, start with ACE_THEME=name"),
    ("replay", "ai-code-evals replay runs/<id>.jsonl: the same screen, every snapshot steppable"),
)


def bindings() -> list[Binding]:
    return [Binding(k.key, k.action, k.title, show=k.footer, priority=k.priority, key_display=k.shown)
            for k in KEYMAP + PANE_KEYS]
