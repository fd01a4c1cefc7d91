"""Hostile candidates through the engine: one run, every attack next to well-behaved versions.

Each attack is a version of ``add`` that misbehaves. For each one the test asserts the verdict
(never a pass it did not earn), containment (no file written outside, no connection reaching a
listener on loopback, no secret in any output), that nothing is left behind (no process, no
working directory), and that the well-behaved versions in the same run still pass.
"""
import asyncio
import os
import socket
import threading
import uuid
from dataclasses import replace
from pathlib import Path

import pytest

from ai_code_evals.core.candidate import Candidate
from ai_code_evals.core.events import CandidateFinished, EventBus, OutputLine
from ai_code_evals.core.task import Task, TestCase
from ai_code_evals.engine.profiles import EnvProfile
from ai_code_evals.engine.run import RunConfig, run_evaluation
from ai_code_evals.sandbox.base import SandboxLimits
from ai_code_evals.sandbox.local import LocalBackend

M = "acehostile" + uuid.uuid4().hex[:10]  # marker: in env, argv and file names of everything an attack makes
SECRET = "sk-" + uuid.uuid4().hex  # planted in the environment, a .env, and the home directory
HOME = os.path.expanduser("~")
REPO = Path(__file__).resolve().parents[1]
TASK = Task(id="add", entry_point="add", time_limit_s=2.0,
            tests=[TestCase(args=[1, 2], expect=3), TestCase(args=[0, 0], expect=0),
                   TestCase(kind="code", code="assert add(-1, 1) == 0")],
            error_cases=[TestCase(args=["a", 1], raises="TypeError")])
PROFILE = EnvProfile("hostile", "tight limits and a marker in the environment",
                     limits=replace(SandboxLimits(), memory_mb=512, processes=32, cpu_s=10, file_size_mb=16),
                     env={"PYTHONHASHSEED": "0", "ACE_HOSTILE_MARK": M})
OK = "    return a + b\n"
SLEEPER = 'import os, sys\nos.execv(sys.executable, [sys.executable, "-c", "import time; time.sleep(1000)", "{M}"])'

WELL_BEHAVED = {
    "plain": "def add(a, b):\n" + OK,
    "chatty": "def add(a, b):\n    print('adding', a, b)\n" + OK,
}

