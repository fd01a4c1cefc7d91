"""Hostile candidates against the real local backend, at every isolation level that works here.

Each attack runs as a plain Python script in one sandbox while a well-behaved sibling runs in
another sandbox of the same backend at the same time. Every test asserts that the attack is
contained (its effect stays inside the sandbox or is refused), that nothing is left behind once
the command returns and the sandbox is destroyed (no process mentioning the attack's unique
marker in its command line or environment, no process of the sandbox's uid, no file named after
the marker on the host, no working directory), and that the sibling finished normally.
"""
from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from ai_code_evals.sandbox import cgroups, interpreter, isolation
from ai_code_evals.sandbox.base import ExecResult, SandboxLimits, SandboxSpec
from ai_code_evals.sandbox.local import LocalBackend, LocalSandbox
from ai_code_evals.sandbox.output import MAX_LINE

HOST = isolation.default_host()
WORKING = [lv for lv in isolation.LEVELS if isolation.works(lv, HOST)]
# rlimits cannot contain candidates (isolation.gaps): it runs only with --unsafe-isolation, and
# this battery still runs it as root (a private uid finds every process); without root it has
# nothing to find processes that left with setsid, so it is tested only for its refusal
if not HOST.root and "rlimits" in WORKING:
    WORKING.remove("rlimits")
if not WORKING:
    pytest.skip("no isolation level works on this machine", allow_module_level=True)
# bwrap-warm: the bwrap level's fast path (a warm server forks each command; sandbox/warm.py),
# taken for a fixed hash seed; ACE_WARM=0 keeps plain "bwrap" on the ordinary path
if "bwrap" in WORKING:
    WORKING.insert(1, "bwrap-warm")
NAMESPACED = ("bwrap", "bwrap-warm", "unshare")
CONTAINED = ("bwrap", "bwrap-warm", "unshare")  # levels that show the candidate only an allow-list  # levels with a private /tmp and working-directory tmpfs
REPO = Path(__file__).resolve().parents[1]
HOME = os.path.expanduser("~")
LIMITS = SandboxLimits(wall_s=60, cpu_s=20, memory_mb=256, processes=16, file_size_mb=4, open_files=64,
                       output_bytes=256 * 1024)
SHORT = 1.0  # wall-clock limit for attacks that never end by themselves

SIBLING = textwrap.dedent("""
    import os, tempfile
    kids = []
    for _ in range(2):
        pid = os.fork()
        if pid == 0:
            os._exit(0 if sum(range(300000)) == 44999850000 else 1)
        kids.append(pid)
    ok = all(os.waitstatus_to_exitcode(os.waitpid(p, 0)[1]) == 0 for p in kids)
    data = os.urandom(256 << 10)
    with tempfile.TemporaryFile() as f:
        f.write(data)
        f.seek(0)
        ok = ok and f.read() == data
    with open("sibling.bin", "wb") as f:
        f.write(data)
    ok = ok and open("sibling.bin", "rb").read() == data
    blob = bytearray(32 << 20)
    print("sibling-ok" if ok else "sibling-bad", flush=True)
""")


@pytest.fixture(params=WORKING)
def level(request) -> str:
    return request.param


def backend_at(level: str) -> LocalBackend:
    return LocalBackend(level.removesuffix("-warm"), warm=level == "bwrap-warm",
                        unsafe=isolation.gaps(level, HOST) is not None)


def spec(level: str, limits: SandboxLimits = LIMITS, env: dict | None = None) -> SandboxSpec:
    """A fixed hash seed, as the engine's profiles set, takes the warm path at bwrap-warm."""
    seed = {"PYTHONHASHSEED": "0"} if level == "bwrap-warm" else {}
    return SandboxSpec(limits=limits, env={**seed, **(env or {})})


@dataclass
class Outcome:
    result: ExecResult
    out: list[str]
    err: list[str]
    marker: str
    box: LocalSandbox

    @property
    def text(self) -> str:
        return "\n".join(self.out + self.err)


def _live(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] not in (b"Z", b"X")
    except OSError:
        return False


def leftovers(marker: str, uid: int | None) -> list[str]:
    """Live processes mentioning ``marker`` (or owned by ``uid``), and host files named after it."""
    found = []
    for pid in (int(p) for p in os.listdir("/proc") if p.isdigit()):
        if pid == os.getpid() or not _live(pid):
            continue
        try:
            if uid is not None and os.stat(f"/proc/{pid}").st_uid == uid:
                found.append(f"process {pid} of uid {uid}")
                continue
            blob = b""
            for name in ("cmdline", "environ"):
                with open(f"/proc/{pid}/{name}", "rb") as f:
                    blob += f.read()
        except OSError:
            continue
        if marker.encode() in blob:
            found.append(f"process {pid}: {blob[:200]!r}")
    for d in {"/", "/tmp", "/var/tmp", "/dev/shm", "/run/lock", str(REPO), HOME, os.getcwd(), "/etc"}:
        try:
            found += [os.path.join(d, n) for n in os.listdir(d) if marker in n]
        except OSError:
            pass
    return found


