"""Pilot tests of the workspace on a scripted run: every key binding, mouse picks, quit, replay."""
from __future__ import annotations

import asyncio

import pytest
from textual.widget import Widget
from tui_fakes import CANDIDATES, SORT_REFERENCE, ScriptedEngine, grid_events, scripted_events, until

from ai_code_evals.core.events import EventBus
from ai_code_evals.runlog.reader import read_record
from ai_code_evals.runlog.writer import RunLog
from ai_code_evals.tui.app import WorkspaceApp
from ai_code_evals.tui.keys import KEYMAP
from ai_code_evals.tui.screens.find import JumpScreen
from ai_code_evals.tui.screens.help import HelpScreen
from ai_code_evals.tui.widgets.code import CodePanel
from ai_code_evals.tui.widgets.leaderboard import LeaderTable, TaskLine
from ai_code_evals.tui.widgets.pane import SandboxPane

SIZE = (160, 48)


def live_app(tmp_path, engine=None, **kw) -> WorkspaceApp:
    kw.setdefault("reference_code", {"sort_unique": SORT_REFERENCE})
    return WorkspaceApp(engine=engine or ScriptedEngine(), export_dir=tmp_path, **kw)


async def settle(app: WorkspaceApp, pilot) -> None:
    """Let the scripted engine finish and the refresh timer catch up."""
    await app.workers.wait_for_complete()
    await pilot.pause()
    app.flush()
    await pilot.pause()



def slot_for(app: WorkspaceApp, cid: str) -> SandboxPane:
    return next(s for s in app.workspace.slots if s.key and s.key[0] == cid)


def messages(app: WorkspaceApp) -> str:
    return "\n".join(text for _, text in app.messages)


async def test_live_run_fills_panes_leaderboard_code_and_notices(tmp_path):
    app = live_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        assert len(app.workspace.slots) == 6
        failed = slot_for(app, "sort_unique#2")
        assert failed.has_class("-failed") and failed.border_subtitle == "FAILED"
        assert slot_for(app, "sort_unique#0").has_class("-passed")
        assert slot_for(app, "sort_unique#3").border_subtitle == "TIMEOUT"
        table = app.leaderboard.table
        assert table.row_count == 4
        assert [str(c) for c in table.get_row("sort_unique#0")][:2] == ["winner", "sort_unique#0"]
        assert "winner sort_unique#0" in str(app.leaderboard.reason.render())
        assert app.code.plain.startswith("def sort_unique")
        assert "stopped responding" in messages(app)
        assert app.run_done and "Run finished" in messages(app)


async def test_hostile_output_stays_inside_its_pane(tmp_path):
    app = live_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        lines = slot_for(app, "sort_unique#1").output.plain_lines
        assert any("^[[2J" in ln for ln in lines) and any("^[]0;pwned title^G" in ln for ln in lines)
        for slot in app.workspace.slots:
            for y in range(slot.output.size.height):
                text = slot.output.render_line(y).text
                assert "\x1b" not in text and "\x07" not in text and "\r" not in text
        assert app.title == "ai-code-evals"


async def test_help_screen_lists_every_binding(tmp_path):
    app = live_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        text = str(app.screen.query_one("#help-text").render())
        for k in KEYMAP:
            assert k.help in text, k.key
        for key in ("1–9", "tab / shift+tab", "ctrl+p", "click a leaderboard row"):
            assert key in text
        bound = {b.action for b in app.BINDINGS}
        assert bound <= {k.action for k in KEYMAP} | {f"focus_pane({n})" for n in range(1, 10)}
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)
        await pilot.press("question_mark", "space", "z", "q")  # the help screen takes the keys
        assert not app.paused and app.screen.maximized is None
        assert not isinstance(app.screen, HelpScreen) and app.is_running


async def test_command_palette_offers_every_action_and_runs_one(tmp_path):
    app = live_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        titles = " | ".join(c.title for c in app.get_system_commands(app.screen))
        for k in KEYMAP:
            assert k.title in titles, k.title
        assert "Theme: ace-light" in titles
        app.workspace.slots[0].focus()
        await pilot.press("ctrl+p")
        await pilot.pause()
        assert app.screen.__class__.__name__ == "CommandPalette"
        await pilot.press(*"Zoom (z)")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await pilot.pause(0.2)
        assert app.screen.maximized is app.workspace.slots[0]


