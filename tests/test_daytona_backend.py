"""The Daytona backend driven through the unmodified `daytona` SDK against the local test
double of Daytona's API (tests/daytona_server.py), over real HTTP and WebSocket; commands run
as real local processes. One test at the end talks to Daytona's cloud when DAYTONA_API_KEY
is set."""
from __future__ import annotations

import asyncio
import os
import sys
import uuid

import pytest
from daytona_server import settings_for

from ai_code_evals.core.errors import ConfigError
from ai_code_evals.sandbox.base import SandboxError, SandboxLimits, SandboxSpec
from ai_code_evals.sandbox.daytona import APP, DaytonaBackend, DaytonaSettings, make_daytona_backend
from ai_code_evals.sandbox.daytona_owner import owner_labels
from ai_code_evals.sandbox.daytona_pace import CreatePacer

# Waits for a file named 'go' before going on: proves a line reached us while it still ran.
WAIT_FOR_GO = (
    "import os, sys, time\n"
    "def wait(name):\n"
    "    while not os.path.exists(name):\n"
    "        time.sleep(0.01)\n"
)



@pytest.fixture
async def backend(server):
    b = DaytonaBackend(settings_for(server))
    try:
        yield b
    finally:
        await b.aclose()


def spec(candidate: str = "t#0", **kw) -> SandboxSpec:
    return SandboxSpec(labels={"app": APP, "run_id": "run-1", "candidate": candidate}, **kw)


class Lines:
    """Collects on_line calls (as an async callback, the way the SDK wants them)."""

    def __init__(self) -> None:
        self.items: list[tuple[str, str]] = []
        self.seen = asyncio.Event()

    async def __call__(self, stream: str, text: str) -> None:
        self.items.append((stream, text))
        self.seen.set()

    def of(self, stream: str) -> list[str]:
        return [t for s, t in self.items if s == stream]


async def test_upload_exec_streams_live_and_reports_exit_code(server, backend):
    sb = await backend.create(spec(env={"GREETING": "héllo"}))
    assert sb.isolation == "daytona"
    assert sb.info["daytona_id"] == sb.id and sb.info["state"] == "started"
    assert sb.info["create_ms"] >= 0 and sb.info["start_ms"] >= sb.info["create_ms"]
    program = WAIT_FOR_GO + (
        "print(os.environ['GREETING'], flush=True)\n"
        "print('to stderr', file=sys.stderr, flush=True)\n"
        "wait('go')\n"
        "print('after go')\n"
        "sys.stdout.write('no newline at the end')\n"
        "sys.exit(7)\n"
    )
    await sb.upload({"prog.py": program.encode(), "data/input.txt": b"x"})
    lines = Lines()
    run = asyncio.ensure_future(sb.exec(["python", "prog.py"], on_line=lines, timeout_s=60))
    await lines.seen.wait()  # the first line arrived while the program waits for 'go'
    assert not run.done()
    await sb.upload({"go": b""})
    result = await run
    assert result.exit_code == 7 and not result.timed_out and result.signal is None
    assert lines.of("stdout") == ["héllo", "after go", "no newline at the end"]
    assert lines.of("stderr") == ["to stderr"]
    assert sb.info["log_stream"] == "live"

    (live,) = server.live_sandboxes()
    assert {"app": APP, "run_id": "run-1", "candidate": "t#0"}.items() <= live["labels"].items()
    assert live["labels"]["ace-session"] == backend.session_id
    request = server.create_requests[-1]
    assert request["autoDeleteInterval"] == 0  # ephemeral
    assert request["autoStopInterval"] == 15
    assert request["networkBlockAll"] is True
    assert not request.get("env")  # the environment goes per command (warm pools)

    await sb.destroy()
    await sb.destroy()  # idempotent
    assert server.live_sandboxes() == []
    assert sb.info["state"] == "destroyed"
    with pytest.raises(SandboxError):
        await sb.exec(["python", "-c", "pass"], on_line=lines, timeout_s=5)