# name -> (code template, statuses that are a correct verdict)
ATTACKS = {
    "early os._exit(0)": ("import os\nos._exit(0)\n", {"error"}),
    "os._exit(0) inside a test": ("import os\ndef add(a, b):\n    os._exit(0)\n", {"error"}),
    "SystemExit inside a test": ("def add(a, b):\n    raise SystemExit(0)\n", {"failed"}),
    "infinite loop ignoring signals": (
        ("import signal\nfor s in (signal.SIGALRM, signal.SIGTERM, signal.SIGINT):\n    signal.signal(s, signal.SIG_IGN)\n"
        "def add(a, b):\n    while True:\n        pass\n"), {"timeout"}),
    "ignores every catchable signal": (
        ("import signal\nfor s in signal.valid_signals():\n    try:\n        signal.signal(s, signal.SIG_IGN)\n"
        "    except (OSError, ValueError):\n        pass\ndef add(a, b):\n    while True:\n        pass\n"), {"timeout"}),
    "fork storm": ("import os\ndef add(a, b):\n    while True:\n        os.fork()\n",
                   {"failed", "error", "timeout", "killed"}),
    "forks past the process limit": (
        "import os, sys\ndef add(a, b):\n    n = 0\n    try:\n        while True:\n            if os.fork() == 0:\n"
        "                " + SLEEPER.replace("\n", "\n                ") + "\n            n += 1\n"
        "    except OSError:\n        return n\n", {"failed"}),
    "orphaned grandchild": (
        "import os, sys\nif os.fork() == 0:\n    os.setsid()\n    if os.fork() == 0:\n        " +
        SLEEPER.replace("\n", "\n        ") + "\n    os._exit(0)\nos.wait()\ndef add(a, b):\n" + OK, {"passed"}),
    "memory bomb": ("def add(a, b):\n    hog = []\n    while True:\n        hog.append(bytearray(64 << 20))\n",
                    {"failed", "killed"}),
    "allocates past the memory limit in C": (
        "import ctypes\nlibc = ctypes.CDLL(None)\nlibc.malloc.restype = ctypes.c_void_p\n"
        "def add(a, b):\n    p = libc.malloc(8 << 30)\n    ctypes.memset(p or 0, 1, 8 << 30)\n" + OK,
        {"killed", "error"}),
    "output flood": ("import sys\nsys.stdout.write(('x' * 99 + '\\n') * 80000)\ndef add(a, b):\n" + OK, {"passed"}),
    "a 50 MB line without newline": ("import os\nos.write(1, b'y' * (50 << 20))\ndef add(a, b):\n" + OK, {"passed"}),
    "terminal escape sequences": (
        "print('\\x1b[2J\\x1b]0;pwned\\x07\\x1b]52;c;cHduZWQ=\\x07\\x1b[31mred\\x1b[?1049h')\ndef add(a, b):\n" + OK,
        {"passed"}),
    "spinning threads left after returning": (
        "import threading\ndef spin():\n    while True:\n        pass\nfor _ in range(3):\n"
        "    threading.Thread(target=spin).start()\ndef add(a, b):\n" + OK, {"passed"}),
    "deep recursion (RecursionError)": ("def add(a, b):\n    return add(a, b)\n", {"failed"}),
    "deep recursion crash in C": (
        ("import json, sys\nsys.setrecursionlimit(10**8)\nx = []\nfor _ in range(2 * 10**5):\n    x = [x]\n"
        "def add(a, b):\n    return len(json.dumps(x))\n"), {"killed"}),
    "fills the disk": (
        "import os\nfor where in ('fill.bin', '/tmp/{M}.bin', '/dev/shm/{M}.bin'):\n    try:\n"
        "        with open(where, 'wb') as f:\n            while True:\n                f.write(b'z' * (1 << 20))\n"
        "    except OSError:\n        pass\ndef add(a, b):\n" + OK, {"passed", "killed"}),
    "writes outside the working directory": (
        "import os\nfor where in ('/tmp/{M}', '{HOME}/{M}', '{REPO}/{M}', '/var/tmp/{M}', '/etc/{M}', '/{M}'):\n"
        "    try:\n        open(where, 'w').write('escaped')\n    except OSError as e:\n        print('refused', where, e)\n"
        "def add(a, b):\n" + OK, {"passed"}),
    "reads secrets from the environment": (
        "import os\nprint(dict(os.environ))\nprint(os.environ.get('OPENAI_API_KEY'), os.environ.get('DAYTONA_API_KEY'))\n"
        "def add(a, b):\n" + OK, {"passed"}),
    "reads the app's .env": (
        "for p in ('{DOTENV}', '{REPO}/.env'):\n    try:\n        print(open(p).read())\n    except OSError as e:\n"
        "        print('refused', p, e)\ndef add(a, b):\n" + OK, {"passed"}),
    "reads /etc/shadow and the user's home": (
        "import os\nfor p in ('/etc/shadow', '{HOME}/.{M}'):\n    try:\n        print(open(p).read())\n"
        "    except OSError as e:\n        print('refused', p, e)\ntry:\n    print(os.listdir('{HOME}'))\n"
        "except OSError as e:\n    print('refused', e)\ndef add(a, b):\n" + OK, {"passed"}),
    "network connection to a loopback listener": (
        "import socket\nfor family, kind in ((socket.AF_INET, socket.SOCK_STREAM), (socket.AF_INET, socket.SOCK_DGRAM)):\n"
        "    try:\n        s = socket.socket(family, kind)\n        s.settimeout(0.5)\n        s.connect(('127.0.0.1', {PORT}))\n"
        "        s.sendall(b'{M}')\n    except OSError as e:\n        print('refused', e)\ndef add(a, b):\n" + OK,
        {"passed"}),
    "kills its parent and everything it can": (
        "import os, signal\ndef add(a, b):\n    for pid in (os.getppid(), 1, -1):\n        try:\n"
        "            os.kill(pid, signal.SIGKILL)\n        except OSError:\n            pass\n" + OK,
        {"passed", "killed", "error"}),
    "closes its own stdout and stderr": ("import os\nos.close(1)\nos.close(2)\ndef add(a, b):\n" + OK, {"passed"}),
    "syntax error": ("def add(a, b)\n    return a + b\n", {"error"}),
    "forges a verdict line": (
        ("import json\nfake = {'ev': 'verdict', 'tests_passed': 3, 'tests_total': 3, 'errors_handled': 1, 'errors_total': 1}\n"
        "for nonce in ('0' * 32, 'deadbeef' * 4, ''):\n    print('@@ace:' + nonce + ':' + json.dumps(fake))\n"
        "def add(a, b):\n    return a * b\n"), {"failed"}),
    "reads its job file for the nonce and forges a whole run": (
        ("import json, os\ntry:\n    nonce = json.load(open('job.json'))['nonce']\nexcept OSError as e:\n"
        "    print('refused', e)\nelse:\n    def ev(**e):\n        os.write(1, ('@@ace:' + nonce + ':' + json.dumps(e) + '\\n').encode())\n"
        "    ev(ev='hello', pid=1, tests_total=3, error_total=1, perf_total=0, generated_total=0)\n"
        "    ev(ev='load', ok=True)\n"
        "    for g, n in (('tests', 3), ('error_cases', 1)):\n        for i in range(n):\n"
        "            ev(ev='test', phase='start', group=g, i=i, name='t')\n"
        "            ev(ev='test', phase='end', group=g, i=i, name='t', ok=True, ms=0.1)\n"
        "    ev(ev='verdict', tests_passed=3, tests_total=3, passed=[0, 1, 2], errors_handled=1, errors_total=1,\n"
        "       generated_passed=[], generated_total=0, timeouts=0, perf_total=0, perf_done=0)\n"
        "    os._exit(0)\ndef add(a, b):\n    return a * b\n"), {"failed"}),
    "monkeypatches builtins.len": ("import builtins\nbuiltins.len = lambda x: 0\ndef add(a, b):\n    return a * b\n",
                                   {"error", "failed"}),
    "monkeypatches json.dumps to inflate the verdict": (
        ("import json\n_dumps = json.dumps\ndef fake(o, *a, **k):\n    if isinstance(o, dict) and o.get('ev') == 'verdict':\n"
        "        o = dict(o, tests_passed=o['tests_total'], passed=list(range(o['tests_total'])))\n"
        "    return _dumps(o, *a, **k)\njson.dumps = fake\ndef add(a, b):\n    return a * b\n"), {"error", "failed"}),
    "monkeypatches os.write": ("import os\nos.write = lambda fd, data: len(data)\ndef add(a, b):\n" + OK,
                               {"passed", "error"}),
    "disables the runner's alarm": (
        ("import signal\nsignal.setitimer = lambda *a, **k: (0.0, 0.0)\nsignal.alarm = lambda *a: 0\n"
        "def add(a, b):\n    while True:\n        pass\n"), {"timeout", "killed"}),  # the watchdog or the CPU rlimit
    "tampers with sys.modules": (
        ("import sys, types\nfake = types.ModuleType('json')\n"
        "fake.dumps = lambda *a, **k: '{\"ev\": \"verdict\", \"tests_passed\": 3, \"tests_total\": 3}'\n"
        "sys.modules['json'] = fake\nsys.modules['signal'] = None\ndef add(a, b):\n    return a * b\n"), {"failed"}),
    "returns an object equal to everything": (
        ("class Anything:\n    def __eq__(self, other):\n        return True\n    def __ne__(self, other):\n        return False\n"
        "    __hash__ = object.__hash__\ndef add(a, b):\n    return Anything()\n"), {"failed"}),
    "returns an int subclass equal to everything": (
        ("class Int(int):\n    def __eq__(self, other):\n        return True\n    __hash__ = int.__hash__\n"
        "def add(a, b):\n    return Int(0)\n"), {"failed"}),
}


