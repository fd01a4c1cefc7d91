"""Task requirements through the real path, with no network: a tiny wheel is written here, uv
installs it from a local directory (``UV_FIND_LINKS``, ``UV_NO_INDEX``, ``UV_OFFLINE``) into a
cached environment, and versions import it inside real sandboxes.

- at every local isolation level (bwrap cold and warm, unshare, rlimits with
  --unsafe-isolation), through the engine's job and the real runner: the package imports in the
  version and in the checker's own test code, and the version cannot write into it; a sandbox
  without it still sees no third-party package;
- through the CLI at the default level: a task with the requirement passes, the same version in a
  task without it fails with ModuleNotFoundError, an unsatisfiable requirement is one line while
  the other tasks run, and a second run reuses the cache without calling uv.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from wheels import TOY, write_wheel

from ai_code_evals.core.candidate import Candidate
from ai_code_evals.core.events import EventBus
from ai_code_evals.core.task import Task
from ai_code_evals.engine.job import CandidateJob
from ai_code_evals.engine.profiles import resolve_profiles
from ai_code_evals.engine.timelimits import own_limit
from ai_code_evals.sandbox import isolation, requirements
from ai_code_evals.sandbox.base import RequirementsError
from ai_code_evals.sandbox.local import LocalBackend

HOST = isolation.default_host()
UV = requirements.find_uv()
pytestmark = pytest.mark.skipif(UV is None, reason="uv is not installed (pip install uv)")

# every level that works here; rlimits only as root (as in test_isolation_hostile.py: without
# root it cannot even find its own processes, and it is refused without --unsafe-isolation)
LEVELS = [lv for lv in isolation.LEVELS if isolation.works(lv, HOST) and (lv != "rlimits" or HOST.root)]
if "bwrap" in LEVELS:
    LEVELS.insert(1, "bwrap-warm")
CONTAINED = ("bwrap", "bwrap-warm", "unshare")


@pytest.fixture
def offline_uv(monkeypatch):
    """uv pointed at a folder holding the wheel, offline, with caches of its own. The folder is
    outside any 0700 directory (pytest's tmp_path is one): as root at the rlimits level the
    sandbox's own uid must be able to read the environment at its real path."""
    top = Path(tempfile.mkdtemp(prefix="ace-req-test-"))
    os.chmod(top, 0o755)
    write_wheel(top / "wheels")
    env = {"UV_FIND_LINKS": str(top / "wheels"), "UV_NO_INDEX": "1", "UV_OFFLINE": "1",
           "UV_CACHE_DIR": str(top / "uv-cache"), requirements.CACHE_VAR: str(top / "envs")}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    yield top
    shutil.rmtree(top, ignore_errors=True)


# the version: f(x) doubles with the package; f("...") reports what it could see or do
VERSION = """
import os
import acetoy

def f(x):
    here = os.path.dirname(acetoy.__file__)
    try:
        if x == "write-new":
            open(os.path.join(here, "planted.py"), "w").write("x = 1")
            return "wrote"
        if x == "append":
            open(acetoy.__file__, "a").write("VALUE = 0")
            return "wrote"
        if x == "siblings":  # the cache holds other environments and files: none is shown
            return sorted(os.listdir(os.path.dirname(os.path.dirname(os.path.dirname(here)))))
    except OSError:
        return "refused"
    return acetoy.double(x)
"""


def toy_task(extra_tests: list[dict] | None = None, task_id: str = "toy") -> Task:
    return Task.model_validate({
        "id": task_id, "entry_point": "f", "requirements": ["acetoy"],
        "tests": [{"args": [2], "expect": 4},
                  {"kind": "code", "code": "import acetoy\nassert f(5) == acetoy.double(5) == 10"},
                  {"args": ["write-new"], "expect": "refused"},
                  {"args": ["append"], "expect": "refused"}, *(extra_tests or [])]})


def backend_at(level: str) -> LocalBackend:
    """A backend at ``level`` whose environments go where the ``offline_uv`` fixture says."""
    base = level.removesuffix("-warm")
    return LocalBackend(base, warm=level == "bwrap-warm", unsafe=isolation.gaps(base, HOST) is not None,
                        env_cache=os.environ[requirements.CACHE_VAR])


async def run_version(backend: LocalBackend, task: Task, code: str, packages: str | None):
    """One version through the engine's job and the real runner (default profile: fixed hash
    seed, so the warm path is taken where the backend has it on)."""
    profile = resolve_profiles(["default"])[0]
    job = CandidateJob(task, Candidate(id=f"{task.id}#0", task_id=task.id, code=code), profile, EventBus())
    job.set_time_limit(own_limit(10.0, "test"))
    return await job.run(backend, {"candidate": f"{task.id}#0"}, packages=packages)


@pytest.mark.parametrize("level", LEVELS)
async def test_packages_are_importable_read_only_at_every_level(level, offline_uv):
    backend = backend_at(level)
    try:
        progress: list[str] = []
        site = await backend.prepare_requirements(["acetoy"], on_progress=progress.append)
        key = Path(site).parent.name
        assert Path(site, "acetoy", "__init__.py").is_file() and "installing acetoy" in progress[0]
        (offline_uv / "envs" / "secret.txt").write_text("not for candidates")
        extra = [{"args": ["siblings"], "expect": [key]}] if level in CONTAINED else []
        result = await run_version(backend, toy_task(extra), VERSION, site)
        assert result.status == "passed", (result.reason, result.failures)
        assert result.tests_passed == 4 + len(extra)
        assert Path(site, "acetoy", "__init__.py").read_text() == TOY and not Path(site, "acetoy", "planted.py").exists()
        # without the task's packages the same version does not even load
        bare = await run_version(backend, toy_task(task_id="bare"), VERSION, None)
        assert bare.status == "error" and "ModuleNotFoundError: No module named 'acetoy'" in bare.reason
        if level == "bwrap-warm":
            assert len(backend._warm) == 2  # one warm server per set of packages (a fork sees what its server sees)
    finally:
        await backend.aclose()


@pytest.mark.skipif("bwrap" not in LEVELS, reason="no bwrap here: no warm servers")
async def test_warm_servers_per_set_of_packages_are_capped(offline_uv, monkeypatch):
    """One warm server per set of packages: past the cap, the least recently used idle one is
    closed, and a later version of its task starts it again."""
    from ai_code_evals.sandbox import local

    write_wheel(offline_uv / "wheels", "acetwo", "0.1", "def double(x):\n    return x + x\n")
    monkeypatch.setattr(local, "WARM_SERVERS_MAX", 1)
    backend = backend_at("bwrap-warm")
    try:
        one = await backend.prepare_requirements(["acetoy"])
        two = await backend.prepare_requirements(["acetwo"])
        code = VERSION.replace("acetoy", "{pkg}")
        servers = []
        for site, pkg in ((one, "acetoy"), (two, "acetwo"), (one, "acetoy")):
            task = toy_task(task_id=pkg).model_copy(update={"tests": toy_task().tests[:1], "requirements": [pkg]})
            result = await run_version(backend, task, code.format(pkg=pkg), site)
            assert result.status == "passed", result.reason
            assert [k[1] for k in backend._warm] == [site]  # the other one was closed
            servers.append(backend._warm[next(iter(backend._warm))])
        assert servers[0] is not servers[2] and servers[0]._sock is None  # closed, then started anew
    finally:
        await backend.aclose()


async def test_the_cache_is_reused_and_a_bad_requirement_is_one_line(offline_uv):
    backend = LocalBackend(env_cache=os.environ[requirements.CACHE_VAR])
    try:
        first: list[str] = []
        site = await backend.prepare_requirements(["acetoy"], on_progress=first.append)
        marker = Path(site).parent / requirements.MARKER
        built = marker.stat().st_mtime_ns
        again: list[str] = []
        assert await backend.prepare_requirements(["acetoy", "acetoy"], on_progress=again.append) == site
        assert again == [] and marker.stat().st_mtime_ns == built  # no rebuild, no uv
        with pytest.raises(RequirementsError) as err:
            await backend.prepare_requirements(["nosuchpkg==1.0"])
        line = str(err.value)
        assert "\n" not in line and "nosuchpkg==1.0" in line and line.startswith("cannot install nosuchpkg==1.0")
        # nothing half-made is left: only the one environment and the lock files
        assert sorted(p.name for p in (offline_uv / "envs").iterdir() if not p.name.endswith(".lock")) == \
            [Path(site).parent.name]
    finally:
        await backend.aclose()


def test_uv_reason_keeps_what_failed_and_why():
    unsat = ("Using CPython 3.11.7 interpreter at: /usr/bin/python3\n"
             "error: No solution found when resolving dependencies\n"
             "  cause: Because nosuch was not found in the package registry and you require nosuch==1.0, "
             "we can conclude that your requirements are unsatisfiable.\n")
    assert requirements.uv_reason(unsat) == (
        "No solution found when resolving dependencies: Because nosuch was not found in the package registry "
        "and you require nosuch==1.0, we can conclude that your requirements are unsatisfiable.")
    assert requirements.uv_reason("error: Failed to fetch: `https://x/simple/a/`\n  Caused by: dns error\n") == \
        "Failed to fetch: `https://x/simple/a/`: dns error"
    assert requirements.uv_reason("something odd\n") == "something odd"


# -- the CLI -------------------------------------------------------------------------------------
TASKS = """\
- id: with-packages
  entry_point: f
  requirements: [acetoy]
  tests:
    - {args: [2], expect: 4}
    - {args: [write-new], expect: refused}
    - code: "import acetoy\\nassert f(3) == acetoy.double(3)"
- id: without-packages
  entry_point: f
  tests:
    - {args: [2], expect: 4}
- id: unsatisfiable
  entry_point: f
  requirements: ["nosuchpkg==1.0"]
  tests:
    - {args: [2], expect: 4}
- id: plain
  entry_point: f
  tests:
    - {args: [2], expect: 4}
"""


def cli(tmp_path: Path, env: dict[str, str], name: str, tasks: str = TASKS) -> tuple[dict, str]:
    samples = tmp_path / f"{name}-samples.jsonl"
    ids = re.findall(r"^- id: (\S+)$", tasks, re.MULTILINE)
    rows = [{"task_id": t, "completion": VERSION if t != "plain" else "def f(x):\n    return 2 * x\n"} for t in ids]
    samples.write_text("".join(json.dumps(r) + "\n" for r in rows))
    (tmp_path / f"{name}.yaml").write_text(tasks)
    proc = subprocess.run([sys.executable, "-m", "ai_code_evals", "run", str(tmp_path / f"{name}.yaml"), "--samples",
                           str(samples), "--headless", "--json", "--record", str(tmp_path / f"{name}.jsonl")],
                          capture_output=True, text=True, timeout=600, env=env, stdin=subprocess.DEVNULL,
                          cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads(proc.stdout)
    return {t["task_id"]: t for t in summary["tasks"]}, proc.stderr


def test_cli_task_requirements_end_to_end(tmp_path, offline_uv):
    env = dict(os.environ)
    env.pop("ACE_ISOLATION", None)  # the default level
    env["COLUMNS"] = "1000"  # stderr is not a terminal: no wrapping of long notices
    tasks, stderr = cli(tmp_path, env, "first")
    status = {tid: t["candidates"][0]["status"] for tid, t in tasks.items()}
    assert status == {"with-packages": "passed", "without-packages": "error", "unsatisfiable": "error",
                      "plain": "passed"}, tasks
    assert "ModuleNotFoundError: No module named 'acetoy'" in tasks["without-packages"]["candidates"][0]["reason"]
    # the failed build: one line naming the task and the requirement, a task error, not the version's fault
    lines = [ln for ln in stderr.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1 and lines[0].startswith("error: unsatisfiable: cannot install nosuchpkg==1.0"), stderr
    assert "requirements are unsatisfiable" in lines[0]
    assert "nosuchpkg==1.0" in tasks["unsatisfiable"]["error"]
    assert tasks["unsatisfiable"]["candidates"][0]["reason"].startswith("infrastructure: not run: the task's "
                                                                         "requirements could not be installed")
    assert "info: with-packages: installing acetoy" in stderr
    record = (tmp_path / "first.jsonl").read_text()
    assert '"requirements": ["acetoy"]' in record  # the task lines of the log carry the field

    # the second run: the environment comes from the cache; uv is not called (a uv that would
    # fail loudly comes first on PATH)
    fake = tmp_path / "fake-bin"
    fake.mkdir()
    (fake / "uv").write_text(f"#!/bin/sh\ntouch {tmp_path}/uv-was-called\nexit 3\n")
    (fake / "uv").chmod(0o755)
    env["PATH"] = f"{fake}:{env.get('PATH', '')}"
    without_unsatisfiable = TASKS[:TASKS.index("- id: unsatisfiable")]
    tasks, stderr = cli(tmp_path, env, "second", without_unsatisfiable)
    assert tasks["with-packages"]["candidates"][0]["status"] == "passed", tasks
    assert "installing acetoy" not in stderr and not (tmp_path / "uv-was-called").exists()


async def test_daytona_says_in_one_line_that_requirements_are_not_supported_yet(tmp_path):
    """Daytona's sandboxes have no network by default and no cache of ours: a task with
    requirements is one task error there (its versions are not run), the other tasks run."""
    import asyncio

    from daytona_server import DaytonaTestServer

    server = await DaytonaTestServer().start()
    try:
        (tmp_path / "t.yaml").write_text(TASKS[:TASKS.index("- id: without-packages")] + TASKS[TASKS.index("- id: plain"):])
        samples = tmp_path / "s.jsonl"
        samples.write_text(json.dumps({"task_id": "with-packages", "completion": VERSION}) + "\n"
                           + json.dumps({"task_id": "plain", "completion": "def f(x):\n    return 2 * x\n"}) + "\n")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DAYTONA_", "ACE_DAYTONA_"))}
        env.update({"DAYTONA_API_URL": server.api_url, "DAYTONA_API_KEY": server.api_key, "DAYTONA_TARGET": "local",
                    "COLUMNS": "1000"})
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "ai_code_evals", "run", str(tmp_path / "t.yaml"), "--samples", str(samples),
            "--backend", "daytona", "--headless", "--json", "--record", str(tmp_path / "d.jsonl"),
            cwd=tmp_path, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await proc.communicate()
        assert proc.returncode == 0, err.decode()[-2000:]
        tasks = {t["task_id"]: t for t in json.loads(out)["tasks"]}
        assert tasks["plain"]["candidates"][0]["status"] == "passed"
        assert tasks["with-packages"]["candidates"][0]["status"] == "error"
        lines = [ln for ln in err.decode().splitlines() if ln.startswith("error:")]
        assert lines == [("error: with-packages: the daytona backend cannot install a task's requirements (acetoy) "
                          "yet: run this task with --backend local")]
        assert server.created == 1 and server.live_sandboxes() == []  # only the plain task's version ran
    finally:
        await server.close()