async def test_signal_death_and_output_cap(server, backend):
    sb = await backend.create(spec(limits=SandboxLimits(output_bytes=50)))
    await sb.upload({"p.py": b"import os, signal\nfor i in range(30):\n    print('line', i, flush=True)\n"
                              b"os.kill(os.getpid(), signal.SIGKILL)\n"})
    kept: list[str] = []
    result = await sb.exec(["python", "p.py"], timeout_s=30,  # a plain (not async) callback
                           on_line=lambda stream, text: kept.append(text) if stream == "stdout" else None)
    assert result.signal == 9 and result.exit_code == 137
    assert kept == [f"line {i}" for i in range(len(kept))] and 0 < len(kept) < 30
    assert result.stdout_dropped == sum(len(f"line {i}\n") for i in range(len(kept), 30))


async def test_an_error_in_on_line_reaches_the_caller(server, backend):
    sb = await backend.create(spec())

    async def broken(stream: str, text: str) -> None:
        raise KeyError("engine bug")

    with pytest.raises(KeyError, match="engine bug"):
        await sb.exec(["python", "-c", "print('x')"], on_line=broken, timeout_s=30)
    assert "log_stream" not in sb.info  # not mistaken for a broken stream


async def test_create_pacer_spaces_creates_at_its_rate():
    pacer = CreatePacer(per_minute=600, burst=1)  # one create every 0.1 s
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    for _ in range(4):
        await pacer.acquire()
    assert loop.time() - t0 >= 0.3 - 0.01  # the first goes at once, then one per 0.1 s
    assert pacer.status()["creates_per_min"] > 0


async def test_create_pacer_after_a_429_releases_creates_one_by_one_not_as_a_herd():
    pacer = CreatePacer(per_minute=600, burst=8)
    pacer.rate_limited(0.3)  # a 429 with Retry-After: 0.3 s
    assert pacer.rate < pacer.ceiling and pacer.status()["paused_s"] > 0
    limit_after_first = pacer.rate
    pacer.rate_limited(0.3)  # a second 429 of the same pause: one cut only
    assert pacer.rate == limit_after_first
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    times = []

    async def create() -> None:
        await pacer.acquire()
        times.append(loop.time() - t0)

    await asyncio.gather(*(create() for _ in range(4)))
    assert min(times) >= 0.3 - 0.01  # nobody before Retry-After
    # spaced at the (lowered) rate, not together: one at the end of the pause, then one per token
    assert max(times) - min(times) >= 3 / limit_after_first - 0.01
    for _ in range(200):
        pacer.succeeded()
    assert pacer.rate == pacer.ceiling  # creates that go through raise it back


async def test_wall_clock_timeout_kills_the_sandbox(server, backend):
    sb = await backend.create(spec())
    lines = Lines()
    result = await sb.exec(["python", "-c", "import time\nprint('up', flush=True)\ntime.sleep(600)"],
                           on_line=lines, timeout_s=1)
    assert result.timed_out and result.exit_code is None
    assert server.live_sandboxes() == [] and server.running_processes() == 0


async def test_metrics_come_from_the_sandbox(server, backend):
    sb = await backend.create(spec())
    await sb.upload({"m.py": (WAIT_FOR_GO + "block = bytearray(64 << 20)\nprint('holding', flush=True)\n"
                                            "wait('go')\n").encode()})
    lines = Lines()
    run = asyncio.ensure_future(sb.exec(["python", "m.py"], on_line=lines, timeout_s=60))
    await lines.seen.wait()
    m = await sb.metrics()
    await sb.upload({"go": b""})
    assert (await run).exit_code == 0
    assert m["rss_kib"] >= 64 * 1024 and m["cpu_count"] == 1 and "cpu_pct" in m


async def test_thirty_concurrent_sandboxes(server):
    n = 30
    backend = DaytonaBackend(settings_for(server, concurrency=n))
    barrier = asyncio.Barrier(n)
    alive_at_barrier: list[int] = []

    async def one(i: int) -> list[str]:
        sb = await backend.create(spec(f"t#{i}"))
        try:
            await sb.upload({"p.py": f"for k in range(3):\n    print({i}, k)\n".encode()})
            await barrier.wait()
            alive_at_barrier.append(len(server.live_sandboxes()))
            lines = Lines()
            result = await sb.exec(["python", "p.py"], on_line=lines, timeout_s=60)
            assert result.exit_code == 0
            return lines.of("stdout")
        finally:
            await sb.destroy()

    try:
        outputs = await asyncio.gather(*(one(i) for i in range(n)))
    finally:
        await backend.aclose()
    assert outputs == [[f"{i} {k}" for k in range(3)] for i in range(n)]
    assert max(alive_at_barrier) == n and server.created == n
    assert server.live_sandboxes() == []


