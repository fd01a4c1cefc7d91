"""What the user asked for (``RunRequest``) and the run configuration built from it, with every
input checked before a sandbox starts."""
from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ai_code_evals.core.candidate import Candidate
from ai_code_evals.core.errors import InputError
from ai_code_evals.core.events import EventBus
from ai_code_evals.core.settings import as_settings
from ai_code_evals.core.task import Task
from ai_code_evals.engine.profiles import resolve_profiles
from ai_code_evals.engine.run import RunConfig, new_run_id
from ai_code_evals.engine.timelimits import DEFAULT_MIN_TIME_LIMIT_S, DEFAULT_TIME_LIMIT_FACTOR, check_policy
from ai_code_evals.generation.probes import probes_for_run
from ai_code_evals.sandbox.registry import make_backend


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
        return as_settings(env).ace_daytona_concurrency
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

        return None, make_openai_generator(as_settings(env).with_model(req.model), bus)
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
    from ai_code_evals.core.errors import ConfigError
    from ai_code_evals.selectors.judge import configure, configure_from_env

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
    from ai_code_evals.selectors import get_selector
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

        model_env = as_settings(env).with_model(req.model)
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