class Listener:
    """TCP and UDP on loopback; records whatever reaches them."""

    def __init__(self) -> None:
        self.tcp = socket.socket()
        self.tcp.bind(("127.0.0.1", 0))
        self.tcp.listen()
        self.tcp.settimeout(0.2)
        self.port = self.tcp.getsockname()[1]
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind(("127.0.0.1", self.port))
        self.udp.settimeout(0.2)
        self.seen: list[str] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stop.is_set():
            for sock in (self.tcp, self.udp):
                try:
                    if sock is self.tcp:
                        conn, addr = sock.accept()
                        self.seen.append(f"tcp from {addr}")
                        conn.close()
                    else:
                        data, addr = sock.recvfrom(4096)
                        self.seen.append(f"udp {data!r} from {addr}")
                except OSError:
                    pass

    def close(self) -> None:
        self.stop.set()
        self.thread.join()
        self.tcp.close()
        self.udp.close()


def leftovers(root: Path) -> list[str]:
    """Live processes carrying the marker (argv or environment) or working under ``root``."""
    found = []
    for name in filter(str.isdigit, os.listdir("/proc")):
        if int(name) == os.getpid():
            continue
        try:
            stat = Path(f"/proc/{name}/stat").read_text()
            if stat[stat.rfind(")") + 2] in "ZX":
                continue
            blob = Path(f"/proc/{name}/cmdline").read_bytes() + Path(f"/proc/{name}/environ").read_bytes()
            cwd = os.readlink(f"/proc/{name}/cwd")
        except OSError:
            continue
        if M.encode() in blob or cwd.startswith(str(root)):
            found.append(f"{name}: {blob[:100]!r} in {cwd}")
    return found


