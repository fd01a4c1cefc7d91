"""Backend conformance: every sandbox backend passes the same behavioural checks.

One fixture, ``harness``, is parametrised over every backend this machine can run: the local
backend at each isolation level (``bwrap``, its warm fast path, ``unshare``, ``rlimits``; a
level that does not work here is skipped with the probe's reason), the Daytona backend driven
by the unmodified ``daytona`` SDK against its test double (tests/daytona_server.py, real HTTP
and WebSocket), and the fault-injecting wrapper (tests/faulty_backend.py) with no fault named,
which must behave exactly like the backend it wraps. Each test drives the backend through the
interface of ``sandbox/base.py`` only; the harness adds one backend-specific probe, ``left``,
that says what a sandbox left behind (a process, a directory, a Daytona sandbox on the server).

Where backends legitimately differ the tests accept the contract's allowed outcomes, written
down in ``sandbox/base.py``: a signal death may also report the shell's exit code 128+N; the
output cap may keep a tail; a command that cannot start may raise SandboxError or exit 127;
a command whose sandbox is destroyed under it may return killed or raise SandboxError; only
the local backend applies the memory limit itself (a Daytona sandbox has its own resources).
A new backend gets one ``Case`` here: a context manager that yields its ``Harness``.
"""
from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import textwrap
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import pytest
from daytona_server import DaytonaTestServer
from faulty_backend import FaultyBackend

from ai_code_evals.sandbox import isolation
from ai_code_evals.sandbox.base import (
    PRIORITY_MARK,
    ExecResult,
    Sandbox,
    SandboxBackend,
    SandboxError,
    SandboxLimits,
    SandboxSpec,
)
from ai_code_evals.sandbox.daytona import APP, DaytonaBackend, DaytonaSettings
from ai_code_evals.sandbox.local import LocalBackend

if sys.platform != "linux":
    pytest.skip("the sandbox backends need Linux", allow_module_level=True)

HOST = isolation.default_host()
# a hang guard for awaits that must end by themselves (not a timing threshold: never reached)
HANG_GUARD_S = 120.0


PF_EXITING = 0x4  # in /proc/PID/stat's flags: killed and in the kernel's exit path


def procs_with(marker: str) -> list[int]:
    """Live processes named ``marker`` or with it on their command line: each command gets a
    fresh marker as its argument and as its name (``NAME_ITSELF``: a command forked by the warm
    server keeps the server's command line), and forked children inherit both. Not live: a
    zombie, or a process already exiting (it runs no more code of its own; when a pid
    namespace's pid 1 dies, the kernel finishes its other processes a moment later)."""
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == os.getpid():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                fields = f.read().rsplit(b")", 1)[1].split()
            if fields[0] in (b"Z", b"X") or int(fields[6]) & PF_EXITING:
                continue
            with open(f"/proc/{name}/comm", "rb") as f:
                comm = f.read().strip()
            with open(f"/proc/{name}/cmdline", "rb") as f:
                if comm == marker.encode() or marker.encode() in f.read():
                    found.append(int(name))
        except (OSError, IndexError):
            continue
    return found


# every command names itself after its marker (prctl PR_SET_NAME: no file to write, so it works
# under Landlock too), before anything else
NAME_ITSELF = "import ctypes as _c, sys as _s; _c.CDLL(None).prctl(15, _s.argv[1].encode(), 0, 0, 0)\n"


@dataclass
class Harness:
    """A backend under test, how to make specs for it, and what its sandboxes left behind."""

    name: str
    backend: SandboxBackend
    left: Callable[[Sandbox], list[str]]  # what a destroyed sandbox left (empty: nothing)
    env: dict[str, str] = field(default_factory=dict)  # added to every spec (the warm path needs one)
    enforces: frozenset[str] = frozenset({"memory"})  # SandboxLimits the backend applies itself
    why_not: str = ""  # why a limit is not the backend's to apply
    isolation: str = ""  # what its sandboxes must report as their isolation ("": any)

    def spec(self, candidate: str = "conf#0", **kw) -> SandboxSpec:
        env = {**self.env, **kw.pop("env", {})}
        labels = {"app": APP, "run_id": "conformance", "candidate": candidate}
        return SandboxSpec(labels=labels, env=env, **kw)


# -- the backends ----------------------------------------------------------------------------------
def _level_skip(level: str) -> str | None:
    """Why ``level`` cannot be tested here (None: it can)."""
    if not isolation.works(level, HOST):
        return f"isolation level {level} does not work here: {HOST.probed[level][1]}"
    return None


