"""Streaming visible: a model's reply streams into the TUI's code panel as it arrives, retry
notices become notifications, and a bad reply's reason shows in its pane.

The run is built as the CLI builds it (``session.Run.start``, which owns the one bus, then
``tui.app.live_app``), against the OpenAI test double over real HTTP with the unmodified openai
client, with real local sandboxes and real Textual rendering through Pilot. Before the fix the
generator published on a bus made in ``commands.py`` and the app listened on its own: the code
panel stayed empty until the version was complete, and retry notices were never shown.
"""
from __future__ import annotations

import threading

import pytest
from openai_server import OpenAITestServer, Reply, user_text
from tui_fakes import until

from ai_code_evals.core.settings import Settings
from ai_code_evals.session import Run, RunRequest
from ai_code_evals.tui.app import live_app

TASK_YAML = """\
- id: clamp
  prompt: "clamp(x, lo, hi): x limited to the closed range [lo, hi]."
  entry_point: clamp
  tests:
    - {args: [5, 0, 3], expect: 3}
    - {args: [-1, 0, 3], expect: 0}
"""
GOOD = ("Here is a clamp that never branches.\n\n```python\ndef clamp(x, lo, hi):\n"
        "    return max(lo, min(x, hi))\n```\n\nIt returns lo when x is below the range.\n")
WRONG_NAME = "```python\ndef clip(x, lo, hi):\n    return max(lo, min(x, hi))\n```"


def plain_title(widget) -> str:
    return widget.render_str(widget.border_title).plain



@pytest.fixture
def model_server():
    release = threading.Event()
    calls: dict[str, int] = {}
    lock = threading.Lock()

    def answer(request: dict) -> Reply:
        text = user_text(request)
        strategy = "simplest" if "simplest correct version" in text else "other"
        with lock:
            calls[strategy] = calls.get(strategy, 0) + 1
            n = calls[strategy]
        if strategy == "simplest":
            return Reply(GOOD, chunk_chars=8, hold=release)  # stops half-way until released
        if n == 1:
            return Reply(status=429, error="Rate limit reached", headers={"retry-after": "0"})
        return Reply(WRONG_NAME)

    with OpenAITestServer(answer) as srv:
        srv.release = release
        yield srv
        release.set()


async def test_streamed_code_reaches_the_code_panel_and_retries_are_notified(tmp_path, model_server, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("OPENAI_BASE_URL", model_server.base_url)
    monkeypatch.setenv("ACE_MODEL", "m")
    (tmp_path / "tasks.yaml").write_text(TASK_YAML)
    req = RunRequest(tasks=["tasks.yaml"], generator="openai", n=2, record=str(tmp_path / "run.jsonl"))
    app = live_app(Run.start(req, Settings.load()))
    async with app.run_test(size=(160, 48)) as pilot:
        # half of the reply has arrived and the stream is held: the panel shows exactly that part
        await until(pilot, lambda: app.selected is not None)  # the first version being written
        app.select_candidate("clamp#0")  # (whichever streamed first; the held one is clamp#0)
        await until(pilot, lambda: "generating" in plain_title(app.code) and "def clamp" in app.code.plain)
        assert GOOD.startswith(app.code.plain) and app.code.plain != GOOD
        # the other version's 429 is retried, and the retry is a notification
        await until(pilot, lambda: any("clamp#1: HTTP 429" in m and "attempt 2 of" in m for _, m in app.messages))
        model_server.release.set()
        await until(pilot, lambda: app.run_done)
        app.flush()
        await pilot.pause()
        assert app.code.plain == "def clamp(x, lo, hi):\n    return max(lo, min(x, hi))\n"
        assert "generating" not in plain_title(app.code)
        # the bad reply: status error and its reason in one line in its pane
        slot = next(s for s in app.workspace.slots if s.key and s.key[0] == "clamp#1")
        assert slot.border_subtitle == "ERROR"
        assert "the code defines clip, not clamp" in str(slot._snap.render())
        # r: the model's whole reply; the header counts the tokens
        await pilot.press("r")
        assert app.code.mode == "reply" and app.code.plain == GOOD
        await pilot.press("r")
        assert app.code.mode == "code"
        assert "tokens" in app._topbar_text
