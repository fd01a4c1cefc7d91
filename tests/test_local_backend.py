"""The local sandbox backend, driven for real: real processes, real bubblewrap/unshare/Landlock.

Covers streaming, the output cap, the wall-clock kill of a whole tree, rlimits, the environment,
uploads, destroy/aclose, cancellation, and how the isolation level is detected and forced.
The hostile-candidate battery is in test_isolation_hostile.py.
"""
from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from dataclasses import replace
from pathlib import Path

import pytest

from ai_code_evals.core.errors import ConfigError
from ai_code_evals.sandbox import isolation
from ai_code_evals.sandbox.base import SandboxError, SandboxLimits, SandboxSpec
from ai_code_evals.sandbox.local import LocalBackend
from ai_code_evals.sandbox.output import MAX_LINE, LineCap

HOST = isolation.default_host()
WORKING = [lv for lv in isolation.LEVELS if isolation.works(lv, HOST)] if sys.platform == "linux" else []
if not WORKING:
    pytest.skip("no isolation level works on this machine", allow_module_level=True)


def working_level(level: str) -> str:
    if level not in WORKING:
        pytest.skip(f"isolation level {level} does not work here")
    return level


@pytest.fixture(params=WORKING)
def level(request) -> str:
    return request.param


class Lines:
    """Collects (stream, line) pairs; usable as a sync or async on_line."""

    def __init__(self) -> None:
        self.items: list[tuple[str, str]] = []

    def __call__(self, stream, line) -> None:
        self.items.append((stream, line))

    def of(self, stream: str) -> list[str]:
        return [line for s, line in self.items if s == stream]


async def run(level: str, code: str, *, limits: SandboxLimits | None = None, timeout: float = 30,
              env: dict | None = None, args: tuple = ()):
    backend = LocalBackend(level, unsafe=True)
    try:
        box = await backend.create(SandboxSpec(limits=limits or SandboxLimits(), env=env or {}))
        await box.upload({"main.py": textwrap.dedent(code).encode()})
        lines = Lines()
        result = await box.exec(["python", "main.py", *args], on_line=lines, timeout_s=timeout)
        return result, lines, box
    finally:
        await backend.aclose()


def procs_with(marker: str) -> list[int]:
    """Live processes whose command line or environment mentions ``marker``."""
    found = []
    for pid in (int(p) for p in os.listdir("/proc") if p.isdigit()):
        if pid == os.getpid():
            continue
        try:
            with open(f"/proc/{pid}/stat", "rb") as f:
                if f.read().rsplit(b")", 1)[1].split()[0] in (b"Z", b"X"):
                    continue
            blob = b""
            for name in ("cmdline", "environ"):
                with open(f"/proc/{pid}/{name}", "rb") as f:
                    blob += f.read()
        except OSError:
            continue
        if marker.encode() in blob:
            found.append(pid)
    return found


# -- output splitting (pure) -----------------------------------------------------------------------
def test_linecap_splits_caps_and_keeps_the_tail():
    cap = LineCap(1000)
    out = cap.feed(b"a\nb")
    assert out == ["a"]
    out += cap.feed(b"c\n" + b"x" * 50 + b"\n")
    assert out == ["a", "bc", "x" * 50]
    for i in range(200):
        out += cap.feed(f"line {i:04d}\n".encode())
    out += cap.feed(b"FINAL")
    out += cap.close()
    assert out[-1] == "FINAL" and "line 0199" in out  # the tail survives the cap
    assert sum(len(s) + 1 for s in out) - 1 == cap.forwarded <= 1000  # FINAL had no newline
    assert cap.forwarded + cap.dropped == 2 + 3 + 51 + 200 * 10 + 5


def test_linecap_long_line_is_cut_on_character_boundaries():
    cap = LineCap(1 << 30)
    text = "é" * (MAX_LINE)  # 2 bytes each: the line is 2 * MAX_LINE bytes
    pieces = cap.feed(text.encode()[:70001]) + cap.feed(text.encode()[70001:]) + cap.close()
    assert all(len(p.encode()) <= MAX_LINE for p in pieces)
    assert "".join(pieces) == text and "\ufffd" not in "".join(pieces)


