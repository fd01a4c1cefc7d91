"""Canonical local names in the duplicate fingerprint (generation/local_names.py).

Versions that differ only in their local variables' names share one run. Each attack below is a
pair of programs that differ only in a local name but *behave* differently, because the program
reads its own local names; each must keep its own fingerprint, and so its own run and verdict.
"""
import ast
import itertools
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from ai_code_evals.core.candidate import Candidate
from ai_code_evals.generation import local_names
from ai_code_evals.generation.dedupe import fingerprint, mark_duplicates
from ai_code_evals.generation.local_names import canonical_locals, observes_locals


def twins(template: str, a: str = "total", b: str = "acc") -> tuple[str, str]:
    return template.replace("NAME", a), template.replace("NAME", b)


SUM = "def f(xs):\n    NAME = 0\n    for x in xs:\n        NAME += x\n    return NAME\n"


@pytest.mark.parametrize("pair", [
    twins(SUM),
    twins(SUM.replace("for x in xs", "for NAME2 in xs").replace("+= x", "+= NAME2").replace("NAME2", "it")),
    ("def f(xs):\n    return [x * 2 for x in xs if x]\n", "def f(xs):\n    return [v * 2 for v in xs if v]\n"),
    ("def f(xs):\n    return {k: n for k, n in xs}\n", "def f(xs):\n    return {a: b for a, b in xs}\n"),
    # an inner comprehension reusing the outer's variable: the shadowing is kept (and only a
    # twin that shadows too shares the fingerprint, see the PEP 709 pairs below)
    ("def f(a):\n    y = a\n    return [y for y in y]\n", "def f(a):\n    z = a\n    return [z for z in z]\n"),
    # a helper's own locals, and a lambda reading the enclosing function's
    ("def f(xs):\n    def g():\n        t = 1\n        return t\n    m = g()\n    return sorted(xs, key=lambda v: v * m)\n",
     "def f(xs):\n    def g():\n        u = 1\n        return u\n    w = g()\n    return sorted(xs, key=lambda v: v * w)\n"),
    # HumanEval's prompt imports typing; the math module hands out no frames either
    ("from typing import List\nimport math\n\ndef f(xs: List[int]):\n    r = math.fsum(xs)\n    return r\n",
     "from typing import List\nimport math\n\ndef f(xs: List[int]):\n    s = math.fsum(xs)\n    return s\n"),
])
def test_versions_that_differ_only_in_local_names_share_a_fingerprint(pair):
    first, second = pair
    assert fingerprint(first) == fingerprint(second)


