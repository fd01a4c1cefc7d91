"""SVG snapshots of the workspace (pytest-textual-snapshot), on the scripted run.

Update after an intended change with ``uv run pytest tests/test_tui_snapshots.py --snapshot-update``
and look at the report before committing.
"""
from __future__ import annotations

from tui_fakes import SORT_REFERENCE, ScriptedEngine, scripted_events

from ai_code_evals.core.events import EventBus
from ai_code_evals.runlog.writer import RunLog
from ai_code_evals.tui.app import WorkspaceApp

SIZE = (160, 48)


async def finish(pilot) -> None:
    app = pilot.app
    await app.workers.wait_for_complete()
    await pilot.pause(0.3)  # timers settle: the code panel follows focus, the board its throttle
    app.flush()
    app.clear_notifications()  # toasts expire on the wall clock: keep them out of the picture
    await pilot.pause()


def live_app(tmp_path, **kw) -> WorkspaceApp:
    return WorkspaceApp(engine=ScriptedEngine(), export_dir=tmp_path,
                        reference_code={"sort_unique": SORT_REFERENCE}, **kw)


def test_main_screen(snap_compare, tmp_path, monkeypatch):
    monkeypatch.delenv("ACE_THEME_DIR", raising=False)
    assert snap_compare(live_app(tmp_path), terminal_size=SIZE, run_before=finish)


def test_high_contrast_theme_with_diff_view(snap_compare, tmp_path, monkeypatch):
    monkeypatch.delenv("ACE_THEME_DIR", raising=False)

    async def run_before(pilot):
        await finish(pilot)
        await pilot.press("3", "d")
        pilot.app.clear_notifications()
        await pilot.pause()

    assert snap_compare(live_app(tmp_path, theme="ace-high-contrast"), terminal_size=SIZE,
                        run_before=run_before)


def test_replay_screen_in_time_travel(snap_compare, tmp_path, monkeypatch):
    monkeypatch.delenv("ACE_THEME_DIR", raising=False)
    path = tmp_path / "recorded.jsonl"
    log = RunLog(path, "rec-1")
    bus = EventBus()
    bus.subscribe(log.on_event)
    for ev in scripted_events():
        bus.publish(ev)
    log.close()

    async def run_before(pilot):
        await finish(pilot)
        await pilot.press("a")
        await pilot.app.run_action("step(-40)")
        await pilot.press("s")
        pilot.app.clear_notifications()
        await pilot.pause()

    assert snap_compare(WorkspaceApp(record=path, theme="ace-light"), terminal_size=SIZE, run_before=run_before)


def test_detail_view_of_a_failed_version(snap_compare, tmp_path, monkeypatch):
    """`i` on sort_unique#2: first failing case (call, expected, got), the others, stderr,
    time and memory per profile, the diff against the winner."""
    monkeypatch.delenv("ACE_THEME_DIR", raising=False)

    async def run_before(pilot):
        await finish(pilot)
        app = pilot.app
        n = next(i for i, s in enumerate(app.workspace.slots) if s.key and s.key[0] == "sort_unique#2")
        await pilot.press(str(n + 1), "i")
        app.clear_notifications()
        await pilot.pause(0.3)

    assert snap_compare(live_app(tmp_path), terminal_size=SIZE, run_before=run_before)


def test_filter_box_over_a_filtered_grid(snap_compare, tmp_path, monkeypatch):
    """`/` status:failed, enter: the grid keeps 3 of 6 panes and says so; `/` again shows the box."""
    monkeypatch.delenv("ACE_THEME_DIR", raising=False)

    async def run_before(pilot):
        await finish(pilot)
        await pilot.press("slash", *"status", "colon", *"failed", "enter")
        await pilot.pause(0.3)
        await pilot.press("slash")
        pilot.app.screen.query_one("#filter-input").cursor_blink = False
        pilot.app.clear_notifications()
        await pilot.pause(0.3)

    assert snap_compare(live_app(tmp_path), terminal_size=SIZE, run_before=run_before)