def test_linecap_zero_cap_drops_everything():
    cap = LineCap(0)
    assert cap.feed(b"a\nb\n") + cap.close() == []
    assert cap.dropped == 4


# -- running ------------------------------------------------------------------------------------
async def test_streams_stdout_and_stderr_in_order(level):
    code = """
        import sys
        for i in range(50):
            print(f"out {i}", flush=True)
            print(f"err {i}", file=sys.stderr, flush=True)
        sys.stdout.write("no newline at the end")
    """
    result, lines, _ = await run(level, code)
    assert result.exit_code == 0 and result.signal is None and not result.timed_out
    assert lines.of("stdout") == [f"out {i}" for i in range(50)] + ["no newline at the end"]
    assert lines.of("stderr") == [f"err {i}" for i in range(50)]
    assert result.cpu_s is not None and result.cpu_s > 0
    assert result.max_rss_kib is not None and result.max_rss_kib > 1000


async def test_lines_arrive_while_the_command_runs(level):
    """The first line reaches on_line before the command ends: the callback itself reads the
    sandbox's live metrics and then destroys the sandbox, which is what ends the command."""
    backend = LocalBackend(level, unsafe=True)
    box = await backend.create(SandboxSpec())
    await box.upload({"main.py": b"import time\nprint('ready', flush=True)\nx = bytearray(30 << 20)\n"
                                 b"while True: time.sleep(1)\n"})
    seen: dict = {}

    async def on_line(stream, line):
        if line == "ready":
            seen["metrics"] = await box.metrics()
            await box.destroy()

    try:
        result = await box.exec(["python", "main.py"], on_line=on_line, timeout_s=60)
    finally:
        await backend.aclose()
    assert not result.timed_out and result.signal == signal.SIGKILL
    assert seen["metrics"]["processes"] >= 1 and seen["metrics"]["rss_kib"] > 0
    assert not os.path.exists(box.workdir)


async def test_output_flood_is_capped_and_counted(level):
    code = """
        import sys
        chunk = ("y" * 99 + "\\n") * 1000
        for _ in range(100):
            sys.stdout.write(chunk)
        print("END")
    """
    limits = SandboxLimits(output_bytes=64 * 1024)
    result, lines, _ = await run(level, code, limits=limits)
    out = lines.of("stdout")
    assert result.exit_code == 0
    assert out[-1] == "END"  # the tail (where a final verdict would be) is kept
    kept = sum(len(line) + 1 for line in out)
    assert kept <= limits.output_bytes
    assert kept + result.stdout_dropped == 100 * 100_000 + 4


async def test_exit_code_and_signal_are_reported(level):
    result, _, _ = await run(level, "import sys; sys.exit(3)")
    assert (result.exit_code, result.signal) == (3, None)
    result, _, _ = await run(level, "import os, signal; os.kill(os.getpid(), signal.SIGTERM)")
    assert (result.exit_code, result.signal) == (None, signal.SIGTERM)


async def test_timeout_kills_the_whole_tree(level):
    marker = f"ace-tree-{uuid.uuid4().hex}"
    code = """
        import os, sys, time
        for _ in range(3):
            if os.fork() == 0:
                while True:
                    time.sleep(0.1)
        print("started", flush=True)
        while True:
            pass
    """
    timeout = 1.0
    while True:  # on a loaded machine the limit may strike before the tree exists: give it longer
        result, lines, box = await run(level, code, timeout=timeout, args=(marker,))
        if lines.of("stdout") or timeout > 16:
            break
        timeout *= 2
    assert result.timed_out and result.signal == signal.SIGKILL
    assert lines.of("stdout") == ["started"]
    assert procs_with(marker) == []
    assert not os.path.exists(box.workdir)


