"""The runner: a stdlib-only script uploaded into every sandbox (DESIGN §4.2).

Usage inside the sandbox: ``python -I runner.py job.json``. It reads the job, deletes the
file (the nonce is then only in this process's memory), sets resource limits, loads the
candidate and runs each test with its own time limit. Results go out as single lines
``@@ace:<nonce>:<json>`` written to a private duplicate of stdout, so the candidate's own
prints stream through unchanged and a candidate that closes stdout cannot silence the runner.

A candidate that exits early (``sys.exit``, ``os._exit``) or kills this process never
produces the final ``verdict`` line, and the engine only passes a candidate on that line.
This does not stop a candidate that deliberately inspects this process's memory to forge a
verdict; the sandbox, not the runner, is the security boundary.
"""
import ast
import json
import os
import signal
import sys
import time

MARK = "@@ace:"
_OUT_FD = None
_NONCE = ""


GROUP_NAMES = {"tests": "test", "error_cases": "bad input", "generated": "generated test"}


class TestTimeout(BaseException):
    """Raised by the alarm. A BaseException so ``except Exception`` in candidates can't eat it."""


def emit(event):
    """Write one event line on the private stdout duplicate (atomic for lines < PIPE_BUF)."""
    line = MARK + _NONCE + ":" + json.dumps(event, default=repr) + "\n"
    data = line.encode("utf-8", "replace")
    try:
        sys.stdout.flush()
    except Exception:
        pass
    try:
        os.write(_OUT_FD, data)
    except OSError:
        pass


def _on_alarm(signum, frame):
    raise TestTimeout()


def set_limits(limits):
    """Best-effort rlimits for the sandboxed process (the backend may have set them already)."""
    try:
        import resource
    except ImportError:
        return
    table = [
        ("cpu_s", "RLIMIT_CPU", 1),
        ("memory_mb", "RLIMIT_AS", 1 << 20),
        ("processes", "RLIMIT_NPROC", 1),
        ("file_size_mb", "RLIMIT_FSIZE", 1 << 20),
        ("open_files", "RLIMIT_NOFILE", 1),
    ]
    for key, name, scale in table:
        value = limits.get(key)
        if not value or not hasattr(resource, name):
            continue
        res = getattr(resource, name)
        want = int(value) * scale
        try:
            _, hard = resource.getrlimit(res)
            if hard != resource.RLIM_INFINITY:
                want = min(want, hard)
            resource.setrlimit(res, (want, hard if hard != resource.RLIM_INFINITY else want))
        except (ValueError, OSError):
            pass


def peak_kib():
    try:
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    except Exception:
        return None


def cpu_s():
    t = os.times()
    return round(t.user + t.system, 4)


def describe(exc):
    """One line: 'ValueError: bad input' (the message cut to a sane length)."""
    name = type(exc).__name__
    msg = str(exc)
    if len(msg) > 300:
        msg = msg[:300] + "..."
    return name + (": " + msg if msg else "")


def exc_matches(exc, name):
    """True when the exception's class or one of its bases is called ``name``."""
    return any(k.__name__ == name for k in type(exc).__mro__)


def middle(values):
    """The median (statistics costs milliseconds to import in every sandbox)."""
    ordered = sorted(values)
    half = len(ordered) // 2
    return ordered[half] if len(ordered) % 2 else (ordered[half - 1] + ordered[half]) / 2


def wall_backstop(seconds):
    """The wall-clock limit behind a CPU-time limit: a test that sleeps or waits uses no CPU."""
    return 2 * seconds + 0.5


def stop_alarms():
    signal.setitimer(signal.ITIMER_PROF, 0)
    signal.setitimer(signal.ITIMER_REAL, 0)


