"""The engine: evaluate every candidate of every task under every profile, in parallel.

``run_evaluation(config, bus)`` is the one entry point used by the CLI, the TUI, resume and
the evals bridge. It publishes everything on the bus (the run log subscribes) and returns the
JSON summary (a contract: keys are added, never removed). Cancelling it (Ctrl-C, `q` in the TUI) destroys every sandbox.
"""
from __future__ import annotations

import asyncio
import contextlib
import os
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ai_code_evals.core import appclock
from ai_code_evals.core.candidate import Candidate, Generator
from ai_code_evals.core.events import (
    CandidateAdded,
    CandidateFinished,
    EngineNotice,
    EventBus,
    ReferenceChecked,
    RunFinished,
    RunStarted,
    TaskSelected,
)
from ai_code_evals.core.task import Task
from ai_code_evals.engine.backend_status import publish_backend_status
from ai_code_evals.engine.calls import parse_generated_test
from ai_code_evals.engine.job import CandidateJob, error_result
from ai_code_evals.engine.profiles import EnvProfile, resolve_profiles, runs_the_apps_python
from ai_code_evals.engine.results import CandidateResult, infrastructure_reason, is_infrastructure_error
from ai_code_evals.engine.scoring import combine_profiles, pass_at_k_table, score_task, select_by_score
from ai_code_evals.engine.selection import SelectionContext, get_selector
from ai_code_evals.engine.timelimits import (
    DEFAULT_MIN_TIME_LIMIT_S,
    DEFAULT_TIME_LIMIT_FACTOR,
    TimeLimit,
    derive_limit,
    own_limit,
)
from ai_code_evals.sandbox.base import RequirementsError, SandboxBackend

MAX_AHEAD = 512  # versions that are tasks waiting for a slot at once (see Engine._feed)


@dataclass(frozen=True)
class _Waiting:
    """A version (under one profile) in the feed, not yet a task of its task's group."""
    group: asyncio.TaskGroup
    task: Task
    cand: Candidate
    profile: EnvProfile
    gate: asyncio.Task | None  # the reference's run, when the task's time limit waits for it


@dataclass(frozen=True)
class _AllFed:
    """After a task's last version in the feed: ``admitted`` is set once every one is a task."""
    admitted: asyncio.Future


def new_run_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S") + "-" + uuid.uuid4().hex[:6]


@dataclass
class RunConfig:
    tasks: list[Task]
    backend: SandboxBackend
    # given candidates (samples, a resumed log); tasks without any are left to the generator
    candidates: list[Candidate] | None = None
    generator: Generator | None = None
    n: int = 8
    jobs: int = field(default_factory=lambda: os.cpu_count() or 2)
    profiles: list[EnvProfile] = field(default_factory=lambda: resolve_profiles(None))
    select: str = "score"
    generated_tests: dict[str, list[str]] = field(default_factory=dict)
    # inputs each version is called with for behaviour-based selection: task id -> literal
    # sources of (args, kwargs); the outputs come back in CandidateResult.probe_outputs
    probes: dict[str, list[str]] = field(default_factory=dict)
    run_id: str = field(default_factory=new_run_id)
    record: Path | None = None
    # results already in the log (resume): (candidate_id, profile) -> result
    finished: dict[tuple[str, str], CandidateResult] = field(default_factory=dict)
    spec_extra: dict = field(default_factory=dict)  # recorded in the log's spec.run_config
    # run each task's reference (when it has one) against its own tests, hidden from the results
    check_reference: bool = True
    reference_checks: dict[str, dict] = field(default_factory=dict)  # resume: task_id -> event data
    generation_timeout_s: float = 600.0  # per candidate: a generator that stops answering
    # per-test limit = min(task.time_limit_s, max(floor, factor x reference time)); factor 0: off
    # (engine/timelimits.py). Needs check_reference: the reference's run is the measurement.
    min_time_limit_s: float = DEFAULT_MIN_TIME_LIMIT_S
    time_limit_factor: float = DEFAULT_TIME_LIMIT_FACTOR


