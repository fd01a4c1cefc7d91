"""100,000 output lines through the bus, the model and the pane views (no timing asserts:
this checks that nothing is lost that should be kept and that memory stays within the caps)."""
from __future__ import annotations

import asyncio

from tui_fakes import grid_events

from ai_code_evals.core.events import EventBus, OutputLine
from ai_code_evals.tui.app import WorkspaceApp
from ai_code_evals.tui.model import MODEL_LINE_CAP
from ai_code_evals.tui.widgets.output import VIEW_LINE_CAP

PANES = 16
LINES = 100_000


async def flood(bus: EventBus) -> dict:
    for ev in grid_events(PANES, lines_each=0):
        bus.publish(ev)
    per = LINES // PANES
    for n in range(per):
        for k in range(PANES):
            text = f"grid#{k} line {n}" if n % 500 else f"\x1b[2Jgrid#{k} line {n}\x1b]0;t\x07"
            bus.publish(OutputLine(candidate_id=f"grid#{k}", profile="default", stream="stdout", text=text, n=n))
        if n % 50 == 0:
            await asyncio.sleep(0)  # let the refresh timer run, as a real engine would
    return {}


async def test_100k_lines_into_model_and_views(tmp_path):
    app = WorkspaceApp(engine=flood, export_dir=tmp_path, refresh_hz=18)
    async with app.run_test(size=(160, 48)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        app.flush()
        await pilot.pause()
        model = app.model
        per = LINES // PANES
        assert model.lines_total == LINES
        for pane in model.panes.values():
            assert pane.total == per
            assert len(pane.lines) <= MODEL_LINE_CAP + MODEL_LINE_CAP // 4
        ws = app.workspace
        assert ws.pages >= 2  # 16 panes do not fit on one 160x48 page
        for slot in ws.slots:
            lines = slot.output.plain_lines
            assert len(lines) <= VIEW_LINE_CAP
            assert lines[-1] == f"{slot.key[0]} line {per - 1}"
            assert not any("\x1b" in ln for ln in lines)
        hidden = model.pane_order[-1]
        await pilot.press("pagedown")
        await pilot.pause()
        slot = next(s for s in ws.slots if s.key == hidden)
        assert slot.output.plain_lines[-1] == f"{hidden[0]} line {per - 1}"  # caught up when shown
        assert slot.output.line_count == VIEW_LINE_CAP