async def test_digits_tab_and_shift_tab_move_focus_and_code_follows(tmp_path):
    app = live_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("3")
        assert app.focused is app.workspace.slots[2]
        assert app.selected == "sort_unique#2" and "return sorted(xs)" in app.code.plain
        await pilot.press("tab")
        assert app.focused is app.workspace.slots[3]
        await pilot.press("shift+tab")
        assert app.focused is app.workspace.slots[2]
        await pilot.press("9")
        assert "no pane 9" in messages(app)
        await pilot.press("6")
        await pilot.pause(0.2)
        assert app.leaderboard.task_id == "to_int"  # the board follows the selection
        await pilot.press("l")
        assert isinstance(app.focused, LeaderTable)


async def test_zoom_toggles_full_screen(tmp_path):
    app = live_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("2", "z")
        zoomed = app.screen.maximized
        assert zoomed is app.workspace.slots[1]
        await pilot.pause()
        assert zoomed.outer_size.width == SIZE[0]
        await pilot.press("z")
        assert app.screen.maximized is None
        await pilot.press("z", "escape")
        assert app.screen.maximized is None


async def test_zoom_restyles_the_screen_and_the_zoomed_pane_only(tmp_path):
    """Textual's maximize restyled every widget on the screen twice per zoom (a class on the
    screen), the costliest key at scale; the look is the same with two subtrees restyled."""
    app = live_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("2")
        await pilot.pause()
        restyled: list = []
        apply = app.stylesheet.apply

        def counting(node, *args, **kwargs):
            restyled.append(node)
            return apply(node, *args, **kwargs)

        app.stylesheet.apply = counting
        zoomed = app.workspace.slots[1]
        for _ in range(2):
            await pilot.press("z")
            await pilot.pause()
            assert app.screen.maximized is zoomed and "-maximized-view" in app.screen.classes
            assert zoomed.outer_size.width == SIZE[0] and not app.leaderboard.region.area
            await pilot.press("z")
            await pilot.pause()
            assert app.screen.maximized is None and "-maximized-view" not in app.screen.classes
            assert zoomed.outer_size.width < SIZE[0] and app.leaderboard.region.area
        app.stylesheet.apply = apply
        inside = set(zoomed.walk_children(with_self=True)) | {app.screen}
        widgets = {n for n in restyled if isinstance(n, Widget)}  # (not the screen's component styles)
        assert widgets and widgets <= inside, {type(n).__name__ for n in widgets - inside}


async def test_space_pauses_and_resumes_streaming(tmp_path):
    events = scripted_events()
    hold = next(i for i, e in enumerate(events) if e.kind == "stdout") + 1
    engine = ScriptedEngine(events, hold_after=hold)
    app = live_app(tmp_path, engine)
    async with app.run_test(size=SIZE) as pilot:
        key = ("sort_unique#0", "default")
        for _ in range(200):  # until the first line is on screen (the engine holds after it)
            await pilot.pause(0.05)
            slots = [s for s in app.workspace.slots if s.key == key and s.is_mounted]
            if slots and slots[0].output.line_count == 1:
                break
        slot = slot_for(app, key[0])
        before = slot.output.line_count
        assert before == 1
        await pilot.press("space")
        assert app.paused and "PAUSED" in str(app.topbar.render())
        engine.release.set()
        await settle(app, pilot)
        assert app.model.panes[key].total > before
        assert slot.output.line_count == before  # frozen while paused
        await pilot.press("space")
        app.flush()
        assert not app.paused and slot.output.line_count == app.model.panes[key].total


async def test_brackets_step_snapshots_end_returns_live_and_a_steps_all(tmp_path):
    app = live_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("3")
        slot = app.workspace.slots[2]
        pane = app.model.panes[slot.key]
        n = len(pane.snapshots)
        await pilot.press("left_square_bracket")
        assert slot.index == n - 2 and slot.has_class("-travel")
        snap = pane.snapshots[n - 2]
        assert slot.output.line_count == snap["output_lines"]
        assert f"snapshot {n - 1}/{n}" in str(slot._snap.render()) and "t+" in str(slot._snap.render())
        await pilot.press("left_square_bracket", "left_square_bracket", "right_square_bracket")
        assert slot.index == n - 3
        await pilot.press("end")
        assert slot.index is None and not slot.has_class("-travel")
        assert slot.output.line_count == pane.total
        await pilot.press("a", "left_square_bracket")
        assert app.travel.global_pos is not None and app.travel.global_pos < len(app.model.timeline) - 1
        assert all(s.index is not None and s.index < len(app.model.panes[s.key].snapshots) - 1
                   for s in app.workspace.slots)  # every pane went back
        assert "ALL PANES" in str(app.topbar.render())
        await app.run_action(f"step({-len(app.model.timeline)})")  # the same action, many steps
        await pilot.pause()
        assert app.travel.global_pos == 0
        assert sum(1 for s in app.workspace.slots if s.index == -1) == 5  # not started yet then
        await pilot.press("right_square_bracket")
        assert all(s.index is not None and s.index >= 0 for s in app.workspace.slots)  # each one started
        await pilot.press("end")
        assert all(s.index is None for s in app.workspace.slots)
        await pilot.press("a")
        assert not app.travel.all_panes


