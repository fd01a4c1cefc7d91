"""One (candidate, profile) evaluation: sandbox lifecycle, runner protocol, snapshots.

The job owns its sandbox from create to destroy; it turns runner event lines into state
transitions, publishes a snapshot at every transition (and once a second while running, with
resource use), and returns a CandidateResult whatever happens to the candidate or the sandbox.
"""
from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import secrets
import time
from collections import deque
from importlib import resources

from ai_code_evals.core.candidate import Candidate
from ai_code_evals.core.events import CandidateFinished, EngineNotice, EventBus, OutputLine, Snapshot
from ai_code_evals.core.task import Task
from ai_code_evals.engine.calls import generated_calls
from ai_code_evals.engine.profiles import EnvProfile
from ai_code_evals.engine.results import CandidateResult, decide_status, infrastructure_reason, repeat_totals
from ai_code_evals.engine.timelimits import TimeLimit
from ai_code_evals.engine.verdict import check_verdict
from ai_code_evals.sandbox.base import SandboxBackend, SandboxSpec
from ai_code_evals.sandbox.runner import MARK, wall_backstop

TAIL_LINES = 8
STARTUP_GRACE_S = 15.0  # interpreter start inside a cold sandbox
STALL_GRACE_S = 2.0  # beyond a test's wall-clock backstop before the watchdog kills the sandbox
METRICS_EVERY_S = 1.0
MAX_FAILURES_KEPT = 5
STDERR_TAIL_LINES = 20
# what the checker says about a failed case, kept in the result's ``failures``
FAILURE_DETAIL = ("call", "expected", "got", "assertion", "traceback")
# Backends are remote services too: a create/upload or destroy that never returns must not hang
# the run. Generous, because a cold Daytona create can take seconds.
SANDBOX_START_TIMEOUT_S = 120.0
DESTROY_TIMEOUT_S = 30.0
_stray_destroys: set[asyncio.Future] = set()  # destroys that outlived their timeout, kept referenced


@functools.cache
def runner_source() -> bytes:
    return resources.files("ai_code_evals.sandbox").joinpath("runner.py").read_bytes()


def build_job(task: Task, candidate: Candidate, profile: EnvProfile, nonce: str,
              generated_tests: list[str], load_time_limit_s: float | None = None,
              probes: list[str] | None = None) -> dict:
    """The job.json the checker reads (the candidate child never sees it). Loading the
    program may take ``load_time_limit_s`` (default: the per-test limit): a derived per-test
    limit says how long the reference's tests take, not how long a version's imports take.
    A completion-style task's prompt is the checker's ``context``: the helpers its tests use
    come from the task file, never from the version."""
    limits = profile.limits
    return {
        "nonce": nonce,
        "entry_point": task.entry_point,
        "program": candidate.code,
        "context": task.prompt if task.completion_style else None,
        "tests": [t.model_dump() for t in task.tests],
        "error_cases": [t.model_dump() for t in task.error_cases],
        "perf": [p.model_dump() for p in task.perf],
        "generated_tests": generated_calls(generated_tests, task.entry_point),
        "probes": list(probes or []),
        "time_limit_s": task.time_limit_s,
        "load_time_limit_s": load_time_limit_s or task.time_limit_s,
        "limits": {"cpu_s": limits.cpu_s, "memory_mb": limits.memory_mb, "processes": limits.processes,
                   "file_size_mb": limits.file_size_mb, "open_files": limits.open_files},
    }


def wall_budget(task: Task, n_generated: int, load_time_limit_s: float = 0.0, n_probes: int = 0) -> float:
    """A generous backstop for the whole run; the per-test watchdog usually acts first."""
    per = wall_backstop(task.time_limit_s) + STALL_GRACE_S
    steps = len(task.tests) + len(task.error_cases) + n_generated + n_probes + 1
    perf = sum(wall_backstop(p.time_limit_s) * p.repeats for p in task.perf)
    load_extra = max(0.0, wall_backstop(load_time_limit_s) - wall_backstop(task.time_limit_s))
    return STARTUP_GRACE_S + steps * per + perf + load_extra


