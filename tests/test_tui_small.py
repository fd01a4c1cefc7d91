"""Pilot tests of the small things: progress line and ETA, `c` copy, keyboard scrolling, 80x24,
pick confirmation and undo, the ctrl+c toast, and the summary printed on quitting."""
from __future__ import annotations

from tui_fakes import SORT_REFERENCE, ScriptedEngine, scripted_events, until

from ai_code_evals.core.events import CandidateAdded
from ai_code_evals.tui.app import WorkspaceApp
from ai_code_evals.tui.exit_summary import exit_summary
from ai_code_evals.tui.screens.confirm import ConfirmScreen
from ai_code_evals.tui.widgets.code import CodePanel

SIZE = (160, 48)


def live_app(tmp_path, engine=None) -> WorkspaceApp:
    return WorkspaceApp(engine=engine or ScriptedEngine(), export_dir=tmp_path,
                        reference_code={"sort_unique": SORT_REFERENCE})


async def settle(app, pilot) -> None:
    await app.workers.wait_for_complete()
    await pilot.pause()
    app.flush()
    await pilot.pause()


def messages(app) -> str:
    return "\n".join(text for _, text in app.messages)



async def test_progress_line_says_done_of_total_failures_and_eta(tmp_path):
    events = scripted_events()
    half = next(i for i, ev in enumerate(events) if getattr(ev, "candidate_id", "") == "to_int#0"
                and type(ev).__name__ == "Snapshot")
    engine = ScriptedEngine(events, hold_after=half)
    app = live_app(tmp_path, engine)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: engine.published >= half)
        app.flush()
        bar = str(app.topbar.render())
        assert "4/6 sandboxes finished" in bar  # to_int's panes have not started yet
        assert "2 failed" in bar  # sort_unique#2 failed, #3 timed out
        engine.release.set()
        await settle(app, pilot)
        bar = str(app.topbar.render())
        assert "6/6 sandboxes finished" in bar and "3 failed" in bar and "run complete" in bar
        assert "ETA" not in bar


async def test_eta_is_shown_while_sandboxes_remain(tmp_path):
    events = scripted_events()
    cut = max(i for i, ev in enumerate(events) if type(ev).__name__ == "CandidateFinished"
              and ev.candidate_id == "sort_unique#0") + 1
    engine = ScriptedEngine(events, hold_after=cut)
    app = live_app(tmp_path, engine)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: engine.published >= cut)
        app.flush()
        bar = str(app.topbar.render())
        assert "1/6 sandboxes finished" in bar and "ETA " in bar, bar
        engine.release.set()
        await settle(app, pilot)


async def test_c_copies_code_with_osc52_or_writes_a_file(tmp_path, monkeypatch):
    monkeypatch.setenv("ACE_CLIPBOARD", "osc52")  # read with the app's other settings, at its start
    app = live_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("1", "c")
        cid = app.workspace.slots[0].key[0]
        assert app.clipboard == app.model.code_of(cid)
        assert f"Copied {cid}'s code" in messages(app) and "OSC 52" in messages(app)
        app.settings = app.settings.model_copy(update={"ace_clipboard": "file"})
        await pilot.press("3", "c")
        cid3 = app.workspace.slots[2].key[0]
        written = tmp_path / (cid3.replace("#", "_") + ".py")
        assert written.read_text() == app.model.code_of(cid3)
        assert f"wrote {cid3}'s code to {written}" in messages(app)


async def test_keyboard_scrolls_code_panel_and_pane_output(tmp_path):
    events = scripted_events(lines_per_candidate=120)
    long_code = "def sort_unique(xs):\n" + "".join(f"    x{i} = {i}\n" for i in range(120)) + "    return xs\n"
    for ev in events:
        if isinstance(ev, CandidateAdded) and ev.candidate_id == "sort_unique#0":
            ev.code = long_code
    app = live_app(tmp_path, ScriptedEngine(events))
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("1")
        await pilot.pause(0.2)
        code = app.query_one(CodePanel)
        code.focus()
        await pilot.press("down", "down", "down")
        assert code.scroll_y == 3
        await pilot.press("pagedown")  # scrolls the code, not the grid's pages
        assert code.scroll_y > 3
        pane = app.workspace.slots[0]
        pane.focus()
        await pilot.press("shift+up", "shift+up")
        assert pane.output.back == 2
        await pilot.press("shift+pageup")
        assert pane.output.back > 2
        await pilot.press("shift+down", "shift+down")
        assert pane.output.back > 0


async def test_80x24_reaches_both_grid_and_leaderboard(tmp_path):
    app = live_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        grid, board = app.workspace, app.leaderboard
        assert grid.display and grid.region.height >= 10 and app.workspace.slots
        assert not app.query_one("#bottom").display or board.region.height == 0
        bar = str(app.topbar.render())
        assert len(bar) <= 80 and "done" in bar, bar  # the top bar fits
        await pilot.press("v")
        await pilot.pause()
        assert board.region.height >= 10
        table = board.table
        assert table.region.height >= 5 and table.row_count == 4  # rows visible, not just the title
        assert table.has_focus
        await pilot.press("v")
        await pilot.pause()
        assert grid.region.height >= 10 and board.region.height == 0
        await pilot.press("l")  # focusing the board switches to it
        await pilot.pause()
        assert board.region.height >= 10 and table.has_focus


async def test_pick_asks_first_and_u_undoes(tmp_path):
    app = live_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        task = app.model.tasks["sort_unique"]
        n = next(i for i, s in enumerate(app.workspace.slots) if s.key[0] == "sort_unique#1")
        await pilot.press(str(n + 1), "enter")
        assert isinstance(app.screen, ConfirmScreen)
        assert "instead of sort_unique#0" in str(app.screen.query_one("#confirm-question").render())
        await pilot.press("n")
        assert task.user_selection is None and task.winner == "sort_unique#0"
        await pilot.press("enter", "y")
        assert task.winner == "sort_unique#1"
        await pilot.press("u")
        assert task.winner == "sort_unique#0"
        assert "pick undone" in task.user_selection["reason"]
        await pilot.press("u")
        assert "no pick to undo" in messages(app)


async def test_ctrl_c_toast_is_plain_text(tmp_path):
    app = live_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("ctrl+c")
        text = messages(app)
        assert "q stops the run" in text and "[b]" not in text
        app.notify("[b]bold[/b] from textual")  # called from here: shown as written
        assert "[b]bold[/b] from textual" in messages(app)


def test_exit_summary_lists_winners_log_and_commands(tmp_path):
    from ai_code_evals.tui.model import RunModel

    model = RunModel()
    for ev in scripted_events():
        model.ingest_event(ev)
    lines = exit_summary(model, "runs/x y.jsonl", mode="live", interrupted=False)
    text = "\n".join(lines)
    assert "complete (6/6 sandboxes finished)" in lines[0]
    assert "  sort_unique: sort_unique#0" in text and "  to_int: to_int#0" in text
    assert "log: runs/x y.jsonl" in text and "replay: ai-code-evals replay 'runs/x y.jsonl'" in text
    assert "resume" not in text
    stopped = "\n".join(exit_summary(model, "r.jsonl", mode="live", interrupted=True))
    assert "interrupted" in stopped and "resume: ai-code-evals resume r.jsonl" in stopped
