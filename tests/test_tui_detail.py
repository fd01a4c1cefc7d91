"""`i`: why a version failed, from a pane or a leaderboard row (Pilot), and old logs without
the detail fields."""
from __future__ import annotations

from tui_fakes import SORT_REFERENCE, ScriptedEngine, scripted_events

from ai_code_evals.core.events import CandidateFinished
from ai_code_evals.tui.app import WorkspaceApp
from ai_code_evals.tui.model import RunModel
from ai_code_evals.tui.screens.detail import DetailScreen, detail_content

SIZE = (160, 48)


def live_app(tmp_path, engine=None) -> WorkspaceApp:
    return WorkspaceApp(engine=engine or ScriptedEngine(), export_dir=tmp_path,
                        reference_code={"sort_unique": SORT_REFERENCE})


async def settle(app, pilot) -> None:
    await app.workers.wait_for_complete()
    await pilot.pause()
    app.flush()
    await pilot.pause()


def slot_index(app, cid: str) -> int:
    return next(i for i, s in enumerate(app.workspace.slots) if s.key and s.key[0] == cid)


async def test_i_on_a_failed_pane_shows_call_expected_got_traceback_and_diff(tmp_path):
    app = live_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press(str(slot_index(app, "sort_unique#2") + 1), "i")
        assert isinstance(app.screen, DetailScreen)
        text = app.screen.content.plain
        first = text.split("First failing case", 1)[1]
        assert "tests · test 4" in first.splitlines()[0]
        assert "call      sort_unique([3, 1, 3])" in text
        assert "expected  [1, 3]" in text and "got       [1, 3, 3]" in text
        assert "Other failures (2)" in text
        assert "sort_unique([1, 'a']) → TypeError" in text
        assert "stderr, last 3 line(s)" in text and "AssertionError: test 6" in text
        assert "Time and memory per environment profile" in text
        assert "default" in text and "8.8 MiB" in text  # 9050 KiB
        assert "Diff against the winner (sort_unique#0)" in text
        assert "-    return sorted(set(xs))" in text and "+    return sorted(xs)" in text
        await pilot.press("escape")
        assert not isinstance(app.screen, DetailScreen)


async def test_i_on_a_leaderboard_row_shows_the_highlighted_version(tmp_path):
    app = live_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("l")
        table = app.leaderboard.table
        table.move_cursor(row=table.get_row_index("sort_unique#3"))
        await pilot.pause()
        await pilot.press("i")
        assert isinstance(app.screen, DetailScreen) and app.screen.candidate_id == "sort_unique#3"
        text = app.screen.content.plain
        assert "How it ended" in text and "timeout; last line printed:" in text
        assert "call      sort_unique([])" in text and "error     timed out" in text
        await pilot.press("q")  # closes the card, does not quit the app
        assert app.is_running and not isinstance(app.screen, DetailScreen)


async def test_i_on_the_winner_and_on_a_traceback_first(tmp_path):
    events = scripted_events()
    for ev in events:  # the first failure of sort_unique#2 is an exception this time
        if isinstance(ev, CandidateFinished) and ev.candidate_id == "sort_unique#2":
            ev.result["failures"] = ev.result["failures"][2:]
    app = live_app(tmp_path, ScriptedEngine(events))
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press(str(slot_index(app, "sort_unique#2") + 1), "i")
        text = app.screen.content.plain
        assert "Traceback   File \"candidate.py\", line 2, in sort_unique" in text
        assert "Other failures" not in text
        await pilot.press("escape", str(slot_index(app, "sort_unique#0") + 1), "i")
        assert "This version is the winner" in app.screen.content.plain


def test_an_old_log_without_detail_fields_still_shows_the_error():
    model = RunModel()
    model.ingest("candidate", {"candidate_id": "t#0", "task_id": "t", "code": "def f(): pass"})
    model.ingest("result", {"candidate_id": "t#0", "task_id": "t", "profile": "default", "result": {
        "candidate_id": "t#0", "task_id": "t", "status": "failed", "reason": "passes 0/1",
        "failures": [{"group": "tests", "name": "0", "error": "AssertionError"}]}})
    text = detail_content(model, "t#0").plain
    assert "error     AssertionError" in text and "How it ended" not in text and "stderr" not in text
    assert "Still running" in detail_content(RunModel(), "nosuch").plain or "task ?" in detail_content(
        RunModel(), "nosuch").plain
