"""The bwrap level's warm fast path (sandbox/warm.py), driven for real: a real warm server inside
real bubblewrap forking real commands. The hostile battery also runs at this level
(test_isolation_hostile.py, level ``bwrap-warm``); here: that it is used when it should be, that
each command is as confined and as fresh as a cold one, and what happens when the server dies.
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import textwrap
from pathlib import Path

import pytest

from ai_code_evals.core.candidate import Candidate
from ai_code_evals.core.events import EventBus
from ai_code_evals.core.task import Task, TestCase
from ai_code_evals.engine.profiles import resolve_profiles
from ai_code_evals.engine.run import RunConfig, run_evaluation
from ai_code_evals.sandbox import isolation, warm
from ai_code_evals.sandbox.base import SandboxError, SandboxLimits, SandboxSpec
from ai_code_evals.sandbox.local import LocalBackend
from ai_code_evals.sandbox.registry import make_backend

HOST = isolation.default_host()
if not isolation.works("bwrap", HOST):
    pytest.skip("the warm path needs a working bwrap", allow_module_level=True)

SEED = {"PYTHONHASHSEED": "0"}
PROBE = textwrap.dedent("""
    import json, os, sys
    def status(key):
        for line in open("/proc/self/status"):
            if line.startswith(key + ":"):
                return line.split()[1]
    tmp_before = sorted(os.listdir("/tmp"))
    open("/tmp/left-by-" + sys.argv[1], "w").write("x")
    print(json.dumps({
        "uid": os.getuid(), "gid": os.getgid(), "groups": os.getgroups(), "cwd": os.getcwd(),
        "files": sorted(os.listdir(".")), "argv": sys.argv, "env": os.environ.get("ACE_TEST_VAR"),
        "home": os.environ.get("HOME"), "hash": hash("ai-code-evals"), "pids": sorted(
            int(p) for p in os.listdir("/proc") if p.isdigit()),
        "cap_eff": status("CapEff"), "cap_bnd": status("CapBnd"), "nnp": status("NoNewPrivs"),
        "cap_prm": status("CapPrm"), "cap_inh": status("CapInh"), "cap_amb": status("CapAmb"),
        "tmp_before": tmp_before, "hostname": os.uname().nodename,
        "net": sorted(name for _, name in __import__("socket").if_nameindex()),
        "nofile": __import__("resource").getrlimit(__import__("resource").RLIMIT_NOFILE)[0],
        "exe": os.access(sys.executable, os.X_OK), "prefixes": all(os.path.isdir(p) for p in (
            sys.prefix, sys.base_prefix, os.path.dirname(os.path.realpath(sys.executable)))),
    }), flush=True)
