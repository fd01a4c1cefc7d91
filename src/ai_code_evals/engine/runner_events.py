"""Reading the in-sandbox runner's event lines into what a version did.

The runner (sandbox/runner.py) marks its own lines with a per-job nonce; everything else on the
sandbox's streams is the sandbox's or the version's output. ``RunnerEvents`` keeps the state
those lines add up to: progress (steps, tests passed and failed, resource use, output tail),
failures with their details, probe outputs, perf repeat times, the verdict, and the watchdog's
view (which step runs now and until when it may run). It never raises on what it is sent: a
malformed event is remembered as a protocol error and judged when the result is made.
"""
from __future__ import annotations

import json
import time
from collections import deque
from collections.abc import Callable

from ai_code_evals.core.appclock import timed
from ai_code_evals.core.task import Task
from ai_code_evals.engine.jobfile import STALL_GRACE_S, STARTUP_GRACE_S
from ai_code_evals.engine.timelimits import TimeLimit, call_limit_reason
from ai_code_evals.sandbox.runner import MARK, wall_backstop

TAIL_LINES = 8
MAX_FAILURES_KEPT = 5
STDERR_TAIL_LINES = 20
# what the checker says about a failed case, kept in the result's ``failures``
FAILURE_DETAIL = ("call", "expected", "got", "assertion", "traceback")