class Engine:
    def __init__(self, config: RunConfig, bus: EventBus) -> None:
        self.cfg = config
        self.bus = bus
        self.selector = get_selector(config.select)  # an unknown name fails here, before any sandbox
        self.sem = asyncio.Semaphore(max(1, config.jobs))
        self.ahead = asyncio.Semaphore(MAX_AHEAD)  # versions that are tasks waiting for a slot
        self.feed: asyncio.Queue = asyncio.Queue()  # versions in the order they came, not yet tasks
        self.tasks = {t.id: t for t in config.tasks}
        self.candidates: dict[str, list[Candidate]] = {t.id: [] for t in config.tasks}
        self.given: dict[str, list[Candidate]] = {}  # the config's candidates by task, in order
        for c in config.candidates or []:
            self.given.setdefault(c.task_id, []).append(c)
        self.results: dict[tuple[str, str], CandidateResult] = dict(config.finished)
        # copies by syntax tree and local names only where every profile parses like the app
        backend = getattr(config.backend, "name", "")
        self.copies_by_text_only = not all(runs_the_apps_python(p, backend) for p in config.profiles)
        self.codes: dict[str, str] = {}  # candidate id -> its program, to check a copy against
        self.selections: dict[str, dict] = {}
        self.task_errors: dict[str, list[str]] = {}  # problems with the task itself, not its candidates
        self.limits: dict[str, TimeLimit] = {}  # task_id -> per-test limit its candidates run under
        self.deriving: set[str] = set()  # tasks whose limit waits for their reference's run
        # (task id, interpreter) -> its packages being prepared: a directory, or why not
        self.envs: dict[tuple[str, str], asyncio.Task] = {}
        self._app_clock: tuple[dict, float, float] | None = None  # at run(): sections, CPU, wall
        for task_id, check in config.reference_checks.items():
            if check.get("error"):
                self.task_errors.setdefault(task_id, []).append(check["error"])

    def task_error(self, task: Task, message: str) -> None:
        self.task_errors.setdefault(task.id, []).append(message)
        self.bus.publish(EngineNotice(f"{task.id}: {message}", level="error"))

    async def run(self) -> dict:
        cfg = self.cfg
        self._app_clock = (appclock.totals(), time.process_time(), time.perf_counter())
        self.bus.publish(RunStarted(
            run_id=cfg.run_id, record=str(cfg.record or ""),
            tasks=[{"task_id": t.id, "entry_point": t.entry_point, "reference": bool(t.reference),
                    **({"requirements": t.requirements} if t.requirements else {})} for t in cfg.tasks],
            profiles=[p.name for p in cfg.profiles], backend=getattr(cfg.backend, "name", "?"),
            isolation=getattr(cfg.backend, "isolation", ""), select=cfg.select,
            unsafe_isolation=getattr(cfg.backend, "unsafe_isolation", "") or ""))
        interrupted = False
        status = asyncio.ensure_future(publish_backend_status(cfg.backend, self.bus))
        feeder = asyncio.ensure_future(self._feed())
        try:
            async with asyncio.TaskGroup() as group:
                for task in cfg.tasks:
                    group.create_task(self._run_task(task))
        except asyncio.CancelledError:
            interrupted = True
            raise
        finally:
            status.cancel()
            feeder.cancel()
            await asyncio.gather(status, feeder, return_exceptions=True)
            summary = self.summary(interrupted)
            self.bus.publish(RunFinished(summary=summary, interrupted=interrupted))
        return summary

    async def _candidates_for(self, task: Task):
        """Given candidates for this task (samples, pack, or a resumed log) else generated ones."""
        given = self.given.get(task.id, [])
        if given or self.cfg.generator is None:
            for c in given:
                yield c
            return
        agen = self.cfg.generator.generate(task, self.cfg.n)
        limit = self.cfg.generation_timeout_s
        try:
            while True:
                try:
                    c = await asyncio.wait_for(anext(agen), limit)
                except StopAsyncIteration:
                    return
                yield c
        except TimeoutError:  # a generator that stops answering: keep what arrived
            self.task_error(task, f"generation stopped: no candidate within {limit:g}s")
        except Exception as exc:  # noqa: BLE001 - generation failed: say so, keep what arrived
            self.task_error(task, f"generation failed: {type(exc).__name__}: {exc}")
        finally:
            with contextlib.suppress(Exception, asyncio.CancelledError):  # best effort on the way out
                await asyncio.wait_for(agen.aclose(), 5.0)

    async def _run_task(self, task: Task) -> None:
        seen: set[str] = set()
        same = None
        admitted = asyncio.get_running_loop().create_future()  # every version of the task is a task
        async with asyncio.TaskGroup() as group:
            if task.requirements:  # built (or found in the cache) while the first versions arrive
                for python in dict.fromkeys(p.python for p in self.cfg.profiles):
                    self.envs[(task.id, python)] = group.create_task(self._prepare_packages(task, python))
            limit = self._initial_limit(task)
            gate = None  # the reference's run: this task's candidates start once it has a limit
            if limit is None:
                self.deriving.add(task.id)
                gate = group.create_task(self._check_reference(task))
            else:
                self.limits[task.id] = limit
            async for cand in self._candidates_for(task):
                if cand.id in seen:
                    continue
                seen.add(cand.id)
                cand = self._checked_copy(cand)
                self.candidates[task.id].append(cand)
                self.bus.publish(CandidateAdded(
                    candidate_id=cand.id, task_id=task.id, code=cand.code, label=cand.label,
                    strategy=cand.strategy, origin=cand.origin, error=cand.error,
                    duplicate_of=cand.duplicate_of, usage=cand.usage,
                    raw_reply=cand.raw_reply, request=cand.request, extraction=cand.extraction))
                for profile in self.cfg.profiles:
                    self.feed.put_nowait(_Waiting(group, task, cand, profile, gate))
            self.feed.put_nowait(_AllFed(admitted))
            if gate is None:
                same = self._same_as_reference(task)
                if self._wants_reference_check(task) and same is None:
                    group.create_task(self._check_reference(task))
            await admitted  # the group waits for tasks it has, not for versions still in the feed
        self._fill_duplicates(task)
        if self._wants_reference_check(task) and same is not None:
            result = self.results.get((same.id, self.cfg.profiles[0].name))
            if result is not None:
                self._judge_reference(task, result)
        await self._select(task)

    # -- the task's own packages --------------------------------------------------------------
    async def _prepare_packages(self, task: Task, python: str) -> str | RequirementsError:
        """The task's ``requirements`` for one interpreter, from the backend (cached there); a
        failure is one task error, and the task's versions are not run under that interpreter."""
        prepare = getattr(self.cfg.backend, "prepare_requirements", None)
        try:
            if prepare is None:
                raise RequirementsError(
                    f"the {getattr(self.cfg.backend, 'name', '?')} backend cannot install a task's requirements "
                    f"({', '.join(task.requirements)}) yet: run this task with --backend local")
            return await prepare(task.requirements, python, on_progress=lambda msg: self.bus.publish(
                EngineNotice(f"{task.id}: {msg}", level="info")))
        except RequirementsError as exc:
            self.task_error(task, str(exc))
            return exc

    async def _packages(self, task: Task, profile: EnvProfile) -> str | RequirementsError | None:
        """What ``_prepare_packages`` gave for this profile's interpreter (None: no requirements)."""
        prepared = self.envs.get((task.id, profile.python))
        return None if prepared is None else await asyncio.shield(prepared)

    # -- the task's own reference --------------------------------------------------------------
    def _wants_reference_check(self, task: Task) -> bool:
        return bool(self.cfg.check_reference and task.reference and task.id not in self.cfg.reference_checks)

    def _initial_limit(self, task: Task) -> TimeLimit | None:
        """The task's per-test limit when it is known before any run; None: derive it from the
        reference's run first. A resumed run keeps the limits of the interrupted one."""
        cfg = self.cfg
        if task.id in cfg.reference_checks:
            return TimeLimit.from_data(cfg.reference_checks[task.id].get("result") or {}, task.time_limit_s)
        if cfg.time_limit_factor <= 0:
            return own_limit(task.time_limit_s, "derived limits are off (time limit factor 0)")
        if not task.reference:
            return own_limit(task.time_limit_s, "the task has no reference solution to measure")
        if not cfg.check_reference:
            return own_limit(task.time_limit_s, "its reference solution is not run")
        if any(r.task_id == task.id for r in cfg.finished.values()):
            # results without a logged reference check: they ran under the task's own limit
            return own_limit(task.time_limit_s, "as in the interrupted run")
        return None

    def _same_as_reference(self, task: Task) -> Candidate | None:
        """A candidate whose code is the reference: its own result answers the question."""
        ref = (task.reference or "").strip()
        return next((c for c in self.candidates[task.id]
                     if ref and not c.error and not c.duplicate_of and c.code.strip() == ref), None)

    async def _check_reference(self, task: Task) -> None:
        """Run the reference once, as a hidden candidate (its events go nowhere), under the first
        profile and the task's own limit. Broken tests then show up as a task error instead of
        failing every candidate, and its measured times give the task's derived limit."""
        ref = Candidate(id=f"{task.id}#reference", task_id=task.id, code=task.reference or "",
                        label="reference", origin="reference")
        profile = self.cfg.profiles[0]
        packages = await self._packages(task, profile)
        if isinstance(packages, RequirementsError):  # the task error says why; nothing to measure
            if task.id in self.deriving:
                self.limits[task.id] = own_limit(task.time_limit_s, "its requirements could not be installed")
            return
        job = CandidateJob(task.model_copy(update={"perf": []}), ref, profile, EventBus())
        async with self.sem:
            labels = {"app": "ai-code-evals", "run_id": self.cfg.run_id, "candidate": ref.id,
                      "profile": profile.name}
            result = await job.run(self.cfg.backend, labels, packages=packages)
        self._judge_reference(task, result, job)

    def _limit_from_reference(self, task: Task, result: CandidateResult, job: CandidateJob | None) -> TimeLimit:
        """The derived limit when the reference passed its tests, else the task's own."""
        if is_infrastructure_error(result):
            return own_limit(task.time_limit_s, "its reference solution could not be run")
        if result.status != "passed" or job is None:
            return own_limit(task.time_limit_s, "its reference solution does not pass its tests")
        return derive_limit(task.time_limit_s, job.load_ms, job.max_test_ms,
                            self.cfg.min_time_limit_s, self.cfg.time_limit_factor)

    def _judge_reference(self, task: Task, result: CandidateResult, job: CandidateJob | None = None) -> None:
        if task.id in self.deriving:
            self.limits[task.id] = self._limit_from_reference(task, result, job)
        limit = self.limits.get(task.id) or own_limit(task.time_limit_s, "no limit was decided")
        error = None
        if is_infrastructure_error(result):
            self.bus.publish(EngineNotice(f"{task.id}: could not check the reference solution "
                                          f"({result.reason}); its candidates run under {limit.reason}",
                                          level="warning"))
            return  # unchecked: a resume tries again (its candidates' results keep this limit)
        if result.status != "passed":
            first = result.failures[0] if result.failures else None
            where = f"; first failure: {first.get('name')}: {first.get('error')}" if first else ""
            error = (f"the task's reference solution does not pass its own tests ({result.reason}{where}): "
                     "the tests are probably wrong, so its candidates' failures prove little")
        elif result.errors_handled < result.errors_total:
            error = (f"the task's reference solution handles only {result.errors_handled}/"
                     f"{result.errors_total} of its error cases: the error cases are probably wrong")
        if error:
            self.task_error(task, error)
        self.bus.publish(ReferenceChecked(task_id=task.id, ok=error is None, error=error,
                                          result={**result.model_dump(), **limit.to_data()}))

    async def _feed(self) -> None:
        """Versions become tasks as slots come near, in the order they came: at most MAX_AHEAD
        wait for a slot, the rest wait as rows. A samples file of 100,000 rows was 100,000
        waiting tasks (1 GB), and Ctrl-C then took minutes: asyncio's semaphore forgets each
        cancelled waiter in time linear in the number waiting."""
        while True:
            item = await self.feed.get()
            if isinstance(item, _AllFed):  # the task's last version is a task: its group may close
                if not item.admitted.done():
                    item.admitted.set_result(None)
                continue
            await self.ahead.acquire()
            job = self._run_admitted(item.task, item.cand, item.profile, item.gate)
            try:
                item.group.create_task(job)
            except RuntimeError:  # the task's group stopped (an error, Ctrl-C): nothing to run
                job.close()
                self.ahead.release()

    async def _run_admitted(self, task: Task, cand: Candidate, profile: EnvProfile,
                            gate: asyncio.Task | None) -> None:
        """``_run_one`` for a version ``_feed`` admitted: its place ahead is freed once it holds a
        slot, or once it needs none."""
        admitted = [True]

        def leave() -> None:
            if admitted[0]:
                admitted[0] = False
                self.ahead.release()

        try:
            await self._run_one(task, cand, profile, gate, on_slot=leave)
        finally:
            leave()

    async def _run_one(self, task: Task, cand: Candidate, profile: EnvProfile,
                       gate: asyncio.Task | None = None, on_slot: Callable[[], None] | None = None) -> None:
        key = (cand.id, profile.name)
        if key in self.results:
            return  # finished in an earlier, interrupted run
        if cand.error:
            self.results[key] = error_result(task, cand, profile, self.bus, cand.error)
            return
        if cand.duplicate_of:
            return  # filled from the original once it has run
        job = CandidateJob(task, cand, profile, self.bus, self.cfg.generated_tests.get(task.id),
                           self.cfg.probes.get(task.id))
        job.snapshot("queued")
        packages = await self._packages(task, profile)
        if isinstance(packages, RequirementsError):  # not the version's fault: resume tries again
            self.results[key] = error_result(task, cand, profile, self.bus, infrastructure_reason(
                f"not run: the task's requirements could not be installed ({packages})"))
            return
        if gate is not None:
            await asyncio.shield(gate)  # the reference's run decides the limit (not our slot)
        job.set_time_limit(self.limits.get(task.id)
                           or own_limit(task.time_limit_s, "its reference solution was not measured"))
        async with self.sem:
            if on_slot is not None:
                on_slot()
            labels = {"app": "ai-code-evals", "run_id": self.cfg.run_id, "candidate": cand.id,
                      "profile": profile.name}
            self.results[key] = await job.run(self.cfg.backend, labels, packages=packages)
        unchecked = self.results[key].unchecked
        if unchecked and not any(unchecked in e for e in self.task_errors.get(task.id, [])):
            self.task_error(task, f"some of its tests cannot be run against a version: {unchecked}")

    def _checked_copy(self, cand: Candidate) -> Candidate:
        """The candidate, no longer a copy when its original's program is not the same text and
        some profile runs another Python than the app's (``copies_by_text_only``)."""
        self.codes[cand.id] = cand.code
        if not cand.duplicate_of or not self.copies_by_text_only or self.codes.get(cand.duplicate_of) == cand.code:
            return cand
        return cand.model_copy(update={"duplicate_of": None})

    @appclock.timed("results")
    def _fill_duplicates(self, task: Task) -> None:
        """Identical versions run once; their copies share the original's verdict. An original
        that hit an infrastructure error has no verdict to share: its copies get an
        infrastructure error of their own (so ``resume`` runs them again too)."""
        for cand in self.candidates[task.id]:
            if not cand.duplicate_of:
                continue
            for profile in self.cfg.profiles:
                key = (cand.id, profile.name)
                original = self.results.get((cand.duplicate_of, profile.name))
                if key in self.results or original is None:
                    continue
                if is_infrastructure_error(original):
                    copy = CandidateResult(
                        candidate_id=cand.id, task_id=task.id, profile=profile.name, status="error",
                        reason=infrastructure_reason(f"not run: its identical original {cand.duplicate_of} "
                                                     "could not be run either"),
                        tests_total=len(task.tests), errors_total=len(task.error_cases),
                        duplicate_of=cand.duplicate_of)
                else:
                    copy = original.model_copy(update={
                        "candidate_id": cand.id, "duplicate_of": cand.duplicate_of,
                        "reason": f"duplicate of {cand.duplicate_of}: {original.reason}"})
                self.results[key] = copy
                job = CandidateJob(task, cand, profile, self.bus)
                job.events.detail = copy.reason
                job.events.passed = copy.tests_passed
                job.snapshot("finished", status=copy.status)
                self.bus.publish(CandidateFinished(candidate_id=cand.id, task_id=task.id,
                                                   profile=profile.name, result=copy.model_dump()))

    @appclock.timed("selection")
    def task_results(self, task: Task) -> list[CandidateResult]:
        """One row per candidate, scored per profile then combined across profiles."""
        lines = {c.id: sum(1 for ln in (c.code or "").splitlines() if ln.strip()) for c in self.candidates[task.id]}
        for profile in self.cfg.profiles:
            rows = [self.results[(c.id, profile.name)] for c in self.candidates[task.id]
                    if (c.id, profile.name) in self.results]
            for r in rows:  # simplicity, the tie-break after correctness
                r.code_lines = lines.get(r.candidate_id)
            score_task(rows, task.weights)
        combined = []
        for c in self.candidates[task.id]:
            per = [self.results[(c.id, p.name)] for p in self.cfg.profiles if (c.id, p.name) in self.results]
            if per:
                combined.append(combine_profiles(per))
        return combined

    async def _select(self, task: Task) -> None:
        rows = self.task_results(task)
        ctx = SelectionContext(task=task, results=rows,
                               candidates={c.id: c for c in self.candidates[task.id]},
                               generated_tests=self.cfg.generated_tests.get(task.id, []))
        try:
            selection = await self.selector(ctx)
        except Exception as exc:  # noqa: BLE001 - a broken strategy falls back to score
            ctx.notices.append(f"{self.cfg.select} selection failed ({exc}); fell back to score")
            selection = select_by_score(rows)
        for notice in ctx.notices:
            self.bus.publish(EngineNotice(f"{task.id}: {notice}", level="warning"))
        self.selections[task.id] = {"winner": selection.winner, "reason": selection.reason}
        self.bus.publish(TaskSelected(task_id=task.id, winner=selection.winner, reason=selection.reason,
                                      strategy=self.cfg.select,
                                      scores={r.candidate_id: r.score for r in rows}))

    def summary(self, interrupted: bool = False) -> dict:
        """The JSON summary (a contract: keys are never removed) plus extra keys tools may ignore."""
        tasks_out, counts = [], []
        for task in self.cfg.tasks:
            rows = self.task_results(task)
            sel = self.selections.get(task.id, {"winner": None, "reason": "not finished"})
            by_id = {c.id: c for c in self.candidates[task.id]}
            have = {r.candidate_id for r in rows}
            missing = [c for c in self.candidates[task.id] if c.id not in have]
            out = []
            for r in rows:
                cand = by_id.get(r.candidate_id)
                out.append({
                    "id": r.candidate_id, "status": r.status, "tests_passed": r.tests_passed,
                    "tests_total": r.tests_total, "score": r.score, "median_ms": r.median_ms,
                    "peak_kib": r.peak_kib, "errors_handled": r.errors_handled,
                    "errors_total": r.errors_total, "reason": r.reason,
                    "label": cand.label if cand else "", "duplicate_of": r.duplicate_of,
                    "profiles": {p.name: self.results[(r.candidate_id, p.name)].status
                                 for p in self.cfg.profiles if (r.candidate_id, p.name) in self.results},
                    "failures": r.failures, "exit_cause": r.exit_cause, "stderr_tail": r.stderr_tail,
                })
            for c in missing:
                out.append({"id": c.id, "status": "skipped", "tests_passed": 0,
                            "tests_total": len(task.tests), "score": None, "median_ms": None,
                            "peak_kib": None, "reason": "not run (interrupted)", "label": c.label})
            # a version the infrastructure could not run is no sample of the model's; a task without
            # tests says nothing about correctness (its versions are unchecked)
            if rows and task.tests:
                judged = len(out) - sum(1 for r in rows if is_infrastructure_error(r))
                if judged:
                    counts.append((judged, sum(1 for r in rows if r.status == "passed")))
            errors = self.task_errors.get(task.id)
            limit = self.limits.get(task.id)
            tasks_out.append({"task_id": task.id, "winner": sel["winner"], "reason": sel["reason"],
                              "candidates": out, "error": "; ".join(errors) if errors else None,
                              "generated_tests": generated_counts(self.cfg.generated_tests.get(task.id, []),
                                                                  task.entry_point),
                              "probes": len(self.cfg.probes.get(task.id, [])),
                              "time_limit_s": limit.limit_s if limit else task.time_limit_s,
                              "time_limit_reason": limit.reason if limit else "not decided (interrupted)"})
        return {
            "run_id": self.cfg.run_id,
            "record": str(self.cfg.record) if self.cfg.record else None,
            "tasks": tasks_out,
            "pass_at_k": pass_at_k_table(counts),
            "interrupted": interrupted,
            "backend": getattr(self.cfg.backend, "name", "?"),
            "isolation": getattr(self.cfg.backend, "isolation", ""),
            "profiles": [p.name for p in self.cfg.profiles],
            "select": self.cfg.select,
            "tokens": self.tokens(),
            # versions that got no verdict because the infrastructure failed (resume reruns them)
            "infrastructure_errors": sum(1 for t in tasks_out for c in t["candidates"]
                                         if is_infrastructure_error(c)),
            **({"unsafe_isolation": unsafe} if (unsafe := getattr(self.cfg.backend, "unsafe_isolation", "")) else {}),
            **({"app_time_s": self.app_time()} if self._app_clock is not None else {}),
        }

    def app_time(self) -> dict:
        """The app's own process during this run (core/appclock.py): wall seconds spent in result
        handling, logging and selection (exclusive), its CPU seconds and the run's wall seconds."""
        sections, cpu0, wall0 = self._app_clock
        return {**appclock.since(sections), "cpu": round(time.process_time() - cpu0, 3),
                "wall": round(time.perf_counter() - wall0, 3)}

    def tokens(self) -> dict:
        """Tokens the model spent writing this run's versions, as the endpoint reported them."""
        out = {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0, "versions": 0}
        for cands in self.candidates.values():
            for c in cands:
                usage = c.usage or {}
                if not any(isinstance(usage.get(k), int) for k in out):
                    continue
                out["versions"] += 1
                for k in ("prompt_tokens", "completion_tokens", "total_tokens"):
                    out[k] += usage.get(k, 0) if isinstance(usage.get(k), int) else 0
        return out


def generated_counts(tests: list[str], entry_point: str) -> dict:
    """How many of a task's model-written tests could run: the rest (placeholders, another
    function's name, anything but a literal call) were dropped before any sandbox saw them."""
    usable = sum(1 for t in tests if isinstance(t, str) and parse_generated_test(t, entry_point) is not None)
    return {"given": len(tests), "usable": usable, "dropped": len(tests) - usable}


async def run_evaluation(config: RunConfig, bus: EventBus) -> dict:
    """Evaluate, publishing every step on ``bus``; returns the summary."""
    return await Engine(config, bus).run()