class CandidateJob:
    """Runs one candidate under one profile and reports every step on the bus."""

    def __init__(self, task: Task, candidate: Candidate, profile: EnvProfile, bus: EventBus,
                 generated_tests: list[str] | None = None, probes: list[str] | None = None) -> None:
        self.task, self.candidate, self.profile, self.bus = task, candidate, profile, bus
        self.generated_tests = generated_tests or []
        self.probes = probes or []
        self.probe_outputs: list[str] | None = None
        self.fatal: str | None = None  # the checker could not judge (it says why)
        self.stderr_tail: deque[str] = deque(maxlen=STDERR_TAIL_LINES)
        self.marks: dict[str, float] = {}  # monotonic times of each phase's end (see phases())
        self.timeout_ms = 0.0  # spent in tests that hit their time limit
        self.perf_runs: list[list[float]] = []  # each perf case's repeat times, as the checker timed them
        self.nonce = secrets.token_hex(16)
        self.seq = 0
        self.state = "queued"
        self.detail = ""
        self.steps_total = (len(task.tests) + len(task.error_cases) + len(self.generated_tests)
                            + len(task.perf))
        self.step = 0
        self.passed = self.failed = 0
        self.started = time.monotonic()
        self.tail: deque[str] = deque(maxlen=TAIL_LINES)
        self.lines = 0
        self.cpu_s: float | None = None
        self.rss_kib: int | None = None
        self.verdict: dict | None = None
        self.ok_tests: dict[str, set[int]] = {}  # group -> indices the runner reported passing
        self.protocol_error: str | None = None  # first malformed runner event, if any
        self.closed = False  # the command has ended: later output is a backend bug, dropped
        self.late_lines = 0
        self.failures: list[dict] = []
        self.sandbox_info: dict = {}
        self.isolation = ""
        # watchdog: what is running now and until when it may run
        self.current = "startup"
        self.deadline = time.monotonic() + STARTUP_GRACE_S
        # the per-test limit in force and why (named in a timeout's reason); None: the task's own
        self.time_limit: TimeLimit | None = None
        self.load_limit_s = task.time_limit_s
        self.load_timed_out = False
        # measured by the runner (tests) and here (load: 'hello' to 'load'): the reference's times
        # give the task's derived time limit (engine/timelimits.py)
        self.load_started: float | None = None
        self.load_ms: float | None = None
        self.max_test_ms: float | None = None

    def set_time_limit(self, limit: TimeLimit) -> None:
        """Run under ``limit`` instead of the task's own: it reaches the runner's job, the
        watchdog and the wall budget through ``self.task``."""
        self.time_limit = limit
        self.load_limit_s = self.task.time_limit_s  # loading keeps the task's own limit
        if limit.limit_s != self.task.time_limit_s:
            self.task = self.task.model_copy(update={"time_limit_s": limit.limit_s})

    # -- snapshots -----------------------------------------------------------------------
    def snapshot(self, state: str | None = None, status: str | None = None) -> None:
        if state:
            self.state = state
        self.bus.publish(Snapshot(
            candidate_id=self.candidate.id, task_id=self.task.id, profile=self.profile.name,
            state=self.state, seq=self.seq, test_index=self.step, tests_total=self.steps_total,
            passed=self.passed, failed=self.failed, elapsed_s=round(time.monotonic() - self.started, 3),
            cpu_s=self.cpu_s, rss_kib=self.rss_kib, output_tail=list(self.tail), output_lines=self.lines,
            status=status, detail=self.detail, sandbox=dict(self.sandbox_info, isolation=self.isolation),
        ))
        self.seq += 1

    # -- runner protocol -----------------------------------------------------------------
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
        self.bus.publish(OutputLine(candidate_id=self.candidate.id, profile=self.profile.name,
                                    stream=stream, text=text, n=self.lines))
        self.lines += 1

    def on_event(self, ev: dict) -> None:
        kind = ev.get("ev")
        limit = wall_backstop(self.task.time_limit_s) + STALL_GRACE_S  # the runner's alarms act first
        if kind == "out":  # what the version printed, relayed by the checker
            if ev.get("s") not in ("stdout", "stderr") or not isinstance(ev.get("t"), str):
                raise ValueError("an output event needs a stream 's' and a text 't'")
            self.output(ev["s"], ev["t"])
        elif kind == "fatal":
            self.fatal = str(ev.get("error"))[:500]
        elif kind == "probes":
            outputs = ev.get("outputs")
            if (not isinstance(outputs, list) or len(outputs) != len(self.probes)
                    or not all(isinstance(o, str) for o in outputs)):
                raise ValueError("a probes event needs one output string per probe")
            self.probe_outputs = [o[:300] for o in outputs]
            self.deadline = time.monotonic() + limit
        elif kind == "hello":
            self.marks["hello"] = time.monotonic()
            self.current = "loading the program"
            self.deadline = (time.monotonic() + wall_backstop(max(self.load_limit_s, self.task.time_limit_s))
                             + STALL_GRACE_S)
            self.load_started = time.monotonic()
        elif kind == "load":
            self.marks["load"] = time.monotonic()
            if self.load_started is not None and self.load_ms is None:
                self.load_ms = (time.monotonic() - self.load_started) * 1000.0
            if not ev.get("ok"):
                self.load_timed_out = ev.get("error_type") == "Timeout"
                self.detail = f"does not load: {ev.get('error')}"
        elif kind == "test" and ev.get("phase") == "start":
            self.step += 1
            self.current = str(ev.get("name"))
            budget = limit
            if ev.get("group") == "perf":
                perf = self.task.perf[ev.get("i", 0)] if ev.get("i", 0) < len(self.task.perf) else None
                budget = (wall_backstop(perf.time_limit_s) * perf.repeats if perf else limit) + STALL_GRACE_S
            self.deadline = time.monotonic() + budget
            self.detail = f"running {ev.get('name')}"
            self.snapshot("running")
        elif kind == "test" and ev.get("phase") == "end":
            if not isinstance(ev.get("i"), int) or not isinstance(ev.get("ok"), bool):
                raise ValueError("a test event needs an integer 'i' and a boolean 'ok'")
            if ev["ok"]:
                self.ok_tests.setdefault(str(ev.get("group")), set()).add(ev["i"])
            if isinstance(ev.get("rss_kib"), int):
                self.rss_kib = ev["rss_kib"]
            if isinstance(ev.get("cpu_s"), (int, float)):
                self.cpu_s = ev["cpu_s"]
            ms = ev.get("ms")
            if (ev.get("group") in ("tests", "error_cases") and isinstance(ms, (int, float))
                    and not isinstance(ms, bool) and 0 <= ms < float("inf")):
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
            self.deadline = time.monotonic() + limit
        elif kind == "group":  # a quiet group (generated tests): one event before, one after
            n = ev.get("n")
            if not isinstance(n, int) or isinstance(n, bool) or n < 0:
                raise ValueError("a group event needs a count 'n'")
            if ev.get("phase") == "start":  # the group may take each of its calls' limits
                self.current = f"{n} probes" if ev.get("group") == "probes" else f"{n} {ev.get('group')} tests"
                self.deadline = time.monotonic() + max(1, n) * limit
                self.detail = f"running {self.current}"
                self.snapshot("running")
                return
            self.step += n
            failures = ev.get("failures")
            if not isinstance(failures, list) or not all(isinstance(f, dict) for f in failures):
                raise ValueError("a group's end event needs a list of failures")
            if isinstance(ev.get("rss_kib"), int):
                self.rss_kib = ev["rss_kib"]
            if isinstance(ev.get("cpu_s"), (int, float)):
                self.cpu_s = ev["cpu_s"]
            spent = ev.get("timeout_ms")
            if isinstance(spent, (int, float)) and not isinstance(spent, bool) and 0 <= spent < float("inf"):
                self.timeout_ms += float(spent)
            for failure in failures:
                self.record_failure(ev.get("group"), failure)
            self.deadline = time.monotonic() + limit
        elif kind == "verdict":
            if self.verdict is not None:
                raise ValueError("a second verdict")
            self.marks["verdict"] = time.monotonic()
            self.verdict = ev
            self.deadline = time.monotonic() + STARTUP_GRACE_S
            self.detail = "scoring"
            self.snapshot("scoring")

    def record_failure(self, group, ev: dict) -> None:
        """Keep a failed test's error and details (the first MAX_FAILURES_KEPT of a version)."""
        if len(self.failures) >= MAX_FAILURES_KEPT:
            return
        error = ev.get("error")
        if ev.get("timeout") is True and self.time_limit is not None and isinstance(error, str):
            error = f"{error} ({self.time_limit.reason})"
        failure = {"group": group, "name": ev.get("name"), "error": error}
        detail = ev.get("detail")
        if isinstance(detail, dict):
            failure.update({k: str(detail[k])[:3000] for k in FAILURE_DETAIL if detail.get(k)})
        if ev.get("timeout") is True and self.tail:
            failure.setdefault("last_output", self.tail[-1])
        self.failures.append(failure)

    # -- lifecycle -------------------------------------------------------------------------
    async def run(self, backend: SandboxBackend, labels: dict[str, str],
                  packages: str | None = None) -> CandidateResult:
        """Evaluate and publish the result. Never raises except CancelledError. ``packages``:
        the task's prepared requirements (the backend's ``prepare_requirements``), if any."""
        self.started = time.monotonic()
        self.snapshot("starting")
        sandbox = None
        start_timeout_s = SANDBOX_START_TIMEOUT_S
        exec_result = None
        stalled_in = None
        error: str | None = None
        starting = True
        try:
            # a backend that paces or retries its own creates (Daytona) may say how long it needs
            start_timeout_s = max(SANDBOX_START_TIMEOUT_S, getattr(backend, "start_timeout_s", 0) or 0)
            async with asyncio.timeout(start_timeout_s):
                sandbox = await backend.create(SandboxSpec(limits=self.profile.limits, labels=labels,
                                                           env=dict(self.profile.env), packages=packages))
                self.isolation = getattr(sandbox, "isolation", "")
                self.sandbox_info = dict(getattr(sandbox, "info", {}) or {})
                job = build_job(self.task, self.candidate, self.profile, self.nonce, self.generated_tests,
                                self.load_limit_s, self.probes)
                await sandbox.upload({"runner.py": runner_source(), "job.json": json.dumps(job).encode()})
            starting = False
            self.marks["ready"] = time.monotonic()
            self.detail = "sandbox ready"
            self.snapshot("running")
            self.deadline = time.monotonic() + STARTUP_GRACE_S
            run = asyncio.ensure_future(sandbox.exec(
                [self.profile.python, "runner.py", "job.json"], on_line=self.on_line,
                timeout_s=wall_budget(self.task, len(self.generated_tests), self.load_limit_s, len(self.probes))))
            stalled_in = await self._watch(run, sandbox)
            if stalled_in is None:
                exec_result = run.result()
            elif stalled_in == "startup":  # no 'hello' yet: the version's code was not even read
                error = infrastructure_reason(f"the runner did not start within {STARTUP_GRACE_S:g}s "
                                              "(the sandbox is too slow or overloaded)")
            self.marks["ended"] = time.monotonic()
        except asyncio.CancelledError:
            raise
        except TimeoutError as exc:
            error = infrastructure_reason(f"the sandbox did not start within {start_timeout_s:g}s"
                                          if starting else f"TimeoutError: {exc}".strip())
        except Exception as exc:  # noqa: BLE001 - the infrastructure failing is not the candidate's fault
            error = infrastructure_reason(f"{type(exc).__name__}: {exc}".strip())
        finally:
            self.closed = True
            if sandbox is not None:
                self.sandbox_info.update(getattr(sandbox, "info", None) or {})  # latest state, latencies
                await self._destroy(sandbox)
            self.marks["destroyed"] = time.monotonic()
        try:
            return self.finish(exec_result, stalled_in, error)
        except Exception as exc:  # noqa: BLE001 - a bug here must cost one result, not the run
            self.verdict = None
            return self.finish(None, None, f"internal error while scoring: {type(exc).__name__}: {exc}")

    async def _destroy(self, sandbox) -> None:
        """Destroy, but never wait longer than DESTROY_TIMEOUT_S: a backend whose destroy hangs
        gets a notice, and the backend's own close at the end of the run gets another chance."""
        destroy = asyncio.ensure_future(sandbox.destroy())
        done, _ = await asyncio.wait({destroy}, timeout=DESTROY_TIMEOUT_S)  # cancelling us leaves it running
        if done:
            if not destroy.cancelled() and destroy.exception() is not None:
                self.sandbox_info["destroy"] = f"failed: {destroy.exception()!r}"[:300]
            return
        _stray_destroys.add(destroy)
        destroy.add_done_callback(lambda f: (_stray_destroys.discard(f), f.cancelled() or f.exception()))
        self.sandbox_info["destroy"] = f"did not finish within {DESTROY_TIMEOUT_S:g}s"
        self.bus.publish(EngineNotice(
            f"{self.candidate.id} ({self.profile.name}): destroying sandbox {getattr(sandbox, 'id', '?')} "
            f"did not finish within {DESTROY_TIMEOUT_S:g}s; its verdict stands, the backend cleans up at exit",
            level="warning", candidate_id=self.candidate.id))

    async def _watch(self, run: asyncio.Future, sandbox) -> str | None:
        """Wait for the command; kill it when the current step overruns its limit (a candidate
        that ignores the in-process alarm). Publishes a resource snapshot every second."""
        next_metrics = time.monotonic() + METRICS_EVERY_S
        try:
            while True:
                done, _ = await asyncio.wait({run}, timeout=0.25)
                if done:
                    return None
                now = time.monotonic()
                if now > self.deadline:
                    run.cancel()
                    with contextlib.suppress(BaseException):
                        await run
                    return self.current
                if now >= next_metrics:
                    next_metrics = now + METRICS_EVERY_S
                    with contextlib.suppress(Exception):
                        m = await asyncio.wait_for(sandbox.metrics(), 1.0)
                        self.cpu_s = m.get("cpu_s", self.cpu_s)
                        self.rss_kib = m.get("rss_kib", self.rss_kib)
                    self.snapshot()
        except asyncio.CancelledError:
            run.cancel()
            with contextlib.suppress(BaseException):
                await run
            raise

    def phases(self) -> dict[str, float]:
        """Where this version's wall time went, in ms: sandbox start (create + upload), the
        checker's start, loading the program, the tests (of which ``timeouts``: tests that hit
        their limit), the command's exit after the verdict, and teardown. Phases that did not
        happen are left out."""
        order = [("start", "ready"), ("startup", "hello"), ("load", "load"), ("tests", "verdict"),
                 ("exit", "ended"), ("teardown", "destroyed")]
        out, last = {}, self.started
        for name, mark in order:
            if mark in self.marks:
                out[name] = round((self.marks[mark] - last) * 1000, 2)
                last = self.marks[mark]
        if self.timeout_ms:
            out["timeouts"] = round(self.timeout_ms, 2)
        return out

    def finish(self, exec_result, stalled_in: str | None, error: str | None) -> CandidateResult:
        v, problem = check_verdict(self.verdict, self.task, self.ok_tests, len(self.generated_tests))
        if error:
            status, reason = "error", error
        elif self.fatal and v is None:
            status, reason = "error", self.fatal
        elif self.protocol_error or problem:
            v = None
            status, reason = "error", (f"the sandbox sent a malformed runner event ({self.protocol_error})"
                                       if self.protocol_error else problem)
        else:
            status, reason = decide_status(
                v, exit_code=getattr(exec_result, "exit_code", None), sig=getattr(exec_result, "signal", None),
                timed_out=bool(getattr(exec_result, "timed_out", False)), stalled_in=stalled_in)
            if self.time_limit is not None and (status == "timeout" or (status == "error" and self.load_timed_out)):
                reason = f"{reason} ({self.time_limit.reason})"
        result = CandidateResult(
            candidate_id=self.candidate.id, task_id=self.task.id, profile=self.profile.name,
            status=status, reason=reason,
            tests_passed=(v or {}).get("tests_passed", 0),
            tests_total=len(self.task.tests),
            errors_handled=(v or {}).get("errors_handled", 0),
            errors_total=len(self.task.error_cases),
            generated_passed=list((v or {}).get("generated_passed", [])),
            generated_total=len(self.generated_tests),
            median_ms=(v or {}).get("median_ms"),
            peak_kib=(v or {}).get("peak_kib") or getattr(exec_result, "max_rss_kib", None) or self.rss_kib,
            cpu_s=(v or {}).get("cpu_s") or getattr(exec_result, "cpu_s", None) or self.cpu_s,
            duration_s=round(time.monotonic() - self.started, 3),
            failures=self.failures,
            exit_code=getattr(exec_result, "exit_code", None),
            signal=getattr(exec_result, "signal", None),
            output_lines=self.lines,
            output_dropped=(getattr(exec_result, "stdout_dropped", 0) or 0)
            + (getattr(exec_result, "stderr_dropped", 0) or 0),
            isolation=self.isolation,
            sandbox=self.sandbox_info,
            stderr_tail=list(self.stderr_tail),
            exit_cause=None if status == "passed" else exit_cause(status, reason, self.tail),
            probe_outputs=self.probe_outputs,
            phases=self.phases(),
            perf_runs_ms=repeat_totals(self.perf_runs) if (v or {}).get("median_ms") is not None else [],
            unchecked=(v or {}).get("unchecked"),
        )
        self.detail = reason
        self.passed = result.tests_passed
        self.snapshot("finished", status=status)
        self.bus.publish(CandidateFinished(candidate_id=self.candidate.id, task_id=self.task.id,
                                           profile=self.profile.name, result=result.model_dump()))
        return result


def exit_cause(status: str, reason: str, tail) -> str:
    """How the version's run ended, for a person asking why it lost."""
    if status == "timeout" and tail:
        return f"{reason}; last line printed: {tail[-1][:200]}"
    return reason


def error_result(task: Task, candidate: Candidate, profile: EnvProfile, bus: EventBus,
                 reason: str, status: str = "error") -> CandidateResult:
    """A result for a candidate that never reaches a sandbox (no usable code, duplicate...)."""
    job = CandidateJob(task, candidate, profile, bus)
    job.detail = reason
    result = CandidateResult(candidate_id=candidate.id, task_id=task.id, profile=profile.name,
                             status=status, reason=reason, tests_total=len(task.tests),
                             errors_total=len(task.error_cases))
    job.snapshot("finished", status=status)
    bus.publish(CandidateFinished(candidate_id=candidate.id, task_id=task.id, profile=profile.name,
                                  result=result.model_dump()))
    return result