async def test_concurrency_cap_holds(server):
    backend = DaytonaBackend(settings_for(server, concurrency=3))

    async def one(i: int) -> int | None:
        sb = await backend.create(spec(f"t#{i}"))
        try:
            return (await sb.exec(["python", "-c", "print(1)"], on_line=Lines(), timeout_s=30)).exit_code
        finally:
            await sb.destroy()

    try:
        codes = await asyncio.gather(*(one(i) for i in range(10)))
    finally:
        await backend.aclose()
    assert codes == [0] * 10 and server.created == 10
    assert server.peak_live <= 3


async def test_rate_limited_and_failing_creates_are_retried(server, backend):
    server.fail_next_creates(2, status=429, retry_after_s=0)
    server.fail_next_creates(1, status=503)
    sb = await backend.create(spec())
    assert sb.info["attempts"] == 4
    assert len(server.create_requests) == 4 and server.created == 1
    await sb.destroy()


async def test_create_gives_up_after_max_attempts(server):
    backend = DaytonaBackend(settings_for(server, max_attempts=2))
    server.fail_next_creates(5, status=503)
    try:
        with pytest.raises(SandboxError, match="after 2 attempt"):
            await backend.create(spec())
        assert len(server.create_requests) == 2
        # a 429 only says "later": it gets four times the attempts
        server.faults.create_failures.clear()
        server.fail_next_creates(20, status=429, retry_after_s=0)
        with pytest.raises(SandboxError, match="after 8 attempt"):
            await backend.create(spec())
        # the slot taken for the failed create was given back
        server.faults.create_failures.clear()
        sb = await backend.create(spec())
        await sb.destroy()
    finally:
        await backend.aclose()
    assert server.live_sandboxes() == []


async def test_wrong_api_key_is_a_sandbox_error(server):
    backend = DaytonaBackend(DaytonaSettings(api_key="wrong", api_url=server.api_url, target="local",
                                             reap_on_start=False))
    try:
        with pytest.raises(SandboxError, match="rejected the API key"):
            await backend.create(spec())
    finally:
        await backend.aclose()


async def test_slow_start_is_waited_for(server, backend):
    server.slow_start(0.5)
    sb = await backend.create(spec())
    polls = [p for m, p, _ in server.requests if m == "GET" and p == f"/api/sandbox/{sb.id}"]
    assert polls, "the SDK should have polled a sandbox that was still starting"
    assert sb.info["state"] == "started"
    result = await sb.exec(["python", "-c", "print('ok')"], on_line=Lines(), timeout_s=30)
    assert result.exit_code == 0


async def test_create_that_hangs_past_the_timeout_leaves_nothing(server):
    backend = DaytonaBackend(settings_for(server, create_timeout_s=1))
    server.hang_next_creates(1, seconds=4)
    try:
        sb = await backend.create(spec())
        assert sb.info["attempts"] == 2 and server.created == 2
        assert [b["id"] for b in server.live_sandboxes()] == [sb.id]  # the hung one was deleted
        await sb.destroy()
    finally:
        await backend.aclose()
    assert server.live_sandboxes() == []


async def test_create_stuck_starting_is_deleted_when_giving_up(server):
    backend = DaytonaBackend(settings_for(server, create_timeout_s=1, max_attempts=2))
    server.slow_start(30)
    try:
        with pytest.raises(SandboxError, match="after 2 attempt"):
            await backend.create(spec())
        assert server.created == 2 and server.live_sandboxes() == []
    finally:
        await backend.aclose()


@pytest.mark.parametrize("mode", ["error", "abort", "close", "stall"])
async def test_log_stream_drop_falls_back_to_polling(server, mode):
    backend = DaytonaBackend(settings_for(server, stream_check_s=0.2))
    try:
        await _drop_and_poll(server, backend, mode)
    finally:
        await backend.aclose()