def with_alarm(seconds, fn, *args):
    """Run fn(*args) within ``seconds`` of CPU time (this process, every thread), and within
    ``wall_backstop(seconds)`` of wall-clock time. CPU time is what a slow version spends
    whatever else the machine runs, so a loaded machine does not turn a correct version into a
    timeout. Returns (value, elapsed_ms); raises what fn raises."""
    signal.setitimer(signal.ITIMER_PROF, seconds)
    signal.setitimer(signal.ITIMER_REAL, wall_backstop(seconds))
    start = time.perf_counter_ns()
    try:
        value = fn(*args)
    finally:
        stop_alarms()
    return value, (time.perf_counter_ns() - start) / 1e6


def timed_out_msg(seconds):
    return "timed out: over %.1fs of CPU time or %.1fs of wall time" % (seconds, wall_backstop(seconds))


def run_case(ns, entry, test):
    """Run one test; returns None on success or raises AssertionError / the candidate's error."""
    kind = test.get("kind", "case")
    if kind == "case":
        fn = ns[entry]
        args = test.get("args") or []
        kwargs = test.get("kwargs") or {}
        raises = test.get("raises")
        if raises:
            try:
                fn(*args, **kwargs)
            except TestTimeout:
                raise
            except BaseException as exc:
                if exc_matches(exc, raises):
                    return
                raise AssertionError("expected %s, got %s" % (raises, describe(exc)))
            raise AssertionError("expected %s, nothing was raised" % raises)
        got = fn(*args, **kwargs)
        want = test.get("expect")
        if not equal(got, want):
            raise AssertionError("expected %s, got %s" % (short(want), short(got)))
        return
    scope = dict(ns)
    scope["__ace_eq__"], scope["__ace_in__"] = strict_eq, strict_in
    code = test.get("code") or ""
    exec(compile(ast.fix_missing_locations(EqRewriter().visit(ast.parse(code))), "<test>", "exec"), scope)
    if kind == "check":
        scope["check"](ns[entry])


def equal(got, want):
    """Equality that treats tuples as lists (YAML/JSON have no tuples) and floats with tolerance.
    A value whose class the candidate wrote never decides its own equality (see candidate_made)."""
    if candidate_made(type(got)):
        return False
    if isinstance(got, tuple):
        got = list(got)
    if isinstance(want, tuple):
        want = list(want)
    if isinstance(got, float) and isinstance(want, (int, float)) and not isinstance(want, bool):
        return abs(got - want) <= 1e-9 * max(1.0, abs(want))
    if isinstance(got, list) and isinstance(want, list):
        return len(got) == len(want) and all(equal(a, b) for a, b in zip(got, want))
    if isinstance(got, dict) and isinstance(want, dict):
        return got.keys() == want.keys() and all(equal(got[k], want[k]) for k in got)
    try:
        return bool(got == want)
    except Exception:
        return False


# -- values that lie about equality --------------------------------------------------------------
# A classic way to game tests is to return an object whose __eq__ always says yes. Comparisons
# in tests therefore never let a class written by the candidate decide, unless both sides are of
# that same class (then the test itself built the expected value from it).
_HEAPTYPE = 1 << 9
_made: dict = {}


def candidate_made(cls):
    """True when ``cls`` (or a base) is a class the candidate's program defined."""
    known = _made.get(cls)
    if known is not None:
        return known
    found = False
    for klass in cls.__mro__:
        if not klass.__flags__ & _HEAPTYPE:
            continue
        own = klass.__dict__.get("__module__") == "__candidate__"
        for key, impl in list(klass.__dict__.items()):
            func = getattr(impl, "__func__", impl)
            code = getattr(func, "__code__", None)
            if code is not None and code.co_filename == "candidate.py":
                found = True
            elif own and key[:2] == "__" == key[-2:] and callable(impl) and getattr(impl, "__name__", key) != key:
                found = True  # a borrowed slot, such as __eq__ = int.__ne__
        if found:
            break
    _made[cls] = found
    return found


