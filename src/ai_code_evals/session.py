"""A run from the command line's point of view: build it, record it, run it, resume it.

Shared by the headless CLI and the TUI so that both record exactly the same log.
"""
from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ai_code_evals.engine.events import CandidateAdded, EventBus
from ai_code_evals.engine.profiles import resolve_profiles
from ai_code_evals.engine.results import CandidateResult, is_infrastructure_error
from ai_code_evals.engine.run import RunConfig, new_run_id, run_evaluation
from ai_code_evals.engine.timelimits import DEFAULT_MIN_TIME_LIMIT_S, DEFAULT_TIME_LIMIT_FACTOR, check_policy
from ai_code_evals.errors import InputError
from ai_code_evals.generation.base import Candidate
from ai_code_evals.generation.probes import probes_for_run
from ai_code_evals.runlog.reader import RunRecord, read_record
from ai_code_evals.runlog.writer import RunLog
from ai_code_evals.tasks.model import Task


@dataclass
class RunRequest:
    """What the user asked for, as plain data: recorded in the log's spec so resume can rebuild it."""

    tasks: list[str] = field(default_factory=lambda: ["demo"])
    samples: str | None = None
    generated_tests: str | None = None
    generate_tests: bool = False
    generator: str = "offline"
    n: int = 8
    model: str | None = None
    backend: str = "local"
    jobs: int | None = None
    env: list[str] = field(default_factory=lambda: ["default"])
    select: str = "score"
    record: str | None = None
    # per-test limit = min(task's own, max(floor, factor x reference time)); factor 0: task's own
    min_time_limit_s: float = DEFAULT_MIN_TIME_LIMIT_S
    time_limit_factor: float = DEFAULT_TIME_LIMIT_FACTOR
    # run candidates at an isolation level that cannot contain them (rlimits); shown and recorded
    unsafe_isolation: bool = False

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def make_backend(name: str, env: Mapping[str, str], jobs: int | None = None, *, unsafe: bool = False):
    """The sandbox backend ``name``. ``jobs`` (``--jobs``) sizes what a backend keeps alive at
    once where it has its own cap (Daytona's sandboxes); None: the backend's default. ``unsafe``
    (--unsafe-isolation): the local backend may use a level that cannot contain candidates."""
    if name == "local":
        from ai_code_evals.sandbox.local import LocalBackend
        from ai_code_evals.sandbox.warm import enabled as warm_enabled

        warm = env.get("ACE_WARM")
        return LocalBackend(env.get("ACE_ISOLATION") or None,
                            warm=None if warm is None else warm_enabled(warm), unsafe=unsafe)
    if name == "daytona":
        from ai_code_evals.sandbox.daytona import make_daytona_backend

        # None: the backend reads its own settings, and never takes DAYTONA_API_URL from a .env
        # (a hostile working directory must not redirect the key)
        return make_daytona_backend(None, concurrency=jobs)
    raise InputError(f"unknown backend {name!r} (choose from local, daytona)")


def available_interpreters(profiles: list) -> list:
    """The profiles whose interpreter is installed here; one line on stderr for each that is
    not (the others run). An error when none is left."""
    from ai_code_evals.sandbox.interpreter import InterpreterMissing, find

    kept = []
    for profile in profiles:
        if profile.python == "python":
            kept.append(profile)
            continue
        try:
            find(profile.python)
            kept.append(profile)
        except InterpreterMissing as exc:
            print(f"ai-code-evals: profile {profile.name} skipped: {exc}", file=sys.stderr)
    if not kept:
        raise InputError("no environment profile can run here (see the lines above)")
    return kept


def preflight_backend(backend) -> None:
    """Check a remote backend's settings before any version starts (Daytona: key, URL, target,
    snapshot); raises ConfigError, one line naming the setting and the fix."""
    check = getattr(backend, "preflight", None)
    if check is not None:
        asyncio.run(check())


def default_jobs(backend: str, env: Mapping[str, str]) -> int:
    if backend == "daytona":
        from ai_code_evals.config import int_setting

        return int_setting(env, "ACE_DAYTONA_CONCURRENCY", 8)  # a bad value: one ConfigError line
    # one more than the cores: while a version's exit travels back through the warm server and
    # the app, the next one runs (benchmarks/bench_humaneval.py: cores + 1 beat cores and 2 x cores)
    return (os.cpu_count() or 2) + 1


def samples_candidates(path: str, tasks: list[Task]) -> list[Candidate]:
    """A samples file's versions; identical programs run once and share the verdict (and count
    with their multiplicity in agreement selection)."""
    from ai_code_evals.generation.dedupe import mark_duplicates
    from ai_code_evals.generation.samples import load_samples

    return mark_duplicates(load_samples(path, {t.id: t for t in tasks}))


