"""Infrastructure faults on Daytona never become verdicts: each kind of fault injected by the
test double of Daytona's API (tests/daytona_server.py), driven through the unmodified
``daytona`` SDK over real HTTP and WebSocket. Each injection here broke the backend before
it retried every infrastructure failure idempotently, paced creates, and took ``--jobs``."""
from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

import pytest
from daytona_server import DaytonaTestServer, settings_for

from ai_code_evals.core.errors import ConfigError
from ai_code_evals.sandbox.base import SandboxError, SandboxSpec
from ai_code_evals.sandbox.daytona import APP, DaytonaBackend, DaytonaSettings, make_daytona_backend

PACK = Path(__file__).resolve().parents[1] / "src" / "ai_code_evals" / "tasks" / "packs" / "demo"
EXEC = r"POST /toolbox/[^/]+/process/session/[^/]+/exec$"



def spec(candidate: str = "t#0") -> SandboxSpec:
    return SandboxSpec(labels={"app": APP, "run_id": "run-1", "candidate": candidate})


async def run_program(backend: DaytonaBackend, program: str) -> tuple[int | None, list[str]]:
    sb = await backend.create(spec())
    lines: list[str] = []
    try:
        await sb.upload({"p.py": program.encode()})
        result = await sb.exec(["python", "p.py"], on_line=lambda s, t: lines.append(t), timeout_s=60)
    finally:
        await sb.destroy()
    return result.exit_code, lines


async def test_a_5xx_when_starting_the_command_is_retried(server):
    server.fail_next_requests(EXEC, 2, status=502)
    async with DaytonaBackend(settings_for(server)) as backend:
        code, lines = await run_program(backend, "print('ran')\n")
    assert (code, lines) == (0, ["ran"])
    assert server.injected == {"502": 2}
    assert server.live_sandboxes() == []


async def test_a_command_whose_start_answered_5xx_after_starting_runs_once(server):
    """The reply is lost but the command runs: the retry finds it in the session instead of
    starting a second copy of the runner in the same sandbox."""
    server.fail_next_requests(EXEC, 1, status=503, after=True)
    starts: list[int] = []
    async with DaytonaBackend(settings_for(server)) as backend:
        sb = await backend.create(spec())
        await sb.upload({"p.py": b"import time\nprint('ran', flush=True)\ntime.sleep(0.3)\n"})
        lines: list[str] = []
        result = await sb.exec(["python", "p.py"], on_line=lambda s, t: lines.append(t), timeout_s=60)
        box = server.boxes[sb.id]
        starts.append(sum(len(s) for s in box.sessions.values()))
        await sb.destroy()
    assert result.exit_code == 0 and lines == ["ran"]
    assert starts == [1]  # one command in the sandbox, not two
    assert server.injected == {"503 after": 1}


# Regression guards: these idempotent calls were retried before too (the "what held");
# the work done behind a lost reply must not be done twice or left behind.
@pytest.mark.parametrize("pattern", [
    r"POST /toolbox/[^/]+/files/bulk-upload$",   # upload
    r"POST /toolbox/[^/]+/process/session$",     # the session
    r"GET /toolbox/[^/]+/process/session/[^/]+/command/[^/]+$",  # reading the exit code
    r"GET /toolbox/[^/]+/work-dir$",             # getting ready
])
async def test_a_5xx_after_the_work_anywhere_is_retried(server, pattern):
    server.fail_next_requests(pattern, 1, status=500, after=True)
    async with DaytonaBackend(settings_for(server)) as backend:
        code, lines = await run_program(backend, "print('ran')\n")
    assert (code, lines) == (0, ["ran"])
    assert sum(server.injected.values()) == 1
    assert server.live_sandboxes() == []


async def test_a_create_that_answered_5xx_after_making_its_sandbox_leaves_nothing(server):
    server.fail_next_requests(r"POST /api/sandbox$", 2, status=502, after=True)
    async with DaytonaBackend(settings_for(server)) as backend:
        code, _ = await run_program(backend, "pass\n")
    assert code == 0
    assert server.created == 3 and server.live_sandboxes() == []