async def test_cpu_limit(level):
    limits = SandboxLimits(cpu_s=1)
    result, _, _ = await run(level, "while True: pass", limits=limits, timeout=30)
    assert not result.timed_out
    assert result.signal in (signal.SIGXCPU, signal.SIGKILL)


async def test_memory_file_size_open_files_and_process_limits(level):
    code = """
        import errno, os, sys, time
        try:
            bytearray(400 << 20)
            print("memory: allocated")
        except MemoryError:
            print("memory: refused")
        try:
            with open("big", "wb") as f:
                f.write(b"x" * (3 << 20))
            print("fsize: written")
        except OSError as e:
            print("fsize:", errno.errorcode[e.errno])
        fds = []
        try:
            for _ in range(100):
                fds.append(os.open("/dev/null", os.O_RDONLY))
            print("nofile: opened 100")
        except OSError as e:
            print("nofile:", errno.errorcode[e.errno])
        for fd in fds:
            os.close(fd)
        kids = []
        try:
            for _ in range(30):
                pid = os.fork()
                if pid == 0:
                    time.sleep(2)
                    os._exit(0)
                kids.append(pid)
            print("nproc: forked 30")
        except OSError as e:
            print("nproc:", errno.errorcode[e.errno], len(kids))
        for pid in kids:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
    """
    limits = SandboxLimits(memory_mb=256, file_size_mb=1, open_files=32, processes=8)
    result, lines, _ = await run(level, code, limits=limits)
    out = lines.of("stdout")
    assert result.exit_code == 0, lines.items
    assert "memory: refused" in out
    assert "fsize: EFBIG" in out
    assert "nofile: EMFILE" in out
    if HOST.root:  # RLIMIT_NPROC only binds the sandbox's private uid
        nproc = next(line for line in out if line.startswith("nproc:"))
        assert nproc.startswith("nproc: EAGAIN") and int(nproc.split()[-1]) < 8