def load_candidates(req: RunRequest, tasks: list[Task], env: Mapping[str, str], bus: EventBus):
    """(candidates, generator): a samples file gives candidates; otherwise a generator."""
    if req.samples:
        return samples_candidates(req.samples, tasks), None
    if req.generator == "offline":
        from ai_code_evals.generation.offline import OfflineGenerator

        return None, OfflineGenerator()
    if req.generator == "openai":
        from ai_code_evals.generation.openai_gen import make_openai_generator

        return None, make_openai_generator(dict(env, **({"ACE_MODEL": req.model} if req.model else {})), bus)
    raise InputError(f"unknown generator {req.generator!r} (choose from offline, openai)")


def check_some_versions(req: RunRequest, tasks: list[Task], candidates: list[Candidate] | None) -> None:
    """A run with nothing to evaluate is an input error, not an empty success: an empty samples
    file, or task files for which the offline generator has no bundled versions."""
    if not tasks:
        raise InputError("no tasks to evaluate in " + ", ".join(map(str, req.tasks)))
    if candidates is not None:
        if not candidates:
            raise InputError("no versions in this samples file (one {\"task_id\", \"completion\"} per line)",
                             path=str(req.samples))
        return
    if req.generator == "offline":
        from ai_code_evals.generation.offline import pack_candidates

        if not any(pack_candidates(t, n=1) for t in tasks):
            raise InputError("no versions for any task: the offline generator only has the bundled packs' "
                             "versions; give --samples FILE or --generator openai")

def check_model_endpoint(req: RunRequest, env: Mapping[str, str]) -> None:
    """When the run asks a model anything, check the endpoint now (before any sandbox starts):
    a wrong URL, key or model is one ConfigError in seconds. A model found on the server (no
    --model with OPENAI_BASE_URL set) goes into the request, so the generator, generated tests,
    the judge and a later ``resume`` all use it."""
    generating = req.generator == "openai" and not req.samples
    if not (generating or req.generate_tests or req.select == "judge"):
        return  # before the imports: the openai client takes seconds to import, for nothing here
    from ai_code_evals.generation.openai_settings import OpenAISettings
    from ai_code_evals.generation.preflight import check_endpoint

    purpose = ("--generator openai" if generating else "--generate-tests" if req.generate_tests
               else "--select judge")
    settings, note = check_endpoint(OpenAISettings.from_env(env, model=req.model, purpose=purpose))
    if note:
        import sys

        print(f"ai-code-evals: {note}", file=sys.stderr)
        req.model = settings.model


def absolute_inputs(req: RunRequest) -> None:
    """Record input files as absolute paths, so that ``resume`` works from any directory."""
    req.tasks = [str(Path(t).resolve()) if Path(t).exists() else t for t in req.tasks]
    for key in ("samples", "generated_tests"):
        value = getattr(req, key)
        if value and Path(value).exists():
            setattr(req, key, str(Path(value).resolve()))


def configure_judge(req: RunRequest, env: Mapping[str, str]) -> None:
    """``judge`` needs a model (one clear error before any sandbox starts when none is set);
    ``agreement`` uses one, when configured, to break near-ties between behaviour clusters."""
    from ai_code_evals.errors import ConfigError
    from ai_code_evals.generation.judge import configure, configure_from_env

    if req.select == "judge":
        configure_from_env(env, model=req.model)
    elif req.select == "agreement":
        try:
            configure_from_env(env, model=req.model)
        except ConfigError:
            configure(None)


def build_config(req: RunRequest, env: Mapping[str, str], bus: EventBus,
                 run_id: str | None = None) -> RunConfig:
    """Validate everything up front: every input error surfaces before a sandbox starts."""
    from ai_code_evals.engine.selection import get_selector
    from ai_code_evals.tasks.loaders import load_many

    absolute_inputs(req)
    check_policy(req.min_time_limit_s, req.time_limit_factor)
    profiles = resolve_profiles(req.env)  # cheap option checks first
    get_selector(req.select)
    tasks = load_many(req.tasks)
    check_model_endpoint(req, env)
    candidates, generator = load_candidates(req, tasks, env, bus)
    generated: dict[str, list[str]] = {}
    if req.generated_tests:
        from ai_code_evals.generation.samples import load_generated_tests

        generated = load_generated_tests(req.generated_tests)
    check_some_versions(req, tasks, candidates)
    if req.generate_tests:
        from ai_code_evals.generation.openai_gen import generate_tests

        model_env = dict(env, **({"ACE_MODEL": req.model} if req.model else {}))
        generated.update(asyncio.run(generate_tests(tasks, model_env)))
    configure_judge(req, env)
    jobs = req.jobs or default_jobs(req.backend, env)
    backend = make_backend(req.backend, env, jobs, unsafe=req.unsafe_isolation)
    if req.backend == "local":
        backend.isolation  # noqa: B018 - a level that cannot contain candidates fails here, in one line
        profiles = available_interpreters(profiles)
    run_id = run_id or new_run_id()
    record = Path(req.record) if req.record else Path("runs") / f"{run_id}.jsonl"
    return RunConfig(
        tasks=tasks, backend=backend, candidates=candidates, generator=generator, n=req.n,
        jobs=jobs, profiles=profiles, select=req.select,
        generated_tests=generated, probes=probes_for_run(tasks, generated, req.select),
        run_id=run_id, record=record,
        min_time_limit_s=req.min_time_limit_s, time_limit_factor=req.time_limit_factor,
        spec_extra={"request": req.to_dict()},
    )