""")


async def probe(backend: LocalBackend, tag: str, env: dict | None = None) -> tuple[dict, object, dict]:
    box = await backend.create(SandboxSpec(limits=SandboxLimits(open_files=77), env={**SEED, **(env or {})}))
    try:
        await box.upload({"probe.py": PROBE.encode()})
        out: list[str] = []
        result = await box.exec(["python", "probe.py", tag], on_line=lambda s, t, out=out: out.append(t), timeout_s=60)
        assert result.exit_code == 0, (result, out)
        return json.loads(out[-1]), result, dict(box.info)
    finally:
        await box.destroy()


async def test_commands_are_forked_fresh_and_confined(monkeypatch):
    backend = LocalBackend("bwrap")
    try:
        (a, ra, info_a), (b, _, _) = await asyncio.gather(probe(backend, "a", {"ACE_TEST_VAR": "one"}),
                                                           probe(backend, "b", {"ACE_TEST_VAR": "two"}))
        servers = list(backend._warm.values())
    finally:
        await backend.aclose()
    assert info_a.get("warm") is True and backend.warm_off is None
    assert len(servers) == 1  # one server for one hash seed, whatever else the environments hold
    for got, tag, var in ((a, "a", "one"), (b, "b", "two")):
        assert got["argv"] == ["probe.py", tag] and got["env"] == var
        if HOST.root:  # its own uid; without root, the user's own (as root of a user namespace)
            assert got["uid"] >= 61000 and got["gid"] == got["uid"] and got["groups"] == []
        assert all(int(got[k], 16) == 0 for k in ("cap_eff", "cap_prm", "cap_inh", "cap_amb", "cap_bnd"))
        assert got["nnp"] == "1"
        assert not [n for n in got["tmp_before"] if n.startswith("left-by")]  # a fresh /tmp each time
        assert got["files"] == ["probe.py"] and got["home"] == got["cwd"]
        assert max(got["pids"]) <= 3  # its own pid namespace: init, itself (and maybe nothing else)
        assert got["hostname"] == "sandbox" and got["net"] == ["lo"]
        assert got["nofile"] == 77
        assert got["exe"] and got["prefixes"]  # the interpreter stays reachable (a venv under /tmp too)
    assert a["uid"] != b["uid"] or not HOST.root
    assert ra.cpu_s is not None and ra.max_rss_kib


async def test_same_results_as_the_ordinary_path(monkeypatch):
    """Same uid rules, same environment, same hash seed, same view of the working directory."""
    results = {}
    for mode in ("1", "0"):
        backend = LocalBackend("bwrap", warm=mode == "1")
        try:
            got, result, info = await probe(backend, "x", {"ACE_TEST_VAR": "v"})
        finally:
            await backend.aclose()
        assert info.get("warm", False) is (mode == "1")
        results[mode] = (got, result)
    warm_got, cold_got = results["1"][0], results["0"][0]
    for key in ("argv", "env", "hash", "files", "hostname", "nofile", "groups", "net", "cap_eff", "nnp"):
        assert warm_got[key] == cold_got[key], key


async def test_falls_back_without_a_fixed_hash_seed_or_when_turned_off(monkeypatch):
    backend = LocalBackend("bwrap")
    try:
        box = await backend.create(SandboxSpec())  # no PYTHONHASHSEED: each process draws its own
        assert "warm" not in box.info
        await box.destroy()
    finally:
        await backend.aclose()
    for off in (LocalBackend("bwrap", warm=False), make_backend("local", {"ACE_ISOLATION": "bwrap", "ACE_WARM": "0"})):
        try:
            box = await off.create(SandboxSpec(env=SEED))
            assert "warm" not in box.info and off.warm_off
            await box.destroy()
        finally:
            await off.aclose()


async def test_a_command_that_is_not_an_uploaded_script_takes_the_ordinary_path(monkeypatch):
    backend = LocalBackend("bwrap")
    try:
        box = await backend.create(SandboxSpec(env=SEED))
        await box.upload({"data.txt": b"hello"})
        out: list[str] = []
        result = await box.exec(["python", "-c", "print(open('data.txt').read())"],
                                on_line=lambda s, t, out=out: out.append(t), timeout_s=60)
        assert result.exit_code == 0 and out == ["hello"]
        assert "warm" not in box.info
        await box.destroy()
    finally:
        await backend.aclose()


async def test_uncaught_errors_and_exit_codes_as_python_reports_them(monkeypatch):
    backend = LocalBackend("bwrap")
    cases = {"raise ValueError('boom')\n": (1, "ValueError: boom"), "import sys\nsys.exit(7)\n": (7, None),
             "import sys\nsys.exit('bye')\n": (1, "bye"), "def f(:\n": (1, "SyntaxError"),
             "import os, signal\nos.kill(os.getpid(), signal.SIGTERM)\n": (None, None)}
    try:
        for code, (exit_code, text) in cases.items():
            box = await backend.create(SandboxSpec(env=SEED))
            await box.upload({"main.py": code.encode()})
            err: list[str] = []
            result = await box.exec(["python", "main.py"], on_line=lambda s, t, err=err: err.append(t), timeout_s=60)
            assert box.info.get("warm") is True
            await box.destroy()
            assert result.exit_code == exit_code, (code, result, err)
            if exit_code is None:
                assert result.signal == signal.SIGTERM
            if text:
                assert any(text in line for line in err), (code, err)
    finally:
        await backend.aclose()


async def sleeping_command(backend: LocalBackend):
    """A warm box running a command that sleeps, once it has printed: (box, its exec, the server)."""
    box = await backend.create(SandboxSpec(env=SEED))
    await box.upload({"main.py": b"import time\nprint('up', flush=True)\ntime.sleep(60)\n"})
    started = asyncio.Event()
    run = asyncio.ensure_future(box.exec(["python", "main.py"], on_line=lambda s, t: started.set(), timeout_s=120))
    await asyncio.wait_for(started.wait(), 60)
    (server,) = backend._warm.values()
    return box, run, server


async def test_a_dying_server_fails_the_running_command_and_the_next_one_gets_a_new_server(monkeypatch):
    backend = LocalBackend("bwrap")
    try:
        box, run, server = await sleeping_command(backend)
        os.kill(server._pid, signal.SIGKILL)  # the bwrap process holding the server
        with pytest.raises(SandboxError, match="warm sandbox server"):
            await asyncio.wait_for(run, 60)
        await box.destroy()
        assert box.uid is None or not uid_alive(box.uid)
        _, result, info = await probe(backend, "after")
        assert info.get("warm") is True and result.exit_code == 0
        assert backend._warm and all(s is not server for s in backend._warm.values())
    finally:
        await backend.aclose()


def uid_alive(uid: int) -> bool:
    for pid in (p for p in os.listdir("/proc") if p.isdigit()):
        try:
            if os.stat(f"/proc/{pid}").st_uid == uid:
                return True
        except OSError:
            pass
    return False


async def test_the_runner_deletes_its_job_file_so_a_candidate_cannot_read_the_nonce(monkeypatch):
    """Through the engine: the job file (which holds the verdict nonce) is gone before the
    candidate's code runs."""
    task = Task(id="t", entry_point="f", tests=[TestCase(args=[1], expect=1)])
    code = ("import os\nprint('job file present:', os.path.exists('job.json'), sorted(os.listdir('.')))\n"
            "def f(x):\n    return x\n")
    bus = EventBus()
    lines: list[str] = []
    bus.subscribe(lambda ev: lines.append(ev.text) if type(ev).__name__ == "OutputLine" else None)
    backend = LocalBackend("bwrap")
    try:
        summary = await run_evaluation(RunConfig(
            tasks=[task], backend=backend, candidates=[Candidate(id="t#0", task_id="t", code=code)],
            profiles=resolve_profiles(["default"]), check_reference=False), bus)
    finally:
        await backend.aclose()
    assert summary["tasks"][0]["candidates"][0]["status"] == "passed"
    assert "job file present: False ['runner.py']" in lines


