"""The command line with ``--backend daytona`` against the local test double of Daytona's API
(tests/daytona_server.py): same verdicts as ``--backend local``, nothing left on the server."""
from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path

import pytest
from daytona_server import DaytonaTestServer

PACK = Path(__file__).resolve().parents[1] / "src" / "ai_code_evals" / "tasks" / "packs" / "demo"


async def run_cli(tasks: str, backend: str, tmp_path: Path, extra_env: dict[str, str]) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DAYTONA_", "ACE_DAYTONA_"))}
    env.update(extra_env)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "ai_code_evals", "run", tasks, "--backend", backend, "--headless", "--json",
        "--record", str(tmp_path / f"{backend}.jsonl"),
        cwd=tmp_path, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()[-2000:]
    return json.loads(out)


def verdicts(summary: dict) -> dict[str, tuple]:
    """What must not depend on the backend: status and counts (not timings or scores)."""
    return {c["id"]: (c["status"], c["tests_passed"], c["tests_total"], c.get("errors_handled"))
            for task in summary["tasks"] for c in task["candidates"]}


async def compare(tasks: str, tmp_path: Path) -> None:
    server = await DaytonaTestServer().start()
    try:
        daytona = await run_cli(tasks, "daytona", tmp_path, {
            "DAYTONA_API_URL": server.api_url, "DAYTONA_API_KEY": server.api_key, "DAYTONA_TARGET": "local"})
        assert server.created > 0
        assert server.live_sandboxes() == []  # every sandbox deleted
        assert server.drift == []
    finally:
        await server.close()
    local = await run_cli(tasks, "local", tmp_path, {})
    assert verdicts(daytona) == verdicts(local)
    assert {v[0] for v in verdicts(local).values()} >= {"passed", "failed", "timeout"}


async def test_cli_daytona_backend_gives_the_local_verdicts(tmp_path):
    await compare(str(PACK / "dedupe" / "task.yaml"), tmp_path)


@pytest.mark.slow
async def test_cli_daytona_backend_on_the_whole_demo(tmp_path):
    await compare("demo", tmp_path)


async def test_cli_ctrl_c_leaves_no_sandbox(tmp_path):
    server = await DaytonaTestServer().start()
    try:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DAYTONA_", "ACE_DAYTONA_"))}
        env.update({"DAYTONA_API_URL": server.api_url, "DAYTONA_API_KEY": server.api_key,
                    "DAYTONA_TARGET": "local"})
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "ai_code_evals", "run", str(PACK / "dedupe" / "task.yaml"),
            "--backend", "daytona", "--headless", "--record", str(tmp_path / "run.jsonl"),
            cwd=tmp_path, env=env, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
        while server.running_processes() < 2 and proc.returncode is None:
            await asyncio.sleep(0.02)
        assert proc.returncode is None, "the run ended before it could be interrupted"
        proc.send_signal(signal.SIGINT)
        await proc.wait()
        assert server.created >= 2
        assert server.live_sandboxes() == [] and server.running_processes() == 0
    finally:
        await server.close()