ATTACKS = {
    "locals()": "def f(xs):\n    NAME = 0\n    return sorted(locals())\n",
    "dir()": "def f(xs):\n    NAME = 0\n    return dir()\n",
    "a generator's frame": "def f(xs):\n    g = (NAME for NAME in xs)\n    next(g)\n    return list(g.gi_frame.f_locals)\n",
    "a format field reading a frame": "def f(xs):\n    g = (NAME for NAME in xs)\n    next(g)\n    return '{0.gi_frame.f_locals}'.format(g)\n",
    "a format string built at run time": "def f(xs):\n    g = (NAME for NAME in xs)\n    next(g)\n"
                                          "    return ('{0.gi_fr' + 'ame.f_locals}').format(g)\n",
    "the handled exception's message": "def f(xs):\n    try:\n        NAME += 1\n    except Exception as e:\n        return str(e)\n"
                                       "    NAME = 0\n",
    "its own source": "def f(xs):\n    NAME = 0\n    return open(__file__).read()\n",
    "a code object": "def f(xs):\n    NAME = 0\n    return f.__code__.co_varnames\n",
    "getattr by a built string": "def f(xs):\n    NAME = 0\n    return getattr(f, '__co' + 'de__').co_varnames\n",
    "sys through a plain module": "import typing\n\ndef f(xs):\n    NAME = 0\n    return list(typing.sys._getframe().f_locals)\n",
    "a plain module's private import": "import random\n\ndef f(xs):\n    NAME = 0\n    return list(random._os.sys._getframe().f_locals)\n",
    "an inspecting module": "import inspect\n\ndef f(xs):\n    NAME = 0\n    return list(inspect.currentframe().f_locals)\n",
    "eval of a name": "def f(xs):\n    NAME = 5\n    return eval('total')\n",
    # typing imports operator: attrgetter reads attributes by a string built at run time
    "a module a plain module imported": ("import typing\n\n\ndef f(xs):\n    NAME = len(xs)\n"
                                          "    get = typing.operator.attrgetter\n    g = (v + NAME for v in xs)\n"
                                          "    next(g)\n    return sorted(get('gi_' + 'frame.f_' + 'locals')(g))\n"),
    "a module imported from a plain one": "from typing import operator\n\ndef f(xs):\n    NAME = 0\n    return operator\n",
    # a red team's five, past the deny-list this module had first (now an allow-list): each
    # builds its string at run time, then something turns it into code or an attribute path
    "singledispatch evaluating an annotation built at run time": (
        "import functools\n\nseen = []\n" + 'CODE = "seen.extend(f." + "_" * 2 + "code" + "_" * 2 + ".co" + "_varnames) or int"\n' + "\n\n@functools.singledispatch\ndef g(x):\n    return x\n\n\n"
        "def f(xs):\n    NAME = len(xs)\n\n    @g.register\n    def _(arg: CODE):\n        return arg\n"
        "    return NAME if 'total' in seen else -1\n"),
    "get_type_hints imported under another name": (
        "from typing import get_type_hints as hints\n\nseen = []\n" + 'CODE = "seen.extend(f." + "_" * 2 + "code" + "_" * 2 + ".co" + "_varnames) or int"\n' + "\n\ndef f(xs):\n    NAME = len(xs)\n\n"
        "    def h(a: CODE):\n        pass\n    hints(h)\n    return NAME if 'total' in seen else -1\n"),
    "an imported private function": (
        "from typing import _eval_type, ForwardRef\n\nseen = []\n" + 'CODE = "seen.extend(f." + "_" * 2 + "code" + "_" * 2 + ".co" + "_varnames) or int"\n' + "\n\ndef f(xs):\n    NAME = len(xs)\n"
        "    _eval_type(ForwardRef(CODE), {'seen': seen, 'f': f}, None)\n    return NAME if 'total' in seen else -1\n"),
    "an __exit__ built by type() reading the exception": (
        "U = '_' * 2\ngot = []\nCatch = type('Catch', (), {U + 'enter' + U: lambda self: self,\n"
        "                           U + 'exit' + U: lambda self, t, v, tb: got.append(str(v)) or True})\n\n\n"
        "def f(xs):\n    with Catch():\n        NAME += 1\n    NAME = len(xs)\n    return NAME if 'total' in got[-1] else -1\n"),
    "string.Formatter.get_field": (
        "from string import Formatter as F\n\nFIELD = '0.gi' + '_frame.f' + '_locals'\n\n\ndef f(xs):\n"
        "    g = (NAME for NAME in xs)\n    next(g)\n    return sorted(F().get_field(FIELD, (g,), {})[0])\n"),
    # a class pattern's keywords are attribute lookups with no attribute node in the tree
    "a class pattern reading a generator's frame": (
        "def f(xs):\n    NAME = len(xs)\n    g = (v + NAME for v in xs)\n    next(g)\n    match g:\n"
        "        case object(gi_frame=object(f_locals=found)):\n            return sorted(found)\n    return []\n"),
    # a second red team, against the allow-list
    "__exit__ assigned in a class body": (
        "got = []\n\nclass Catch:\n    __enter__ = lambda self: self\n"
        "    __exit__ = lambda self, t, v, tb: got.append(str(v)) or True\n\n"
        "def f(xs):\n    with Catch():\n        NAME += 1\n    NAME = len(xs)\n    return got[-1]\n"),
    "__builtins__ handing out locals": (
        "def f(xs):\n    NAME = 0\n    b = __builtins__\n    loc = b['locals'] if isinstance(b, dict) else b.locals\n"
        "    return sorted(loc())\n"),
    # functools.singledispatch evaluates a string annotation, with traceback (loaded in every
    # sandbox) reached through random's private os module: the frames' locals, code in a string
    "a string annotation singledispatch evaluates": (
        "import functools\nimport random\n\nseen = []\n\n\n@functools.singledispatch\ndef g(x):\n    return x\n\n\n"
        "def f(xs):\n    NAME = len(xs)\n\n    @g.register\n    def _(arg: \"seen.extend(k for s in "
        "random._os.sys.modules['traceback'].StackSummary.extract(random._os.sys.modules['traceback'].walk_stack(None), "
        "capture_locals=True) for k in (s.locals or ())) or int\"):\n        return arg\n    return sorted(set(seen))\n"),
    # a third red team: one-argument type() can be type itself, which then builds classes
    "type(object) building an __exit__ reading the exception": (
        "U = '_' * 2\ngot = []\nMeta = type(object)\nCatch = Meta('Catch', (), {U + 'enter' + U: lambda self: self,\n"
        "                           U + 'exit' + U: lambda self, t, v, tb: got.append(str(v)) or True})\n\n\n"
        "def f(xs):\n    with Catch():\n        NAME += 1\n    NAME = len(xs)\n    return got[-1]\n"),
    "type(object) building a class pattern that reads a frame": (
        "U = '_' * 2\nMeta = type(object)\nAll = Meta('All', (Meta,), {U + 'instancecheck' + U: lambda cls, obj: True})\n"
        "Peek = All('Peek', (), {U + 'match_args' + U: ('gi' + '_frame',)})\n"
        "Loc = All('Loc', (), {U + 'match_args' + U: ('f' + '_locals',)})\n\n\n"
        "def f(xs):\n    NAME = len(xs)\n    g = (v + NAME for v in xs)\n    next(g)\n    match g:\n"
        "        case Peek(Loc(found)):\n            return sorted(found)\n    return []\n"),
}


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_a_program_that_reads_its_local_names_keeps_them(name):
    """The attack: a version identical to a passing one but for a local name it reads back
    would inherit `passed` without ever running."""
    first, second = twins(ATTACKS[name])
    assert fingerprint(first) != fingerprint(second)


