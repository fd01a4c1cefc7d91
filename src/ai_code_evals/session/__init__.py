"""A run from a front end's point of view: what the user asked for (``request``), the run log
it writes (``recording``), how an interrupted run finishes (``resume``), and the ``Run`` that
owns all of it from start to end (``run``)."""
from ai_code_evals.sandbox.registry import make_backend
from ai_code_evals.session.recording import RecordingSubscriber, open_run_log
from ai_code_evals.session.request import (
    RunRequest,
    available_interpreters,
    build_config,
    check_model_endpoint,
    default_jobs,
    load_candidates,
    preflight_backend,
    samples_candidates,
)
from ai_code_evals.session.resume import (
    ResumeState,
    load_resume,
    merge_candidates,
    resume_config,
    source_candidates,
)
from ai_code_evals.session.run import Run

__all__ = ["RecordingSubscriber", "ResumeState", "Run", "RunRequest", "available_interpreters", "build_config",
           "check_model_endpoint", "default_jobs", "load_candidates", "load_resume", "make_backend",
           "merge_candidates", "open_run_log", "preflight_backend", "resume_config", "samples_candidates",
           "source_candidates"]