def test_settings_from_a_dotenv_reach_the_local_backend():
    """make_backend gets the merged settings (environment, .env, ai-code-evals.toml)."""
    from ai_code_evals.session import make_backend

    assert make_backend("local", {"ACE_WARM": "0"}).warm_off
    assert make_backend("local", {"ACE_WARM": "1"}).warm_off is None
    assert make_backend("local", {"ACE_ISOLATION": "rlimits"}, unsafe=True).isolation == "rlimits"


NON_ROOT_DRIVER = textwrap.dedent("""
    import asyncio, json, os, time
    from ai_code_evals.sandbox.base import SandboxSpec
    from ai_code_evals.sandbox.local import LocalBackend
    PROBE = (b"import json, os, socket, ctypes\\n"
             b"st = {l.split(':')[0]: l.split()[1] for l in open('/proc/self/status') if l.startswith(('Cap', 'NoNew'))}\\n"
             b"print(json.dumps({'uid': os.getuid(), 'caps': st, 'net': [n for _, n in socket.if_nameindex()],\\n"
             b"    'pids': sorted(int(p) for p in os.listdir('/proc') if p.isdigit()),\\n"
             b"    'userns': ctypes.CDLL(None).unshare(0x10000000)}), flush=True)\\n")
    SPIN = b"import os\\nos.fork()\\nos.fork()\\nprint('spin', flush=True)\\nwhile True:\\n    pass\\n"
    async def main():
        backend = LocalBackend("bwrap")
        out = {}
        try:
            for name, code, limit in (("probe", PROBE, 60), ("spin", SPIN, 1.0)):
                box = await backend.create(SandboxSpec(env={"PYTHONHASHSEED": "0"}))
                await box.upload({"main.py": code})
                lines = []
                result = await box.exec(["python", "main.py"], on_line=lambda s, t: lines.append(t), timeout_s=limit)
                out[name] = {"warm": box.info.get("warm"), "exit": result.exit_code, "timed_out": result.timed_out,
                             "lines": lines}
                await box.destroy()
        finally:
            await backend.aclose()
        time.sleep(0.2)
        def mine(pid):  # alive and ours (forked commands show the server's command line, not main.py)
            try:
                state = open(f"/proc/{pid}/stat", "rb").read().rsplit(b")", 1)[1].split()[0]
                return os.stat(f"/proc/{pid}").st_uid == os.getuid() and state not in (b"Z", b"X")
            except OSError:
                return False
        out["left"] = [p for p in os.listdir("/proc") if p.isdigit() and p != str(os.getpid()) and mine(p)]
        out["warm_off"] = backend.warm_off
        print(json.dumps(out))
    asyncio.run(main())
""")