REAL_HOLES = ["a string annotation singledispatch evaluates", "a module a plain module imported",
              "singledispatch evaluating an annotation built at run time", "get_type_hints imported under another name",
              "an imported private function", "an __exit__ built by type() reading the exception",
              "string.Formatter.get_field", "a class pattern reading a generator's frame",
              "__exit__ assigned in a class body", "__builtins__ handing out locals",
              "type(object) building an __exit__ reading the exception",
              "type(object) building a class pattern that reads a frame"]


@pytest.mark.parametrize("name", REAL_HOLES)
def test_the_attacks_that_got_past_earlier_rules_really_tell_the_twins_apart(name):
    """Each of these once shared a fingerprint: run, the twins behave differently."""
    import traceback  # noqa: F401 - in sys.modules, as in every sandbox

    first, second = twins(ATTACKS[name])
    assert run_f(first, [1, 2, 3]) != run_f(second, [1, 2, 3])


SUPER = ("S = super\n\nclass Base:\n    def val(self):\n        return 1\n\nclass C(Base):\n    def m(self):\n"
         "        NAME = S\n        return NAME().val()\n\ndef f(xs):\n    return C().m()\n")


def raise_value_error():
    raise ValueError("no")


@pytest.mark.parametrize("first, second, arg", [
    # a parameter of an inner function shares the outer local's name: renaming the outer one
    # everywhere would make `g` return `y` in the second but its argument in the first
    ("def f(a):\n    x = 1\n    def g(x):\n        return x\n    return g(2) + x\n",
     "def f(a):\n    y = 1\n    def g(x):\n        return y\n    return g(2) + y\n", 0),
    # a global declaration: `count` is the module's, not a local
    ("count = 0\n\ndef f(a):\n    global count\n    count = a\n    return count\n",
     "count = 0\n\ndef f(a):\n    total = a\n    return count\n", 5),
    # a comprehension's first iterable is evaluated outside it
    ("def f(x):\n    y = x\n    return [x for x in x]\n", "def f(x):\n    y = x\n    return [y for x in y]\n", [1, 2]),
    # a local that is also an except name is gone after the handler
    ("def f(a):\n    x = 1\n    try:\n        a()\n    except ValueError as x:\n        pass\n    return x\n",
     "def f(a):\n    y = 1\n    try:\n        a()\n    except ValueError as x:\n        pass\n    return y\n",
     raise_value_error),
    # a local named super: zero-argument super() needs the name itself (a red team's find)
    (*twins(SUPER, "super", "sup"), [1]),
    # a parenthesized annotation without a value binds nothing: the name read after it is the
    # module's or the enclosing function's, not a local (a fourth red team's find, twice)
    (*twins("total = 10\nacc = 20\n\ndef f(xs):\n    (NAME): int\n    return NAME\n"), [1]),
    (*twins("def f(xs):\n    total = sum(xs)\n\n    def g():\n        (NAME): int\n        return NAME\n\n"
            "    return g()\n"), [1, 2, 3]),
    # class bodies resolve names their own way
    ("def f(a):\n    x = 1\n    class C:\n        x = 2\n        y = x\n    return C.y + x\n",
     "def f(a):\n    z = 1\n    class C:\n        x = 2\n        y = z\n    return C.y + z\n", 0),
])
def test_programs_that_behave_differently_never_share_a_fingerprint(first, second, arg):
    assert run_f(first, arg) != run_f(second, arg)  # the pair really behaves differently
    assert fingerprint(first) != fingerprint(second)