async def attack(level: str, code: str, *, limits: SandboxLimits = LIMITS, timeout: float = 30,
                 args: tuple = (), sibling_arg: bool = False, ready: str | None = None) -> Outcome:
    """Run ``code`` (argv[1] is the marker) next to a sibling; assert containment and cleanup.

    An attack that never ends is stopped by the wall-clock limit ``timeout``. On a loaded
    machine the limit may strike before the attack got going: when the ``ready`` line it
    prints first is missing, the attack is run again with twice the time (no timing guess
    decides the outcome)."""
    for _ in range(5):
        o = await _attack_once(level, code, limits=limits, timeout=timeout, args=args, sibling_arg=sibling_arg)
        if ready is None or ready in o.out or not o.result.timed_out:
            return o
        timeout *= 2
    raise AssertionError(f"the attack never printed {ready!r}: {o.result}")


async def _attack_once(level: str, code: str, *, limits: SandboxLimits, timeout: float, args: tuple,
                       sibling_arg: bool) -> Outcome:
    marker = f"ace-hostile-{uuid.uuid4().hex}"
    backend = backend_at(level)
    try:
        sibling = await backend.create(spec(level))
        box = await backend.create(spec(level, limits, {"ACE_MARKER": marker}))
        await sibling.upload({"sibling.py": SIBLING.encode()})
        await box.upload({"attack.py": textwrap.dedent(code).encode()})
        out: list[tuple[str, str]] = []
        sib: list[tuple[str, str]] = []
        extra = (sibling.workdir,) if sibling_arg else ()
        result, sib_result = await asyncio.gather(
            box.exec(["python", "attack.py", marker, *args, *extra], on_line=lambda s, t: out.append((s, t)),
                     timeout_s=timeout),
            sibling.exec(["python", "sibling.py"], on_line=lambda s, t: sib.append((s, t)), timeout_s=60))
        after_exec = leftovers(marker, box.uid)
        await box.destroy()
        await sibling.destroy()
        after_destroy = leftovers(marker, box.uid)
    finally:
        await backend.aclose()
    assert sib_result.exit_code == 0 and ("stdout", "sibling-ok") in sib, (sib_result, sib)
    assert after_exec == [], f"left running after the command returned: {after_exec}"
    assert after_destroy == [], f"left behind after destroy: {after_destroy}"
    assert not os.path.exists(box.workdir) and not os.path.exists(sibling.workdir)
    return Outcome(result, [t for s, t in out if s == "stdout"], [t for s, t in out if s == "stderr"], marker, box)


IGNORE_ALL = """
import signal
for s in signal.Signals:
    if s not in (signal.SIGKILL, signal.SIGSTOP):
        try:
            signal.signal(s, signal.SIG_IGN)
        except (OSError, ValueError):
            pass
"""


# -- the process tree --------------------------------------------------------------------------------
async def test_early_os_exit(level):
    o = await attack(level, "import os\nprint('leaving', flush=True)\nos._exit(0)\n")
    assert o.result.exit_code == 0 and o.out == ["leaving"]


async def test_busy_loop_ignoring_signals(level):
    o = await attack(level, IGNORE_ALL + "print('spinning', flush=True)\nwhile True:\n    pass\n", timeout=SHORT,
                     ready="spinning")
    assert o.result.timed_out and o.result.signal == signal.SIGKILL and o.out == ["spinning"]


async def test_sleeping_and_ignoring_every_catchable_signal(level):
    code = IGNORE_ALL + "import time\nprint('asleep', flush=True)\nwhile True:\n    time.sleep(10)\n"
    o = await attack(level, code, timeout=SHORT, ready="asleep")
    assert o.result.timed_out and o.result.signal == signal.SIGKILL


async def test_stops_itself(level):
    """Stopped, it is ended at its time limit; at bwrap-warm the command is its namespace's
    pid 1, which the kernel does not let stop itself: it simply goes on and ends."""
    code = ("import os, signal\nprint('stopping', flush=True)\nos.kill(os.getpid(), signal.SIGSTOP)\n"
            "print('went on', flush=True)\n")
    o = await attack(level, code, timeout=SHORT, ready="stopping")
    if level == "bwrap-warm":
        assert o.result.exit_code == 0 and o.out == ["stopping", "went on"]
    else:
        assert o.result.timed_out and o.out == ["stopping"]


async def test_fork_storm(level):
    code = """
        import os
        print("storming", flush=True)
        while True:
            try:
                os.fork()
            except OSError:
                pass
    """
    o = await attack(level, code, timeout=SHORT, ready="storming")
    assert o.result.timed_out