def _local_left(box) -> list[str]:
    inner = getattr(box, "inner", box)  # the fault-injecting wrapper's real sandbox
    return [f"working directory {inner.workdir}"] if os.path.exists(inner.workdir) else []


@contextlib.asynccontextmanager
async def _local(level: str | None, *, warm: bool = False) -> AsyncIterator[Harness]:
    backend = LocalBackend(level, unsafe=True, warm=warm)
    try:
        env = {}
        if warm:  # the warm path serves `python FILE` under a fixed hash seed (local.py)
            env = {"PYTHONHASHSEED": "0"}
            if await backend.warm_server(env) is None:
                pytest.skip(f"the warm path does not work here: {backend.warm_off}")
        yield Harness(f"local-{level}{'-warm' if warm else ''}", backend, _local_left, env=env,
                      isolation=level or "")
    finally:
        await backend.aclose()


@contextlib.asynccontextmanager
async def _daytona() -> AsyncIterator[Harness]:
    server = await DaytonaTestServer().start()
    backend = DaytonaBackend(DaytonaSettings(api_key=server.api_key, api_url=server.api_url, target="local",
                                             backoff_base_s=0.01, backoff_max_s=0.05))

    def left(box) -> list[str]:  # the server kills a sandbox's commands before it answers a delete
        return [f"Daytona sandbox {b['id']}" for b in server.live_sandboxes() if b["id"] == box.id]

    try:
        yield Harness("daytona", backend, left, enforces=frozenset(), isolation="daytona",
                      why_not="a Daytona sandbox gets its memory from its own resources "
                              "(ACE_DAYTONA_MEMORY); the runner applies the memory limit to the candidate")
    finally:
        await backend.aclose()
        await server.close()
    assert server.drift == [], "the test double sent something the SDK's models do not accept"


@contextlib.asynccontextmanager
async def _faulty() -> AsyncIterator[Harness]:
    async with _local(None) as inner:
        yield Harness("faulty(local)", FaultyBackend(inner.backend, {}), _local_left)


@dataclass(frozen=True)
class Case:
    id: str
    open: Callable[[], contextlib.AbstractAsyncContextManager[Harness]]
    skip: Callable[[], str | None] = lambda: None


CASES = [
    Case("local-bwrap", lambda: _local("bwrap", warm=False), lambda: _level_skip("bwrap")),
    Case("local-bwrap-warm", lambda: _local("bwrap", warm=True), lambda: _level_skip("bwrap")),
    Case("local-unshare", lambda: _local("unshare", warm=False), lambda: _level_skip("unshare")),
    Case("local-rlimits", lambda: _local("rlimits", warm=False), lambda: _level_skip("rlimits")),
    Case("daytona", _daytona),
    Case("faulty", _faulty),
]


@pytest.fixture(params=CASES, ids=[c.id for c in CASES])
async def harness(request) -> AsyncIterator[Harness]:
    case: Case = request.param
    why = case.skip()
    if why:
        pytest.skip(why)
    async with case.open() as h:
        yield h


# -- helpers ------------------------------------------------------------------------------------------
class Lines:
    """Collects (stream, line) pairs; ``first`` is set at the first line. Callable as the
    synchronous kind of on_line (``AsyncLines`` is the other kind)."""

    def __init__(self) -> None:
        self.items: list[tuple[str, str]] = []
        self.first = asyncio.Event()

    def __call__(self, stream: str, line: str) -> None:
        self.items.append((stream, line))
        self.first.set()

    def of(self, stream: str) -> list[str]:
        return [line for s, line in self.items if s == stream]


class AsyncLines(Lines):
    async def __call__(self, stream: str, line: str) -> None:  # type: ignore[override]
        await asyncio.sleep(0)
        super().__call__(stream, line)


def marker() -> str:
    return f"acecf{uuid.uuid4().hex[:10]}"  # 15 characters: the longest name a process can have


async def start(h: Harness, code: str, *, spec: SandboxSpec | None = None, files: dict | None = None,
                on_line: Lines | None = None, timeout_s: float = 60.0):
    """Create a sandbox, upload ``code`` as prog.py (and ``files``), start ``python prog.py
    MARKER``; returns (sandbox, the exec task, lines, marker)."""
    box = await h.backend.create(spec or h.spec())
    mark = marker()
    await box.upload({"prog.py": (NAME_ITSELF + textwrap.dedent(code)).encode(), **(files or {})})
    lines = on_line or Lines()
    task = asyncio.ensure_future(box.exec(["python", "prog.py", mark], on_line=lines, timeout_s=timeout_s))
    return box, task, lines, mark