def board_cells(app: WorkspaceApp, column: str) -> dict[str, str]:
    table = app.leaderboard.table
    return {row.key.value: str(table.get_cell(row.key, column)) for row in table.ordered_rows}


async def test_leaderboard_follows_step_all_time_travel_but_not_one_pane(tmp_path):
    app = live_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        assert board_cells(app, "pick")["sort_unique#0"] == "winner"
        await pilot.press("1", "left_square_bracket")  # the focused pane alone: the board stays live
        assert app.workspace.slots[0].index is not None
        assert board_cells(app, "pick")["sort_unique#0"] == "winner"
        await pilot.press("end", "a")
        task = app.model.tasks["sort_unique"]
        first_result = min(task.result_pos.values())
        target = first_result - 2  # the snapshot before the first candidate's 'finished' one

        def travel_to(pos):
            app.travel.global_pos = pos
            app.workspace.redraw()
            app.leaderboard.refresh_rows()

        travel_to(target)
        await pilot.pause()
        scores, picks, status = (board_cells(app, c) for c in ("score", "pick", "status"))
        assert set(scores) == {c for c, *_ in CANDIDATES["sort_unique"]}  # same rows, by diff
        assert set(scores.values()) == {""} and set(picks.values()) == {""}
        assert status["sort_unique#0"] == "running 6/6" and status["sort_unique#1"] == "queued"
        assert "winner" not in str(app.leaderboard.reason.render())
        travel_to(first_result)  # its result has arrived
        await pilot.pause()
        assert board_cells(app, "status")["sort_unique#0"] == "passed"
        assert board_cells(app, "pick")["sort_unique#0"] == ""  # no selection yet
        await pilot.press("end")
        assert board_cells(app, "pick")["sort_unique#0"] == "winner"
        assert board_cells(app, "score")["sort_unique#0"] == "100.0"
        assert "winner sort_unique#0" in str(app.leaderboard.reason.render())


async def test_enter_on_a_row_picks_winner_and_run_log_records_it(tmp_path):
    log_path = tmp_path / "run.jsonl"
    runlog = RunLog(log_path, "run-x")
    app = live_app(tmp_path, runlog=runlog)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("l", "down")
        assert app.selected == "sort_unique#1"
        await pilot.press("enter", "y")  # a pick asks first
        await pilot.pause()
        app.flush()
        assert app.model.tasks["sort_unique"].winner == "sort_unique#1"
        assert str(app.leaderboard.table.get_row("sort_unique#1")[0]) == "winner (you)"
        assert str(app.leaderboard.table.get_row("sort_unique#0")[0]) == "engine pick"
        await pilot.press("q")
        await pilot.pause()
    assert app.return_value == 0
    record = read_record(log_path)
    user = [e for e in record.events if e["type"] == "selection" and e["data"]["by"] == "user"]
    assert user and user[0]["data"]["winner"] == "sort_unique#1"
    assert record.final_report["user_selections"]["sort_unique"]["winner"] == "sort_unique#1"


async def test_enter_on_a_focused_pane_picks_its_candidate(tmp_path):
    app = live_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("6", "enter", "y")
        assert app.model.tasks["to_int"].winner == "to_int#1"
        assert app.leaderboard.task_id == "to_int"


async def test_clicking_a_highlighted_row_picks_it(tmp_path):
    app = live_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        table = app.leaderboard.table
        row = table.get_row_index("sort_unique#2")
        offset = (20, row + 1)  # +1: header line
        await pilot.click(LeaderTable, offset=offset)
        await pilot.pause()
        assert app.model.tasks["sort_unique"].user_selection is None  # first click highlights
        await pilot.click(LeaderTable, offset=offset)
        await pilot.press("y")
        await pilot.pause()
        assert app.model.tasks["sort_unique"].winner == "sort_unique#2"