async def test_forking_past_the_process_limit(level):
    code = """
        import os, time
        kids = []
        try:
            for _ in range(64):
                pid = os.fork()
                if pid == 0:
                    time.sleep(600)
                kids.append(pid)
            print("forked all")
        except OSError as e:
            print("refused after", len(kids), e.errno)
    """
    o = await attack(level, code)
    assert o.result.exit_code == 0  # it returned, leaving sleeping children: they must be gone
    if HOST.root:
        assert o.out[0].startswith("refused after") and int(o.out[0].split()[2]) < LIMITS.processes


async def test_orphaned_grandchild_in_a_new_session(level):
    code = """
        import os, time
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                while True:
                    time.sleep(0.05)
            os._exit(0)
        os.wait()
        print("parent leaving", flush=True)
    """
    o = await attack(level, code)
    assert o.result.exit_code == 0 and o.out == ["parent leaving"]


async def test_child_keeps_stdout_open_after_the_parent_exits(level):
    code = """
        import os, time
        if os.fork() == 0:
            time.sleep(600)
        print("parent done", flush=True)
    """
    o = await attack(level, code, timeout=30)
    assert o.result.exit_code == 0 and not o.result.timed_out


async def test_spinning_threads_left_after_returning(level):
    code = """
        import threading
        def spin():
            while True:
                pass
        for _ in range(4):
            threading.Thread(target=spin).start()
        print("returned", flush=True)
    """
    o = await attack(level, code, timeout=SHORT, ready="returned")
    assert o.result.timed_out and o.out == ["returned"]


async def test_kills_its_parent_and_everything_it_can(level):
    code = """
        import os, signal
        print("parent", os.getppid(), flush=True)
        for target in (os.getppid(), 1):
            try:
                os.kill(target, signal.SIGKILL)
            except OSError as e:
                print("refused", target, e.errno, flush=True)
        os.kill(-1, signal.SIGKILL)
    """
    o = await attack(level, code)
    assert os.getppid() > 0  # we are alive to check; the sibling finished too (attack() asserts)
    assert o.result.signal == signal.SIGKILL or o.result.exit_code is not None


# -- memory and CPU ------------------------------------------------------------------------------------
async def test_memory_bomb(level):
    code = """
        chunks = []
        try:
            while True:
                chunks.append(b"x" * (16 << 20))
        except MemoryError:
            n = len(chunks)
            chunks.clear()
            print("MemoryError after", n * 16, "MiB", flush=True)
    """
    o = await attack(level, code)
    assert o.result.exit_code == 0 and not o.result.timed_out
    assert int(o.out[0].split()[2]) < LIMITS.memory_mb


async def test_allocating_past_the_limit_in_c(level):
    code = """
        import ctypes, mmap
        try:
            bytearray(10**10)
            print("bytearray: allocated")
        except MemoryError:
            print("bytearray: refused")
        libc = ctypes.CDLL(None)
        libc.malloc.restype = ctypes.c_void_p
        print("malloc:", "refused" if not libc.malloc(ctypes.c_size_t(10**10)) else "allocated")
        try:
            mmap.mmap(-1, 10**10)
            print("mmap: allocated")
        except OSError:
            print("mmap: refused")
    """
    o = await attack(level, code)
    assert o.out == ["bytearray: refused", "malloc: refused", "mmap: refused"], o.text


async def test_deep_recursion_crash(level):
    """Recursion in C code (the JSON encoder) past the stack: a real segmentation fault."""
    code = """
        import json, sys
        nested = []
        for _ in range(10**5):
            nested = [nested]
        sys.setrecursionlimit(10**8)
        print("diving", flush=True)
        json.dumps(nested)
    """
    o = await attack(level, code)
    assert o.result.signal == signal.SIGSEGV and o.out == ["diving"]
    assert not o.result.timed_out


# -- output --------------------------------------------------------------------------------------------
async def test_output_flood_on_both_streams(level):
    code = """
        import sys
        line = "flood " * 30 + "\\n"
        for _ in range(30000):
            sys.stdout.write(line)
            sys.stderr.write(line)
        print("END", flush=True)
    """
    o = await attack(level, code)
    r = o.result
    assert r.exit_code == 0 and r.stdout_dropped > 0 and r.stderr_dropped > 0
    assert o.out[-1] == "END"
    assert sum(len(t) + 1 for t in o.out) <= LIMITS.output_bytes
    assert sum(len(t) + 1 for t in o.err) <= LIMITS.output_bytes


async def test_fifty_megabyte_line_without_newline(level):
    code = "import sys\nsys.stdout.write('x' * (50 << 20))\nsys.stdout.flush()\n"
    o = await attack(level, code)
    assert o.result.exit_code == 0
    assert all(len(t) <= MAX_LINE for t in o.out)
    kept = sum(len(t) for t in o.out)
    assert kept <= LIMITS.output_bytes and kept + o.result.stdout_dropped == 50 << 20


