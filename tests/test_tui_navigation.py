"""Pilot tests of the workspace at scale: the double-`s` freeze, filter, jump, arrows, sort."""
from __future__ import annotations

import asyncio

from textual import events
from textual.widgets import OptionList
from tui_fakes import SORT_REFERENCE, ScriptedEngine, scripted_events, until

from ai_code_evals.tui.app import WorkspaceApp
from ai_code_evals.tui.screens.find import FilterScreen, JumpScreen
from ai_code_evals.tui.widgets.leaderboard import Leaderboard
from ai_code_evals.tui.widgets.pane import SandboxPane

SIZE = (160, 48)


def live_app(tmp_path, engine=None, **kw) -> WorkspaceApp:
    kw.setdefault("reference_code", {"sort_unique": SORT_REFERENCE})
    return WorkspaceApp(engine=engine or ScriptedEngine(), export_dir=tmp_path, **kw)


async def settle(app: WorkspaceApp, pilot) -> None:
    await app.workers.wait_for_complete()
    await pilot.pause()
    app.flush()
    await pilot.pause()


async def test_s_pressed_twice_within_50ms_does_not_loop(tmp_path, monkeypatch):
    """Was: the second tab activation raced the first, and the two tasks' tabs activated each
    other forever (the app at 50% CPU, no key answered)."""
    shown: list[str] = []
    original = Leaderboard.show_task

    def counting(self, task_id):
        shown.append(task_id)
        return original(self, task_id)

    monkeypatch.setattr(Leaderboard, "show_task", counting)
    app = live_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        first = app.leaderboard.task_id
        shown.clear()
        # two key events queued back to back (well within 50 ms), as a fast typist sends them
        app.post_message(events.Key("s", "s"))
        app.post_message(events.Key("s", "s"))
        for _ in range(10):
            await pilot.pause(0.02)
        assert len(shown) < 10, shown[:12]  # the loop made hundreds of calls in this time
        await until(pilot, lambda: app.leaderboard.task_id == first)  # two tasks: s, s comes back
        assert str(app.leaderboard.task_line.render()).startswith(first)
        assert len(shown) < 10, shown[:12]
        await asyncio.wait_for(pilot.press("q"), 5)


def humaneval_events(task_numbers, per_task: int = 2) -> list:
    """A run of several HumanEval-like tasks, announced in text order as the real files are."""
    from ai_code_evals.core.events import CandidateAdded, CandidateFinished, RunStarted, Snapshot
    from ai_code_evals.engine.results import CandidateResult

    ids = sorted(f"HumanEval/{n}" for n in task_numbers)  # text order: 0, 1, 10, 11, 2 ...
    events = [RunStarted(run_id="he", record="", tasks=[{"task_id": t, "entry_point": "f"} for t in ids],
                         profiles=["default", "low-memory"], backend="local", isolation="", select="score",
                         ts=1.0)]
    for t in ids:
        for k in range(per_task):
            cid = f"{t}#{k}"
            events.append(CandidateAdded(candidate_id=cid, task_id=t, code=f"def f():\n    return {k}\n"))
            for prof in ("default", "low-memory"):
                status = "passed" if k == 0 else "failed"
                events.append(Snapshot(candidate_id=cid, task_id=t, profile=prof, state="finished", seq=0,
                                       test_index=1, tests_total=1, status=status, ts=2.0))
                events.append(CandidateFinished(candidate_id=cid, task_id=t, profile=prof, result=CandidateResult(
                    candidate_id=cid, task_id=t, profile=prof, status=status, tests_passed=int(k == 0),
                    tests_total=1).model_dump()))
    return events