async def run(h: Harness, code: str, **kw) -> tuple[ExecResult, Lines, Sandbox, str]:
    box, task, lines, mark = await start(h, code, **kw)
    try:
        result = await asyncio.wait_for(task, HANG_GUARD_S)
    finally:
        await box.destroy()
    return result, lines, box, mark


def describe(pids: list[int]) -> list[str]:
    out = []
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat", "rb") as f:
                stat = f.read().decode(errors="replace")
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")[:200]
            out.append(f"{stat[:120]} | {cmd}")
        except OSError as exc:
            out.append(f"{pid}: {exc}")
    return out


def assert_nothing_left(h: Harness, box: Sandbox, mark: str) -> None:
    left = procs_with(mark)
    assert left == [], f"{h.name}: processes of a destroyed sandbox are still running: {describe(left)}"
    assert h.left(box) == [], f"{h.name}: a destroyed sandbox left {h.left(box)}"


async def first_line(lines: Lines, task: asyncio.Future) -> None:
    """Wait until the command printed its first line (it must still be running then). The
    line must be 3 bytes or more: the ``daytona`` SDK holds the last 2 bytes of a chunk back
    (they could be the start of its stream marker) until more output or the end comes."""
    waiter = asyncio.ensure_future(lines.first.wait())
    await asyncio.wait({waiter, task}, timeout=HANG_GUARD_S, return_when=asyncio.FIRST_COMPLETED)
    waiter.cancel()
    assert lines.first.is_set() and not task.done(), f"no line while the command ran: {lines.items}"


# -- running a command -----------------------------------------------------------------------------------
async def test_exit_code_is_reported(harness):
    for code, want in (("pass", 0), ("import sys; sys.exit(3)", 3), ("raise SystemExit(1)", 1)):
        result, _, box, mark = await run(harness, code)
        assert (result.exit_code, result.signal, result.timed_out) == (want, None, False), (code, result)
        assert result.duration_s >= 0 and result.stdout_dropped == result.stderr_dropped == 0
        assert isinstance(box.id, str) and box.id and isinstance(box.info, dict) and box.isolation
        assert box.isolation == (harness.isolation or box.isolation)  # a forced level is the one used
        assert_nothing_left(harness, box, mark)


async def test_stdout_and_stderr_stream_line_by_line_in_order(harness):
    code = """
        import sys
        for i in range(40):
            print(f"out {i} é✓", flush=True)
            if i % 3 == 0:
                print(f"err {i}", file=sys.stderr, flush=True)
        print("", flush=True)  # an empty line is a line
        sys.stdout.write("no newline at the end")
    """
    result, lines, _, _ = await run(harness, code, on_line=AsyncLines())
    assert result.exit_code == 0, lines.items
    assert lines.of("stdout") == [f"out {i} é✓" for i in range(40)] + ["", "no newline at the end"]
    assert lines.of("stderr") == [f"err {i}" for i in range(0, 40, 3)]
    assert {s for s, _ in lines.items} == {"stdout", "stderr"}


async def test_lines_arrive_while_the_command_runs_and_metrics_answer(harness):
    """The first line reaches on_line before the command ends; metrics() answers a dict while
    it runs; destroying the sandbox under a running command ends it (returned or SandboxError)."""
    box, task, lines, mark = await start(harness, "import time\nprint('ready', flush=True)\ntime.sleep(600)\n")
    try:
        await first_line(lines, task)
        assert lines.items == [("stdout", "ready")]
        assert isinstance(await asyncio.wait_for(box.metrics(), HANG_GUARD_S), dict)
    finally:
        await box.destroy()
    try:
        result = await asyncio.wait_for(task, HANG_GUARD_S)
    except SandboxError:
        pass
    else:  # killed with its sandbox: never a success, and not the wall-clock limit
        assert result.exit_code != 0 and not result.timed_out, result
    assert_nothing_left(harness, box, mark)


async def test_spec_env_reaches_the_command_and_the_host_env_does_not(harness, monkeypatch):
    monkeypatch.setenv("ACE_CONFORMANCE_SECRET", "sk-host-only")
    spec = harness.spec(env={"ACE_CONFORMANCE": "from the spec"})
    code = "import os\nprint(os.environ.get('ACE_CONFORMANCE'))\nprint(os.environ.get('ACE_CONFORMANCE_SECRET'))\n"
    result, lines, _, _ = await run(harness, code, spec=spec)
    assert result.exit_code == 0, lines.items
    assert lines.of("stdout") == ["from the spec", "None"]


