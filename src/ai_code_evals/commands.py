"""What each CLI command does, once its arguments are parsed."""
from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from ai_code_evals.cli import EXIT_INTERRUPTED, EXIT_OK, print_json
from ai_code_evals.config import settings_env
from ai_code_evals.engine.events import EventBus
from ai_code_evals.errors import InputError
from ai_code_evals.progress import ProgressReporter, results_table
from ai_code_evals.session import (
    RecordingSubscriber,
    RunRequest,
    build_config,
    load_resume,
    open_run_log,
    preflight_backend,
    resume_config,
    run_headless,
)


def request_from_args(args) -> RunRequest:
    return RunRequest(tasks=args.tasks, samples=args.samples, generated_tests=args.generated_tests,
                      generate_tests=args.generate_tests, generator=args.generator, n=args.n,
                      model=args.model, backend=args.backend, jobs=args.jobs, env=args.env or ["default"],
                      select=args.select, record=args.record, min_time_limit_s=args.min_time_limit,
                      time_limit_factor=args.time_limit_factor, unsafe_isolation=args.unsafe_isolation)


def run(args) -> int:
    env = settings_env()
    req = request_from_args(args)
    bus = EventBus()  # the run's one bus: the generator streams onto it, the TUI or log listens
    config = build_config(req, env, bus)
    warn_unsafe(config)
    preflight_backend(config.backend)  # a wrong key or URL stops here, before any version starts
    log = open_run_log(config, req)
    if not args.headless:
        from ai_code_evals.tui.app import run_live

        return run_live(config, log, bus=bus)
    return finish_headless(config, log, args.json, RecordingSubscriber(log), bus)


def warn_unsafe(config) -> None:
    """One line on stderr when candidates run uncontained (--unsafe-isolation was given and used)."""
    gaps = getattr(config.backend, "unsafe_isolation", "")
    if gaps:
        print(f"ai-code-evals: warning: isolation level {config.backend.isolation!r} cannot contain candidates "
              f"({gaps}); running anyway (--unsafe-isolation)", file=sys.stderr)


def finish_headless(config, log, as_json: bool, recorder, bus: EventBus | None = None) -> int:
    """Run without the TUI; on Ctrl-C every sandbox is destroyed and the log stays resumable."""
    with ProgressReporter() as progress:
        try:
            summary = asyncio.run(run_headless(config, recorder, [progress], bus=bus))
        except (KeyboardInterrupt, asyncio.CancelledError):
            log.close()
            print(f"ai-code-evals: interrupted; finished results are in {config.record}. "
                  f"Finish with: ai-code-evals resume {config.record}", file=sys.stderr)
            return EXIT_INTERRUPTED
        finally:
            log.close()
    if as_json:
        print_json(summary)
    else:
        results_table(summary)
    return EXIT_OK


def resume(args) -> int:
    env = settings_env()
    state = load_resume(args.record)
    if state.record.truncated_tail:
        print(f"ai-code-evals: {args.record}: ignored a half-written last line", file=sys.stderr)
    report = state.record.final_report
    if report is not None:
        rerun = infrastructure_errors(report)
        if not rerun:
            print(f"ai-code-evals: {args.record}: this run already finished; nothing to resume", file=sys.stderr)
            if args.json:
                print_json(report)
            return EXIT_OK
        print(f"ai-code-evals: {args.record}: running again the {rerun} version(s) that got no verdict "
              "because the infrastructure failed", file=sys.stderr)
    bus = EventBus()
    config, log = resume_config(state, env, bus, unsafe=args.unsafe_isolation)
    warn_unsafe(config)
    preflight_backend(config.backend)
    known = {c.id for c in state.candidates}
    recorder = RecordingSubscriber(log, known)
    if not args.headless:
        from ai_code_evals.tui.app import run_live

        # the recorder: no second line for a logged candidate
        return run_live(config, log, log_subscriber=recorder, bus=bus)
    return finish_headless(config, log, args.json, recorder, bus)


def replay(args) -> int:
    from ai_code_evals.runlog.reader import read_record
    from ai_code_evals.tui.app import run_replay

    read_record(args.record)  # a clear error before the TUI starts
    return run_replay(Path(args.record))


def export(args) -> int:
    from ai_code_evals.runlog.winners import winners

    chosen = winners(args.record)
    if args.task:
        if args.task not in chosen:
            raise InputError(f"no task {args.task!r} in this run (tasks: {', '.join(chosen)})", path=args.record)
        chosen = {args.task: chosen[args.task]}
    written = 0
    for task_id, (cand_id, code) in chosen.items():
        if cand_id is None:
            print(f"ai-code-evals: {task_id}: no winner to export", file=sys.stderr)
            continue
        out = Path(args.out) if args.out else Path(f"{task_id.replace('/', '_')}_winner.py")
        if len(chosen) > 1 and args.out:
            out = Path(args.out) / f"{task_id.replace('/', '_')}_winner.py"
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(code, encoding="utf-8")
        except OSError as exc:
            raise InputError(f"cannot write {task_id}'s winner: {exc.strerror or exc}", path=str(out)) from None
        print(f"{task_id}: wrote {cand_id} to {out}")
        written += 1
    return EXIT_OK if written else 1


def registry_path() -> int:
    from ai_code_evals.evals_bridge import registry_dir

    print(registry_dir())
    return EXIT_OK


def infrastructure_errors(report: dict) -> int:
    """Versions of a finished run that got no verdict because the infrastructure failed."""
    from ai_code_evals.engine.results import is_infrastructure_error

    return sum(1 for task in report.get("tasks") or [] for c in task.get("candidates") or []
               if isinstance(c, dict) and is_infrastructure_error(c))