async def test_environment_is_cleared_and_spec_env_honoured(level, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-secret-value")
    code = "import os, json; print(json.dumps(dict(os.environ)))"
    _, lines, box = await run(level, code, env={"PYTHONHASHSEED": "4242", "MY_FLAG": "1"})

    env = json.loads(lines.of("stdout")[0])
    assert "OPENAI_API_KEY" not in env and "sk-test-secret-value" not in lines.of("stdout")[0]
    assert env["MY_FLAG"] == "1" and env["HOME"] == box.workdir and env["LANG"] == "C.UTF-8"
    _, lines, _ = await run(level, "print(hash('abc'))", env={"PYTHONHASHSEED": "0"})
    expected = await asyncio.to_thread(
        lambda: subprocess.run([sys.executable, "-c", "print(hash('abc'))"], env={"PYTHONHASHSEED": "0"},
                               capture_output=True, text=True, check=True).stdout.strip())
    assert lines.of("stdout") == [expected]  # the profile's PYTHONHASHSEED reaches the interpreter


async def test_uploads_nested_files_and_rejects_escapes(level):
    backend = LocalBackend(level, unsafe=True)
    try:
        box = await backend.create(SandboxSpec())
        await box.upload({"pkg/mod.py": b"VALUE = 41\n", "main.py": b"import sys; sys.path.insert(0, '.')\n"
                          b"from pkg.mod import VALUE\nprint(VALUE + 1)\nopen('new.txt', 'w').write('ok')\n"})
        for bad in ("../x", "/etc/x", "", "a/../../b"):
            with pytest.raises(SandboxError):
                await box.upload({bad: b""})
        lines = Lines()
        result = await box.exec(["python", "main.py"], on_line=lines, timeout_s=30)
        assert result.exit_code == 0, lines.items
        assert lines.of("stdout") == ["42"]
    finally:
        await backend.aclose()


async def test_destroy_is_idempotent_and_aclose_destroys_everything(level):
    backend = LocalBackend(level, unsafe=True)
    boxes = [await backend.create(SandboxSpec()) for _ in range(3)]
    for box in boxes:
        await box.upload({"f.txt": b"x"})
    await boxes[0].destroy()
    await boxes[0].destroy()
    assert not os.path.exists(boxes[0].workdir)
    with pytest.raises(SandboxError):
        await boxes[0].exec(["python", "-c", "pass"], on_line=Lines(), timeout_s=5)
    await backend.aclose()
    assert not any(os.path.exists(b.workdir) for b in boxes)
    with pytest.raises(SandboxError):
        await backend.create(SandboxSpec())


async def test_cancelling_exec_kills_the_tree(level):
    marker = f"ace-cancel-{uuid.uuid4().hex}"
    backend = LocalBackend(level, unsafe=True)
    try:
        box = await backend.create(SandboxSpec())
        await box.upload({"main.py": b"import os, time\nos.fork()\nprint('up', flush=True)\ntime.sleep(600)\n"})
        started = asyncio.Event()
        task = asyncio.ensure_future(box.exec(["python", "main.py", marker],
                                              on_line=lambda s, line: started.set(), timeout_s=600))
        await started.wait()
        assert procs_with(marker)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert procs_with(marker) == []
        await box.destroy()
    finally:
        await backend.aclose()


async def test_failing_on_line_stops_the_command(level):
    backend = LocalBackend(level, unsafe=True)
    try:
        box = await backend.create(SandboxSpec())
        await box.upload({"main.py": b"import time\nprint('hello', flush=True)\ntime.sleep(600)\n"})

        def on_line(stream, line):
            raise RuntimeError("consumer broke")

        with pytest.raises(RuntimeError, match="consumer broke"):
            await box.exec(["python", "main.py"], on_line=on_line, timeout_s=600)
    finally:
        await backend.aclose()


async def test_one_command_at_a_time(level):
    backend = LocalBackend(level, unsafe=True)
    try:
        box = await backend.create(SandboxSpec())
        started = asyncio.Event()
        task = asyncio.ensure_future(box.exec(["python", "-c", "import time; print(1, flush=True); time.sleep(60)"],
                                              on_line=lambda s, line: started.set(), timeout_s=60))
        await started.wait()
        with pytest.raises(SandboxError):
            await box.exec(["python", "-c", "pass"], on_line=Lines(), timeout_s=5)
        await box.destroy()
        result = await task
        assert result.signal == signal.SIGKILL
    finally:
        await backend.aclose()


# -- isolation level detection ---------------------------------------------------------------------
def test_auto_picks_the_strongest_working_level(monkeypatch):
    monkeypatch.delenv(isolation.ENV_VAR, raising=False)
    assert LocalBackend().isolation == WORKING[0]


def test_forced_level_by_argument_and_settings():
    """By argument, or by ACE_ISOLATION through the settings (the registry's factory passes it
    down; the backend itself reads no environment)."""
    from ai_code_evals.sandbox.registry import make_backend

    for lv in WORKING:  # rlimits only when the user accepts that it cannot contain candidates
        level = lv.removesuffix("-warm")
        assert LocalBackend(level, unsafe=True).isolation == level
        assert make_backend("local", {"ACE_ISOLATION": level}, unsafe=True).isolation == level
    with pytest.raises(ConfigError, match="unknown isolation level 'chroot'"):
        make_backend("local", {"ACE_ISOLATION": "chroot"})
    with pytest.raises(ConfigError, match="unknown isolation level"):
        LocalBackend("docker")


async def test_falls_back_when_tools_are_missing(monkeypatch):
    """A host without bubblewrap gets ``unshare``; without unshare either, ``rlimits`` only when
    the user accepts it (--unsafe-isolation), else one line saying what to install; the skipped
    levels and why are recorded for the run log."""
    monkeypatch.delenv(isolation.ENV_VAR, raising=False)
    working_level("unshare")
    no_bwrap = replace(HOST, bwrap=None)
    backend = LocalBackend(host=no_bwrap)
    assert backend.isolation == "unshare"
    assert "bwrap not found" in backend.isolation_reasons["bwrap"]
    working_level("rlimits")
    bare = replace(HOST, bwrap=None, unshare=None)
    with pytest.raises(ConfigError, match=r"no isolation level here contains candidates .*apt-get install bubblewrap"):
        _ = LocalBackend(host=bare).isolation
    backend = LocalBackend(host=bare, unsafe=True)
    assert backend.isolation == "rlimits" and "shared memory" in backend.unsafe_isolation
    assert set(backend.isolation_reasons) == {"bwrap", "unshare"}
    box = await backend.create(SandboxSpec())
    try:
        assert box.isolation == "rlimits" and box.info["skipped"].keys() == {"bwrap", "unshare"}
        lines = Lines()
        result = await box.exec(["python", "-c", "print('fine')"], on_line=lines, timeout_s=30)
        assert result.exit_code == 0 and lines.of("stdout") == ["fine"]
    finally:
        await backend.aclose()
    with pytest.raises(ConfigError, match="'bwrap' does not work here"):
        _ = LocalBackend("bwrap", host=replace(HOST, bwrap=None)).isolation


def test_probe_failure_reason_is_readable():
    broken = replace(HOST, bwrap="/bin/false")
    ok, why = isolation.probe("bwrap", broken)
    assert not ok and why


ORPHANS = """
import os, sys, time
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        while True:
            time.sleep(0.05)
    os._exit(0)
os.fork()
print("ready", flush=True)
while True:
    time.sleep(0.05)
"""

APP = """
import asyncio, sys
from ai_code_evals.sandbox.base import SandboxSpec
from ai_code_evals.sandbox.local import LocalBackend


async def main(level, marker, code):
    backend = LocalBackend(level, unsafe=True)
    box = await backend.create(SandboxSpec())
    await box.upload({"main.py": open(code, "rb").read()})

    def on_line(stream, line):
        print(line, box.workdir, flush=True)

    await box.exec(["python", "main.py", marker], on_line=on_line, timeout_s=600)

asyncio.run(main(*sys.argv[1:]))
"""


def wait_until(predicate, what: str, limit_s: float = 20.0) -> None:
    """Poll until ``predicate()`` holds; the limit only bounds how long a failing test takes."""
    deadline = time.monotonic() + limit_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"still waiting for: {what}")
        time.sleep(0.05)


