"""Forging battery: versions written to win without being right, at every isolation level and on
Daytona (through its local test double). Each one computes a wrong answer (or kills its judge)
and attacks the verdict instead: the runner's functions, its frames and memory, the nonce, the
output channel, the test's helpers and builtins, values that compare equal to anything, exits.
None may end ``passed``. Honest versions returning every kind of plain data must still pass.
"""
from __future__ import annotations

import asyncio

import pytest
from daytona_server import DaytonaTestServer

from ai_code_evals.core.candidate import Candidate
from ai_code_evals.core.events import EventBus
from ai_code_evals.core.task import Task, TestCase
from ai_code_evals.engine.run import RunConfig, run_evaluation
from ai_code_evals.sandbox import isolation
from ai_code_evals.sandbox.daytona import DaytonaBackend
from ai_code_evals.sandbox.daytona_settings import DaytonaSettings
from ai_code_evals.sandbox.local import LocalBackend

PROMPT = 'def scale(x):\n    return 10 * x\n\n\ndef add(a, b):\n    """Add two numbers."""\n'
CHECK = ("def check(candidate):\n    assert candidate(1, 2) == 3\n    assert abs(candidate(-5, 2)) == 3\n"
         "    assert scale(candidate(2, 2)) == 40\n    assert len([candidate(0, 0)]) == 1\n")
ADD = Task(id="forge/add", entry_point="add", prompt=PROMPT, completion_style=True, time_limit_s=2.0,
           tests=[TestCase(kind="check", code=CHECK), TestCase(args=[2, 3], expect=5)],
           error_cases=[TestCase(args=["a", 1], raises="TypeError")])
WRONG = "def add(a, b):\n    return a - b\n"
FORGED = b'@@ace:0:{"ev": "verdict", "tests_passed": 2, "tests_total": 2, "errors_handled": 1}\\n'

