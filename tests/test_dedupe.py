"""The duplicate decision beyond local names (generation/dedupe.py, engine/run.py: _checked_copy).

Versions with equal fingerprints share one run and verdict. Each attack here is a pair a
fingerprint once called equal that a test could tell apart: by the program's own layout, by a
Python other than the app's, by what a task's test sees of a version's exception, or by what
Python's parser costs on redundant parentheses.
"""
import ast
import subprocess
import sys

import pytest
from test_local_names import SUM_TASK, installed, run_samples

from ai_code_evals.generation.dedupe import fingerprint


@pytest.mark.parametrize("first, second", [
    # a blank line moves the line number the program reads
    ("import sys\n\ndef f(xs):\n    return sys._getframe().f_lineno\n",
     "import sys\n\n\ndef f(xs):\n    return sys._getframe().f_lineno\n"),
    # a comment changes the source the program reads
    ("import linecache\n\ndef f(xs):\n    return linecache.getline(__file__, 4)  # a\n",
     "import linecache\n\ndef f(xs):\n    return linecache.getline(__file__, 4)  # b\n"),
])
def test_a_program_that_could_read_its_layout_is_a_copy_only_of_the_same_text(tmp_path, first, second):
    """The attack: twins by syntax tree, one reading a line number or a comment the other does
    not have, shared a verdict. A program that could observe itself is compared by its text."""
    def run_as_file(code: str) -> str:
        path = tmp_path / "version.py"
        path.write_text(code + "\nprint(f([1]))\n")
        return subprocess.run([sys.executable, str(path)], capture_output=True, text=True, timeout=60).stdout

    assert ast.dump(ast.parse(first)) == ast.dump(ast.parse(second))
    assert run_as_file(first) != run_as_file(second)  # the twins really behave differently
    assert fingerprint(first) != fingerprint(second)
    assert fingerprint(first) == fingerprint(first)  # the same text still is one program


@pytest.mark.parametrize("body, name, twin", [
    ("    NAME = 0\n    for x in xs:\n        NAME += x\n    return NAME\n", "total", "tot\u0870al"),
    # Python 3.11 reads U+A7F2 as C (NFKC): the same syntax tree, with no renaming at all
    ("    return sum(xs) * NAME\n\n\nNAME = 1\n", "C", "\ua7f2"),
])
def test_under_another_python_only_identical_text_is_a_copy(tmp_path, body, name, twin):
    """A sixth red team: ``totࡰal`` (U+0870, a letter since Unicode 14) is a name to the app's
    Python, which renames it like ``total``, and a SyntaxError to Python 3.9 and 3.10; ``ꟲ``
    (U+A7F2) is ``C`` to 3.11 and a SyntaxError to them. When a profile runs another Python than
    the app's, the engine keeps a copy only when its text is its original's: the twin runs
    under python3.9 and does not compile there; a same-text copy is still one."""
    profile = next((p for p in ("python3.9", "python3.10") if installed(p)), None)
    if profile is None:
        pytest.skip("neither Python 3.9 nor 3.10 installed")
    rows = [body.replace("NAME", name), body.replace("NAME", twin), body.replace("NAME", name)]
    assert fingerprint("def f(xs):\n" + rows[0]) == fingerprint("def f(xs):\n" + rows[1])
    got = run_samples(tmp_path, SUM_TASK, rows, "--env", "default", "--env", profile)
    assert got["T/0#1"]["duplicate_of"] is None
    assert got["T/0#1"]["profiles"] == {"default": "passed", profile: "error"}  # it does not compile there
    assert got["T/0#2"]["duplicate_of"] == "T/0#0"


# A seventh red team, against the duplicate decision as a whole.