async def test_closes_its_own_stdout_and_stderr(level):
    code = "import os, time\nos.close(1)\nos.close(2)\ntime.sleep(0.3)\nos._exit(7)\n"
    o = await attack(level, code)
    assert o.result.exit_code == 7 and o.out == [] and o.err == []  # waited for the exit, not for EOF


async def test_terminal_escape_sequences_and_no_terminal(level):
    code = """
        import os
        print("\\x1b]0;owned\\x07\\x1b[2J\\x1b[31mred", flush=True)
        try:
            os.open("/dev/tty", os.O_WRONLY)
            print("tty: opened")
        except OSError as e:
            print("tty: refused", e.errno)
    """
    o = await attack(level, code)
    assert o.out[0] == "\x1b]0;owned\x07\x1b[2J\x1b[31mred"  # passed through verbatim: the TUI sanitises
    assert o.out[1].startswith("tty: refused")


async def test_syntax_error(level):
    o = await attack(level, "def broken(:\n    pass\n")
    assert o.result.exit_code == 1 and any("SyntaxError" in t for t in o.err)


# -- files -----------------------------------------------------------------------------------------------
async def test_writes_outside_the_working_directory(level):
    code = """
        import os, sys
        marker = sys.argv[1]
        for d in sys.argv[2:]:
            try:
                with open(os.path.join(d, marker), "w") as f:
                    f.write("escaped")
                print("wrote", d)
            except OSError as e:
                print("refused", d, e.errno)
    """
    targets = ("/", "/tmp", "/var/tmp", "/dev/shm", "/run/lock", str(REPO), HOME, "/etc", os.getcwd())
    o = await attack(level, code, args=targets)
    wrote = {line.split()[1] for line in o.out if line.startswith("wrote")}
    if level in NAMESPACED:
        assert wrote <= {"/tmp", "/var/tmp", "/dev/shm"}  # private tmpfs mounts, gone with the sandbox
    else:
        assert wrote == set()  # Landlock: only the working directory is writable
    # attack() already checked that no file named after the marker exists on the host


async def test_fills_the_disk(level):
    code = """
        import errno
        try:
            with open("huge", "wb") as f:
                f.write(b"x" * (8 << 20))
        except OSError as e:
            print("one file:", errno.errorcode[e.errno])
        n = 0
        try:
            for n in range(12):
                with open(f"part{n}", "wb") as f:
                    f.write(b"x" * (3 << 20))
            print("many files: all written")
        except OSError as e:
            print("many files:", errno.errorcode[e.errno], "after", n)
    """
    o = await attack(level, code)
    assert o.out[0] == "one file: EFBIG"
    if level in NAMESPACED:  # the working directory is a size-limited tmpfs
        assert o.out[1].startswith("many files: ENOSPC")


async def test_symlink_planted_for_the_next_upload(level, tmp_path):
    target = tmp_path / "victim.txt"
    target.write_text("original")
    code = """
        import os, sys
        os.remove("attack.py")
        os.symlink(sys.argv[2], "attack.py")
        print("planted", flush=True)
    """
    marker = f"ace-hostile-{uuid.uuid4().hex}"
    backend = backend_at(level)
    try:
        box = await backend.create(spec(level))
        await box.upload({"attack.py": textwrap.dedent(code).encode()})
        await box.exec(["python", "attack.py", marker, str(target)], on_line=lambda s, t: None, timeout_s=30)
        await box.upload({"attack.py": b"overwritten"})
        lines: list[str] = []
        await box.exec(["python", "-c", "print(open('attack.py').read())"], on_line=lambda s, t: lines.append(t),
                       timeout_s=30)
    finally:
        await backend.aclose()
    assert target.read_text() == "original"
    assert lines == ["overwritten"]


async def test_nothing_one_candidate_leaves_is_seen_by_the_next(level):
    """Two candidates one after the other on the same backend (at bwrap-warm: forks of the same
    server): whatever the first could write anywhere, the second does not find it."""
    places = ("/", "/dev", "/dev/shm", "/tmp", "/var/tmp", "/root", "/home", "/etc", "/run")
    leave = """
        import os, sys
        for d in sys.argv[2:]:
            try:
                with open(os.path.join(d, "left-" + sys.argv[1]), "w") as f:
                    f.write("x")
                print("wrote", d)
            except OSError:
                pass
    """
    look = """
        import glob, sys
        print("found", sorted(p for d in sys.argv[2:] for p in glob.glob(d.rstrip("/") + "/left-*")))
    """
    marker = f"ace-hostile-{uuid.uuid4().hex}"
    backend = backend_at(level)
    try:
        lines: list[str] = []
        for code in (leave, look):
            box = await backend.create(spec(level))
            await box.upload({"attack.py": textwrap.dedent(code).encode()})
            await box.exec(["python", "attack.py", marker, *places], on_line=lambda s, t: lines.append(t),
                           timeout_s=30)
            await box.destroy()
    finally:
        await backend.aclose()
    assert lines[-1] == "found []", lines
    assert leftovers(marker, None) == []