class RecordingSubscriber:
    """Writes the tasks once at the start and every event after, skipping candidates the log
    already holds (resume re-announces them).

    When the log cannot be written (a full disk, a removed volume) the run stops: results that
    cannot be recorded would be lost to ``resume``. ``failure`` keeps the error and
    ``on_failure`` (set by ``run_headless``) stops the engine, which destroys every sandbox.
    """

    def __init__(self, runlog: RunLog, known_candidates: set[str] | None = None) -> None:
        self.runlog = runlog
        self.known = known_candidates or set()
        self.failure: InputError | None = None
        self.on_failure = None

    def __call__(self, event) -> None:
        if self.failure is not None:
            return
        if isinstance(event, CandidateAdded) and event.candidate_id in self.known:
            return
        try:
            self.runlog.on_event(event)
        except InputError as exc:
            self.failure = exc
            if self.on_failure is not None:
                self.on_failure(exc)


def open_run_log(config: RunConfig, req: RunRequest) -> RunLog:
    spec = {"eval_name": "ai-code-evals.run", "completion_fns": [f"ai-code-evals/{req.generator}"],
            "run_config": {"request": req.to_dict(), "profiles": [p.name for p in config.profiles],
                           "isolation": getattr(config.backend, "isolation", ""),
                           **({"unsafe_isolation": config.backend.unsafe_isolation}
                              if getattr(config.backend, "unsafe_isolation", "") else {}),
                           "task_ids": [t.id for t in config.tasks]}}
    log = RunLog(config.record, config.run_id, spec)
    for task in config.tasks:
        log.record("task", task.id, task.model_dump())
        if config.generated_tests.get(task.id):
            log.record("generated_tests", task.id, {"tests": config.generated_tests[task.id]})
    return log


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
        candidates = []
        for e in record.of_type("candidate"):
            d = e["data"]
            candidates.append(Candidate(id=d["candidate_id"], task_id=d["task_id"], code=d["code"],
                                        label=d.get("label", ""), strategy=d.get("strategy", ""),
                                        origin=d.get("origin", ""), error=d.get("error"),
                                        duplicate_of=d.get("duplicate_of"), usage=d.get("usage") or {}))
        generated = {e["sample_id"]: e["data"]["tests"] for e in record.of_type("generated_tests")}
        finished = {}
        for e in record.of_type("result"):
            r = CandidateResult.model_validate(e["data"]["result"])
            finished[(r.candidate_id, r.profile)] = r
        # no verdict because the infrastructure failed: run again (a later result in the log wins)
        finished = {k: r for k, r in finished.items() if not is_infrastructure_error(r)}
        checks = {e["data"]["task_id"]: e["data"] for e in record.of_type("reference_check")}
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


BACKEND_CLOSE_TIMEOUT_S = 60.0


async def run_headless(config: RunConfig, log_subscriber, extra_subscribers=(),
                       bus: EventBus | None = None) -> dict:
    """Run with the log (and e.g. a progress bar) subscribed; returns the summary. ``bus``: the
    one the config's generator publishes on (build_config's), so its notices are logged too.
    Raises InputError when the log could not be written (the run stops, resumable)."""
    bus = bus or EventBus()
    bus.subscribe(log_subscriber)
    for sub in extra_subscribers:
        bus.subscribe(sub)
    main = asyncio.current_task()
    if isinstance(log_subscriber, RecordingSubscriber) and main is not None:
        log_subscriber.on_failure = lambda _exc: main.cancel()
    try:
        return await run_evaluation(config, bus)
    except asyncio.CancelledError:
        failure = getattr(log_subscriber, "failure", None)
        if failure is None:
            raise
        raise InputError(f"{failure}; the run stopped. Free some space, then finish it with: "
                         f"ai-code-evals resume {config.record}") from None
    finally:
        aclose = getattr(config.backend, "aclose", None)
        if aclose is not None:
            closing = asyncio.ensure_future(aclose())
            done, _ = await asyncio.wait({closing}, timeout=BACKEND_CLOSE_TIMEOUT_S)
            if not done:
                import sys

                print(f"ai-code-evals: the {getattr(config.backend, 'name', '?')} backend did not close "
                      f"within {BACKEND_CLOSE_TIMEOUT_S:g}s; leaving it", file=sys.stderr)
