"""The run log of a run started from the command line: its spec, its tasks, then every event."""
from __future__ import annotations

from ai_code_evals.core.errors import InputError
from ai_code_evals.core.events import CandidateAdded
from ai_code_evals.engine.run import RunConfig
from ai_code_evals.runlog.writer import RunLog
from ai_code_evals.session.request import RunRequest


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