async def test_reads_another_sandbox(level):
    code = """
        import os, sys
        other = sys.argv[2]
        try:
            print("listed", os.listdir(other))
        except OSError as e:
            print("refused", e.errno)
    """
    o = await attack(level, code, sibling_arg=True)
    assert o.out[0].startswith("refused") or o.out[0] == "listed []"


async def test_many_open_files(level):
    code = """
        import os
        fds = []
        try:
            while True:
                fds.append(os.open("/dev/null", os.O_RDONLY))
        except OSError as e:
            print("stopped at", len(fds), e.errno)
    """
    o = await attack(level, code)
    assert int(o.out[0].split()[2]) < LIMITS.open_files


# -- secrets ----------------------------------------------------------------------------------------------
SCAN_SECRETS = """
import os, sys
found = [k for k in os.environ if "KEY" in k or "TOKEN" in k]
print("env keys", found, flush=True)
for pid in os.listdir("/proc"):
    if pid.isdigit():
        try:
            print("environ", pid, open(f"/proc/{pid}/environ", "rb").read().decode(errors="replace"))
        except OSError:
            pass
for path in sys.argv[2:]:
    try:
        if os.path.isdir(path):
            print("dir", path, os.listdir(path))
        else:
            print("file", path, open(path, errors="replace").read())
    except OSError as e:
        print("refused", path, e.errno)
"""


async def test_reads_api_keys_from_the_environment(level, monkeypatch):
    secret = f"sk-secret-{uuid.uuid4().hex}"
    monkeypatch.setenv("OPENAI_API_KEY", secret)
    monkeypatch.setenv("DAYTONA_API_KEY", secret + "-daytona")
    o = await attack(level, SCAN_SECRETS)
    assert o.out[0] == "env keys []"
    assert secret not in o.text


async def test_reads_the_projects_dotenv(level, monkeypatch):
    secret = f"sk-dotenv-{uuid.uuid4().hex}"
    (REPO / ".pytest_cache").mkdir(exist_ok=True)
    project = Path(tempfile.mkdtemp(prefix="ace-project-", dir=REPO / ".pytest_cache"))
    try:
        os.chmod(project, 0o755)
        env_file = project / ".env"
        env_file.write_text(f"OPENAI_API_KEY={secret}\n")
        os.chmod(env_file, 0o644)  # readable by anyone: only the sandbox may hide it
        (project / ".env.example").write_text("OPENAI_API_KEY=\n")
        monkeypatch.chdir(project)
        o = await attack(level, SCAN_SECRETS, args=(str(env_file), str(project)))
    finally:
        for f in project.iterdir():
            f.unlink()
        project.rmdir()
    assert secret not in o.text


async def test_reads_the_home_directory_and_etc_shadow(level):
    secret = f"home-secret-{uuid.uuid4().hex}"
    planted = Path(HOME) / f".ace-test-{uuid.uuid4().hex}"
    planted.write_text(secret)
    os.chmod(planted, 0o644)
    try:
        o = await attack(level, SCAN_SECRETS, args=(str(planted), HOME, "/etc/shadow"))
    finally:
        planted.unlink()
    assert secret not in o.text
    assert any(line.startswith("refused /etc/shadow") for line in o.out)
    listing = [line for line in o.out if line.startswith(f"dir {HOME} ")]
    assert not listing or planted.name not in listing[0]


async def test_sees_only_the_allow_list_not_the_project(level):
    """Wherever the project lives (CI runs this on a copy under /srv), nothing of it exists inside:
    not its .env, .git/config, task files or run logs, nor the app's working directory. The root
    holds only the system directories, /tmp, /dev, /proc and the interpreter's path."""
    allowed_top = {"bin", "sbin", "lib", "lib32", "lib64", "libx32", "usr", "etc", "dev", "proc", "tmp", "var"}
    allowed_top |= {d.strip("/").split("/")[0] for d in interpreter.clean().dirs}
    project = [str(REPO), str(REPO / ".git" / "config"), str(REPO / ".env"), str(REPO / "pyproject.toml"),
               str(REPO / "src" / "ai_code_evals" / "tasks"), os.getcwd(), "/etc/passwd", "/etc/hostname", "/sys",
               "/run", "/srv", "/opt", "/home", "/mnt"]
    code = """
        import os, sys
        print("top", ",".join(sorted(os.listdir("/"))))
        for path in sys.argv[2:]:
            print("exists" if os.path.lexists(path) else "absent", path)
    """
    o = await attack(level, code, args=tuple(project))
    if level not in CONTAINED:
        return  # no allow-list at this level: it runs only with --unsafe-isolation
    top = set(o.out[0].split()[1].split(","))
    assert top <= allowed_top, top - allowed_top
    visible = [line for line in o.out[1:] if line.startswith("exists")]
    assert visible == []