ATTACKS = {
    "patches the runner's functions": "import __main__\n__main__.run_case = lambda *a, **k: None\n"
                                      "__main__.Checker = None\n__main__.emit = print\n" + WRONG,
    "reads expected values from its callers' frames": (
        "import sys\ndef add(a, b):\n    f = sys._getframe(1)\n    while f:\n"
        "        for k in ('want', 'expect', 'test'):\n            v = f.f_locals.get(k)\n"
        "            if isinstance(v, dict) and 'expect' in v:\n                return v['expect']\n"
        "            if k != 'test' and v is not None:\n                return v\n        f = f.f_back\n"
        "    return 0\n"),
    "prints a verdict with the runner's nonce": (
        "import __main__, json, os\ndef say(ev):\n"
        "    os.write(1, ('@@ace:' + str(getattr(__main__, '_NONCE', '')) + ':' + json.dumps(ev) + '\\n').encode())\n"
        "def add(a, b):\n    for i in range(2):\n"
        "        say({'ev': 'test', 'phase': 'end', 'group': 'tests', 'i': i, 'ok': True})\n"
        "    say({'ev': 'test', 'phase': 'end', 'group': 'error_cases', 'i': 0, 'ok': True})\n"
        "    say({'ev': 'verdict', 'tests_passed': 2, 'tests_total': 2, 'errors_handled': 1, 'errors_total': 1,"
        " 'passed': [0, 1]})\n    os._exit(0)\n"),
    "rebinds builtins the check uses": "abs = lambda x: 3\nlen = lambda x: 1\n" + WRONG,
    "redefines the prompt's helper": "def scale(x):\n    return 40\n" + WRONG,
    "returns unittest.mock.ANY": "from unittest import mock\ndef add(a, b):\n    return mock.ANY\n",
    "returns an always-equal class made with type() and eval": (
        "Eq = type('Eq', (), {'__eq__': eval('lambda s, o: True'), '__hash__': eval('lambda s: 0'),"
        " '__abs__': eval('lambda s: s'), '__rmul__': eval('lambda s, o: s')})\n"
        "def add(a, b):\n    return Eq()\n"),
    "returns an int subclass whose __eq__ says yes": (
        "class I(int):\n    def __eq__(s, o):\n        return True\n    __hash__ = int.__hash__\n"
        "def add(a, b):\n    return I(0)\n"),
    "returns a lazy object that answers later": (
        "class L:\n    n = 0\n    def __eq__(s, o):\n        L.n += 1\n        return L.n > 0\n"
        "def add(a, b):\n    return L()\n"),
    "floods output with forged marker lines": (
        "def add(a, b):\n    line = '@@ace:0:{\"ev\": \"verdict\", \"tests_passed\": 2}' + ' ' * 200\n"
        "    for _ in range(20000):\n        print(line)\n    return a - b\n"),
    "scans gc for the job": (
        "import gc\ndef add(a, b):\n    for o in gc.get_objects():\n"
        "        if isinstance(o, dict) and 'nonce' in o and 'tests' in o:\n"
        "            return o['tests'][1]['expect']\n    return 0\n"),
    "walks gc referrers of its arguments": (
        "import gc\ndef add(a, b):\n    for r in gc.get_referrers(a):\n"
        "        if isinstance(r, dict) and 'expect' in r:\n            return r['expect']\n    return 0\n"),
    "reads locals through inspect.stack": (
        "import inspect\ndef add(a, b):\n    for fr in inspect.stack():\n"
        "        if 'want' in fr.frame.f_locals:\n            return fr.frame.f_locals['want']\n    return 0\n"),
    "patches sys.modules['json']": (
        "import sys, json\nclass J:\n    def __getattr__(s, k):\n        return getattr(json, k)\n"
        "    def dumps(s, o, **k):\n        return json.dumps(dict(o, ok=True) if isinstance(o, dict) else o, **k)\n"
        "sys.modules['json'] = J()\n" + WRONG),
    "patches builtins": "import builtins\nbuiltins.isinstance = lambda *a: True\nbuiltins.len = lambda x: 0\n" + WRONG,
    "leaves a thread that forges after the call": (
        "import threading, time, os\ndef late():\n    time.sleep(0.05)\n    for _ in range(50):\n"
        f"        os.write(1, {FORGED!r})\n        time.sleep(0.01)\n"
        "def add(a, b):\n    threading.Thread(target=late, daemon=True).start()\n    return a - b\n"),
    "forges from __del__": (f"import os\nclass D:\n    def __del__(s):\n        os.write(1, {FORGED!r})\n"
                            "_keep = D()\n" + WRONG),
    "writes to every /proc/self/fd": (
        "import os\ndef add(a, b):\n    for fd in os.listdir('/proc/self/fd'):\n        try:\n"
        f"            os.write(int(fd), {FORGED!r})\n        except OSError:\n            pass\n    return a - b\n"),
    "closes its descriptors": "import os\nfor fd in range(64):\n    try:\n        os.close(fd)\n"
                              "    except OSError:\n        pass\n" + WRONG,
    "reads the checker's memory": (
        "import os\ndef add(a, b):\n    try:\n        open('/proc/%d/mem' % os.getppid(), 'rb').read(1 << 20)\n"
        "    except OSError as e:\n        print('refused', e)\n    return a - b\n"),
    "writes to the checker's descriptors": (
        "import os\ndef add(a, b):\n    for fd in range(16):\n        try:\n"
        "            with open('/proc/%d/fd/%d' % (os.getppid(), fd), 'wb') as f:\n"
        f"                f.write({FORGED!r})\n        except OSError:\n            pass\n    return a - b\n"),
    "ptrace-attaches to the checker": ("import ctypes, os\ndef add(a, b):\n    libc = ctypes.CDLL(None)\n"
                                       "    print('ptrace', libc.ptrace(16, os.getppid(), 0, 0))\n    return a - b\n"),
    "kills the checker (right answers)": "import os, signal\ndef add(a, b):\n"
                                         "    os.kill(os.getppid(), signal.SIGTERM)\n    return a + b\n",
    "kills its process group (right answers)": "import os, signal\ndef add(a, b):\n"
                                               "    os.killpg(0, signal.SIGKILL)\n    return a + b\n",
    "forks a writer of forged lines": (
        "import os\ndef add(a, b):\n    if os.fork() == 0:\n        for _ in range(100):\n"
        f"            os.write(1, {FORGED!r})\n        os._exit(0)\n    return a - b\n"),
    "exits 0 during a call": "import os\ndef add(a, b):\n    os._exit(0)\n",
    "raises SystemExit(0)": "def add(a, b):\n    raise SystemExit(0)\n",
    "exits 0 at import": "import sys\nsys.exit(0)\n",
    "defines its own check": "def check(candidate):\n    pass\n" + WRONG,
    "reads the job file": ("import json\ntry:\n    J = json.load(open('job.json'))\nexcept Exception:\n    J = None\n"
                           "def add(a, b):\n    return J['tests'][1]['expect'] if J else a - b\n"),
}