def run_f(code: str, arg):
    namespace: dict = {}
    exec(compile(code, "<version>", "exec"), namespace)  # noqa: S102 - the fixed pairs above, to show they differ
    try:
        return namespace["f"](arg)
    except Exception as exc:  # noqa: BLE001 - an exception is a behaviour too
        return type(exc).__name__


def test_the_plain_helpers_of_human_evals_prompts_keep_renaming_on():
    assert not observes_locals(ast.parse("from typing import List\nimport math\n\ndef f(x):\n    return '{}'.format(x)\n"))
    assert observes_locals(ast.parse("import os\n\ndef f(x):\n    return x\n"))


def test_a_format_field_nested_in_a_spec_counts_as_reading_attributes():
    """A fourth red team: ``'{0.real:{1}}'`` read ``.real`` past the rule for format fields (no
    attribute it could reach that way names locals, so it stayed a weak spot, not a hole)."""
    for literal in ("{0.real:{1}}", "{0:{1.real}}", "{0[0]:{1}}"):
        assert observes_locals(ast.parse(f"def f(x):\n    return {literal!r}.format(x, 3)\n")), literal
    assert not observes_locals(ast.parse("def f(x):\n    return '{0:{1}}'.format(x, 3)\n"))


def run_samples(tmp_path, task: dict, completions, *args: str, name: str = "run") -> dict[str, dict]:
    """The real CLI, headless, on task ``T/0`` (``f``) and these completions: candidates by id."""
    task_file = tmp_path / "task.jsonl"
    task_file.write_text(json.dumps({"task_id": "T/0", "entry_point": "f", **task}) + "\n")
    samples = tmp_path / f"{name}.jsonl"
    samples.write_text("".join(json.dumps({"task_id": "T/0", "completion": c}) + "\n" for c in completions))
    proc = subprocess.run([sys.executable, "-m", "ai_code_evals", "run", str(task_file), "--samples", str(samples),
                           *args, "--headless", "--json", "--record", str(tmp_path / f"{name}.run.jsonl")],
                          capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr
    return {c["id"]: c for t in json.loads(proc.stdout)["tasks"] for c in t["candidates"]}


SUM_TASK = {"prompt": "def f(xs):\n", "canonical_solution": "    return sum(xs)\n",
            "test": "def check(candidate):\n    assert candidate([1, 2, 3]) == 6\n"}


def test_a_renamed_twin_is_not_run_but_a_name_reading_one_is(tmp_path):
    """Through the CLI: the renamed twin inherits its original's verdict (`duplicate_of`), and a
    version that reads its local names runs in its own sandbox."""
    body = "    NAME = 0\n    for x in xs:\n        NAME += x\n    return NAME\n"
    reading = "    NAME = 0\n    for x in xs:\n        NAME += x\n    return NAME if 'total' in locals() else -1\n"
    rows = [body.replace("NAME", "total"), body.replace("NAME", "acc"),
            reading.replace("NAME", "total"), reading.replace("NAME", "acc")]
    got = run_samples(tmp_path, SUM_TASK, rows)
    assert got["T/0#1"]["duplicate_of"] == "T/0#0" and got["T/0#1"]["status"] == "passed"
    assert got["T/0#3"]["duplicate_of"] is None
    assert (got["T/0#2"]["status"], got["T/0#3"]["status"]) == ("passed", "failed")


def test_mark_duplicates_uses_the_canonical_names():
    first, second = twins(SUM)
    cands = [Candidate(id=f"t#{k}", task_id="t", code=code) for k, code in enumerate([first, second])]
    assert [c.duplicate_of for c in mark_duplicates(cands)] == [None, "t#0"]


def test_bench_dedupe_counts_the_runs_spared_and_flags_a_verdict_that_was_not_earned(tmp_path):
    """benchmarks/bench_dedupe.py on a small samples directory: the renamed twin is a duplicate
    only with canonical names, and a twin whose label differs from its original's fails it."""
    (tmp_path / "tasks_no_tests.jsonl").write_text(json.dumps({"task_id": "T/0", "prompt": "def f(xs):\n"}) + "\n")
    body = "    NAME = 0\n    for x in xs:\n        NAME += x\n    return NAME\n"
    rows = [body.replace("NAME", "total"), body.replace("NAME", "acc"), "    return 0\n"]
    (tmp_path / "samples.jsonl").write_text("".join(json.dumps({"task_id": "T/0", "completion": c}) + "\n" for c in rows))

    def bench(labels):
        (tmp_path / "labels.jsonl").write_text("".join(json.dumps({"id": f"T/0#{k}", "passed": p}) + "\n"
                                                       for k, p in enumerate(labels)))
        script = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_dedupe.py"
        return subprocess.run([sys.executable, str(script), "--real", str(tmp_path)],
                              capture_output=True, text=True, timeout=60)

    agreed = bench([True, True, False])
    assert agreed.returncode == 0, agreed.stderr
    assert "0 duplicates by syntax tree, 1 with canonical local names; versions to run 3 -> 2" in agreed.stdout
    differs = bench([True, False, False])
    assert differs.returncode == 1
    assert "T/0#1 (passed=False) marked a duplicate of T/0#0 (passed=True)" in differs.stdout


@pytest.mark.parametrize("program, wrong", [
    # a global taken for a local (as ``(total): int`` once made one): its global name changes
    ("total = 10\n\ndef f(xs):\n    return total + len(xs)\n", lambda n: n.id == "total"),
    # a local renamed where it is read but not where it is bound: a local read becomes a global one
    ("def f(xs):\n    total = len(xs)\n    return total\n", lambda n: n.id == "total" and isinstance(n.ctx, ast.Load)),
])
def test_a_renaming_that_would_change_the_compiled_program_is_undone(monkeypatch, program, wrong):
    """The net under the rules: were one wrong, the compiled program's operations or global
    names would change, and the names stay as they were."""
    def wrong_rename(nodes):
        renamed = [(n, n.id) for n in nodes.of_kind[ast.Name] if wrong(n)]
        for n, _ in renamed:
            n.id = "\0wrong"
        return renamed

    monkeypatch.setattr(local_names, "_rename", wrong_rename)
    assert ast.unparse(canonical_locals(ast.parse(program))) == ast.unparse(ast.parse(program))
    assert fingerprint(program) != fingerprint(program.replace("total", "acc"))


# Scoping on its own: each template filled with every combination of names from a small pool.
# Versions that share a fingerprint must behave the same; some must share one (or the renaming
# would never happen and this would test nothing).
SCOPING = [
    "def f(xs):\n    A = 1\n    def g(B):\n        C = B + A\n        return [A for A in range(C) if A]\n    return g(A) + [B for B in xs]\n",
    "def f(xs):\n    A = [B for B in xs for C in [B] if C]\n    B = lambda C=A: [A for A in C]\n    return B()\n",
    "def f(xs):\n    A = 0\n    def g():\n        nonlocal A\n        A += 1\n        B = A\n        return B\n    g()\n    return A\n",
    "def f(xs):\n    A = xs\n    return [[A for A in A] for B in A]\n",
    "def f(xs):\n    A = 1\n    class K:\n        B = A\n    return K.B\n",
    "def f(xs):\n    A = 1\n    del A\n    B = [C for C in xs]\n    return B\n",
    "def f(xs):\n    A = {B: C for B, C in enumerate(xs) if (A := B)}\n    return A\n",
    "def f(xs):\n    match xs:\n        case [A, *B]:\n            C = A\n            return C, B\n    return None\n",
    "def f(xs):\n    def g(A=[B for B in xs]):\n        C = A\n        return C\n    A = g()\n    return A\n",
    "def f(xs):\n    A = 1\n    def g():\n        def h():\n            return A\n        A = 2\n        return h()\n    return g()\n",
    "def f(xs):\n    A = (B for B in [C for C in xs] if B)\n    return list(A)\n",
    "A = 10\nB = 20\n\ndef f(xs):\n    global A\n    C = A = len(xs)\n    return C + B\n",
    "A = 10\nB = 20\n\ndef f(xs):\n    (C): int\n    return C, [B for B in xs]\n",
    "def f(xs):\n    A = 0\n    for B in xs:\n        A += B\n    else:\n        C = A\n    return C, B\n",
    "def f(xs):\n    try:\n        A = xs[5]\n    except IndexError:\n        A = B = 1\n    return A\n",
    "def f(xs):\n    A = len\n    def len(B):\n        return 0\n    return A(xs) + len(xs)\n",
    "def f(xs):\n    return sum(A * B for A, B in zip(xs, xs) if (C := A) or C)\n",
]
POOL = ["a", "b", "xs", "len", "total"]
# a function holding a class keeps its names; C is no local, A and B are the module's; h reads A
# before g assigns it (at h's definition, which is all the analysis of unbound reads follows)
NEVER_RENAMED = {SCOPING[4], SCOPING[9], SCOPING[12]}


def behaviour(code: str) -> str:
    try:
        result = run_f(code, [1, 2, 3])
    except SyntaxError:  # Python refuses some fillings (a walrus rebinding a loop variable...)
        return "SyntaxError"
    return re.sub(r" at 0x[0-9a-f]+", "", repr(result))


@pytest.mark.parametrize("template", SCOPING)
def test_versions_sharing_a_fingerprint_behave_the_same(template):
    groups: dict[str, set[str]] = {}
    for a, b, c in itertools.product(POOL, repeat=3):
        code = template.replace("A", a).replace("B", b).replace("C", c)
        fp = fingerprint(code)
        if fp is not None:
            groups.setdefault(fp, set()).add(code)
    for codes in groups.values():
        assert len({behaviour(code) for code in codes}) == 1, sorted(codes)
    if template not in NEVER_RENAMED:
        assert len(groups) < sum(map(len, groups.values()))  # some distinct fillings were renamed into one


# A fifth red team: from Python 3.12 a comprehension is compiled into its function (PEP 709), and
# CPython behaves differently when its loop variable shares a name with a global, a built-in or
# an enclosing function's variable (UnboundLocalError; CPython issues #118513 and #156664). The
# fingerprint is taken on the app's Python, so a loop variable that shares its name with
# anything outside its comprehension keeps it.
PEP709 = {
    "an enclosing function's variable": ("def f(xs):\n    total = len(xs)\n\n    def g():\n"
                                         "        [NAME for NAME in xs]\n        return [total for v in xs]\n\n"
                                         "    return g()\n"),
    "a global": "total = 7\n\n\ndef f(xs):\n    [NAME for NAME in xs]\n    return [total for v in xs]\n",
    "a built-in": "def f(xs):\n    [NAME for NAME in xs]\n    return [len(xs) for v in xs]\n",
}


# where each behaves differently (seen with CPython 3.12.1 and 3.13.0)
BROKEN_ON = {"an enclosing function's variable": ("python3.12", "python3.13"), "a global": ("python3.12",),
             "a built-in": ("python3.12",)}


def installed(name: str) -> str | None:
    """The interpreter an interpreter profile would run (``python3.N``), or None."""
    from ai_code_evals.sandbox import interpreter

    try:
        return interpreter.find(name).executable
    except interpreter.InterpreterMissing:
        return None


@pytest.mark.parametrize("name", sorted(PEP709))
def test_a_loop_variable_sharing_an_outer_name_keeps_it(name):
    shared = {"an enclosing function's variable": "total", "a global": "total", "a built-in": "len"}[name]
    reusing, private = twins(PEP709[name], shared, "acc")
    assert fingerprint(reusing) != fingerprint(private)
    pythons = [p for p in map(installed, BROKEN_ON[name]) if p]
    if not pythons:
        pytest.skip(f"none of {', '.join(BROKEN_ON[name])} installed: the twins behave the same on the others")
    for python in pythons:
        outcomes = [subprocess.run([python, "-c", code + "\nprint(f([1, 2, 3]))"], capture_output=True, text=True,
                                   timeout=60) for code in (reusing, private)]
        assert outcomes[0].returncode != 0 and "UnboundLocalError" in outcomes[0].stderr, python
        assert outcomes[1].returncode == 0, outcomes[1].stderr


def test_a_twin_that_fails_under_a_newer_python_runs_there_itself(tmp_path):
    """Through the CLI with an interpreter profile: the reusing twin runs in its own sandbox and
    fails under Python 3.12+, instead of inheriting its private twin's pass."""
    profile = next((p for p in ("python3.13", "python3.12") if installed(p)), None)
    if profile is None:
        pytest.skip("neither Python 3.12 nor 3.13 installed")
    task = {"prompt": "def f(xs):\n", "canonical_solution": "    return [len(xs) for v in xs]\n",
            "test": "def check(candidate):\n    assert candidate([1, 2, 3]) == [3, 3, 3]\n"}
    body = ("    total = len(xs)\n\n    def g():\n        [NAME for NAME in xs]\n        return [total for v in xs]\n\n"
            "    return g()\n")
    reusing = run_samples(tmp_path, task, [body.replace("NAME", n) for n in ("acc", "total")],
                          "--env", "default", "--env", profile)["T/0#1"]
    assert reusing["duplicate_of"] is None
    assert reusing["profiles"] == {"default": "passed", profile: "failed"}


# An eighth red team: UnboundLocalError names the variable, and a task's test can read the message.
UNBOUND = {
    "assigned on one branch": "def f(x):\n    if x > 0:\n        NAME = x\n    return NAME\n",
    "a loop variable after its loop": "def f(x):\n    for NAME in range(x):\n        pass\n    return NAME\n",
    "deleted": "def f(x):\n    NAME = x\n    if x == 0:\n        del NAME\n    return NAME\n",
    "assigned in a try body, read in its handler": ("def f(x):\n    try:\n        NAME = 10 // x\n"
                                                    "    except ZeroDivisionError:\n        return NAME\n    return NAME\n"),
    "read by a nested function before it is assigned": ("def f(x):\n    def g():\n        return NAME\n"
                                                         "    if x:\n        NAME = x\n    return g()\n"),
    # a ninth red team: a nested function's own local, renamed by the outer function's renaming;
    # a comprehension's later loop variable read by an earlier condition; a walrus in a lambda
    "a nested function's own local": ("def f(x):\n    NAME = 0\n\n    def g():\n        NAME += x\n"
                                      "        return NAME\n\n    return g()\n"),
    "a later loop variable in a comprehension": "def f(x):\n    return [1 for a in range(1) if NAME for NAME in range(1)]\n",
    "a walrus in a lambda": "def f(x):\n    NAME = 0\n    g = lambda: (NAME, NAME := 1)\n    return g()\n",
    # a tenth red team: a walrus in a comprehension makes the name the nested function's own;
    # a comprehension's target reads a name it assigns later
    "a walrus in a nested function's comprehension": ("def f(x):\n    NAME = 0\n\n    def g():\n        y = NAME\n"
                                                      "        [NAME := v for v in range(2)]\n        return y\n\n"
                                                      "    return g()\n"),
    "a comprehension target reading a later part": ("def f(x):\n    xs = [0, 0]\n"
                                                    "    return [xs for xs[NAME], NAME in [(0, 1)]]\n"),
    "read in a loop before its assignment": ("def f(x):\n    for i in range(2):\n        if i == 0:\n"
                                             "            x += NAME\n        NAME = 1\n    return x\n"),
}


@pytest.mark.parametrize("name", sorted(UNBOUND))
def test_a_local_a_read_may_find_unbound_keeps_its_name(name):
    first, second = twins(UNBOUND[name])
    assert fingerprint(first) != fingerprint(second)
    for code, local in ((first, "total"), (second, "acc")):  # f(0) reads it unbound: the message names it
        namespace: dict = {}
        exec(compile(code, "<version>", "exec"), namespace)  # noqa: S102 - the fixed pairs above
        with pytest.raises(NameError, match=f"'{local}'"):
            namespace["f"](0)


def test_locals_assigned_before_every_read_are_still_renamed():
    for template in (SUM, "def f(x):\n    if x:\n        NAME = 1\n    else:\n        NAME = 2\n    return NAME\n",
                     "def f(x):\n    try:\n        NAME = 1\n    except ValueError:\n        return 0\n    return NAME\n",
                     "def f(x):\n    NAME = x\n    def g():\n        return NAME\n    return g()\n",
                     "def f(x):\n    if not x:\n        return 0\n    for NAME in x:\n        x = NAME\n    return x\n"):
        assert fingerprint(template.replace("NAME", "total")) == fingerprint(template.replace("NAME", "acc")), template


def test_a_test_reading_the_unbound_locals_message_tells_the_twins_apart(tmp_path):
    """The attack through the CLI: the ``acc`` twin of a passing ``total`` version shared its
    pass; alone it fails the test that reads the message. Now it runs itself."""
    test = ("def check(candidate):\n    assert candidate(3) == 3\n    try:\n        candidate(0)\n"
            "    except UnboundLocalError as e:\n        assert 'total' in str(e), str(e)\n")
    task = {"prompt": "def f(x):\n", "canonical_solution": "    if x > 0:\n        total = x\n    return total\n",
            "test": test}
    body = "    if x > 0:\n        NAME = x\n    return NAME\n"
    got = run_samples(tmp_path, task, [body.replace("NAME", n) for n in ("total", "acc")])
    assert got["T/0#1"]["duplicate_of"] is None
    assert (got["T/0#0"]["status"], got["T/0#1"]["status"]) == ("passed", "failed")