def test_a_tasks_test_cannot_read_the_versions_line_numbers(tmp_path):
    """The attack: a task's test read the line numbers of the traceback the checker attached to
    the version's exception, so twins a comment apart behaved differently and shared a verdict.
    The exception a test catches now carries the version's type, bases and message only: the
    copy's verdict is its own."""
    test = ("def check(candidate):\n    assert candidate(2) == 5\n    try:\n        candidate(0)\n"
            "    except ZeroDivisionError as e:\n        seen = repr(vars(e)) + str(e) + repr(e.args)\n"
            "        assert 'line 2' in seen, seen\n")
    task = {"prompt": "def f(x):\n", "canonical_solution": "    return 10 // x\n", "test": test}
    rows = ["    return 10 // x\n", "    # the quotient\n    return 10 // x\n"]
    assert fingerprint("def f(x):\n" + rows[0]) == fingerprint("def f(x):\n" + rows[1])

    def statuses(samples_rows, name):
        return [c["status"] for c in run_samples(tmp_path, task, samples_rows, name=name).values()]

    together, alone = statuses(rows, "together"), statuses(rows[1:], "alone")
    assert together[1] == alone[0]  # the copy's verdict is the one it earns alone
    assert together[0] == together[1]


def test_a_long_program_is_compared_by_its_text_not_parsed(tmp_path):
    """The attack: redundant parentheses leave the syntax tree as it is but cost Python's parser
    about 300 bytes per byte: a 4.8 MB twin of a 24 KB version failed to load in a 1 GiB sandbox
    (MemoryError) yet shared its pass, and fingerprinting it took 1.5 GB here."""
    from ai_code_evals.generation.dedupe import PARSE_AT_MOST

    short = "def f(x):\n    return [" + "x," * 12000 + "][0]\n"
    padded = "def f(x):\n    return [" + ("(" * 199 + "x" + ")" * 199 + ",") * 12000 + "][0]\n"
    assert ast.dump(ast.parse(short)) == ast.dump(ast.parse(padded))
    assert len(short) < PARSE_AT_MOST < len(padded)
    assert fingerprint(padded) != fingerprint(short)
    assert fingerprint(padded) == fingerprint(padded)  # a copy of the same text is still one
    load = ("import resource, sys\nresource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))\n"
            "compile(open(sys.argv[1]).read(), 'v', 'exec')\n")  # the default profile's 1 GiB
    loads = []
    for code in (short, padded):
        path = tmp_path / "version.py"
        path.write_text(code)
        loads.append(subprocess.run([sys.executable, "-c", load, str(path)], capture_output=True, text=True,
                                    timeout=120))
    assert loads[0].returncode == 0, loads[0].stderr
    assert "MemoryError" in loads[1].stderr


# An eighth red team.

def test_an_int_literal_too_long_to_print_does_not_stop_the_run(tmp_path):
    """The attack: ``BIG = 0xfff...`` (4,000 digits) parses, but printing its syntax tree passes
    Python's 4,300-digit limit for int to str, and the ValueError ended the whole run. Such a
    program is compared by its text; the run goes on and the version is judged."""
    big = "    return x\n\nBIG = 0x" + "f" * 4000 + "\n"
    assert fingerprint("def f(x):\n" + big) == fingerprint("def f(x):\n" + big)
    task = {"prompt": "def f(x):\n", "canonical_solution": "    return x\n",
            "test": "def check(candidate):\n    assert candidate(3) == 3\n"}
    got = run_samples(tmp_path, task, ["    return x\n", big])
    assert [c["status"] for c in got.values()] == ["passed", "passed"]


@pytest.mark.parametrize("reads", ["id(b)", "hash(object())"])
def test_a_program_reading_addresses_is_a_copy_only_of_the_same_text(reads):
    """The attack: ``id`` of new objects depends on what loading the program allocated, so a twin
    with 800 comment lines in front ordered its objects differently and failed a test its short
    twin passed, yet shared the pass (deterministic in the sandbox, run after run). ``id`` and
    ``hash`` now make a program compare by its text. (An object's default ``repr`` shows its
    address too: a version that builds on it has no verdict any other run reproduces.)"""
    body = ("def f(x):\n    objs = ['%d' % i * 300 for i in range(1000, 1400)]\n"
            f"    ids = [{reads} for b in objs]\n    return sum(1 for i in range(1, len(ids)) if ids[i] < ids[i - 1])\n")
    padded = "# a comment\n" * 800 + body
    assert ast.dump(ast.parse(body)) == ast.dump(ast.parse(padded))
    assert fingerprint(body) != fingerprint(padded)
    assert fingerprint(body) == fingerprint(body)