async def test_candidates_get_a_clean_python(level):
    """The base interpreter with the standard library only: none of the app's virtualenv."""
    code = """
        import importlib.util, sys
        for name in ("pytest", "textual", "pydantic", "ai_code_evals", "json", "ctypes"):
            print(name, importlib.util.find_spec(name) is not None)
        print("prefix", sys.prefix)
    """
    o = await attack(level, code)
    found = dict(line.split() for line in o.out[:6])
    assert found == {"pytest": "False", "textual": "False", "pydantic": "False", "ai_code_evals": "False",
                     "json": "True", "ctypes": "True"}
    assert o.out[6] != f"prefix {sys.prefix}" or sys.prefix == sys.base_prefix


# -- network and privileges --------------------------------------------------------------------------------
async def test_network_connection_to_a_loopback_listener(level):
    tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    tcp.bind(("127.0.0.1", 0))
    tcp.listen(8)
    tcp.setblocking(False)
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", 0))
    udp.setblocking(False)
    code = """
        import socket, sys
        tcp_port, udp_port = int(sys.argv[2]), int(sys.argv[3])
        try:
            s = socket.create_connection(("127.0.0.1", tcp_port), timeout=3)
            s.sendall(b"exfiltrated")
            print("tcp: connected")
        except OSError as e:
            print("tcp: refused", e.errno)
        try:
            u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            u.sendto(b"exfiltrated", ("127.0.0.1", udp_port))
            print("udp: sent")
        except OSError as e:
            print("udp: refused", e.errno)
        try:
            socket.create_connection(("1.1.1.1", 80), timeout=3)
            print("internet: connected")
        except OSError as e:
            print("internet: refused", e.errno)
    """
    try:
        o = await attack(level, code, args=(str(tcp.getsockname()[1]), str(udp.getsockname()[1])))
        with pytest.raises(BlockingIOError):
            tcp.accept()
        with pytest.raises(BlockingIOError):
            udp.recvfrom(100)
    finally:
        tcp.close()
        udp.close()
    assert o.out[0].startswith("tcp: refused") and o.out[2].startswith("internet: refused")


async def test_privilege_escalation_attempts(level):
    code = """
        import os
        try:
            os.setuid(0)
            print("setuid: became root")
        except OSError as e:
            print("setuid: refused", e.errno)
        caps = [l for l in open("/proc/self/status") if l.startswith(("CapEff", "NoNewPrivs"))]
        print("status", " ".join(l.split()[1] for l in caps))
        print("uid", os.getuid(), os.geteuid())
    """
    code += """
        print("map", " ".join(open("/proc/self/uid_map").read().split()))
    """
    o = await attack(level, code)
    if level == "unshare" and not HOST.root:
        # uid 0 of its own user namespace only (mapped to the user's uid), without capabilities
        assert o.out[3] == f"map 0 {os.getuid()} 1"
    else:
        assert o.out[0].startswith("setuid: refused")
    cap_eff, nnp = o.out[1].split()[1:]
    assert int(cap_eff, 16) == 0 and nnp == "1"
    if HOST.root:
        assert o.out[2] == f"uid {o.box.uid} {o.box.uid}" and o.box.uid != 0


# -- host services: IPC, unix sockets, terminals ----------------------------------------------------------
SHM_HOG = """
    import ctypes, sys, zlib
    libc = ctypes.CDLL(None, use_errno=True)
    libc.shmat.restype = ctypes.c_void_p
    key = zlib.crc32(sys.argv[1].encode()) & 0x7FFFFFFF
    made = 0
    for i in range(int(sys.argv[2])):
        shmid = libc.shmget(key + i, 64 << 20, 0o1000 | 0o600)  # IPC_CREAT
        if shmid < 0:
            break
        addr = libc.shmat(shmid, None, 0)
        if addr in (None, ctypes.c_void_p(-1).value):
            break
        ctypes.memset(addr, 1, 64 << 20)  # touched: the pages are held by the segment
        libc.shmdt(ctypes.c_void_p(addr))
        made += 1
    print("segments", made, flush=True)
"""


def host_shm_keys() -> set[int]:
    with open("/proc/sysvipc/shm") as f:
        return {int(line.split()[0]) for line in list(f)[1:]}


async def test_sysv_shared_memory_dies_with_the_sandbox(level):
    """Segments are never destroyed by their creator's exit: without an IPC namespace of its own,
    what a candidate made would outlive the run (and its memory limit) on the host."""
    import zlib

    before = host_shm_keys()
    o = await attack(level, SHM_HOG, args=("4",))
    assert o.out == ["segments 4"]
    key = zlib.crc32(o.marker.encode()) & 0x7FFFFFFF
    left = {key, key + 1, key + 2, key + 3} & (host_shm_keys() - before)
    if isolation.gaps(level, HOST) and not HOST.root:
        # rlimits without root: one uid for every sandbox, so nothing tells whose a segment is (the
        # known gap, run only when the user accepts it); the test removes what it made itself
        remove_shm_keys(left)
        return
    # rlimits as root: no IPC namespace, but the sandbox's own uid marks its segments, removed
    # when it is destroyed (they used to stay: 24 GB of them after a day of test runs)
    assert not left