def test_app_killed_with_sigkill_leaves_nothing_running(level, tmp_path):
    """kill -9 of the app: at the namespace levels the sandbox dies with it; at the rlimits level
    the command itself dies with it and the next backend start reaps the rest (as root)."""
    marker = f"ace-kill9-{uuid.uuid4().hex}"
    (tmp_path / "app.py").write_text(APP)
    (tmp_path / "orphans.py").write_text(ORPHANS)
    app = subprocess.Popen([sys.executable, str(tmp_path / "app.py"), level, marker, str(tmp_path / "orphans.py")],
                           stdout=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL, start_new_session=True,
                           cwd=Path(__file__).resolve().parents[1])
    try:
        first = app.stdout.readline().split()
        assert first and first[0] == "ready", first
        workdir = first[1]
        assert len(procs_with(marker)) >= 3  # the command, its child, the orphan in its own session
    finally:
        app.kill()
        app.wait()
        app.stdout.close()
    if level in ("bwrap", "unshare"):
        wait_until(lambda: procs_with(marker) == [], "the sandbox to die with the app")
    elif HOST.root:
        wait_until(lambda: len(procs_with(marker)) < 3, "the command to die with the app")

        async def next_start() -> None:
            backend = LocalBackend(level, unsafe=True)
            try:
                await backend.create(SandboxSpec())
            finally:
                await backend.aclose()

        asyncio.run(next_start())
        assert procs_with(marker) == []
    else:
        pytest.skip("without root, orphans of a killed app can escape the rlimits level")
    fresh = LocalBackend(level, unsafe=True)
    fresh._private_root()  # a new backend start removes the dead app's temp root
    fresh.close_sync()
    assert not os.path.exists(workdir)


