"""The bundled demo pack: its shape, its references, the offline generator, and that every
hand-written version misbehaves exactly the way its ``kind`` header says.

The versions are our own trusted files, so a small harness runs them in plain subprocesses
(one per version, with a per-test alarm like the real runner's); the sandboxed engine has
its own tests.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from ai_code_evals.core.task import Task
from ai_code_evals.generation.offline import OfflineGenerator, demo_candidates, pack_candidates
from ai_code_evals.tasks.loaders import list_packs, load_tasks
from ai_code_evals.tasks.packs import Variant, pack_variants

TASKS = load_tasks("demo")
BY_ID = {t.id: t for t in TASKS}
KINDS = {"fast", "slow", "correct", "wrong", "crash", "fragile", "hang", "hang-ignores-signals", "noisy", "memory",
         "hash-order"}  # hash-order: right or wrong depending on PYTHONHASHSEED (the hash-seed profile)


def run_code(code: str, ns: dict) -> None:
    """Run trusted code in-process: our own fixtures, the pack's references, HumanEval's solutions."""
    exec(code, ns)  # noqa: S102


def test_pack_shape():
    assert "demo" in list_packs()
    assert len(TASKS) >= 5
    assert [t.id for t in load_tasks(Path("demo"))] == list(BY_ID)
    with_tests = [t for t in TASKS if not t.tests_from_docstring]
    docstring_only = [t for t in TASKS if t.tests_from_docstring]
    assert len(docstring_only) == 1 and docstring_only[0].tests  # examples became tests
    for t in with_tests:
        assert 6 <= len(t.tests) <= 12, t.id
        assert 2 <= len(t.error_cases) <= 4, t.id
        assert len(t.perf) == 1, t.id
        assert t.reference, t.id
        assert ">>>" in t.prompt and t.entry_point in t.prompt
    for t in TASKS:
        assert t.source.startswith(f"demo/{t.id}/task.yaml:")


def test_every_task_has_at_least_seven_labelled_versions():
    kinds: list[str] = []
    for t in TASKS:
        variants = pack_variants(t.id)
        assert 7 <= len(variants) <= 8, t.id  # the CLI runs 8 per task by default
        for v in variants:
            assert v.label and v.kind in KINDS, v.path
            assert not v.code.startswith("#"), v.path  # header comments are not part of the code
            compile(v.code, str(v.path), "exec")
        kinds += [v.kind for v in variants]
    assert kinds.count("hang-ignores-signals") == 1  # one version shows the wall-clock kill
    for k in ("fast", "slow", "wrong", "crash", "hang", "noisy", "memory"):
        assert kinds.count(k) >= 5, k
    assert kinds.count("fragile") >= 3  # correct but not robust, where that fits


@pytest.mark.parametrize("task", TASKS, ids=lambda t: t.id)
def test_reference_passes_its_own_tests(task: Task):
    for case in task.tests + task.error_cases:
        ns: dict = {}
        run_code(task.reference, ns)
        fn = ns[task.entry_point]
        if case.kind == "code":
            run_code(case.code, ns)
        elif case.raises:
            with pytest.raises(Exception) as info:
                fn(*case.args, **case.kwargs)
            assert case.raises in [c.__name__ for c in type(info.value).__mro__], case
        else:
            assert fn(*case.args, **case.kwargs) == case.expect, case


async def test_offline_generator():
    gen = OfflineGenerator()
    assert gen.name == "offline"
    task = BY_ID["two_sum"]
    got = [c async for c in gen.generate(task, 100)]
    variants = pack_variants("two_sum")
    assert [c.id for c in got] == [f"two_sum#{k}" for k in range(len(variants))]
    assert [c.label for c in got] == [v.label for v in variants]
    assert [c.code for c in got] == [v.code for v in variants]
    assert {(c.task_id, c.strategy, c.origin) for c in got} == {("two_sum", "hand-written", "offline")}
    assert [c.id async for c in gen.generate(task, 3)] == ["two_sum#0", "two_sum#1", "two_sum#2"]
    assert [c async for c in gen.generate(Task(id="elsewhere", entry_point="f"), 8)] == []
    assert [c async for c in gen.generate(Task(id="../demo/two_sum", entry_point="f"), 8)] == []
    assert [c.model_dump() for c in demo_candidates(task)] == [c.model_dump() for c in got]


async def test_offline_generator_with_a_pack_directory(tmp_path):
    (tmp_path / "p" / "f" / "variants").mkdir(parents=True)
    (tmp_path / "p" / "f" / "task.yaml").write_text("id: f\nentry_point: f\n")
    (tmp_path / "p" / "f" / "variants" / "b.py").write_text("# label: second\n# kind: wrong\ndef f():\n    return 2\n")
    (tmp_path / "p" / "f" / "variants" / "a.py").write_text("def f():\n    return 1\n")
    (task,) = load_tasks(tmp_path / "p")
    got = [c async for c in OfflineGenerator([tmp_path / "p"]).generate(task, 0)]
    assert [(c.id, c.label, c.code) for c in got] == [
        ("f#0", "a", "def f():\n    return 1\n"),
        ("f#1", "second", "def f():\n    return 2\n"),
    ]
    assert pack_candidates(task, [str(tmp_path / "p")], 1)[0].id == "f#0"


# --- behaviour of every version --------------------------------------------------------------

CHILD = r'''
import json, os, signal, statistics, sys, time
spec = json.loads(sys.stdin.read())
report = os.fdopen(spec["fd"], "w")

class Timeout(BaseException):
    pass

def alarm(*_):
    raise Timeout()

class Count:
    lines = 0
    def write(self, s):
        Count.lines += s.count("\n")
        return len(s)
    def flush(self):
        pass

signal.signal(signal.SIGALRM, alarm)
sys.stdout = Count()
ns = {"__name__": "candidate"}
exec(compile(spec["code"], "candidate.py", "exec"), ns)
fn = ns[spec["entry_point"]]

def run(case, limit):
    signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, limit)
    try:
        if case["kind"] == "code":
            exec(case["code"], dict(ns))
            return "ok"
        got = fn(*case["args"], **case["kwargs"])
        if case["raises"]:
            return "no-raise"
        return "ok" if got == case["expect"] else "wrong"
    except Timeout:
        return "timeout"
    except AssertionError:
        return "wrong" if case["kind"] == "code" else "raised:AssertionError"
    except Exception as e:
        if case["raises"] and case["raises"] in [c.__name__ for c in type(e).__mro__]:
            return "ok"
        return "raised:" + type(e).__name__
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)

res = {"tests": [run(c, spec["limit"]) for c in spec["tests"]],
       "errors": [run(c, spec["limit"]) for c in spec["error_cases"]]}
for p in spec["perf"]:
    args = eval(p["setup"])
    signal.setitimer(signal.ITIMER_REAL, p["time_limit_s"])
    for _ in range(p["repeats"]):
        fn(*args)
    signal.setitimer(signal.ITIMER_REAL, 0)
res["lines"] = Count.lines
res["peak_kib"] = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM"))
report.write(json.dumps(res))
report.close()
'''


def run_version(task: Task, code: str, *, perf: bool, limit: float, kill_after: float = 30.0) -> dict | None:
    """Run one version in a fresh interpreter (``limit`` seconds per test); None when it had
    to be killed."""
    r, w = os.pipe()
    spec = {
        "code": code, "entry_point": task.entry_point, "limit": limit, "fd": w,
        "tests": [t.model_dump() for t in task.tests], "error_cases": [t.model_dump() for t in task.error_cases],
        "perf": [p.model_dump() for p in task.perf] if perf else [],
    }
    proc = subprocess.Popen([sys.executable, "-I", "-c", CHILD], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                            pass_fds=(w,))
    os.close(w)
    try:
        proc.communicate(json.dumps(spec).encode(), timeout=kill_after)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    with os.fdopen(r, "rb") as f:
        data = f.read()
    return json.loads(data) if data else None


def check_kind(task: Task, v: Variant, res: dict | None, fast_peak: int | None) -> None:
    """Assert that a version's results match what its kind promises."""
    where = f"{task.id}: {v.path.name} ({v.kind})"
    if v.kind == "hang-ignores-signals":
        assert res is None, where  # only the outer kill stops it
        return
    assert res is not None, where
    tests, errors = res["tests"], res["errors"]
    all_ok = all(x == "ok" for x in tests + errors)
    if v.kind in ("fast", "slow", "correct", "noisy", "memory"):
        assert all_ok, (where, tests, errors)
    if v.kind == "noisy":
        assert res["lines"] >= (1000 if task.perf else 7), where
    if v.kind == "memory" and task.perf:
        assert res["peak_kib"] >= fast_peak + 10 * 1024, (where, res["peak_kib"], fast_peak)
    if v.kind == "wrong":
        assert "wrong" in tests and "timeout" not in tests, (where, tests)
    if v.kind == "crash":
        assert any(x.startswith("raised:") for x in tests + errors), (where, tests, errors)
        assert "timeout" not in tests + errors, where
    if v.kind == "fragile":
        assert all(x == "ok" for x in tests) and "no-raise" in errors, (where, tests, errors)
    if v.kind == "hang":
        assert "timeout" in tests, (where, tests)


