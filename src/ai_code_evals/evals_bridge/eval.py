"""``CodeEval``: the engine as an OpenAI Evals ``Eval`` (needs the ``evals`` package).

For the tasks an eval's samples name, the completion function provides N versions each; the
engine runs them in sandboxes, scores them and selects one per task; every engine event is
recorded through evals' recorder (see ``recording``), and ``run`` returns the final report
(see ``report``).

Threads and event loops: evals' usual ``eval_all_samples`` runs ``eval_sample`` in a thread
pool of 10. Here ``run`` instead evaluates all samples in ONE engine run, in one event loop
(``asyncio.run`` in the calling thread): the ``jobs`` limit on parallel sandboxes then holds
for the whole eval (a pool of per-sample engines would multiply it by the thread count and
skew timings), one backend serves every sample, and the versions of all tasks run as they
arrive. ``--max_samples`` and evals' seeded sample order are kept. ``eval_sample`` still works
on its own (an engine run for that one sample, in an event loop of the calling thread).
"""
from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import evals
import evals.eval
import evals.record

from ai_code_evals.core.errors import InputError
from ai_code_evals.core.events import EventBus
from ai_code_evals.core.task import Task
from ai_code_evals.engine.profiles import resolve_profiles
from ai_code_evals.engine.run import RunConfig
from ai_code_evals.evals_bridge.aio import run_sync
from ai_code_evals.evals_bridge.options import EvalOptions
from ai_code_evals.evals_bridge.recording import RecorderLog, normalise_usage
from ai_code_evals.evals_bridge.report import ResultCollector, final_report
from ai_code_evals.evals_bridge.sources import TaskCatalog
from ai_code_evals.evals_bridge.textfn import CompletionFnGenerator
from ai_code_evals.session import Run


def chosen_model(fn: Any, generator: Any) -> str | None:
    """The model an eval's completion function uses: ``ai-code-evals/openai``'s settings, or
    evals' own function's ``model`` (``oaieval gpt-4o-mini ...``); None for model-free ones."""
    settings = getattr(generator, "settings", None)
    if settings is not None and getattr(settings, "model_chosen", False):
        return settings.model
    model = getattr(fn, "model", None)
    return model if isinstance(model, str) and model else None


class CodeEval(evals.Eval):
    """Eval args (registry YAML or ``--extra_eval_params``): ``samples_jsonl``, ``backend``
    (``local``/``daytona``, or a SandboxBackend object when built in-process), ``n``, ``select``,
    ``jobs``, ``profiles``, ``generated_tests`` (a generated-tests file: one {"task_id", "tests"} per line)."""

    def __init__(self, completion_fns: list, eval_registry_path: Path, *args: Any,
                 samples_jsonl: str | None = None, backend: Any = "local", n: int = 8,
                 select: str = "score", jobs: int | None = None, profiles: Any = None,
                 generated_tests: str | None = None, **kwargs: Any) -> None:
        super().__init__(completion_fns, eval_registry_path, *args, samples_jsonl=samples_jsonl, **kwargs)
        if not samples_jsonl:
            raise InputError(f"eval {self.name}: its args need samples_jsonl (a JSONL of task_id/source rows)")
        self.options = EvalOptions.parse(backend=backend, n=n, select=select, jobs=jobs, profiles=profiles,
                                         generated_tests=generated_tests)
        self.catalog = TaskCatalog(Path(eval_registry_path) / "data")

    # -- evals' API ------------------------------------------------------------------------------
    def run(self, recorder: evals.record.RecorderBase) -> dict:
        """What ``oaieval`` calls. A bad input (nothing to evaluate, a wrong setting) is one line
        on stderr and exit status 1, before any sandbox starts, not a traceback."""
        indexed = evals.eval._index_samples(self.get_samples())  # honours --max_samples
        rows = [sample for sample, _ in sorted(indexed, key=lambda pair: pair[1])]
        try:
            report = self.evaluate(rows, recorder)
        except InputError as exc:
            print(f"ai-code-evals: error: {exc}", file=sys.stderr)
            raise SystemExit(1) from None
        normalise_usage(recorder)  # oaieval sums it next
        return report

    def eval_sample(self, sample: Any, rng: Any) -> dict:
        """One sample on its own (``run`` does not call this; see the module docstring)."""
        recorder = evals.record.default_recorder()
        if recorder is None:
            raise InputError("eval_sample needs a default recorder (recorder.as_default_recorder(...))")
        return self.evaluate([sample], recorder)

    # -- the engine run ---------------------------------------------------------------------------
    def evaluate(self, rows: list, recorder: evals.record.RecorderBase) -> dict:
        """Run the engine on the tasks ``rows`` name; record everything; return the final report."""
        from ai_code_evals.core.settings import Settings

        tasks = self.catalog.tasks(rows)
        env = Settings.load()
        bus = EventBus()
        log = RecorderLog(recorder)
        config = self._config(tasks, env, bus, recorder)
        run = Run(config, bus, log)  # records every event through evals' recorder
        collector = ResultCollector()
        run.subscribe(collector)
        for task in tasks:
            log.record("task", task.id, task.model_dump())
        for task_id, tests in config.generated_tests.items():
            log.record("generated_tests", task_id, {"tests": tests})
        started = time.monotonic()
        try:
            summary = run_sync(run.execute())
        finally:
            run.close()
        return final_report(summary, collector.results, self.options.n, time.monotonic() - started)

    def _config(self, tasks: list[Task], env: dict, bus: EventBus, recorder: Any) -> RunConfig:
        from ai_code_evals.generation.probes import probes_for_run
        from ai_code_evals.session import default_jobs, make_backend

        opts = self.options
        fn = self.completion_fn
        if hasattr(fn, "code_generator"):  # ours: a project generator, versions stream to the engine
            generator = fn.code_generator(tasks, bus, env)
        else:  # any evals CompletionFn that answers with text
            generator = CompletionFnGenerator(fn, recorder)
        if opts.select == "judge":  # the judge asks the model the user chose for this eval
            from ai_code_evals.selectors.judge import configure_from_env

            configure_from_env(env, model=chosen_model(fn, generator))
        generated: dict[str, list[str]] = {}
        if opts.generated_tests:
            from ai_code_evals.generation.samples import load_generated_tests

            wanted = {t.id for t in tasks}
            generated = {k: v for k, v in load_generated_tests(opts.generated_tests).items() if k in wanted}
        backend_name = opts.backend if isinstance(opts.backend, str) else getattr(opts.backend, "name", "custom")
        jobs = opts.jobs or default_jobs(backend_name, env)
        backend = opts.backend if not isinstance(opts.backend, str) else make_backend(opts.backend, env, jobs)
        return RunConfig(
            tasks=tasks, backend=backend, generator=generator, n=opts.n,
            jobs=jobs, profiles=resolve_profiles(opts.profiles),
            select=opts.select, generated_tests=generated, probes=probes_for_run(tasks, generated, opts.select),
            run_id=recorder.run_spec.run_id,
            record=Path(recorder.event_file_path) if getattr(recorder, "event_file_path", None) else None,
        )
