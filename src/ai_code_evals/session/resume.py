"""Finish an interrupted run: read back what its log holds, rebuild the rest from its inputs."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ai_code_evals.core.candidate import Candidate
from ai_code_evals.core.errors import InputError
from ai_code_evals.core.events import CandidateAdded, CandidateFinished, EventBus, ReferenceChecked
from ai_code_evals.core.task import Task
from ai_code_evals.engine.profiles import resolve_profiles
from ai_code_evals.engine.results import CandidateResult, is_infrastructure_error
from ai_code_evals.engine.run import RunConfig
from ai_code_evals.generation.probes import probes_for_run
from ai_code_evals.runlog.reader import RunRecord, read_record
from ai_code_evals.runlog.writer import RunLog
from ai_code_evals.sandbox.registry import make_backend
from ai_code_evals.session.request import (
    RunRequest,
    configure_judge,
    default_jobs,
    load_candidates,
    samples_candidates,
)


@dataclass
class ResumeState:
    record: RunRecord
    request: RunRequest
    tasks: list[Task]
    candidates: list[Candidate]
    finished: dict[tuple[str, str], CandidateResult]
    generated_tests: dict[str, list[str]]
    reference_checks: dict[str, dict] = field(default_factory=dict)
    missing_tasks: list[Task] = field(default_factory=list)  # reloaded: the cut came before their line


def load_resume(path: str | Path) -> ResumeState:
    """Everything an interrupted run needs to finish, read back from its log.

    A log may be cut at any byte (kill -9, power loss): whatever its lines do not say yet
    (tasks whose line was never written, candidates not announced yet) comes back from the
    run's own inputs, recorded in the spec, so the resumed run is the run that was asked for.
    """
    record = read_record(path)
    run_config = record.spec.get("run_config") if isinstance(record.spec.get("run_config"), dict) else {}
    req_data = run_config.get("request")
    if not isinstance(req_data, dict):
        raise InputError("this log was not written by `ai-code-evals run`; cannot resume it", path=str(path))
    request = RunRequest(**{k: v for k, v in req_data.items() if k in RunRequest.__dataclass_fields__})
    if "time_limit_factor" not in req_data:  # a log from before derived limits: keep the task's own
        request.time_limit_factor = 0.0
    try:
        tasks = [Task.model_validate(e["data"]) for e in record.of_type("task")]
        candidates = [Candidate(id=c.candidate_id, task_id=c.task_id, code=c.code, label=c.label,
                                strategy=c.strategy, origin=c.origin, error=c.error,
                                duplicate_of=c.duplicate_of, usage=c.usage or {})
                      for c in record.events_of(CandidateAdded)]
        generated = {e["sample_id"]: e["data"]["tests"] for e in record.of_type("generated_tests")}
        finished = {}
        for ev in record.events_of(CandidateFinished):
            r = CandidateResult.model_validate(ev.result)
            finished[(r.candidate_id, r.profile)] = r
        # no verdict because the infrastructure failed: run again (a later result in the log wins)
        finished = {k: r for k, r in finished.items() if not is_infrastructure_error(r)}
        checks = {ev.task_id: ev.to_data() for ev in record.events_of(ReferenceChecked)}
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError(f"a line of this run log is damaged ({type(exc).__name__}: {exc}); cannot resume it",
                         path=str(path)) from None
    missing: list[Task] = []
    wanted = run_config.get("task_ids")
    if not isinstance(wanted, list) or set(wanted) - {t.id for t in tasks}:
        from ai_code_evals.tasks.loaders import load_many

        have = {t.id for t in tasks}
        reloaded = load_many(request.tasks)
        order = wanted if isinstance(wanted, list) else [t.id for t in reloaded]
        missing = [t for t in reloaded if t.id not in have and t.id in order]
        by_id = {t.id: t for t in [*tasks, *missing]}
        tasks = [by_id[i] for i in order if i in by_id]
    return ResumeState(record, request, tasks, candidates, finished, generated, checks, missing)


def source_candidates(req: RunRequest, tasks: list[Task], env: Mapping[str, str], bus: EventBus | None = None):
    """(candidates, generator) as the original run got them. Samples and the offline packs are
    deterministic: their full candidate list comes back. A model is not: it is asked again only
    for tasks without any logged candidate."""
    if req.samples:
        return samples_candidates(req.samples, tasks), None
    if req.generator == "offline":
        from ai_code_evals.generation.offline import pack_candidates

        return [c for t in tasks for c in pack_candidates(t, None, req.n)], None
    return [], load_candidates(req, tasks, env, bus or EventBus())[1]


def merge_candidates(logged: list[Candidate], source: list[Candidate]) -> list[Candidate]:
    """The source's order; a candidate the log already holds keeps its logged version."""
    by_id = {c.id: c for c in logged}
    merged = [by_id.pop(c.id, c) for c in source]
    return merged + list(by_id.values())


def resume_config(state: ResumeState, env: Mapping[str, str], bus: EventBus | None = None, *,
                  unsafe: bool = False) -> tuple[RunConfig, RunLog]:
    """A RunConfig that reruns only unfinished candidates, and the log reopened for appending
    (a half-written last line is cut off first). A generator, when one is needed, publishes on
    ``bus`` (give the bus the run will use). ``unsafe``: this resume's own --unsafe-isolation
    (never inherited from the interrupted run)."""
    req = state.request
    req.unsafe_isolation = unsafe
    rec = state.record
    with open(rec.path, "r+b") as fh:
        fh.truncate(rec.valid_bytes)
        if rec.valid_bytes:
            fh.seek(rec.valid_bytes - 1)
            if fh.read(1) != b"\n":
                fh.write(b"\n")
    configure_judge(req, env)
    source, generator = source_candidates(req, state.tasks, env, bus)
    candidates = merge_candidates(state.candidates, source)
    if generator is not None and not ({t.id for t in state.tasks} - {c.task_id for c in candidates}):
        generator = None
    generated = dict(state.generated_tests)
    if req.generated_tests:
        from ai_code_evals.generation.samples import load_generated_tests

        generated = {**load_generated_tests(req.generated_tests), **generated}
    jobs = req.jobs or default_jobs(req.backend, env)
    config = RunConfig(
        tasks=state.tasks, backend=make_backend(req.backend, env, jobs, unsafe=unsafe), candidates=candidates,
        generator=generator, n=req.n, jobs=jobs,
        profiles=resolve_profiles(req.env), select=req.select, run_id=rec.run_id, record=rec.path,
        finished=state.finished, generated_tests=generated,
        probes=probes_for_run(state.tasks, generated, req.select), reference_checks=state.reference_checks,
        min_time_limit_s=req.min_time_limit_s, time_limit_factor=req.time_limit_factor,
        spec_extra={"request": req.to_dict()},
    )
    log = RunLog(rec.path, rec.run_id, append=True, next_event_id=rec.next_event_id)
    log.record("resumed", "", {"finished": len(state.finished), "truncated_tail": rec.truncated_tail,
                               "tasks_reloaded": [t.id for t in state.missing_tasks]})
    for task in state.missing_tasks:  # the cut came before their lines: complete the log
        log.record("task", task.id, task.model_dump())
    for task in state.tasks:
        if generated.get(task.id) and task.id not in state.generated_tests:
            log.record("generated_tests", task.id, {"tests": generated[task.id]})
    return config, log