async def test_clicking_a_pane_focuses_it(tmp_path):
    app = live_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        target = app.workspace.slots[4]
        await pilot.click(target, offset=(5, 3))
        await pilot.pause()
        assert app.focused is target and app.selected == target.key[0]


async def test_e_exports_winner_code(tmp_path):
    app = live_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("e")
        out = tmp_path / "sort_unique_winner.py"
        assert out.read_text() == "def sort_unique(xs):\n    return sorted(set(xs))\n"
        assert str(out) in messages(app)


async def test_e_before_any_winner_says_so(tmp_path):
    events = scripted_events()
    engine = ScriptedEngine(events, hold_after=10)
    app = live_app(tmp_path, engine)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.leaderboard.task_id == "sort_unique")
        await pilot.press("e")
        assert "no winner yet" in messages(app)
        assert not list(tmp_path.glob("*_winner.py"))
        engine.release.set()


async def test_d_cycles_code_reference_diff_and_candidate_diffs(tmp_path):
    app = live_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("3")
        assert app.code.mode == "code"
        await pilot.press("d")
        assert app.code.border_title == "Diff · reference → sort_unique#2"
        assert "-    return sorted(set(xs))" in app.code.plain and "+    return sorted(xs)" in app.code.plain
        await pilot.press("d")
        assert app.code.border_title == "Diff · sort_unique#0 → sort_unique#2"  # the winner first
        for _ in range(3):
            await pilot.press("d")
        assert app.code.mode == "code"


async def test_keys_typed_together_act_on_the_pane_just_focused(tmp_path):
    """"3d" and "3i" arriving in one read (both keys queued before either is handled): the diff
    and the detail are of pane 3's version, not of the version focused before (seen in CI under
    load: focus moved on a later event, after "d" had already acted)."""
    from textual import events

    from ai_code_evals.tui.screens.detail import DetailScreen

    app = live_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        third = app.workspace.slots[2].key[0]
        for key in ("3", "d"):
            app.post_message(events.Key(key, key))
        await pilot.pause()
        assert app.selected == third
        assert app.code.border_title == f"Diff · reference → {third}"
        for key in ("1", "i"):
            app.post_message(events.Key(key, key))
        await pilot.pause()
        assert isinstance(app.screen, DetailScreen)
        assert app.screen.candidate_id == app.workspace.slots[0].key[0]


async def test_s_and_a_click_on_the_task_line_switch_task(tmp_path):
    app = live_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        assert app.leaderboard.task_id == "sort_unique"
        assert "sort_unique  ·  task 1 of 2" in str(app.leaderboard.task_line.render())
        await pilot.press("s")
        assert app.leaderboard.task_id == "to_int" and app.leaderboard.table.row_count == 2
        assert "winner to_int#0" in str(app.leaderboard.reason.render())
        assert "to_int  ·  task 2 of 2" in str(app.leaderboard.task_line.render())
        await pilot.click(TaskLine)
        await until(pilot, lambda: isinstance(app.screen, JumpScreen))
        await pilot.press("up", "enter")
        await until(pilot, lambda: not isinstance(app.screen, JumpScreen))
        assert app.leaderboard.task_id == "sort_unique" and app.leaderboard.table.row_count == 4


async def test_t_cycles_themes_and_code_is_highlighted_again(tmp_path, monkeypatch):
    app = live_app(tmp_path)
    calls = []
    original = CodePanel.rehighlight

    def counting(self):
        calls.append(self.app.theme)
        original(self)

    monkeypatch.setattr(CodePanel, "rehighlight", counting)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        assert app.theme == "ace-dark"
        calls.clear()
        await pilot.press("t")
        await pilot.pause()
        assert app.theme == "ace-high-contrast" and "ace-high-contrast" in calls
        await pilot.press("t", "t")
        assert app.theme == "ace-dark"


async def test_pages_when_panes_do_not_fit_and_reflows_on_resize(tmp_path):
    app = WorkspaceApp(engine=ScriptedEngine(grid_events(20)), export_dir=tmp_path)
    async with app.run_test(size=(100, 40)) as pilot:
        await settle(app, pilot)
        ws = app.workspace
        assert ws.pages > 1
        first = [s.key for s in ws.slots]
        await pilot.press("pagedown")
        assert ws.page == 1 and [s.key for s in ws.slots] != first
        assert ws.slots[0].key == app.model.pane_order[ws.per_page]
        assert "page 2/" in str(app.topbar.render())
        await pilot.press("pageup")
        assert ws.page == 0 and [s.key for s in ws.slots] == first
        per_page = ws.per_page
        await pilot.resize_terminal(200, 60)
        await pilot.pause(0.2)
        assert ws.per_page > per_page