def test_ctrl_c_in_the_app_kills_and_removes_everything(level, tmp_path):
    """SIGINT (Ctrl-C) to an app that never calls destroy(): asyncio.run cancels the exec, which
    kills the tree, and the backend's exit hook removes the working directory."""
    marker = f"ace-sigint-{uuid.uuid4().hex}"
    (tmp_path / "app.py").write_text(APP)
    (tmp_path / "orphans.py").write_text(ORPHANS)
    app = subprocess.Popen([sys.executable, str(tmp_path / "app.py"), level, marker, str(tmp_path / "orphans.py")],
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, stdin=subprocess.DEVNULL,
                           start_new_session=True, cwd=Path(__file__).resolve().parents[1])
    try:
        first = app.stdout.readline().split()
        assert first and first[0] == "ready", first
        assert len(procs_with(marker)) >= 3
        app.send_signal(signal.SIGINT)
        assert app.wait(timeout=60) != 0  # KeyboardInterrupt
    finally:
        app.kill()
        app.wait()
        app.stdout.close()
    assert procs_with(marker) == []
    assert not os.path.exists(first[1])


def test_runs_headless_without_a_tty(tmp_path):
    """CI=true, no terminal, stdin closed, a new session: the backend does not need a TTY."""
    script = tmp_path / "ci.py"
    script.write_text(textwrap.dedent("""
        import asyncio
        from ai_code_evals.sandbox.base import SandboxSpec
        from ai_code_evals.sandbox.local import LocalBackend

        async def main():
            backend = LocalBackend()
            box = await backend.create(SandboxSpec())
            got = []
            r = await box.exec(["python", "-c", "import os; print(os.isatty(0), os.isatty(1))"],
                               on_line=lambda s, l: got.append(l), timeout_s=30)
            await backend.aclose()
            print("result", r.exit_code, got, backend.isolation)

        asyncio.run(main())
    """))
    env = {k: v for k, v in os.environ.items() if k not in ("TERM", isolation.ENV_VAR)}
    env["CI"] = "true"
    proc = subprocess.run([sys.executable, str(script)], stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, env=env, start_new_session=True, timeout=60, check=False,
                          cwd=Path(__file__).resolve().parents[1])
    assert proc.returncode == 0, proc.stderr
    assert f"result 0 ['False False'] {WORKING[0]}" in proc.stdout


# -- the candidates' interpreter -------------------------------------------------------------------
async def test_commands_run_a_clean_python_of_the_named_version():
    """``python`` is the base interpreter behind the app's virtualenv with its site-packages
    empty; ``python3.N`` another installed one (an interpreter profile); a missing one fails in
    one line naming what to install."""
    from ai_code_evals.sandbox import interpreter

    backend = LocalBackend(WORKING[0], unsafe=True)
    try:
        box = await backend.create(SandboxSpec())
        lines = Lines()
        code = "import sys, importlib.util; print(sys.version_info[:2], importlib.util.find_spec('pytest') is None)"
        await box.exec(["python", "-c", code], on_line=lines, timeout_s=60)
        assert lines.of("stdout") == [f"{tuple(sys.version_info[:2])} True"]
        try:
            other = interpreter.find("python3.9")
        except interpreter.InterpreterMissing:
            other = None
        if other is not None:
            lines = Lines()
            await box.exec(["python3.9", "-c", code], on_line=lines, timeout_s=60)
            assert lines.of("stdout") == ["(3, 9) True"]
        with pytest.raises(SandboxError, match=r"python3\.99 is not installed here .*uv python install 3\.99"):
            await box.exec(["python3.99", "-c", "pass"], on_line=Lines(), timeout_s=60)
    finally:
        await backend.aclose()