async def test_tasks_sort_naturally_in_the_task_list_and_grid(tmp_path):
    app = WorkspaceApp(engine=ScriptedEngine(humaneval_events([0, 1, 2, 10, 11, 100])), export_dir=tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        want = ["HumanEval/0", "HumanEval/1", "HumanEval/2", "HumanEval/10", "HumanEval/11", "HumanEval/100"]
        assert app.model.task_ids == want
        await pilot.press("g")
        await until(pilot, lambda: isinstance(app.screen, JumpScreen))
        options = app.screen.query_one("#jump-list", OptionList)
        assert [options.get_option_at_index(i).id for i in range(options.option_count)] == want
        await pilot.press("escape")
        firsts = []
        for key in app.model.pane_order:
            task = app.model.panes[key].task_id
            if not firsts or firsts[-1] != task:
                firsts.append(task)
        assert firsts == want
        await pilot.press("s")
        await pilot.pause()
        assert app.leaderboard.task_id == "HumanEval/1"


def big_app(tmp_path, numbers=range(12), per_task=3) -> WorkspaceApp:
    return WorkspaceApp(engine=ScriptedEngine(humaneval_events(list(numbers), per_task)), export_dir=tmp_path)


async def type_text(pilot, text: str) -> None:
    await pilot.press(*[{" ": "space", "/": "slash", ":": "colon", "#": "number_sign", "-": "minus"}.get(c, c)
                        for c in text])


async def test_slash_filters_the_grid_enter_applies_esc_clears(tmp_path):
    app = big_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        total = len(app.model.pane_order)
        assert total == 12 * 3 * 2
        await pilot.press("slash")
        await type_text(pilot, "status:failed env:low-memory")
        await pilot.press("enter")
        await pilot.pause()
        keys = app.workspace.keys
        assert len(keys) == 12 * 2  # two failing versions per task, one profile
        assert all(app.model.panes[k].status == "failed" and k[1] == "low-memory" for k in keys)
        title = str(app.gridbar.render())
        assert f"24 of {total}" in title and "status:failed env:low-memory" in title
        assert all(s.key in keys for s in app.workspace.slots)
        await pilot.press("slash")
        await pilot.press(*["backspace"] * 40)
        await type_text(pilot, "task:HumanEval/1")
        await pilot.press("enter")
        await pilot.pause()
        assert {app.model.panes[k].task_id for k in app.workspace.keys} == {"HumanEval/1"}  # not /10, /11
        await pilot.press("slash")
        await pilot.press(*["backspace"] * 40)
        await type_text(pilot, "humaneval/11#2")  # free text: a version id
        await pilot.press("enter")
        await pilot.pause()
        assert [k[0] for k in app.workspace.keys] == ["HumanEval/11#2", "HumanEval/11#2"]
        await pilot.press("slash", "escape")
        await pilot.pause()
        assert app.workspace.filter is None and len(app.workspace.keys) == total
        assert not app.gridbar.has_class("-shown")


async def test_a_bad_filter_says_why_and_keeps_the_box_open(tmp_path):
    app = big_app(tmp_path, range(2))
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("slash")
        await type_text(pilot, "status:broken")
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, FilterScreen)
        assert "unknown status 'broken'" in str(app.screen.query_one("#filter-error").render())
        await pilot.press("escape")
        assert app.workspace.filter is None


async def test_g_jumps_to_a_task_by_typing_part_of_its_id(tmp_path):
    app = big_app(tmp_path, range(40), per_task=2)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("g")
        assert isinstance(app.screen, JumpScreen)
        await type_text(pilot, "val/3")
        options = app.screen.query_one("#jump-list")
        assert [options.get_option_at_index(i).id for i in range(options.option_count)] == [
            "HumanEval/3", "HumanEval/30", "HumanEval/31", "HumanEval/32", "HumanEval/33", "HumanEval/34",
            "HumanEval/35", "HumanEval/36", "HumanEval/37", "HumanEval/38", "HumanEval/39"]
        await pilot.press("down", "enter")
        await pilot.pause()
        assert app.leaderboard.task_id == "HumanEval/30"
        assert app.focused.key[0] == "HumanEval/30#0"
        assert app.workspace.page > 0


async def test_arrow_keys_move_between_panes_and_across_pages(tmp_path):
    app = big_app(tmp_path, range(12))
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        cols = app.workspace.cols
        await pilot.press("1", "right")
        assert app.focused is app.workspace.slots[1]
        await pilot.press("down")
        assert app.focused is app.workspace.slots[1 + cols]
        await pilot.press("left", "up")
        assert app.focused is app.workspace.slots[0]
        await pilot.press("up")  # nothing before the first page's first pane
        assert app.focused is app.workspace.slots[0] and app.workspace.page == 0
        last = len(app.workspace.slots)
        await pilot.press(str(min(9, last)))
        for _ in range(last - min(9, last)):
            await pilot.press("right")
        assert app.focused is app.workspace.slots[-1]
        await pilot.press("right")  # past the edge: the next page
        await pilot.pause()
        assert app.workspace.page == 1 and app.focused is app.workspace.slots[0]
        await pilot.press("left")
        await pilot.pause()
        assert app.workspace.page == 0 and app.focused is app.workspace.slots[-1]


async def test_step_all_moves_every_visible_pane_one_snapshot(tmp_path):
    app = live_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("a")
        for _ in range(3):
            before = {s.key: app.travel.index_for(s.key) for s in app.workspace.slots}
            await pilot.press("left_square_bracket")
            after = {s.key: app.travel.index_for(s.key) for s in app.workspace.slots}
            for key, i in before.items():
                n = len(app.model.panes[key].snapshots)
                was = n - 1 if i is None else i
                if was >= 0:
                    assert after[key] < was, key  # every started pane went back
        forward = {s.key: app.travel.index_for(s.key) for s in app.workspace.slots}
        await pilot.press("right_square_bracket")
        moved = {s.key: app.travel.index_for(s.key) for s in app.workspace.slots}
        for key, i in forward.items():
            if i is not None and i + 1 < len(app.model.panes[key].snapshots):
                assert moved[key] is None or moved[key] > i, key
        for _ in range(len(app.model.timeline)):
            if app.travel.global_pos is None:
                break
            await pilot.press("right_square_bracket")
        assert app.travel.global_pos is None  # stepping on reaches live