def fill(template: str, values: dict) -> str:
    for key, value in values.items():
        template = template.replace("{" + key + "}", str(value))
    return template


@pytest.fixture(scope="module", params=["warm", "cold"])
def hostile_run(tmp_path_factory, request):
    """The whole battery twice at the strongest level: through the warm fast path (the default
    as root) and through the ordinary bwrap path (ACE_WARM=0: non-root users, other profiles)."""
    tmp = tmp_path_factory.mktemp("hostile")
    app_dir, sandboxes = tmp / "app", tmp / "sandboxes"
    app_dir.mkdir()
    sandboxes.mkdir()
    (app_dir / ".env").write_text(f"OPENAI_API_KEY={SECRET}\n")
    planted = Path(HOME) / f".{M}"
    planted.write_text(SECRET)
    listener = Listener()
    values = {"M": M, "HOME": HOME, "REPO": str(REPO), "DOTENV": str(app_dir / ".env"), "PORT": listener.port}
    names = list(WELL_BEHAVED) + list(ATTACKS)
    codes = list(WELL_BEHAVED.values()) + [fill(code, values) for code, _ in ATTACKS.values()]
    cands = [Candidate(id=f"add#{k}", task_id="add", code=code, label=name)
             for k, (name, code) in enumerate(zip(names, codes, strict=True))]
    mp = pytest.MonkeyPatch()
    mp.chdir(app_dir)
    mp.setenv("OPENAI_API_KEY", SECRET)
    mp.setenv("DAYTONA_API_KEY", SECRET)
    bus, events = EventBus(), []
    bus.subscribe(events.append)
    backend = LocalBackend(temp_dir=str(sandboxes), warm=request.param == "warm")

    async def go():
        config = RunConfig(tasks=[TASK], backend=backend, candidates=cands, jobs=2, profiles=[PROFILE])
        try:
            return await run_evaluation(config, bus)
        finally:
            await backend.aclose()

    try:
        summary = asyncio.run(go())
    finally:
        mp.undo()
        listener.close()
        planted.unlink()
    rows = {c["label"]: c for c in summary["tasks"][0]["candidates"]}
    return rows, events, listener, tmp, sandboxes


def test_there_are_enough_attacks():
    assert len(ATTACKS) >= 25


@pytest.mark.parametrize("name", list(ATTACKS))
def test_attack_gets_a_correct_verdict(hostile_run, name):
    rows = hostile_run[0]
    assert rows[name]["status"] in ATTACKS[name][1], (name, rows[name]["status"], rows[name]["reason"])