async def test_an_error_in_on_line_reaches_the_caller(harness):
    def broken(stream: str, line: str) -> None:
        raise KeyError("consumer broke")

    box, task, _, mark = await start(harness, "import time\nprint('first line', flush=True)\ntime.sleep(600)\n",
                                     on_line=broken)  # type: ignore[arg-type]
    try:
        with pytest.raises(KeyError, match="consumer broke"):
            await asyncio.wait_for(task, HANG_GUARD_S)
    finally:
        await box.destroy()
    assert_nothing_left(harness, box, mark)


# -- files ------------------------------------------------------------------------------------------
async def test_uploaded_files_are_readable_and_the_working_directory_writable(harness):
    blob = bytes(range(256)) * 64
    code = """
        import hashlib, os
        print(hashlib.sha256(open("data/nested/blob.bin", "rb").read()).hexdigest())
        print(open("notes.txt", encoding="utf-8").read())
        with open("made_here.txt", "w") as f:
            f.write("written in the sandbox")
        os.mkdir("made_dir")
        print(open("made_here.txt").read(), {"data", "made_dir", "made_here.txt"} <= set(os.listdir(".")))
    """
    import hashlib

    files = {"data/nested/blob.bin": blob, "notes.txt": "héllo".encode()}
    result, lines, _, _ = await run(harness, code, files=files)
    assert result.exit_code == 0, lines.items
    assert lines.of("stdout") == [hashlib.sha256(blob).hexdigest(), "héllo", "written in the sandbox True"]


async def test_upload_refuses_paths_outside_the_working_directory(harness):
    box = await harness.backend.create(harness.spec())
    try:
        for bad in ("../escape.txt", "/etc/escape.txt", "a/../../escape.txt", ""):
            with pytest.raises(SandboxError):
                await box.upload({bad: b"x"})
    finally:
        await box.destroy()


# -- limits ----------------------------------------------------------------------------------------------
async def test_output_cap_drops_and_counts_lines_but_passes_runner_events(harness):
    """Past ``output_bytes`` per stream, lines are dropped and their bytes counted; what is
    delivered is an in-order part of what was printed (a backend may keep a tail); lines that
    start with the runner's marker pass the cap."""
    cap = 4096
    code = f"""
        import sys
        for i in range(1000):
            print(f"line {{i:04d}}")
            if i % 250 == 0:
                print(f"{PRIORITY_MARK}event {{i}}")
        print("{PRIORITY_MARK}event last")
        print("END")
        print("err 1", file=sys.stderr)
    """
    result, lines, _, _ = await run(harness, code, spec=harness.spec(limits=SandboxLimits(output_bytes=cap)))
    assert result.exit_code == 0, lines.items[-5:]
    printed = [f"line {i:04d}" for i in range(1000)] + ["END"]
    out = lines.of("stdout")
    events = [line for line in out if line.startswith(PRIORITY_MARK)]
    plain = [line for line in out if not line.startswith(PRIORITY_MARK)]
    assert events == [f"{PRIORITY_MARK}event {i}" for i in range(0, 1000, 250)] + [f"{PRIORITY_MARK}event last"]
    kept = sum(len(line) + 1 for line in plain)
    assert 0 < kept <= cap
    it = iter(printed)
    assert all(line in it for line in plain), "delivered lines are not an in-order part of the output"
    assert plain[0] == "line 0000"  # the cap keeps the beginning
    assert kept + result.stdout_dropped == sum(len(line) + 1 for line in printed)
    assert lines.of("stderr") == ["err 1"] and result.stderr_dropped == 0  # a cap per stream


async def test_wall_clock_limit_kills_the_whole_tree(harness):
    """At ``timeout_s`` exec returns timed_out (exit_code None, signal None or SIGKILL), and
    nothing the command started is left once the sandbox is destroyed."""
    code = """
        import os, time
        if os.fork() == 0:
            while True:
                time.sleep(0.1)
        print("up", flush=True)
        while True:
            pass
    """
    timeout = 1.0
    while True:  # on a loaded machine the limit may strike before the child exists: give it longer
        result, lines, box, mark = await run(harness, code, timeout_s=timeout)
        if lines.of("stdout") or timeout > 16:
            break
        timeout *= 2
    assert result.timed_out, result
    assert result.exit_code is None and result.signal in (None, signal.SIGKILL), result
    assert lines.of("stdout") == ["up"]
    assert_nothing_left(harness, box, mark)


async def test_memory_limit_refuses_or_kills(harness):
    """Past ``memory_mb`` an allocation fails (MemoryError, a non-zero exit) or the sandbox's
    memory controller kills the command (SIGKILL); never a success, never a timeout."""
    if "memory" not in harness.enforces:
        pytest.skip(f"{harness.name}: {harness.why_not}")
    code = """
        print("start", flush=True)
        block = b"x" * (1 << 30)
        print("allocated", len(block))
    """
    spec = harness.spec(limits=SandboxLimits(memory_mb=256))
    result, lines, box, mark = await run(harness, code, spec=spec)
    assert not result.timed_out and "allocated" not in " ".join(lines.of("stdout")), (result, lines.items)
    refused = result.exit_code not in (0, None) and any("MemoryError" in line for line in lines.of("stderr"))
    assert refused or result.signal == signal.SIGKILL, (result, lines.items)
    assert_nothing_left(harness, box, mark)