async def test_q_during_a_run_cancels_engine_and_returns_2(tmp_path):
    engine = ScriptedEngine(hold_after=40, cleanup_s=0.5)
    log_path = tmp_path / "run.jsonl"
    runlog = RunLog(log_path, "run-q")
    app = live_app(tmp_path, engine, runlog=runlog)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: engine.published >= 40)
        assert app.engine_running
        await pilot.press("q")
        await pilot.pause()
    assert engine.cancelled and engine.cleaned_up
    assert app.return_value == 2
    assert runlog._fh is None  # closed
    assert read_record(log_path).final_report is None  # interrupted: resumable


async def test_engine_failure_is_a_notification_not_a_crash(tmp_path):
    async def broken(bus: EventBus) -> dict:
        await asyncio.sleep(0)
        raise RuntimeError("backend exploded")

    app = live_app(tmp_path, broken)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        assert "The run stopped: RuntimeError: backend exploded" in messages(app)
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)


async def test_bad_theme_file_gives_one_notification_and_app_starts(tmp_path, monkeypatch):
    themes = tmp_path / "themes"
    themes.mkdir()
    (themes / "bad.toml").write_text('name = "bad"\nprimary = "nope"\n')
    (themes / "good.toml").write_text('name = "good"\nprimary = "#00aa00"\ndark = false\n')
    monkeypatch.setenv("ACE_THEME_DIR", str(themes))
    app = live_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        theme_msgs = [m for _, m in app.messages if m.startswith("Themes")]
        assert len(theme_msgs) == 1 and "bad.toml" in theme_msgs[0] and "'primary'" in theme_msgs[0]
        assert "good" in app.theme_names
        app.theme = "good"
        await pilot.pause()


def write_record(tmp_path):
    path = tmp_path / "recorded.jsonl"
    log = RunLog(path, "rec-1")
    bus = EventBus()
    bus.subscribe(log.on_event)
    for ev in scripted_events():
        bus.publish(ev)
    log.close()
    return path


async def test_replay_navigates_snapshots_and_a_pick_amends_the_record(tmp_path):
    path = write_record(tmp_path)
    app = WorkspaceApp(record=path, export_dir=tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        app.flush()
        assert app.mode == "replay" and len(app.workspace.slots) == 6
        assert "REPLAY" in str(app.topbar.render())
        await pilot.press("1")
        slot = app.workspace.slots[0]
        n = len(app.model.panes[slot.key].snapshots)
        for _ in range(n):
            await pilot.press("left_square_bracket")
        assert slot.index == 0 and slot.output.line_count == 0
        await pilot.press("end", "2", "enter", "y")
        await pilot.pause()
    rec = read_record(path)
    assert rec.final_report["user_selections"]["sort_unique"]["winner"] == "sort_unique#1"
    assert rec.events[-1]["type"] == "selection" and rec.events[-1]["data"]["by"] == "user"


async def test_replay_of_a_missing_file_is_a_notification(tmp_path):
    app = WorkspaceApp(record=tmp_path / "nope.jsonl")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert "no such run log" in messages(app)


@pytest.mark.parametrize("width", [80, 120])
async def test_narrow_terminals_still_show_everything(tmp_path, width):
    app = live_app(tmp_path)
    async with app.run_test(size=(width, 40)) as pilot:
        await settle(app, pilot)
        assert app.has_class("-narrow") == (width < 120)
        assert app.workspace.slots and app.leaderboard.table.row_count == 4


async def test_switching_task_turns_the_grid_to_its_panes(tmp_path):
    events = grid_events(12, task_id="alpha") + grid_events(12, task_id="beta")[1:]
    events[0].tasks.append({"task_id": "beta", "entry_point": "f", "reference": False})
    app = WorkspaceApp(engine=ScriptedEngine(events), export_dir=tmp_path)
    async with app.run_test(size=(100, 40)) as pilot:
        await settle(app, pilot)
        assert app.workspace.slots[0].key == ("alpha#0", "default")
        await pilot.press("s")
        assert app.leaderboard.task_id == "beta"
        assert ("beta#0", "default") in [s.key for s in app.workspace.slots]


async def test_leaving_without_q_still_stops_the_engine(tmp_path):
    engine = ScriptedEngine(hold_after=40, cleanup_s=0.5)
    app = live_app(tmp_path, engine)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: engine.published >= 40)
        assert app.engine_running
        app.exit()  # e.g. an error elsewhere: no `q`
        await pilot.pause()
    assert engine.cancelled and engine.cleaned_up


