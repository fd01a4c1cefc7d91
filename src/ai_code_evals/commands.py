"""What each CLI command does, once its arguments are parsed."""
from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from ai_code_evals.core.errors import EXIT_INTERRUPTED, EXIT_OK, InputError
from ai_code_evals.progress import ProgressReporter, preparing, results_table
from ai_code_evals.session import Run, RunRequest, load_resume


def print_json(obj) -> None:
    sys.stdout.write(json.dumps(obj, indent=2, default=str) + "\n")


def request_from_args(args) -> RunRequest:
    return RunRequest(tasks=args.tasks, samples=args.samples, generated_tests=args.generated_tests,
                      generate_tests=args.generate_tests, generator=args.generator, n=args.n,
                      model=args.model, backend=args.backend, jobs=args.jobs, env=args.env or ["default"],
                      select=args.select, record=args.record, min_time_limit_s=args.min_time_limit,
                      time_limit_factor=args.time_limit_factor, unsafe_isolation=args.unsafe_isolation)


def run(args) -> int:
    with preparing("reading tasks and samples, starting the sandbox backend…"):
        run = Run.start(request_from_args(args))
    return front_end(run, args)


def front_end(run: Run, args) -> int:
    """The TUI (default) or the headless progress line, subscribed to the run."""
    warn_unsafe(run)
    if not args.headless:
        from ai_code_evals.tui.app import run_live

        return run_live(run)
    return finish_headless(run, args.json)


def warn_unsafe(run: Run) -> None:
    """One line on stderr when candidates run uncontained (--unsafe-isolation was given and used)."""
    if run.unsafe_isolation:
        print(f"ai-code-evals: warning: isolation level {run.config.backend.isolation!r} cannot contain candidates "
              f"({run.unsafe_isolation}); running anyway (--unsafe-isolation)", file=sys.stderr)


def finish_headless(run: Run, as_json: bool) -> int:
    """Run without the TUI; on Ctrl-C every sandbox is destroyed and the log stays resumable."""
    with ProgressReporter() as progress:
        run.subscribe(progress)
        try:
            summary = asyncio.run(run.execute())
        except (KeyboardInterrupt, asyncio.CancelledError):
            run.close()
            print(f"ai-code-evals: interrupted; finished results are in {run.config.record}. "
                  f"Finish with: ai-code-evals resume {run.config.record}", file=sys.stderr)
            return EXIT_INTERRUPTED
        finally:
            run.close()
    if as_json:
        print_json(summary)
    else:
        results_table(summary)
    return EXIT_OK


def resume(args) -> int:
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
    with preparing("reading the run log and its inputs, starting the sandbox backend…"):
        run = Run.resume(state, unsafe=args.unsafe_isolation)
    return front_end(run, args)


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