async def test_retries_exhausted_is_a_sandbox_error_naming_the_failure(server):
    server.fail_next_requests(EXEC, 50, status=503)
    async with DaytonaBackend(settings_for(server, max_attempts=3)) as backend:
        with pytest.raises(SandboxError, match=r"could not start the command: .*HTTP 503"):
            await run_program(backend, "pass\n")
    assert server.injected == {"503": 3}
    assert server.live_sandboxes() == []


def test_jobs_sizes_the_daytona_backend(monkeypatch):
    env = {"DAYTONA_API_KEY": "k"}
    monkeypatch.setenv("DAYTONA_API_KEY", "k")
    monkeypatch.delenv("ACE_DAYTONA_CONCURRENCY", raising=False)
    assert make_daytona_backend(env, concurrency=32).concurrency == 32
    assert make_daytona_backend(env).concurrency == 8  # the default stays 8
    assert make_daytona_backend({**env, "ACE_DAYTONA_CONCURRENCY": "12"}).concurrency == 12
    from ai_code_evals.session import default_jobs, make_backend

    assert make_backend("daytona", env, 32).concurrency == 32
    assert default_jobs("daytona", {}) == 8


async def test_thirty_two_sandboxes_alive_at_once_when_creates_are_slow(server):
    server.create_latency(lambda: 0.3)
    backend = DaytonaBackend(settings_for(server, concurrency=32, creates_per_minute=6000, create_burst=32))
    try:
        sandboxes = await asyncio.gather(*(backend.create(spec(f"t#{i}")) for i in range(32)))
        assert server.peak_live == 32  # not capped at 8
        await asyncio.gather(*(sb.destroy() for sb in sandboxes))
    finally:
        await backend.aclose()
    assert server.live_sandboxes() == []


async def test_a_strict_create_limit_is_met_without_a_herd_of_429s(server):
    """20 creates against 5 per second: the pacer spaces them; a 429 pauses everyone until
    its Retry-After and they come back one by one."""
    server.limit_creates(5, window_s=1.0)
    backend = DaytonaBackend(settings_for(server, concurrency=20, creates_per_minute=300, create_burst=2))
    try:
        sandboxes = await asyncio.gather(*(backend.create(spec(f"t#{i}")) for i in range(20)))
        await asyncio.gather(*(sb.destroy() for sb in sandboxes))
        status = backend.status()
    finally:
        await backend.aclose()
    assert server.created == 20 and server.live_sandboxes() == []
    assert server.rate_limited <= 6, f"{server.rate_limited} creates refused: the retries came as a herd"
    assert status["rate_limited"] == server.rate_limited


# -- preflight ------------------------------------------------------------------------------
async def test_preflight_accepts_good_settings(server):
    backend = DaytonaBackend(settings_for(server, snapshot="daytona-default"))
    await backend.preflight()
    assert server.created == 0


@pytest.mark.parametrize(("change", "needle"), [
    ({"api_key": "wrong"}, "DAYTONA_API_KEY was refused"),
    ({"target": "mars"}, "DAYTONA_TARGET 'mars' is not a region"),
    ({"snapshot": "no-such"}, "ACE_DAYTONA_SNAPSHOT 'no-such' does not exist"),
    ({"api_url": "URL/nope"}, "does not answer like Daytona's API (HTTP 404)"),
    ({"api_url": "http://127.0.0.1:9/api"}, "DAYTONA_API_URL http://127.0.0.1:9/api cannot be reached"),
])
async def test_preflight_names_the_setting_and_the_fix(server, change, needle):
    if change.get("api_url") == "URL/nope":
        change = {"api_url": server.base_url + "/nope"}
    kw = {"api_key": server.api_key, "api_url": server.api_url, "target": "local", **change}
    backend = DaytonaBackend(DaytonaSettings(**kw))
    with pytest.raises(ConfigError) as err:
        await backend.preflight()
    assert needle in str(err.value) and "\n" not in str(err.value)
    assert server.created == 0