def remove_shm_keys(keys: set[int]) -> None:
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    for key in keys:
        shmid = libc.shmget(key, 0, 0)
        if shmid >= 0:
            libc.shmctl(shmid, 0, None)  # IPC_RMID


def test_a_level_that_cannot_contain_candidates_is_refused():
    """rlimits works here but cannot contain candidates: refused in one line naming what is
    missing and what to install, unless the user accepts it (--unsafe-isolation)."""
    if not isolation.works("rlimits", HOST):
        pytest.skip("the rlimits level does not work here")
    from ai_code_evals.core.errors import ConfigError

    with pytest.raises(ConfigError) as err:
        LocalBackend("rlimits").isolation  # noqa: B018
    line = str(err.value)
    assert "\n" not in line and "bubblewrap" in line and "--unsafe-isolation" in line and "shared memory" in line
    accepted = LocalBackend("rlimits", unsafe=True)
    assert accepted.isolation == "rlimits" and "unix sockets" in accepted.unsafe_isolation
    assert LocalBackend(WORKING[0].removesuffix("-warm")).unsafe_isolation == "" or WORKING[0] == "rlimits"


@pytest.fixture
def tmux_server(tmp_path_factory):
    """A real tmux server of this user, its socket in the project directory (where a user's
    TMUX_TMPDIR, a D-Bus or an agent socket may sit too): ``run-shell`` there is a host shell."""
    tmux = isolation._which("tmux")
    if tmux is None:
        pytest.skip("tmux is not installed")
    (REPO / ".pytest_cache").mkdir(exist_ok=True)
    home = Path(tempfile.mkdtemp(prefix="ace-tmux-", dir=REPO / ".pytest_cache"))
    os.chmod(home, 0o755)
    sock = home / "default"
    subprocess.run([tmux, "-S", str(sock), "new-session", "-d", "-s", "host", "sleep 120"], check=True, timeout=30)
    os.chmod(sock, 0o777)  # reachable by anyone who can see it: only the sandbox's view protects it
    try:
        yield tmux, sock, home
    finally:
        subprocess.run([tmux, "-S", str(sock), "kill-server"], check=False, timeout=30, capture_output=True)
        for f in home.iterdir():
            f.unlink()
        home.rmdir()


async def test_reaches_the_users_tmux_server_and_terminals(level, tmux_server):
    _, sock, home = tmux_server
    escaped = home / "escaped"
    code = """
        import glob, os, socket, subprocess, sys
        sock, escaped = sys.argv[2], sys.argv[3]
        try:
            s = socket.socket(socket.AF_UNIX)
            s.connect(sock)
            print("connected")
        except OSError as e:
            print("refused", e.errno)
        try:
            subprocess.run(["tmux", "-S", sock, "run-shell", "touch " + escaped], timeout=10, capture_output=True)
        except (OSError, subprocess.SubprocessError) as e:
            print("no tmux", type(e).__name__)
        ptys = [p for p in glob.glob("/dev/pts/*") if p != "/dev/pts/ptmx"]
        opened = []
        for p in ptys:
            try:
                os.close(os.open(p, os.O_WRONLY | os.O_NOCTTY))
                opened.append(p)
            except OSError:
                pass
        print("host terminals written", opened)
    """
    try:
        o = await attack(level, code, args=(str(sock), str(escaped)))
    finally:
        was_escaped = escaped.exists()
        if was_escaped:
            escaped.unlink()
    if isolation.gaps(level, HOST):
        return  # rlimits (accepted with --unsafe-isolation): host sockets are its known gap
    assert o.out[0].startswith("refused") and not was_escaped
    assert o.out[-1] == "host terminals written []"


async def test_kernel_keyring_and_nested_user_namespaces(level):
    """A key left in the uid's keyring would be read by the next sandbox given that uid; a user
    namespace would give the candidate every capability inside it. Both are refused."""
    code = """
        import ctypes, os, sys
        libc = ctypes.CDLL(None, use_errno=True)
        key = libc.syscall(248 if os.uname().machine == "x86_64" else 217, b"user", sys.argv[1].encode(),
                           b"secret", 6, ctypes.c_int(-4))  # add_key to KEY_SPEC_USER_KEYRING
        print("add_key", "refused" if key < 0 else "made", ctypes.get_errno() if key < 0 else 0)
        pid = os.fork()
        if pid == 0:
            ok = libc.unshare(0x10000000)  # CLONE_NEWUSER
            print("userns", "refused" if ok < 0 else "made", flush=True)
            os._exit(0)
        os.waitpid(pid, 0)
    """
    o = await attack(level, code)
    if isolation.gaps(level, HOST):
        return  # rlimits runs only with --unsafe-isolation; still filtered, but not asserted here
    assert o.out[0] == "add_key refused 1" and o.out[1] == "userns refused"