def strict_eq(a, b):
    """``a == b`` as a test means it (assert statements are rewritten to call this)."""
    ta, tb = type(a), type(b)
    if ta is not tb and (candidate_made(ta) or candidate_made(tb)):
        return False
    if ta in (list, tuple) and ta is tb:
        return len(a) == len(b) and all(strict_eq(x, y) for x, y in zip(a, b))
    if ta is dict and tb is dict:
        return a.keys() == b.keys() and all(strict_eq(a[k], b[k]) for k in a)
    return a == b


def strict_in(item, container):
    if type(container) in (list, tuple):
        return any(strict_eq(item, x) for x in container)
    if candidate_made(type(item)) and not candidate_made(type(container)):
        return any(strict_eq(item, x) for x in container)
    return item in container


class EqRewriter(ast.NodeTransformer):
    """``x == y``, ``x != y``, ``x in y``, ``x not in y`` in test code -> the strict versions."""

    def visit_Compare(self, node):
        self.generic_visit(node)
        if len(node.ops) != 1:
            return node
        op, left, right = node.ops[0], node.left, node.comparators[0]
        if isinstance(op, (ast.Eq, ast.NotEq)):
            call = ast.Call(ast.Name("__ace_eq__", ast.Load()), [left, right], [])
        elif isinstance(op, (ast.In, ast.NotIn)):
            call = ast.Call(ast.Name("__ace_in__", ast.Load()), [left, right], [])
        else:
            return node
        if isinstance(op, (ast.NotEq, ast.NotIn)):
            call = ast.UnaryOp(ast.Not(), call)
        return ast.copy_location(call, node)


def short(value, limit=120):
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def run_group(group, tests, ns, entry, limit_s):
    """Run a list of tests, emitting start/end events; returns (passed_indices, timeouts)."""
    passed, timeouts = [], 0
    for i, test in enumerate(tests):
        name = test.get("name") or "%s %d" % (GROUP_NAMES.get(group, group), i + 1)
        emit({"ev": "test", "phase": "start", "group": group, "i": i, "name": name})
        ok, error, error_type, timed_out = False, None, None, False
        start = time.perf_counter_ns()
        try:
            with_alarm(limit_s, run_case, ns, entry, test)
            ok = True
        except TestTimeout:
            timed_out, error, error_type = True, timed_out_msg(limit_s), "Timeout"
            timeouts += 1
        except RecursionError as exc:
            error, error_type = describe(exc), "RecursionError"
        except BaseException as exc:
            error, error_type = describe(exc), type(exc).__name__
        finally:
            stop_alarms()
        ms = (time.perf_counter_ns() - start) / 1e6
        if ok:
            passed.append(i)
        emit({"ev": "test", "phase": "end", "group": group, "i": i, "name": name, "ok": ok,
              "error": error, "error_type": error_type, "timeout": timed_out, "ms": round(ms, 3),
              "cpu_s": cpu_s(), "rss_kib": peak_kib()})
    return passed, timeouts


def run_perf(cases, ns, entry):
    """Time each perf case: build the input once, call it ``repeats`` times, report the median."""
    medians = []
    for i, case in enumerate(cases):
        name = case.get("name") or "perf %d" % (i + 1)
        emit({"ev": "test", "phase": "start", "group": "perf", "i": i, "name": name})
        limit = float(case.get("time_limit_s") or 5.0)
        runs, error, timed_out = [], None, False
        try:
            args = eval(case["setup"], dict(ns))
            if not isinstance(args, (list, tuple)):
                args = (args,)
            fn = ns[entry]
            deadline = time.monotonic() + limit * max(1, int(case.get("repeats") or 5))
            for _ in range(max(1, int(case.get("repeats") or 5))):
                _, ms = with_alarm(limit, fn, *args)
                runs.append(round(ms, 4))
                if time.monotonic() > deadline:
                    break
        except TestTimeout:
            timed_out, error = True, timed_out_msg(limit)
        except BaseException as exc:
            error = describe(exc)
        finally:
            stop_alarms()
        median = round(middle(runs), 4) if runs and not error else None
        if median is not None:
            medians.append(median)
        emit({"ev": "test", "phase": "end", "group": "perf", "i": i, "name": name,
              "ok": median is not None, "error": error, "timeout": timed_out,
              "error_type": "Timeout" if timed_out else None, "median_ms": median, "runs_ms": runs,
              "cpu_s": cpu_s(), "rss_kib": peak_kib()})
    return medians