async def test_ace_theme_env_picks_the_start_theme(tmp_path, monkeypatch):
    monkeypatch.setenv("ACE_THEME", "ace-light")
    app = live_app(tmp_path)
    async with app.run_test(size=SIZE):
        assert app.theme == "ace-light"


async def test_a_burst_of_engine_notices_is_one_notification(tmp_path):
    from ai_code_evals.core.events import EngineNotice

    async def noisy(bus: EventBus) -> dict:
        for i in range(20):
            bus.publish(EngineNotice(f"task {i}: something odd", level="error" if i == 7 else "warning"))
        return {}

    app = live_app(tmp_path, noisy)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        burst = [(sev, m) for sev, m in app.messages if "engine notices" in m]
        assert len(burst) == 1 and burst[0][0] == "error" and "and 17 more" in burst[0][1]


async def test_replay_says_when_output_was_not_all_recorded(tmp_path):
    from ai_code_evals.runlog.writer import MAX_LOGGED_LINES

    path = tmp_path / "long.jsonl"
    log = RunLog(path, "rec-long")
    bus = EventBus()
    bus.subscribe(log.on_event)
    for ev in scripted_events(lines_per_candidate=MAX_LOGGED_LINES + 60):
        bus.publish(ev)
    log.close()
    app = WorkspaceApp(record=path)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: any(s.key and s.key[0] == "sort_unique#0" and s.output.plain_lines
                                       for s in app.workspace.slots))
        slot = slot_for(app, "sort_unique#0")
        assert slot.output.plain_lines[-1].endswith("later line(s) were not recorded in the run log")


async def test_mouse_wheel_scrolls_a_pane_back_and_forward(tmp_path):
    from textual.events import MouseScrollDown, MouseScrollUp

    app = WorkspaceApp(engine=ScriptedEngine(grid_events(2, lines_each=60)), export_dir=tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        out = app.workspace.slots[0].output
        bottom = out.size.height - 1
        assert out.render_line(bottom).text.startswith("grid#0 says 59")
        await pilot._post_mouse_events([MouseScrollUp], widget=out, offset=(2, 1))
        await pilot._post_mouse_events([MouseScrollUp], widget=out, offset=(2, 1))
        assert out.back == 6
        assert "6 newer line(s)" in out.render_line(bottom).text
        await pilot._post_mouse_events([MouseScrollDown], widget=out, offset=(2, 1), times=2)
        assert out.back == 0
        assert out.render_line(bottom).text.startswith("grid#0 says 59")


async def test_gc_settings_for_streaming_are_restored_on_exit(tmp_path):
    import gc

    before = gc.get_threshold()
    app = live_app(tmp_path, gc_freeze=True)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await until(pilot, lambda: gc.get_threshold() != before)
        assert gc.get_freeze_count() > 0
    assert gc.get_threshold() == before and gc.get_freeze_count() == 0


async def test_ids_labels_and_notices_that_look_like_markup_are_shown_as_text(tmp_path):
    from ai_code_evals.core.events import CandidateAdded, EngineNotice

    events = grid_events(2, task_id="t[/x]")
    events.insert(2, CandidateAdded(candidate_id="t[/x]#0", task_id="t[/x]", code="x = 1\n", label="[b]bad[/i"))
    events.append(EngineNotice("[red]oops[/"))
    app = WorkspaceApp(engine=ScriptedEngine(events), export_dir=tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("1", "d", "s")
        await until(pilot, lambda: "t[/x]#0" in app.code.render_str(app.code.border_title).plain)
        assert app.is_running and "[red]oops[/" in messages(app)


async def test_resume_shows_the_results_already_in_the_log(tmp_path):
    path = write_record(tmp_path)

    async def nothing_left(bus: EventBus) -> dict:
        return {}

    app = live_app(tmp_path, nothing_left, history=path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        assert len(app.workspace.slots) == 6 and app.leaderboard.table.row_count == 4
        assert app.mode == "live"