def _finite_ms(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value < float("inf")


class RunnerEvents:
    """The state one runner's event lines add up to. ``on_output(stream, text, n)`` is told of
    every output line kept; ``on_progress(state)`` of every step that deserves a snapshot."""

    def __init__(self, task: Task, nonce: str, n_probes: int,
                 on_output: Callable[[str, str, int], None], on_progress: Callable[[str], None]) -> None:
        self.task, self.nonce, self.n_probes = task, nonce, n_probes
        self.on_output, self.on_progress = on_output, on_progress
        # the per-test limit in force and why (named in a timeout's reason); None: the task's own
        self.time_limit: TimeLimit | None = None
        self.load_limit_s = task.time_limit_s
        # progress, as snapshots show it
        self.detail = ""
        self.step = 0
        self.passed = self.failed = 0
        self.cpu_s: float | None = None
        self.rss_kib: int | None = None
        self.tail: deque[str] = deque(maxlen=TAIL_LINES)
        self.stderr_tail: deque[str] = deque(maxlen=STDERR_TAIL_LINES)
        self.lines = 0
        # what the result is made of
        self.fatal: str | None = None  # the checker could not judge (it says why)
        self.probe_outputs: list[str] | None = None
        self.verdict: dict | None = None
        self.ok_tests: dict[str, set[int]] = {}  # group -> indices the runner reported passing
        self.failures: list[dict] = []
        self.perf_runs: list[list[float]] = []  # each perf case's repeat times, as the checker timed them
        self.timeout_ms = 0.0  # spent in tests that hit their time limit
        self.load_timed_out = False
        self.protocol_error: str | None = None  # first malformed runner event, if any
        self.marks: dict[str, float] = {}  # monotonic times of 'hello', 'load' and 'verdict'
        # measured by the runner (tests) and here (load: 'hello' to 'load'): the reference's times
        # give the task's derived time limit (engine/timelimits.py)
        self.load_started: float | None = None
        self.load_ms: float | None = None
        self.max_test_ms: float | None = None
        # watchdog: what is running now and until when it may run
        self.current = "startup"
        self.deadline = time.monotonic() + STARTUP_GRACE_S
        self.closed = False  # the command has ended: later output is a backend bug, dropped
        self.late_lines = 0

    def allow(self, current: str, seconds: float) -> None:
        """The watchdog lets ``current`` run for ``seconds`` from now."""
        self.current, self.deadline = current, time.monotonic() + seconds

    @timed("results")
    def on_line(self, stream: str, text: str) -> None:
        """One line from the sandbox. Never raises: whatever a backend or a candidate sends is data."""
        if self.closed:
            self.late_lines += 1
            return
        if not isinstance(text, str):
            text = repr(text)
        prefix = MARK + self.nonce + ":"
        if stream == "stdout" and text.startswith(prefix):
            try:
                event = json.loads(text[len(prefix):])
                if not isinstance(event, dict):
                    raise TypeError(f"an event must be a JSON object, got {type(event).__name__}")
                self.on_event(event)
            except (ValueError, TypeError, KeyError, IndexError, AttributeError, RecursionError) as exc:
                if self.protocol_error is None:
                    self.protocol_error = f"{type(exc).__name__}: {str(exc)[:200]}"
            return
        self.output(stream, text)  # not the checker's: the sandbox's own messages

    def output(self, stream: str, text: str) -> None:
        text = text if len(text) <= 400 else text[:400] + "…"
        self.tail.append(text)
        if stream == "stderr":
            self.stderr_tail.append(text)
        self.on_output(stream, text, self.lines)
        self.lines += 1

    def on_event(self, ev: dict) -> None:
        """One checker event; raises on a malformed one (``on_line`` records it)."""
        kind, phase = ev.get("ev"), ev.get("phase")
        if kind == "test":  # anything else in an event's fields is compared, never looked up
            kind = "test_start" if phase == "start" else "test_end" if phase == "end" else None
        if not isinstance(kind, str):
            return
        handler = {"out": self._out, "fatal": self._fatal, "probes": self._probes, "hello": self._hello,
                   "load": self._load, "test_start": self._test_start, "test_end": self._test_end,
                   "group": self._group, "verdict": self._verdict}.get(kind)
        if handler is not None:
            handler(ev)

    @property
    def step_limit_s(self) -> float:
        """How long one step may run before the watchdog acts (the runner's alarms act first)."""
        return wall_backstop(self.task.time_limit_s) + STALL_GRACE_S

    def _out(self, ev: dict) -> None:  # what the version printed, relayed by the checker
        if ev.get("s") not in ("stdout", "stderr") or not isinstance(ev.get("t"), str):
            raise ValueError("an output event needs a stream 's' and a text 't'")
        self.output(ev["s"], ev["t"])

    def _fatal(self, ev: dict) -> None:
        self.fatal = str(ev.get("error"))[:500]

    def _probes(self, ev: dict) -> None:
        outputs = ev.get("outputs")
        if (not isinstance(outputs, list) or len(outputs) != self.n_probes
                or not all(isinstance(o, str) for o in outputs)):
            raise ValueError("a probes event needs one output string per probe")
        self.probe_outputs = [o[:300] for o in outputs]
        self.deadline = time.monotonic() + self.step_limit_s

    def _hello(self, ev: dict) -> None:
        self.marks["hello"] = time.monotonic()
        self.allow("loading the program",
                   wall_backstop(max(self.load_limit_s, self.task.time_limit_s)) + STALL_GRACE_S)
        self.load_started = time.monotonic()

    def _load(self, ev: dict) -> None:
        self.marks["load"] = time.monotonic()
        if self.load_started is not None and self.load_ms is None:
            self.load_ms = (time.monotonic() - self.load_started) * 1000.0
        if not ev.get("ok"):
            self.load_timed_out = ev.get("error_type") == "Timeout"
            self.detail = f"does not load: {ev.get('error')}"

    def _test_start(self, ev: dict) -> None:
        self.step += 1
        self.current = str(ev.get("name"))
        budget = limit = self.step_limit_s
        if ev.get("group") == "perf":
            perf = self.task.perf[ev.get("i", 0)] if ev.get("i", 0) < len(self.task.perf) else None
            budget = (wall_backstop(perf.time_limit_s) * perf.repeats if perf else limit) + STALL_GRACE_S
        self.deadline = time.monotonic() + budget
        self.detail = f"running {ev.get('name')}"
        self.on_progress("running")

    def _test_end(self, ev: dict) -> None:
        if not isinstance(ev.get("i"), int) or not isinstance(ev.get("ok"), bool):
            # a ValueError as before: the exception's name is part of the recorded reason
            raise ValueError("a test event needs an integer 'i' and a boolean 'ok'")  # noqa: TRY004
        if ev["ok"]:
            self.ok_tests.setdefault(str(ev.get("group")), set()).add(ev["i"])
        self._resources(ev)
        ms = ev.get("ms")
        if ev.get("group") in ("tests", "error_cases") and _finite_ms(ms):
            self.max_test_ms = max(self.max_test_ms or 0.0, float(ms))
        if ev.get("group") == "tests":
            if ev.get("ok"):
                self.passed += 1
            else:
                self.failed += 1
        runs = ev.get("runs_ms")
        if ev.get("group") == "perf" and ev.get("ok") and isinstance(runs, list):
            self.perf_runs.append([float(x) for x in runs[:1000]
                                   if isinstance(x, (int, float)) and not isinstance(x, bool) and x >= 0])
        if ev.get("timeout") is True and isinstance(ms, (int, float)) and 0 <= ms < float("inf"):
            self.timeout_ms += float(ms)
        if not ev.get("ok"):
            self.record_failure(ev.get("group"), ev)
        self.deadline = time.monotonic() + self.step_limit_s

    def _group(self, ev: dict) -> None:  # a quiet group (generated tests): one event before, one after
        n = ev.get("n")
        if not isinstance(n, int) or isinstance(n, bool) or n < 0:
            raise ValueError("a group event needs a count 'n'")
        if ev.get("phase") == "start":  # the group may take each of its calls' limits
            self.allow(f"{n} probes" if ev.get("group") == "probes" else f"{n} {ev.get('group')} tests",
                       max(1, n) * self.step_limit_s)
            self.detail = f"running {self.current}"
            self.on_progress("running")
            return
        self.step += n
        failures = ev.get("failures")
        if not isinstance(failures, list) or not all(isinstance(f, dict) for f in failures):
            raise ValueError("a group's end event needs a list of failures")
        self._resources(ev)
        spent = ev.get("timeout_ms")
        if _finite_ms(spent):
            self.timeout_ms += float(spent)
        for failure in failures:
            self.record_failure(ev.get("group"), failure)
        self.deadline = time.monotonic() + self.step_limit_s

    def _verdict(self, ev: dict) -> None:
        if self.verdict is not None:
            raise ValueError("a second verdict")
        self.marks["verdict"] = time.monotonic()
        self.verdict = ev
        self.deadline = time.monotonic() + STARTUP_GRACE_S
        self.detail = "scoring"
        self.on_progress("scoring")

    def _resources(self, ev: dict) -> None:
        """The resource use the runner measured at the end of a test or group."""
        if isinstance(ev.get("rss_kib"), int):
            self.rss_kib = ev["rss_kib"]
        if isinstance(ev.get("cpu_s"), (int, float)):
            self.cpu_s = ev["cpu_s"]

    def record_failure(self, group, ev: dict) -> None:
        """Keep a failed test's error and details (the first MAX_FAILURES_KEPT of a version)."""
        if len(self.failures) >= MAX_FAILURES_KEPT:
            return
        error = ev.get("error")
        if ev.get("timeout") is True and self.time_limit is not None and isinstance(error, str):
            why = call_limit_reason(self.time_limit) if group == "generated" else self.time_limit.reason
            error = f"{error} ({why})"
        failure = {"group": group, "name": ev.get("name"), "error": error}
        detail = ev.get("detail")
        if isinstance(detail, dict):
            failure.update({k: str(detail[k])[:3000] for k in FAILURE_DETAIL if detail.get(k)})
        if ev.get("timeout") is True and self.tail:
            failure.setdefault("last_output", self.tail[-1])
        self.failures.append(failure)