# -- the command line -------------------------------------------------------------------------
def cli_env(server: DaytonaTestServer, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DAYTONA_", "ACE_DAYTONA_"))}
    env.update({"DAYTONA_API_URL": server.api_url, "DAYTONA_API_KEY": server.api_key,
                "DAYTONA_TARGET": "local", **extra})
    return env


async def cli(args: list[str], env: dict[str, str], cwd: Path) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "ai_code_evals", *args, cwd=cwd, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await proc.communicate()
    return proc.returncode, out.decode(), err.decode()


async def test_cli_jobs_is_the_number_of_daytona_sandboxes_at_once(server, tmp_path):
    """`--jobs 16` on 16 different versions whose creates take a while: more than 8 creates at
    once, never more than 16 (before, the backend kept its own cap of 8 whatever --jobs said)."""
    (tmp_path / "task.yaml").write_text(
        "id: add\nentry_point: add\nprompt: Add.\ntime_limit_s: 3.0\ntests:\n  - {args: [1, 2], expect: 3}\n")
    samples = tmp_path / "samples.jsonl"
    samples.write_text("".join(json.dumps({"task_id": "add", "code": f"def add(a, b):\n    return a + b + 0 * {k}\n"})
                               + "\n" for k in range(16)))
    server.create_latency(lambda: 2.0)
    code, out, err = await cli(["run", str(tmp_path / "task.yaml"), "--samples", str(samples), "--backend",
                                "daytona", "--jobs", "16", "--headless", "--json", "--record",
                                str(tmp_path / "r.jsonl")], cli_env(server), tmp_path)
    assert code == 0, err[-2000:]
    assert {c["status"] for t in json.loads(out)["tasks"] for c in t["candidates"]} == {"passed"}
    assert 8 < server.peak_creating <= 16  # paced at 600/min, so not quite all at the same instant
    assert server.live_sandboxes() == []


async def test_cli_wrong_key_stops_before_any_version_starts(server, tmp_path):
    env = cli_env(server, DAYTONA_API_KEY="wrong")
    code, _, err = await cli(["run", str(PACK / "dedupe" / "task.yaml"), "--backend", "daytona",
                                "--headless", "--json", "--record", str(tmp_path / "r.jsonl")], env, tmp_path)
    assert code == 1
    (line,) = err.strip().splitlines()
    assert "DAYTONA_API_KEY" in line and "dashboard" in line
    assert server.created == 0 and len(server.create_requests) == 0


async def test_cli_infrastructure_errors_are_counted_apart_and_resume_runs_them_again(server, tmp_path):
    """With a retry budget of one and 5xx answers at random, some versions cannot be run: they
    get status error 'infrastructure: ...', never a verdict, are counted apart, and `resume`
    (with the faults gone) gives them the verdicts the local backend gives."""
    task = str(PACK / "dedupe" / "task.yaml")
    record = tmp_path / "run.jsonl"
    server.chaos(seed=7, error_rate=0.25, error_after_rate=0.5)
    env = cli_env(server, ACE_DAYTONA_RETRIES="1")
    code, out, err = await cli(["run", task, "--backend", "daytona", "--headless", "--json",
                                "--record", str(record)], env, tmp_path)
    assert code == 0, err[-2000:]
    first = json.loads(out)
    rows = [c for t in first["tasks"] for c in t["candidates"]]
    infra = [c for c in rows if c["reason"].startswith("infrastructure: ")]
    assert infra, "the injected faults should have exhausted a retry budget of one"
    assert first["infrastructure_errors"] == len(infra)
    assert all(c["status"] == "error" for c in infra)
    for c in rows:  # a copy of a version that could not be run is not given a verdict either
        original = next((o for o in rows if o["id"] == c.get("duplicate_of")), None)
        if original is not None and original in infra:
            assert c in infra
    server.faults.chaos = None
    code, out, err = await cli(["resume", str(record), "--headless", "--json"], cli_env(server), tmp_path)
    assert code == 0, err[-2000:]
    resumed = json.loads(out)
    assert resumed["infrastructure_errors"] == 0
    code, out, err = await cli(["run", task, "--backend", "local", "--headless", "--json",
                                "--record", str(tmp_path / "local.jsonl")], cli_env(server), tmp_path)
    assert code == 0, err[-2000:]
    local = json.loads(out)

    def verdicts(summary: dict) -> dict:
        return {c["id"]: (c["status"], c["tests_passed"]) for t in summary["tasks"] for c in t["candidates"]}

    assert verdicts(resumed) == verdicts(local)
    assert server.live_sandboxes() == []


# -- what the user sees -------------------------------------------------------------------------
async def test_tui_header_counts_infrastructure_errors_and_shows_the_create_rate(server, tmp_path):
    """The real engine on the Daytona backend inside the real TUI (Pilot): one version's start
    keeps failing (a retry budget of one), creates are paced at 60/min."""
    from ai_code_evals.core.candidate import Candidate
    from ai_code_evals.core.task import Task, TestCase
    from ai_code_evals.engine.run import RunConfig, run_evaluation
    from ai_code_evals.tui.app import WorkspaceApp

    task = Task(id="add", entry_point="add", prompt="Add.", time_limit_s=3.0,
                tests=[TestCase(args=[1, 2], expect=3)])
    cands = [Candidate(id=f"add#{k}", task_id="add", code=f"def add(a, b):\n    return a + b  # {k}\n")
             for k in range(3)]
    server.fail_next_requests(EXEC, 1, status=503)
    backend = DaytonaBackend(settings_for(server, max_attempts=1, creates_per_minute=60, create_burst=1))

    async def engine(bus):
        try:
            return await run_evaluation(RunConfig(tasks=[task], backend=backend, candidates=cands, jobs=3,
                                                  check_reference=False), bus)
        finally:
            await backend.aclose()

    app = WorkspaceApp(engine=engine, export_dir=tmp_path)
    seen: list[str] = []
    async with app.run_test(size=(160, 48)) as pilot:
        for _ in range(400):
            seen.append(str(app.topbar.render()))
            if app.run_done:
                break
            await pilot.pause(0.05)
        await app.workers.wait_for_complete()
        await pilot.pause()
        app.flush()
        final = str(app.topbar.render())
    assert any("creates" in s and "/min" in s and "throttled" in s for s in seen), seen[-3:]
    assert "1 infrastructure error(s)" in final
    assert server.live_sandboxes() == []


def test_progress_line_shows_infrastructure_errors_and_the_backend_status():
    from rich.console import Console

    from ai_code_evals.core.events import BackendStatus, CandidateFinished, RunStarted
    from ai_code_evals.engine.backend_status import status_line
    from ai_code_evals.progress import ProgressReporter

    reporter = ProgressReporter(Console(file=open(os.devnull, "w"), force_terminal=False))  # noqa: SIM115
    reporter(RunStarted(run_id="r", record="", tasks=[], profiles=["default"], backend="daytona",
                        isolation="daytona", select="score"))
    reporter(CandidateFinished(candidate_id="t#0", task_id="t", profile="default",
                               result={"status": "error", "reason": "infrastructure: SandboxError: 503"}))
    line = status_line({"alive": 12, "jobs": 32, "creates_per_min": 300.0, "limit_per_min": 240.0,
                        "configured_per_min": 300.0, "waiting": 6, "paused_s": 2.0, "rate_limited": 3,
                        "retries": 4})
    reporter(BackendStatus(text=line))
    text = reporter.describe()
    assert "1 infrastructure error(s)" in text
    assert "12/32 sandboxes" in text and "creates 300/min (limit 240 of 300)" in text
    assert "throttled: paused 2s by a 429, 6 waiting, 3x 429" in text


async def test_a_sandbox_that_appears_after_its_create_timed_out_is_deleted_during_the_run(server):
    """The first create takes longer than the SDK's timeout and its sandbox appears only after
    the backend gave up on it and looked for leftovers: a later look finds and deletes it
    (before, it stayed alive, and billed, until the end of the run)."""
    latencies = iter([1.2])
    server.create_latency(lambda: next(latencies, 0.0))
    async with DaytonaBackend(settings_for(server, create_timeout_s=0.5)) as backend:
        sb = await backend.create(spec())
        for _ in range(200):
            if len(server.boxes) == 2:
                break
            await asyncio.sleep(0.02)
        assert len(server.boxes) == 2, "the slow create's sandbox should have appeared"
        for _ in range(300):  # polled, not a timing threshold
            if [b["id"] for b in server.live_sandboxes()] == [sb.id]:
                break
            await asyncio.sleep(0.02)
        assert [b["id"] for b in server.live_sandboxes()] == [sb.id]
        await sb.destroy()
    assert server.live_sandboxes() == []