# -- the sandbox as a whole: cgroups -----------------------------------------------------------------------
CGROUPS, NO_CGROUPS = cgroups.available()


async def test_shared_memory_counts_against_the_sandboxs_memory(level):
    """SysV segments belong to no process, so RLIMIT_AS never sees them: 1 GiB of them under a
    256 MiB profile. The sandbox's cgroup charges their pages to the sandbox and stops it."""
    if CGROUPS is None:
        pytest.skip(f"no writable cgroups here ({NO_CGROUPS}): the documented fallback has no such bound")
    o = await attack(level, SHM_HOG, args=("16",))  # 16 x 64 MiB
    made = int(o.out[0].split()[1]) if o.out else 0
    assert made < 16 and (o.result.signal is not None or made * 64 <= 256 + 64), (o.out, o.result)


async def test_the_sandbox_is_one_cgroup_with_its_limits(level):
    """Every process of the sandbox, one that left with setsid too, is in the sandbox's cgroup,
    which holds it to one core and a process count of its own."""
    if CGROUPS is None:
        pytest.skip(f"no writable cgroups here ({NO_CGROUPS})")
    code = """
        import os, time
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                print("spinning", flush=True)
                while True:
                    pass
            os._exit(0)
        os.wait()
        time.sleep(60)
    """
    backend = backend_at(level)
    seen: dict = {}
    try:
        box = await backend.create(spec(level))
        await box.upload({"attack.py": textwrap.dedent(code).encode()})

        def on_line(stream, line):
            if line == "spinning":
                group = box._cgroup
                seen["pids"] = len(group.pids())
                quota = group._file("cpu", "cpu.max" if group.version == 2 else "cpu.cfs_quota_us")
                seen["quota"] = Path(quota).read_text()
                weight = group._file("cpu", "cpu.weight" if group.version == 2 else "cpu.shares")
                seen["weight"] = Path(weight).read_text().strip()
                seen["dirs"] = list(group.dirs.values())

        result = await box.exec(["python", "attack.py"], on_line=on_line, timeout_s=SHORT * 3)
        assert box.info["cgroup"] == f"v{CGROUPS.version}"
        await box.destroy()
    finally:
        await backend.aclose()
    assert result.timed_out and seen["pids"] >= 2  # the command and its setsid spinner, at least
    assert seen["quota"].split()[0] == str(cgroups.CPU_PERIOD_US)
    assert seen["weight"] == str(cgroups.CPU_WEIGHT_V2 if CGROUPS.version == 2 else cgroups.CPU_SHARES_V1)
    assert not any(os.path.exists(d) for d in seen["dirs"])  # removed with the sandbox


# -- controls: the checks above can fail --------------------------------------------------------------------
def unsandboxed(code: str, *args: str) -> str:
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code), "marker", *args], capture_output=True,
                          text=True, timeout=30, check=False)
    return proc.stdout + proc.stderr


def test_leftover_check_sees_a_live_process_and_a_file():
    marker = f"ace-hostile-{uuid.uuid4().hex}"
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", marker])
    try:
        assert any(str(proc.pid) in item for item in leftovers(marker, None))
    finally:
        proc.kill()
        proc.wait()
    assert leftovers(marker, None) == []
    path = Path(tempfile.gettempdir()) / marker
    path.write_text("x")
    try:
        assert leftovers(marker, None) == [str(path)]
    finally:
        path.unlink()


def test_the_secret_and_network_attacks_work_without_a_sandbox(monkeypatch, tmp_path):
    """Without the backend the same scripts do find the secrets and reach the listener."""
    secret = f"sk-secret-{uuid.uuid4().hex}"
    monkeypatch.setenv("OPENAI_API_KEY", secret)
    env_file = tmp_path / ".env"
    env_file.write_text(f"KEY={secret}-dotenv")
    assert "OPENAI_API_KEY" in unsandboxed(SCAN_SECRETS) and secret in unsandboxed(SCAN_SECRETS)
    assert f"{secret}-dotenv" in unsandboxed(SCAN_SECRETS, str(env_file))
    with socket.socket() as tcp:
        tcp.bind(("127.0.0.1", 0))
        tcp.listen(1)
        code = "import socket, sys\nsocket.create_connection(('127.0.0.1', int(sys.argv[2])), timeout=3)\nprint('ok')"
        assert unsandboxed(code, str(tcp.getsockname()[1])).strip() == "ok"
        conn, _ = tcp.accept()
        conn.close()