# -- errors -----------------------------------------------------------------------------------------------
async def test_a_signal_death_is_reported_as_the_signal(harness):
    result, _, _, _ = await run(harness, "import os, signal\nprint('x', flush=True)\nos.kill(os.getpid(), signal.SIGTERM)\n")
    assert result.signal == signal.SIGTERM and not result.timed_out, result
    assert result.exit_code in (None, 128 + signal.SIGTERM), result  # 128+N: as a shell reports it


async def test_a_command_that_does_not_exist_fails_cleanly(harness):
    """SandboxError, or a non-zero exit (127 from a shell): never a success, never a hang."""
    box = await harness.backend.create(harness.spec())
    try:
        lines = Lines()
        try:
            result = await asyncio.wait_for(
                box.exec(["ace-no-such-command", "x"], on_line=lines, timeout_s=60), HANG_GUARD_S)
        except SandboxError:
            pass
        else:
            assert result.exit_code not in (0, None) and not result.timed_out, (result, lines.items)
        with pytest.raises(SandboxError):
            await box.exec([], on_line=lines, timeout_s=5)
        result = await box.exec(["python", "-c", "print('still usable')"], on_line=lines, timeout_s=60)
        assert result.exit_code == 0 and lines.of("stdout")[-1] == "still usable"
    finally:
        await box.destroy()


async def test_a_python_crash_is_a_non_zero_exit_with_its_traceback(harness):
    result, lines, _, _ = await run(harness, "def f():\n    raise ValueError('boom')\nf()\n")
    assert result.exit_code == 1 and result.signal is None and not result.timed_out
    assert any("ValueError: boom" in line for line in lines.of("stderr")), lines.items


# -- the end ---------------------------------------------------------------------------------------------
async def test_destroy_is_idempotent_and_leaves_nothing(harness):
    box, task, _, mark = await start(harness, "import os\nos.mkdir('d')\nopen('d/f', 'w').write('x')\nprint('ok')\n")
    assert (await asyncio.wait_for(task, HANG_GUARD_S)).exit_code == 0
    await box.destroy()
    await box.destroy()
    assert_nothing_left(harness, box, mark)
    assert await box.metrics() == {}  # nothing to measure (the local uid may be another sandbox's now)
    with pytest.raises(SandboxError):
        await box.exec(["python", "-c", "pass"], on_line=Lines(), timeout_s=5)
    with pytest.raises(SandboxError):
        await box.upload({"late.txt": b"x"})


async def test_aclose_destroys_every_live_sandbox(harness):
    boxes = [await harness.backend.create(harness.spec(f"conf#{i}")) for i in range(2)]
    box, task, lines, mark = await start(harness, "import time\nprint('ready', flush=True)\ntime.sleep(600)\n")
    await first_line(lines, task)
    await asyncio.wait_for(harness.backend.aclose(), HANG_GUARD_S)
    with contextlib.suppress(SandboxError):
        await asyncio.wait_for(task, HANG_GUARD_S)
    for b in boxes:
        assert harness.left(b) == [], harness.left(b)
    assert_nothing_left(harness, box, mark)
    with pytest.raises(SandboxError):
        await harness.backend.create(harness.spec())


async def test_cancelling_a_running_exec_cleans_up(harness):
    box, task, lines, mark = await start(harness, "import os, time\nos.fork()\nprint('ready', flush=True)\ntime.sleep(600)\n")
    try:
        await first_line(lines, task)
        assert procs_with(mark)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(task, HANG_GUARD_S)
    finally:
        await box.destroy()
    assert_nothing_left(harness, box, mark)


async def test_many_sandboxes_at_once(harness):
    n = 6

    async def one(i: int) -> list[str]:
        result, lines, box, mark = await run(
            harness, f"import sys\nfor k in range(3):\n    print({i}, k, flush=True)\nsys.exit({i})\n",
            spec=harness.spec(f"conf#{i}"))
        assert result.exit_code == i, (result, lines.items)
        assert_nothing_left(harness, box, mark)
        return lines.of("stdout")

    outputs = await asyncio.gather(*(one(i) for i in range(n)))
    assert outputs == [[f"{i} {k}" for k in range(3)] for i in range(n)]