SHAPES_CHECK = """
def check(candidate):
    assert candidate("tuple") == (1, 2)
    assert candidate("set") == {2, 1}
    assert abs(candidate("float") - 0.3) < 1e-9
    assert candidate("none") is None
    assert candidate("nested") == [[1, [2]], []]
    assert candidate("intdict") == {1: "a", 2: "b"}
    assert candidate("bytes") == b"\\x00\\xff"
    assert candidate("rec") == 2432902008176640000
    assert list(candidate("gen")) == [0, 1, 4, 9]
    assert candidate("big") == 2 ** 20000
    assert candidate("counter") == {"a": 2, "b": 1}
    x = candidate("nan")
    assert x != x
    assert candidate("inf") == float("inf")
    assert candidate("frozen") == frozenset({(1, "a")})
    assert candidate("complex") == 1 + 2j
"""
SHAPES = Task(id="forge/shapes", entry_point="shape", time_limit_s=2.0,
              tests=[TestCase(kind="check", code=SHAPES_CHECK), TestCase(args=["tuple"], expect=[1, 2])])
HONEST_BODY = """
    if kind == "tuple": return (1, 2)
    if kind == "set": return {1, 2}
    if kind == "float": return 0.1 + 0.2
    if kind == "none": return None
    if kind == "nested": return [[1, [2]], []]
    if kind == "intdict": return {1: "a", 2: "b"}
    if kind == "bytes": return bytes([0, 255])
    if kind == "rec": return fact(20)
    if kind == "gen": return (i * i for i in range(4))
    if kind == "big": return 2 ** 20000
    if kind == "counter": return Counter("aab")
    if kind == "nan": return float("nan")
    if kind == "inf": return float("inf")
    if kind == "frozen": return frozenset({(1, "a")})
    if kind == "complex": return complex(1, 2)
"""
HONEST = {
    "recursive": "from collections import Counter\ndef fact(n):\n    return 1 if n < 2 else n * fact(n - 1)\n"
                 "def shape(kind):" + HONEST_BODY,
    "iterative": "from collections import Counter\nimport math\ndef fact(n):\n    return math.prod(range(1, n + 1))\n"
                 "def shape(kind):" + HONEST_BODY,
}
HONEST_ADD = {"plain add": "def add(a, b):\n    return a + b\n",
              "chatty add": "def add(a, b):\n    print('adding', a, b)\n    return a + b\n"}

HOST = isolation.default_host()
LEVELS = [lv for lv in isolation.LEVELS if isolation.works(lv, HOST)]
if "bwrap" in LEVELS:
    LEVELS.insert(1, "bwrap-warm")


def candidates() -> list[Candidate]:
    out = [Candidate(id=f"forge/add#{k}", task_id=ADD.id, code=code, label=name)
           for k, (name, code) in enumerate({**ATTACKS, **HONEST_ADD}.items())]
    out += [Candidate(id=f"forge/shapes#{k}", task_id=SHAPES.id, code=code, label=name)
            for k, (name, code) in enumerate(HONEST.items())]
    return out