def test_without_root_the_warm_path_runs_commands_as_the_user_without_capabilities():
    """As an unprivileged user (uid 65534 through setpriv): the server lives in a user namespace
    holding only that uid; each command keeps it with no capabilities, sees only its own
    processes, has only a loopback, cannot make a user namespace, and dies whole at its limit.
    Runs with a python3 and a checkout that user can reach (the sandbox package is stdlib-only)."""
    import shutil
    import subprocess

    src = Path(__file__).resolve().parents[1] / "src"
    python = next((p for p in ("/usr/bin/python3", shutil.which("python3")) if p and
                   isolation.reachable_by_others(p)), None)
    if not HOST.root or HOST.setpriv is None or python is None or not isolation.reachable_by_others(
            str(src / "ai_code_evals" / "sandbox")):
        pytest.skip("needs root (to become another user), setpriv, and a python3 and checkout that user can reach")
    proc = subprocess.run([HOST.setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", "--", python, "-c",
                           NON_ROOT_DRIVER],
                          capture_output=True, text=True, timeout=120, cwd="/",
                          env={"PATH": isolation.SYS_PATH, "HOME": "/tmp", "PYTHONPATH": str(src)})
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["warm_off"] is None and out["probe"]["warm"] is True and out["probe"]["exit"] == 0
    probe = json.loads(out["probe"]["lines"][-1])
    assert probe["uid"] == 65534 and probe["caps"]["NoNewPrivs"] == "1"
    assert all(int(v, 16) == 0 for k, v in probe["caps"].items() if k.startswith("Cap"))
    assert probe["net"] == ["lo"] and max(probe["pids"]) <= 3 and probe["userns"] == -1
    assert out["spin"]["timed_out"] and out["spin"]["lines"].count("spin") == 4
    assert out["left"] == []


def test_a_backend_used_from_two_event_loops_starts_a_server_in_each(monkeypatch):
    backend = LocalBackend("bwrap")
    try:
        first, _, info1 = asyncio.run(probe(backend, "one"))
        second, _, info2 = asyncio.run(probe(backend, "two"))
        assert info1.get("warm") is True and info2.get("warm") is True
        assert first["argv"] == ["probe.py", "one"] and second["argv"] == ["probe.py", "two"]
    finally:
        backend.close_sync()


async def test_scripts_cross_once_and_more_scripts_than_the_cache_holds_still_run():
    """The script is sent with the first command and known by its key after; past the cache
    size both sides forget at the same point, so every command still runs its own script."""
    backend = LocalBackend("bwrap", warm=True)
    sources = [f"print('script {i}')\n".encode() for i in range(warm.SCRIPTS_MAX + 3)]
    try:
        for source in [*sources, *sources[:2], sources[-1]]:
            box = await backend.create(SandboxSpec(env=SEED))
            try:
                await box.upload({"s.py": source})
                out: list[str] = []
                result = await box.exec(["python", "s.py"], on_line=lambda s, t, out=out: out.append(t), timeout_s=60)
            finally:
                await box.destroy()
            assert result.exit_code == 0 and out == [source.decode().split("'")[1]], (result, out)
            assert box.info.get("warm") is True
        server = next(iter(backend._warm.values()))
        request = {"argv": ["s.py"], "files": {"s.py": sources[-1], "job.json": b"{}"}}
        sent = server._with_script_key(request)
        assert sent["files"] == {"job.json": b"{}"} and sent["script"][1] is None  # known: the key only
    finally:
        await backend.aclose()


async def test_preloaded_modules_are_there_and_random_is_reseeded_in_every_command():
    """The server imports what versions import most (typing: 6 ms each time otherwise); a module
    with state of its own must not hand every command the same state: ``random`` draws anew."""
    backend = LocalBackend("bwrap", warm=True)
    script = b"import random, sys\nprint('typing' in sys.modules, random.random())\n"
    draws = []
    try:
        for _ in range(3):
            box = await backend.create(SandboxSpec(env=SEED))
            try:
                await box.upload({"r.py": script})
                out: list[str] = []
                result = await box.exec(["python", "r.py"], on_line=lambda s, t, out=out: out.append(t), timeout_s=60)
            finally:
                await box.destroy()
            assert result.exit_code == 0 and box.info.get("warm") is True, (result, out)
            preloaded, draw = out[-1].split()
            assert preloaded == "True"
            draws.append(draw)
    finally:
        await backend.aclose()
    assert len(set(draws)) == 3


def _parent_and_nspid(pid: int) -> tuple[int, list[str]]:
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines())
    return int(fields["PPid"]), fields["NSpid"].split()