async def test_pane_shows_the_results_counts_not_steps_and_duplicates_say_so(tmp_path):
    from ai_code_evals.core.events import CandidateFinished, Snapshot

    events = scripted_events()
    for ev in events:  # sort_unique#1 as a duplicate of #0, as the engine reports one
        if isinstance(ev, CandidateFinished) and ev.candidate_id == "sort_unique#1":
            ev.result["duplicate_of"] = "sort_unique#0"
        if isinstance(ev, Snapshot) and ev.candidate_id == "sort_unique#1" and ev.state == "finished":
            ev.test_index, ev.tests_total = 0, 1
    app = live_app(tmp_path, ScriptedEngine(events))
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        by_cid = {s.key[0]: s for s in app.workspace.slots}
        status = str(by_cid["sort_unique#0"]._status.render())
        assert "passes 6/6" in status and "bad inputs 2/2" in status and "test " not in status
        dup = str(by_cid["sort_unique#1"]._status.render())
        assert "same program as sort_unique#0" in dup and "0/1" not in dup
        assert "final · snapshot" in str(by_cid["sort_unique#0"]._snap.render())


async def test_replay_top_bar_shows_the_real_page_count_from_the_first_frame(tmp_path):
    from ai_code_evals.core.events import EventBus
    from ai_code_evals.runlog.writer import RunLog

    path = tmp_path / "big.jsonl"
    log = RunLog(path, "big")
    bus = EventBus()
    bus.subscribe(log.on_event)
    for ev in humaneval_events(list(range(30)), 2):
        bus.publish(ev)
    log.close()
    app = WorkspaceApp(record=path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.pause()
        bar = str(app.topbar.render())
        pages = app.workspace.pages
        assert pages < 120 and f"page 1/{pages}" in bar, bar
        assert "live" not in str(app.workspace.slots[0]._snap.render())
        await pilot.press("pagedown")
        assert f"page 2/{pages}" in str(app.topbar.render())


async def test_the_task_list_with_164_tasks_opens_on_the_shown_task_and_narrows_as_typed(tmp_path):
    app = big_app(tmp_path, range(164), per_task=1)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("s", "s")  # HumanEval/2
        await until(pilot, lambda: app.leaderboard.task_id == "HumanEval/2")
        await pilot.press("g")
        await until(pilot, lambda: isinstance(app.screen, JumpScreen))
        options = app.screen.query_one("#jump-list", OptionList)
        assert options.option_count == 164 and "Tasks (164)" in str(app.screen.query_one("Vertical").border_title)
        assert options.get_option_at_index(options.highlighted).id == "HumanEval/2"  # opens where you are
        await type_text(pilot, "16")
        assert [options.get_option_at_index(i).id for i in range(options.option_count)] == [
            "HumanEval/16", "HumanEval/116", "HumanEval/160", "HumanEval/161", "HumanEval/162", "HumanEval/163"]
        await pilot.press("down", "down", "enter")
        await until(pilot, lambda: isinstance(app.focused, SandboxPane) and app.focused.key[0] == "HumanEval/160#0")
        assert app.leaderboard.task_id == "HumanEval/160"
        assert "HumanEval/160  ·  task 161 of 164" in str(app.leaderboard.task_line.render())


async def test_s_and_shift_s_page_the_grid_by_task_and_keep_to_the_filter(tmp_path):
    app = big_app(tmp_path, range(12), per_task=3)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)

        async def press_and_land_on(key: str, task_id: str) -> None:
            await pilot.press(key)
            await until(pilot, lambda: isinstance(app.focused, SandboxPane)
                        and app.focused.key == (f"{task_id}#0", "default"))
            assert app.leaderboard.task_id == task_id
            assert app.focused in app.workspace.slots  # the grid turned to the task's first pane

        await press_and_land_on("s", "HumanEval/1")
        await press_and_land_on("s", "HumanEval/2")
        await press_and_land_on("S", "HumanEval/1")
        await press_and_land_on("S", "HumanEval/0")
        await press_and_land_on("S", "HumanEval/11")  # wraps around, natural order
        assert app.workspace.page == app.workspace.pages - 1
        await pilot.press("slash")
        await type_text(pilot, "HumanEval/1")  # free text: HumanEval/1, /10 and /11
        await pilot.press("enter")
        await until(pilot, lambda: {k[0].split("#")[0] for k in app.workspace.keys}
                    == {"HumanEval/1", "HumanEval/10", "HumanEval/11"})
        await until(pilot, lambda: app.leaderboard.task_id == "HumanEval/1")  # the filter's first pane
        await press_and_land_on("s", "HumanEval/10")  # tasks outside the filter are skipped
        await press_and_land_on("s", "HumanEval/11")
        await press_and_land_on("s", "HumanEval/1")
        await press_and_land_on("S", "HumanEval/11")
