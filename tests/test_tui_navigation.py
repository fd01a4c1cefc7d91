"""Pilot tests of the workspace at scale: the double-`s` freeze, filter, jump, arrows, sort."""
from __future__ import annotations

import asyncio

from textual import events
from tui_fakes import SORT_REFERENCE, ScriptedEngine

from ai_code_evals.tui.app import WorkspaceApp
from ai_code_evals.tui.widgets.leaderboard import Leaderboard

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
        assert app.leaderboard.task_id == first  # two tasks: s, s comes back
        assert app.leaderboard.tabs.active == app.leaderboard._tab_of[first]
        await asyncio.wait_for(pilot.press("q"), 5)


def humaneval_events(task_numbers, per_task: int = 2) -> list:
    """A run of several HumanEval-like tasks, announced in text order as the real files are."""
    from ai_code_evals.engine.events import CandidateAdded, CandidateFinished, RunStarted, Snapshot
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


async def test_tasks_sort_naturally_in_tabs_and_grid(tmp_path):
    app = WorkspaceApp(engine=ScriptedEngine(humaneval_events([0, 1, 2, 10, 11, 100])), export_dir=tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        want = ["HumanEval/0", "HumanEval/1", "HumanEval/2", "HumanEval/10", "HumanEval/11", "HumanEval/100"]
        assert app.model.task_ids == want
        tab_labels = [str(tab.label) for tab in app.leaderboard.tabs.query("Tab")]
        assert tab_labels == want
        firsts = []
        for key in app.model.pane_order:
            task = app.model.panes[key].task_id
            if not firsts or firsts[-1] != task:
                firsts.append(task)
        assert firsts == want
        await pilot.press("s")
        await pilot.pause()
        assert app.leaderboard.task_id == "HumanEval/1"