async def _drop_and_poll(server, backend, mode):
    sb = await backend.create(spec())
    await sb.upload({"p.py": b"import sys, time\nfor i in range(20):\n    print(i, flush=True)\n"
                              b"    print('e', i, file=sys.stderr, flush=True)\n    time.sleep(0.02)\n"})
    server.drop_next_log_streams(1, after_frames=3, mode=mode)
    lines = Lines()
    result = await sb.exec(["python", "p.py"], on_line=lines, timeout_s=60)
    assert result.exit_code == 0
    assert lines.of("stdout") == [str(i) for i in range(20)]  # complete, each line once
    assert lines.of("stderr") == [f"e {i}" for i in range(20)]
    assert sb.info["log_stream"] == {"error": "polled", "abort": "polled", "close": "live, completed by polling",
                                     "stall": "stalled, polled"}[mode]
    assert server.faults.drops == []  # the drop did happen


async def test_cancel_mid_run_leaves_nothing_on_the_server(server):
    backend = DaytonaBackend(settings_for(server))
    started = asyncio.Event()

    async def job(i: int) -> None:
        sb = await backend.create(spec(f"t#{i}"))
        await sb.upload({"p.py": b"import time\nprint('running', flush=True)\ntime.sleep(600)\n"})

        async def on_line(stream: str, text: str) -> None:
            started.set()

        await sb.exec(["python", "p.py"], on_line=on_line, timeout_s=600)

    server.slow_start(0)
    tasks = [asyncio.ensure_future(job(i)) for i in range(3)]
    await started.wait()
    server.slow_start(2)  # one more, caught in the middle of its create
    tasks.append(asyncio.ensure_future(job(3)))
    while server.created < 4:
        await asyncio.sleep(0.01)
    for t in tasks:  # Ctrl-C
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await backend.aclose()
    assert server.live_sandboxes() == [] and server.running_processes() == 0


async def test_reap_stale_deletes_only_dead_runs(server):
    proc = await asyncio.create_subprocess_exec(sys.executable, "-c", "pass")
    await proc.wait()  # a pid that no longer runs
    dead_owner = dict(owner_labels(), **{"ace-pid": f"{proc.pid}.1"})
    live_owner = owner_labels()  # this test process: alive
    foreign = {"ace-host": "another-host", "ace-boot": "x", "ace-pid": "1.1"}
    ids = {
        "dead": server.seed_sandbox({"app": APP, "run_id": "old", **dead_owner}),
        "live": server.seed_sandbox({"app": APP, "run_id": "now", **live_owner}),
        "alive_run": server.seed_sandbox({"app": APP, "run_id": "keep-me", **dead_owner}),
        "foreign_old": server.seed_sandbox({"app": APP, "run_id": "f1", **foreign}, age_s=7 * 3600),
        "foreign_new": server.seed_sandbox({"app": APP, "run_id": "f2", **foreign}, age_s=60),
        "other_app": server.seed_sandbox({"app": "something-else"}),
    }
    backend = DaytonaBackend(settings_for(server))
    try:
        reaped = await backend.reap_stale(alive_run_ids=["keep-me"])
    finally:
        await backend.aclose()
    assert sorted(reaped) == sorted([ids["dead"], ids["foreign_old"]])
    assert sorted(b["id"] for b in server.live_sandboxes()) == sorted(
        ids[k] for k in ("live", "alive_run", "foreign_new", "other_app"))


async def test_first_create_reaps_leftovers(server):
    dead = dict(owner_labels(), **{"ace-pid": "999999999.1"})
    leftover = server.seed_sandbox({"app": APP, "run_id": "crashed", **dead})
    backend = DaytonaBackend(settings_for(server))
    try:
        sb = await backend.create(spec())
        assert backend.reaped == [leftover]
        assert [b["id"] for b in server.live_sandboxes()] == [sb.id]
    finally:
        await backend.aclose()


async def test_double_keeps_daytona_session_semantics(server, backend):
    """Like Daytona's daemon, the double runs a session command inside the session's shell and
    then records $?: a command that replaces that shell never gets an exit code (which is why
    the backend runs its command in a subshell)."""
    from daytona import SessionExecuteRequest

    sb = await backend.create(spec())
    proc = sb._sdk.process
    await proc.create_session("s")
    done = await proc.execute_session_command("s", SessionExecuteRequest(command="sh -c 'exit 5'"))
    assert done.exit_code == 5
    started = await proc.execute_session_command("s", SessionExecuteRequest(command="exec true", run_async=True))
    (box,) = server.boxes.values()
    cmd = box.sessions["s"][started.cmd_id]
    while not cmd.finished:
        await asyncio.sleep(0.01)
    assert (await proc.get_session_command("s", started.cmd_id)).exit_code is None