def test_a_missing_interpreter_profile_is_skipped_in_one_line(capsys):
    from ai_code_evals.engine.profiles import resolve_profiles
    from ai_code_evals.session import available_interpreters

    kept = available_interpreters(resolve_profiles(["default", "python3.99"]))
    assert [p.name for p in kept] == ["default"]
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "profile python3.99 skipped" in err[0]


async def crash_left_cgroup(iface) -> str:
    """A sandbox cgroup left by a process that is gone, in the memory hierarchy only (a crash
    between two mkdirs): the directory, named as the app names its own."""
    dead = await asyncio.create_subprocess_exec("true")
    await dead.wait()
    path = os.path.join(iface.parents["memory"], f"ace-{dead.pid}-partial000")
    os.mkdir(path)
    return path


async def test_a_stale_cgroup_cut_short_by_a_crash_is_removed_too():
    """An app killed between creating a sandbox's cgroup directories leaves some controllers
    only (seen here: a memory directory without its pids one). Cleaning it up raised KeyError
    'pids', and every version of the next run became an infrastructure error."""
    from ai_code_evals.sandbox import cgroups

    iface, why = cgroups.available()
    if iface is None:
        pytest.skip(f"no writable cgroups here ({why})")
    if iface.version != 1:
        pytest.skip("one directory per sandbox in cgroup v2: nothing can be cut short")
    partial = await crash_left_cgroup(iface)
    backend = LocalBackend(WORKING[0], unsafe=True)
    try:
        box = await backend.create(SandboxSpec())
        lines = Lines()
        result = await box.exec(["python", "-c", "print('ok')"], on_line=lines, timeout_s=60)
        await box.destroy()
    finally:
        await backend.aclose()
    assert result.exit_code == 0 and not os.path.exists(partial)


async def test_cgroups_of_a_killed_app_are_removed_and_clean_ones_reused():
    """A sandbox cgroup left by an app that died with SIGKILL is killed and removed by the next
    backend's first sandbox; a clean sandbox's empty cgroup serves the next sandbox."""
    from ai_code_evals.sandbox import cgroups

    iface, why = cgroups.available()
    if iface is None:
        pytest.skip(f"no writable cgroups here ({why})")
    dead = await asyncio.create_subprocess_exec("true")
    await dead.wait()
    name = f"ace-{dead.pid}-stale00000"
    stale = [os.path.join(p, name) for p in iface.parents.values()]
    for d in stale:
        os.mkdir(d)
    backend = LocalBackend(WORKING[0], unsafe=True)
    try:
        first = await backend.create(SandboxSpec())
        group = first._cgroup
        assert not any(os.path.exists(d) for d in stale)
        await first.exec(["python", "-c", "pass"], on_line=Lines(), timeout_s=60)
        await first.destroy()
        second = await backend.create(SandboxSpec())
        assert second._cgroup is group  # reused, limits re-applied only if they differ
        await second.destroy()
    finally:
        await backend.aclose()
    assert not any(os.path.exists(d) for d in group.dirs.values())


async def test_a_stale_cgroup_found_in_some_v1_hierarchies_only_is_reaped():
    """Seen on a shared machine: another app's reaper (its memory cgroup differs from ours, its
    pids/cpu/freezer parents are the same) removed a dead app's directories in the shared
    hierarchies only, and the next backend's first sandbox failed with ``KeyError: 'pids'``
    while reaping what was left in the memory hierarchy."""
    from ai_code_evals.sandbox import cgroups

    iface, why = cgroups.available()
    if iface is None or iface.version != 1:
        pytest.skip(f"no writable cgroup v1 here ({why or 'v2'})")
    stale = await crash_left_cgroup(iface)
    backend = LocalBackend(WORKING[0], unsafe=True)
    try:
        box = await backend.create(SandboxSpec())
        assert box._cgroup is not None and not os.path.exists(stale)
        await box.destroy()
    finally:
        await backend.aclose()
        if os.path.isdir(stale):
            os.rmdir(stale)
