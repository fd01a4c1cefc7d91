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
        assert app.leaderboard.tabs.active == f"task-{app.leaderboard._task_tabs.index(first)}"
        await asyncio.wait_for(pilot.press("q"), 5)