async def test_bad_upload_path_is_refused(server, backend):
    sb = await backend.create(spec())
    with pytest.raises(SandboxError, match="relative"):
        await sb.upload({"../escape.py": b""})
    with pytest.raises(SandboxError, match="relative"):
        await sb.upload({"/etc/passwd": b""})


# -- settings ------------------------------------------------------------------------------
def test_missing_api_key_is_one_clear_sentence():
    with pytest.raises(ConfigError) as info:
        make_daytona_backend({"DAYTONA_API_URL": "http://127.0.0.1:1/api"})
    message = str(info.value)
    assert "DAYTONA_API_KEY" in message and "\n" not in message


@pytest.mark.parametrize(("env", "needle"), [
    ({"ACE_DAYTONA_CONCURRENCY": "many"}, "ACE_DAYTONA_CONCURRENCY"),
    ({"ACE_DAYTONA_SNAPSHOT": "s", "ACE_DAYTONA_IMAGE": "i"}, "not both"),
    ({"ACE_DAYTONA_CPU": "2"}, "ACE_DAYTONA_IMAGE"),
    ({"DAYTONA_API_URL": "app.daytona.io"}, "http"),
])
def test_bad_settings_are_config_errors(env, needle):
    with pytest.raises(ConfigError, match=needle):
        make_daytona_backend({"DAYTONA_API_KEY": "k", **env})


def test_settings_from_env():
    backend = make_daytona_backend({
        "DAYTONA_API_KEY": "secret-key-123", "DAYTONA_API_URL": "http://127.0.0.1:9/api", "DAYTONA_TARGET": "eu",
        "ACE_DAYTONA_IMAGE": "python:3.12-slim", "ACE_DAYTONA_CPU": "2", "ACE_DAYTONA_MEMORY": "4",
        "ACE_DAYTONA_CONCURRENCY": "16", "ACE_DAYTONA_CREATES_PER_MINUTE": "100"})
    s = backend.settings
    assert (s.api_url, s.target, s.image, s.cpu, s.memory_gib, s.concurrency, s.creates_per_minute) == (
        "http://127.0.0.1:9/api", "eu", "python:3.12-slim", 2, 4, 16, 100)
    assert "secret-key-123" not in repr(s)  # the key is never shown
    assert backend.name == "daytona" and backend.concurrency == 16


async def test_image_and_resources_reach_the_api(server):
    backend = DaytonaBackend(settings_for(server, image="python:3.12-slim", cpu=2, memory_gib=4, disk_gib=5))
    try:
        sb = await backend.create(spec())
        await sb.destroy()
    finally:
        await backend.aclose()
    request = server.create_requests[-1]
    assert (request["cpu"], request["memory"], request["disk"]) == (2, 4, 5)
    assert "python:3.12-slim" in request["buildInfo"]["dockerfileContent"]


# -- Daytona's cloud -----------------------------------------------------------------------
@pytest.mark.daytona_cloud
@pytest.mark.skipif(not os.environ.get("DAYTONA_API_KEY"), reason="needs DAYTONA_API_KEY (Daytona's cloud)")
async def test_real_daytona_end_to_end():
    backend = make_daytona_backend(dict(os.environ))
    run_id = f"test-{uuid.uuid4().hex[:8]}"
    await backend.preflight()  # the key, URL, target and snapshot are accepted by the real API
    try:
        sb = await backend.create(SandboxSpec(labels={"run_id": run_id, "candidate": "cloud#0"},
                                              env={"GREETING": "hello"}))
        await sb.upload({"p.py": b"import os, sys\nprint(os.environ['GREETING'])\n"
                                 b"print('err', file=sys.stderr)\nsys.exit(3)\n"})
        lines = Lines()
        result = await sb.exec(["python", "p.py"], on_line=lines, timeout_s=120)
        assert result.exit_code == 3
        assert lines.of("stdout") == ["hello"] and lines.of("stderr") == ["err"]
        assert isinstance(await sb.metrics(), dict)
        await sb.destroy()
    finally:
        await backend.aclose()
    checker = DaytonaBackend(backend.settings)
    try:
        left = await checker._find({"app": APP, "run_id": run_id})
    finally:
        await checker.aclose()
    assert all(str(getattr(b.state, "value", b.state)) in ("destroyed", "destroying") for b in left)