def _behaviour(task: Task, kinds: set[str], *, perf: bool, limit: float) -> None:
    variants = [v for v in pack_variants(task.id) if v.kind in kinds]
    fast = next(v for v in pack_variants(task.id) if v.kind == "fast")
    jobs = [fast, *variants]
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(lambda v: run_version(
            task, v.code, perf=perf and v.kind in ("fast", "noisy", "memory"), limit=limit,
            kill_after=4.0 if v.kind == "hang-ignores-signals" else 30.0), jobs))
    fast_peak = results[0]["peak_kib"]
    for v, res in zip(variants, results[1:]):
        check_kind(task, v, res, fast_peak)


QUICK = {"fast", "correct", "wrong", "crash", "fragile", "noisy", "memory"}


@pytest.mark.parametrize("task", TASKS, ids=lambda t: t.id)
def test_versions_behave_as_labelled(task: Task):
    # none of these versions hangs: a generous limit keeps a loaded machine from failing them
    _behaviour(task, QUICK, perf=True, limit=20.0)


@pytest.mark.slow
@pytest.mark.parametrize("task", TASKS, ids=lambda t: t.id)
def test_slow_and_hanging_versions_behave_as_labelled(task: Task):
    _behaviour(task, {"slow", "hang", "hang-ignores-signals"}, perf=False, limit=task.time_limit_s)
