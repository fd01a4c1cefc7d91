"""One (candidate, profile) evaluation: the sandbox's lifecycle and the result.

The job owns its sandbox from create to destroy: it uploads the job file (engine/jobfile.py),
runs the checker under a watchdog, lets ``RunnerEvents`` (engine/runner_events.py) read what the
checker reports, publishes a snapshot at every step (and once a second while running, with
resource use), and returns a CandidateResult whatever happens to the candidate or the sandbox.
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import time

from ai_code_evals.core.appclock import timed
from ai_code_evals.core.candidate import Candidate
from ai_code_evals.core.events import CandidateFinished, EngineNotice, EventBus, OutputLine, Snapshot
from ai_code_evals.core.task import Task
from ai_code_evals.engine.jobfile import STARTUP_GRACE_S, build_job, wall_budget
from ai_code_evals.engine.profiles import EnvProfile
from ai_code_evals.engine.results import CandidateResult, decide_status, infrastructure_reason, repeat_totals
from ai_code_evals.engine.runner_events import RunnerEvents
from ai_code_evals.engine.timelimits import TimeLimit
from ai_code_evals.engine.verdict import check_verdict
from ai_code_evals.sandbox.base import SandboxBackend, SandboxSpec
from ai_code_evals.sandbox.runner_source import runner_source

METRICS_EVERY_S = 1.0
# Backends are remote services too: a create/upload or destroy that never returns must not hang
# the run. Generous, because a cold Daytona create can take seconds.
SANDBOX_START_TIMEOUT_S = 120.0
DESTROY_TIMEOUT_S = 30.0
_stray_destroys: set[asyncio.Future] = set()  # destroys that outlived their timeout, kept referenced


class CandidateJob:
    """Runs one candidate under one profile and reports every step on the bus."""

    def __init__(self, task: Task, candidate: Candidate, profile: EnvProfile, bus: EventBus,
                 generated_tests: list[str] | None = None, probes: list[str] | None = None) -> None:
        self.task, self.candidate, self.profile, self.bus = task, candidate, profile, bus
        self.generated_tests = generated_tests or []
        self.probes = probes or []
        self.nonce = secrets.token_hex(16)
        self.events = RunnerEvents(task, self.nonce, len(self.probes), self._publish_output, self.snapshot)
        self.marks: dict[str, float] = {}  # monotonic times of the lifecycle's steps (see phases())
        self.seq = 0
        self.state = "queued"
        self.steps_total = (len(task.tests) + len(task.error_cases) + len(self.generated_tests)
                            + len(task.perf))
        self.started = time.monotonic()
        self.sandbox_info: dict = {}
        self.isolation = ""
        self.time_limit: TimeLimit | None = None  # None: the task's own per-test limit
        self.load_limit_s = task.time_limit_s

    # -- what the reference's run tells its task's time limit (engine/timelimits.py) -------
    @property
    def load_ms(self) -> float | None:
        """How long loading the program took (the reference's gives the derived time limit)."""
        return self.events.load_ms

    @property
    def max_test_ms(self) -> float | None:
        """The slowest test or error case, as the runner timed it."""
        return self.events.max_test_ms

    def set_time_limit(self, limit: TimeLimit) -> None:
        """Run under ``limit`` instead of the task's own: it reaches the runner's job, the
        watchdog and the wall budget through ``self.task``."""
        self.time_limit = self.events.time_limit = limit
        self.load_limit_s = self.events.load_limit_s = self.task.time_limit_s  # loading keeps its own
        if limit.limit_s != self.task.time_limit_s:
            self.task = self.events.task = self.task.model_copy(update={"time_limit_s": limit.limit_s})

    # -- snapshots -----------------------------------------------------------------------
    @timed("results")
    def snapshot(self, state: str | None = None, status: str | None = None) -> None:
        if state:
            self.state = state
        ev = self.events
        self.bus.publish(Snapshot(
            candidate_id=self.candidate.id, task_id=self.task.id, profile=self.profile.name,
            state=self.state, seq=self.seq, test_index=ev.step, tests_total=self.steps_total,
            passed=ev.passed, failed=ev.failed, elapsed_s=round(time.monotonic() - self.started, 3),
            cpu_s=ev.cpu_s, rss_kib=ev.rss_kib, output_tail=list(ev.tail), output_lines=ev.lines,
            status=status, detail=ev.detail, sandbox=dict(self.sandbox_info, isolation=self.isolation),
        ))
        self.seq += 1

    def _publish_output(self, stream: str, text: str, n: int) -> None:
        self.bus.publish(OutputLine(candidate_id=self.candidate.id, profile=self.profile.name,
                                    stream=stream, text=text, n=n))

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
                                self.load_limit_s, self.probes,
                                reference_test_ms=self.time_limit.reference_test_ms if self.time_limit else None)
                await sandbox.upload({"runner.py": runner_source(), "job.json": json.dumps(job).encode()})
            starting = False
            self.marks["ready"] = time.monotonic()
            self.events.detail = "sandbox ready"
            self.snapshot("running")
            self.events.allow("startup", STARTUP_GRACE_S)
            run = asyncio.ensure_future(sandbox.exec(
                [self.profile.python, "runner.py", "job.json"], on_line=self.events.on_line,
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
            self.events.closed = True
            if sandbox is not None:
                self.sandbox_info.update(getattr(sandbox, "info", None) or {})  # latest state, latencies
                await self._destroy(sandbox)
            self.marks["destroyed"] = time.monotonic()
        try:
            return self.finish(exec_result, stalled_in, error)
        except Exception as exc:  # noqa: BLE001 - a bug here must cost one result, not the run
            self.events.verdict = None
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
                if now > self.events.deadline:
                    run.cancel()
                    with contextlib.suppress(BaseException):
                        await run
                    return self.events.current
                if now >= next_metrics:
                    next_metrics = now + METRICS_EVERY_S
                    with contextlib.suppress(Exception):
                        m = await asyncio.wait_for(sandbox.metrics(), 1.0)
                        self.events.cpu_s = m.get("cpu_s", self.events.cpu_s)
                        self.events.rss_kib = m.get("rss_kib", self.events.rss_kib)
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
        marks = {**self.events.marks, **self.marks}
        out, last = {}, self.started
        for name, mark in order:
            if mark in marks:
                out[name] = round((marks[mark] - last) * 1000, 2)
                last = marks[mark]
        if self.events.timeout_ms:
            out["timeouts"] = round(self.events.timeout_ms, 2)
        return out

    @timed("results")
    def finish(self, exec_result, stalled_in: str | None, error: str | None) -> CandidateResult:
        ev = self.events
        v, problem = check_verdict(ev.verdict, self.task, ev.ok_tests, len(self.generated_tests))
        if error:
            status, reason = "error", error
        elif ev.fatal and v is None:
            status, reason = "error", ev.fatal
        elif ev.protocol_error or problem:
            v = None
            status, reason = "error", (f"the sandbox sent a malformed runner event ({ev.protocol_error})"
                                       if ev.protocol_error else problem)
        else:
            status, reason = decide_status(
                v, exit_code=getattr(exec_result, "exit_code", None), sig=getattr(exec_result, "signal", None),
                timed_out=bool(getattr(exec_result, "timed_out", False)), stalled_in=stalled_in)
            if self.time_limit is not None and (status == "timeout" or (status == "error" and ev.load_timed_out)):
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
            peak_kib=(v or {}).get("peak_kib") or getattr(exec_result, "max_rss_kib", None) or ev.rss_kib,
            cpu_s=(v or {}).get("cpu_s") or getattr(exec_result, "cpu_s", None) or ev.cpu_s,
            duration_s=round(time.monotonic() - self.started, 3),
            failures=ev.failures,
            exit_code=getattr(exec_result, "exit_code", None),
            signal=getattr(exec_result, "signal", None),
            output_lines=ev.lines,
            output_dropped=(getattr(exec_result, "stdout_dropped", 0) or 0)
            + (getattr(exec_result, "stderr_dropped", 0) or 0),
            isolation=self.isolation,
            sandbox=self.sandbox_info,
            stderr_tail=list(ev.stderr_tail),
            exit_cause=None if status == "passed" else exit_cause(status, reason, ev.tail),
            probe_outputs=ev.probe_outputs,
            phases=self.phases(),
            perf_runs_ms=repeat_totals(ev.perf_runs) if (v or {}).get("median_ms") is not None else [],
            unchecked=(v or {}).get("unchecked"),
        )
        ev.detail = reason
        ev.passed = result.tests_passed
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
    job.events.detail = reason
    result = CandidateResult(candidate_id=candidate.id, task_id=task.id, profile=profile.name,
                             status=status, reason=reason, tests_total=len(task.tests),
                             errors_total=len(task.error_cases))
    job.snapshot("finished", status=status)
    bus.publish(CandidateFinished(candidate_id=candidate.id, task_id=task.id, profile=profile.name,
                                  result=result.model_dump()))
    return result