def main():
    global _OUT_FD, _NONCE
    job_path = sys.argv[1] if len(sys.argv) > 1 else "job.json"
    with open(job_path, encoding="utf-8") as fh:
        job = json.load(fh)
    try:
        os.unlink(job_path)
    except OSError:
        pass
    _NONCE = job["nonce"]
    _OUT_FD = os.dup(1)
    try:
        os.set_inheritable(_OUT_FD, False)
    except OSError:
        pass
    for stream in (sys.stdout, sys.stderr):  # the candidate's prints stream live, line by line
        try:
            stream.reconfigure(line_buffering=True)
        except Exception:
            pass
    set_limits(job.get("limits") or {})
    signal.signal(signal.SIGALRM, _on_alarm)
    signal.signal(signal.SIGPROF, _on_alarm)
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 3000))

    entry = job["entry_point"]
    tests = job.get("tests") or []
    errors = job.get("error_cases") or []
    perf = job.get("perf") or []
    generated = [{"kind": "code", "code": code} for code in (job.get("generated_tests") or [])]
    limit_s = float(job.get("time_limit_s") or 3.0)
    load_s = float(job.get("load_time_limit_s") or limit_s)
    emit({"ev": "hello", "pid": os.getpid(), "tests_total": len(tests), "error_total": len(errors),
          "perf_total": len(perf), "generated_total": len(generated)})

    ns = {"__name__": "__candidate__", "__builtins__": __builtins__}
    try:
        with_alarm(load_s, exec, compile(job["program"], "candidate.py", "exec"), ns)
        if not callable(ns.get(entry)):
            raise NameError("the program does not define %s()" % entry)
    except TestTimeout:
        emit({"ev": "load", "ok": False, "error": "loading " + timed_out_msg(load_s),
              "error_type": "Timeout"})
        emit_verdict(job, [], [], [], [], 1, load_error="loading timed out")
        return
    except BaseException as exc:
        error = describe(exc)
        emit({"ev": "load", "ok": False, "error": error, "error_type": type(exc).__name__,
              "traceback": __import__("traceback").format_exc(limit=-3)})
        emit_verdict(job, [], [], [], [], 0, load_error=error)
        return
    emit({"ev": "load", "ok": True})

    passed, t1 = run_group("tests", tests, ns, entry, limit_s)
    handled, t2 = run_group("error_cases", [dict(c, kind="case") for c in errors], ns, entry, limit_s)
    gen_passed, t3 = run_group("generated", generated, ns, entry, limit_s) if generated else ([], 0)
    medians = run_perf(perf, ns, entry) if perf and len(passed) == len(tests) else []
    emit_verdict(job, passed, handled, gen_passed, medians, t1 + t2 + t3)


def emit_verdict(job, passed, handled, gen_passed, medians, timeouts, load_error=None):
    emit({"ev": "verdict", "tests_passed": len(passed), "tests_total": len(job.get("tests") or []),
          "passed": passed, "errors_handled": len(handled),
          "errors_total": len(job.get("error_cases") or []), "generated_passed": gen_passed,
          "generated_total": len(job.get("generated_tests") or []),
          "median_ms": round(sum(medians), 4) if medians else None,
          "perf_total": len(job.get("perf") or []), "perf_done": len(medians),
          "timeouts": timeouts, "load_error": load_error, "peak_kib": peak_kib(), "cpu_s": cpu_s()})


if __name__ == "__main__":
    try:
        main()
    finally:
        # Leave at once: candidate threads or atexit hooks must not delay or alter the verdict.
        try:
            sys.stdout.flush()
        except Exception:
            pass
        os._exit(0)