def test_well_behaved_versions_in_the_same_run_still_pass(hostile_run):
    rows = hostile_run[0]
    for name in WELL_BEHAVED:
        assert rows[name]["status"] == "passed" and rows[name]["tests_passed"] == 3, rows[name]
        assert rows[name]["errors_handled"] == 1


def test_one_result_per_candidate(hostile_run):
    _, events, *_ = hostile_run
    finished = [e.candidate_id for e in events if isinstance(e, CandidateFinished)]
    assert len(finished) == len(set(finished)) == len(ATTACKS) + len(WELL_BEHAVED)


def test_no_secret_reaches_any_output(hostile_run):
    rows, events, *_ = hostile_run
    texts = [e.text for e in events if isinstance(e, OutputLine)]
    texts += [repr(r) for r in rows.values()]
    assert not [t for t in texts if SECRET in t]
    if os.access("/etc/shadow", os.R_OK):  # as root the test can see what must not leak
        shadow = Path("/etc/shadow").read_text().splitlines()[0]
        assert not [t for t in texts if shadow in t]
    # the attacks did run and print what they were refused
    assert any("refused" in t and "/etc/shadow" in t for t in texts)


def test_no_connection_reached_the_listener(hostile_run):
    listener = hostile_run[2]
    assert listener.seen == []


def test_no_file_written_outside(hostile_run):
    tmp = hostile_run[3]
    for where in (f"/tmp/{M}", f"{HOME}/{M}", f"{REPO}/{M}", f"/var/tmp/{M}", f"/etc/{M}", f"/{M}",
                  f"/tmp/{M}.bin", f"/dev/shm/{M}.bin", str(tmp / "app" / "fill.bin")):
        assert not os.path.exists(where), where


def test_nothing_left_behind(hostile_run):
    *_, sandboxes = hostile_run
    assert leftovers(sandboxes) == []
    assert list(sandboxes.iterdir()) == []


def test_floods_are_capped_and_escape_sequences_can_be_neutralised(hostile_run):
    from ai_code_evals.core.sanitize import sanitize_line

    rows, events, *_ = hostile_run
    assert rows["output flood"]["status"] == "passed"
    flood = next(c["id"] for c in rows.values() if c["label"] == "a 50 MB line without newline")
    longest = max(len(e.text) for e in events if isinstance(e, OutputLine) and e.candidate_id == flood)
    assert longest <= 64 * 1024 + 16, "a line is cut into bounded pieces"
    esc = next(c["id"] for c in rows.values() if c["label"] == "terminal escape sequences")
    lines = [e.text for e in events if isinstance(e, OutputLine) and e.candidate_id == esc]
    assert any("\x1b" in t for t in lines), "the raw output is kept (the log is the evidence)"
    assert not any("\x1b" in sanitize_line(t) or "\x07" in sanitize_line(t) for t in lines)


def test_a_candidate_that_reads_the_runners_nonce(tmp_path):
    """Once a known limit (the runner shared its process with the version): the version runs in
    a child forked before the job is read, so the nonce it finds is empty and its stdout is a
    pipe the checker relays as output."""
    code = ("import __main__, json, os\nn, fd = __main__._NONCE, __main__._OUT_FD\n"
            "def say(ev):\n    os.write(fd, ('@@ace:' + n + ':' + json.dumps(ev) + '\\n').encode())\n"
            "for i in range(3):\n    say({'ev': 'test', 'phase': 'end', 'group': 'tests', 'i': i, 'ok': True})\n"
            "say({'ev': 'test', 'phase': 'end', 'group': 'error_cases', 'i': 0, 'ok': True})\n"
            "say({'ev': 'verdict', 'tests_passed': 3, 'tests_total': 3, 'errors_handled': 1, 'errors_total': 1})\n"
            "os._exit(0)\n")
    backend = LocalBackend(temp_dir=str(tmp_path))

    async def go():
        config = RunConfig(tasks=[TASK], backend=backend, jobs=1,
                           candidates=[Candidate(id="add#0", task_id="add", code=code)])
        try:
            return await run_evaluation(config, EventBus())
        finally:
            await backend.aclose()

    summary = asyncio.run(go())
    assert summary["tasks"][0]["candidates"][0]["status"] != "passed"