async def test_a_command_is_one_process_under_the_server_its_namespaces_pid_1():
    """Each process per command is a fork of the server's image (page tables copied, pages
    copied on write, then torn down): the server clones the command straight into its new
    namespaces as their pid 1, with no init or holder process between them. Seen from the host:
    command (pid 1 inside) -> the server, whose own parent is bubblewrap's pid 1."""
    backend = LocalBackend("bwrap")
    try:
        box, run, server = await sleeping_command(backend)
        tree: dict[int, list[int]] = {}
        for name in (p for p in os.listdir("/proc") if p.isdigit()):
            try:
                tree.setdefault(_parent_and_nspid(int(name))[0], []).append(int(name))
            except (OSError, KeyError, ValueError):
                pass
        under, todo = [], [server._pid]
        while todo:
            pid = todo.pop()
            under.append(pid)
            todo.extend(tree.get(pid, []))
        inside = [p for p in under if len(_parent_and_nspid(p)[1]) == 3]  # in a command's namespaces
        assert len(inside) == 1, under
        assert _parent_and_nspid(inside[0])[1][-1] == "1"  # the command itself is their pid 1
        server_pid = _parent_and_nspid(inside[0])[0]
        server_ns = _parent_and_nspid(server_pid)[1]
        assert len(server_ns) == 2 and server_ns[-1] != "1"  # the server itself, in bubblewrap's namespace
        bwrap_init = _parent_and_nspid(server_pid)[0]
        assert _parent_and_nspid(bwrap_init)[1][-1] == "1"  # whose parent is bubblewrap's pid 1
        run.cancel()
        await box.destroy()
    finally:
        await backend.aclose()


def _anything_named(name: bytes) -> list[int]:
    """Every process with this name, whatever its state (exiting and zombies too)."""
    found = []
    for pid in (p for p in os.listdir("/proc") if p.isdigit()):
        try:
            if Path(f"/proc/{pid}/comm").read_bytes().strip() == name:
                found.append(int(pid))
        except OSError:
            pass
    return found


async def test_closing_the_backend_returns_once_every_command_process_is_gone():
    """aclose() waits for the server to kill and reap each running command, whose exit comes only
    once the kernel has emptied its namespace: when it returns, not one process of theirs is
    left, not even one still on its way out (a sandbox's uid or cgroup may be reused next)."""
    name = b"ace-close-%d" % os.getpid()
    spawner = (f"import ctypes, os, time\nctypes.CDLL(None).prctl(15, {name!r}, 0, 0, 0)\n"
               "for _ in range(30):\n    if os.fork() == 0:\n        time.sleep(600)\n"
               "print('up', flush=True)\ntime.sleep(600)\n")
    backend = LocalBackend("bwrap")
    runs = []
    for _ in range(2):
        box = await backend.create(SandboxSpec(env=SEED))
        await box.upload({"main.py": spawner.encode()})
        started = asyncio.Event()
        runs.append(asyncio.ensure_future(box.exec(["python", "main.py"], on_line=lambda s, t, e=started: e.set(),
                                                   timeout_s=120)))
        await asyncio.wait_for(started.wait(), 60)
    assert len(_anything_named(name)) >= 62
    await backend.aclose()
    assert _anything_named(name) == []
    for run in runs:  # each ends: killed, or failed with the closed server
        with contextlib.suppress(SandboxError):
            await run


PRELOADED = (b"# ace-warm-preload: entry\nimport os, sys\nBODY_PID = os.getpid()\n"
             b"def entry():\n    print('body ran in', 'the server' if BODY_PID != os.getpid() else 'the command',\n"
             b"          sys.argv[1:], __name__)\n    sys.exit(3)\n\nif __name__ == '__main__':\n    entry()\n")


@pytest.mark.parametrize("is_runner", [True, False])
async def test_only_the_apps_runner_has_its_body_run_once_in_the_server(monkeypatch, is_runner):
    """The runner's module body (definitions only) runs once in the server, and each command
    calls its entry in its fork (it cost ~3 ms of CPU per checker to define it all again). The
    promise line alone is not enough: only the script the app knows as its runner is preloaded,
    so nothing else ever runs inside the server."""
    monkeypatch.setattr(warm, "runner_source", lambda: PRELOADED if is_runner else b"another script")
    backend = LocalBackend("bwrap")
    try:
        for arg in ("first", "second"):
            box = await backend.create(SandboxSpec(env=SEED))
            await box.upload({"main.py": PRELOADED})
            out: list[str] = []
            result = await box.exec(["python", "main.py", arg], on_line=lambda s, t, out=out: out.append(t),
                                    timeout_s=60)
            assert box.info.get("warm") is True and result.exit_code == 3
            where = "the server" if is_runner else "the command"
            assert out == [f"body ran in {where} ['{arg}'] __main__"]
            await box.destroy()
    finally:
        await backend.aclose()