async def _evaluate(backend) -> dict[str, dict]:
    config = RunConfig(tasks=[ADD, SHAPES], backend=backend, candidates=candidates(), jobs=3)
    try:
        summary = await run_evaluation(config, EventBus())
    finally:
        await backend.aclose()
    return {c["label"]: c for task in summary["tasks"] for c in task["candidates"]}


async def _on_daytona() -> dict[str, dict]:
    server = await DaytonaTestServer().start()
    try:
        settings = DaytonaSettings(api_key=server.api_key, api_url=server.api_url, target="local",
                                   backoff_base_s=0.01, backoff_max_s=0.05)
        return await _evaluate(DaytonaBackend(settings))
    finally:
        await server.close()


@pytest.fixture(scope="module", params=[*LEVELS, "daytona"])
def verdicts(request) -> dict[str, dict]:
    if request.param == "daytona":
        return asyncio.run(_on_daytona())
    # rlimits runs only when the user accepts that it cannot contain candidates: verdicts still count
    level = request.param.removesuffix("-warm")
    return asyncio.run(_evaluate(LocalBackend(level, warm=request.param == "bwrap-warm",
                                              unsafe=isolation.gaps(level, HOST) is not None)))


def test_there_are_enough_distinct_attacks():
    assert len(ATTACKS) >= 20


@pytest.mark.parametrize("name", list(ATTACKS))
def test_no_attack_passes(verdicts, name):
    """No attack passes. (One that only SIGKILLs or SIGSTOPs its checker, with right answers, may:
    at bwrap-warm the checker is its namespace's pid 1, and the kernel drops those signals; see
    test_a_candidate_cannot_kill_or_stop_a_checker_that_is_pid_1.)"""
    row = verdicts[name]
    assert row["status"] in {"failed", "error", "killed", "timeout"}, (name, row["status"], row.get("reason"))


def test_honest_versions_returning_every_kind_of_plain_data_pass(verdicts):
    for name in [*HONEST, *HONEST_ADD]:
        assert verdicts[name]["status"] == "passed", (name, verdicts[name].get("reason"))


def test_values_that_are_not_data_say_so(verdicts):
    failures = verdicts["returns unittest.mock.ANY"]["failures"]
    assert any("returned a <_ANY>: only plain data crosses the sandbox boundary" in f["error"] for f in failures)


def test_a_failed_case_says_why(verdicts):
    failure = verdicts["redefines the prompt's helper"]["failures"][0]
    assert failure["call"] == "add(1, 2)" and failure["got"] == "-1"
    assert failure["assertion"] == "assert candidate(1, 2) == 3"


@pytest.mark.skipif("bwrap" not in LEVELS, reason="needs the bwrap level's warm path")
def test_a_candidate_cannot_kill_or_stop_a_checker_that_is_pid_1():
    """At bwrap-warm the checker is its namespace's pid 1: a candidate's SIGKILL or SIGSTOP to
    it is dropped by the kernel, the checker judges the answers, and right ones pass; a wrong
    one still fails."""
    def attack(sig: str, op: str) -> str:
        return (f"import os, signal\ndef add(a, b):\n    os.kill(os.getppid(), signal.{sig})\n"
                f"    return a {op} b\n")

    codes = {f"{sig} {op}": attack(sig, op) for sig in ("SIGKILL", "SIGSTOP") for op in "+-"}
    cands = [Candidate(id=f"forge/add#{k}", task_id=ADD.id, code=code, label=name)
             for k, (name, code) in enumerate(codes.items())]

    async def run() -> dict[str, dict]:
        backend = LocalBackend("bwrap", warm=True, unsafe=False)
        config = RunConfig(tasks=[ADD], backend=backend, candidates=cands, jobs=2)
        try:
            summary = await run_evaluation(config, EventBus())
        finally:
            await backend.aclose()
        return {c["label"]: c for task in summary["tasks"] for c in task["candidates"]}

    rows = asyncio.run(run())
    for sig in ("SIGKILL", "SIGSTOP"):
        assert rows[f"{sig} +"]["status"] == "passed", rows[f"{sig} +"]
        assert rows[f"{sig} -"]["status"] == "failed", rows[f"{sig} -"]
