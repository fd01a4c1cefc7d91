"""--unsafe-isolation: a level that cannot contain candidates is refused without it, and with it
the run says so everywhere: TUI header, headless stderr, JSON summary, run log."""
from __future__ import annotations

import dataclasses
import json
import subprocess
import sys

import pytest
from tui_fakes import ScriptedEngine, scripted_events

from ai_code_evals.core.events import RunStarted
from ai_code_evals.sandbox import isolation
from ai_code_evals.tui.app import WorkspaceApp

HOST = isolation.default_host()


async def test_the_tui_header_says_the_run_is_not_contained(tmp_path):
    events = scripted_events()
    events[0] = dataclasses.replace(events[0], isolation="rlimits", unsafe_isolation="no IPC namespace")
    assert isinstance(events[0], RunStarted)
    app = WorkspaceApp(engine=ScriptedEngine(events), export_dir=tmp_path)
    async with app.run_test(size=(160, 48)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        app.flush()
        await pilot.pause()
        header = str(app.topbar.render())
        assert "local (rlimits)" in header and "UNSAFE ISOLATION" in header


def _cli(*args: str, env_level: str = "rlimits") -> subprocess.CompletedProcess:
    import os

    env = dict(os.environ, ACE_ISOLATION=env_level)
    return subprocess.run([sys.executable, "-m", "ai_code_evals", "run", "demo", "--headless", "--json", *args],
                          capture_output=True, text=True, timeout=600, env=env, stdin=subprocess.DEVNULL)


@pytest.mark.skipif(not isolation.works("rlimits", HOST), reason="the rlimits level does not work here")
def test_the_cli_refuses_rlimits_in_one_line_and_runs_it_when_accepted(tmp_path):
    refused = _cli("--record", str(tmp_path / "refused.jsonl"))
    lines = [line for line in refused.stderr.splitlines() if line.strip()]
    assert refused.returncode != 0 and len(lines) == 1
    assert "cannot contain candidates" in lines[0] and "apt-get install bubblewrap" in lines[0]
    assert "--unsafe-isolation" in lines[0] and not (tmp_path / "refused.jsonl").exists()

    record = tmp_path / "unsafe.jsonl"
    ran = _cli("--unsafe-isolation", "--record", str(record))
    assert ran.returncode == 0, ran.stderr[-2000:]
    summary = json.loads(ran.stdout)
    assert summary["isolation"] == "rlimits" and "shared memory" in summary["unsafe_isolation"]
    assert "warning: isolation level 'rlimits' cannot contain candidates" in ran.stderr
    spec = json.loads(record.read_text().splitlines()[0])
    assert "shared memory" in json.dumps(spec)  # run_config.unsafe_isolation
    assert '"unsafe_isolation": "no IPC' in record.read_text()  # the run_started event too


def test_a_contained_run_has_no_unsafe_key(tmp_path):
    if not isolation.works("bwrap", HOST):
        pytest.skip("bwrap does not work here")
    ran = _cli("--record", str(tmp_path / "safe.jsonl"), env_level="bwrap")
    assert ran.returncode == 0, ran.stderr[-2000:]
    assert "unsafe_isolation" not in json.loads(ran.stdout)
