"""Code extraction from model replies, duplicate fingerprints, strategies and the parsing of
generated asserts: the pure parts of the generation layer."""
from __future__ import annotations

import pytest

from ai_code_evals.core.candidate import Candidate
from ai_code_evals.generation.dedupe import fingerprint, mark_duplicates
from ai_code_evals.generation.extract import NoUsableCode, extract_code, extract_program
from ai_code_evals.generation.generated_tests import parse_asserts
from ai_code_evals.generation.strategies import STRATEGIES, plan


def run(code: str, entry: str, *args):
    ns: dict = {}
    exec(compile(code, "candidate.py", "exec"), ns)  # noqa: S102 - our own test programs
    return ns[entry](*args)


# -- extraction ------------------------------------------------------------------------------

def test_fenced_block_with_prose_and_example_calls():
    reply = ("Sure! Here is the solution:\n\n```python\ndef add(a, b):\n    return a + b\n\n"
             "print(add(1, 2))\nassert add(1, 2) == 4  # wrong on purpose\n"
             "if __name__ == '__main__':\n    add(3, 4)\n```\nThis works because addition.")
    got = extract_code(reply, "add")
    assert run(got.code, "add", 2, 3) == 5
    assert "print" not in got.code and "assert" not in got.code and "__main__" not in got.code
    assert got.notes == ["removed example calls"]


@pytest.mark.parametrize("fence", ["```", "```py", "```Python3", "~~~python"])
def test_fence_variants(fence):
    close = "~~~" if fence.startswith("~") else "```"
    reply = f"{fence}\ndef neg(x):\n    return -x\n{close}"
    assert run(extract_code(reply, "neg").code, "neg", 3) == -3


def test_several_blocks_pick_the_one_defining_the_entry_point_and_join_helpers():
    reply = ("First the usage:\n```bash\npython solve.py\n```\n"
             "```python\nprint(double_all([1]))\n```\n"
             "The function:\n```python\ndef double_all(xs):\n    return [twice(x) for x in xs]\n```\n"
             "and its helper:\n```python\nimport math\n\ndef twice(x):\n    return math.prod([x, 2])\n```")
    got = extract_code(reply, "double_all")
    assert run(got.code, "double_all", [1, 2]) == [2, 4]
    assert "joined helpers from another block" in got.notes


def test_no_fence_prose_around_code_and_missing_imports():
    reply = ("Here you go.\n\ndef top(xs: List[int]) -> int:\n    c = Counter(xs)\n"
             "    return max(c, key=lambda k: (c[k], k))\n\nIt counts the items with Counter.")
    got = extract_code(reply, "top")
    assert run(got.code, "top", [1, 2, 2]) == 2
    assert got.code.startswith("from collections import Counter\nfrom typing import List\n")


def test_body_only_completion_style_reply_keeps_prompt_imports_and_helpers():
    prompt = ('from typing import List\n\n\ndef is_even(n):\n    return n % 2 == 0\n\n\n'
              'def evens(xs: List[int]) -> List[int]:\n    """Even numbers of xs.\n    >>> evens([1, 2])\n'
              '    [2]\n    """\n')
    reply = "```\n    return [x for x in xs if is_even(x)]\n```"
    got = extract_code(reply, "evens", prompt=prompt)
    assert run(got.code, "evens", [1, 2, 3, 4]) == [2, 4]
    # a whole function in the reply also gets the prompt's helper
    full = "```python\ndef evens(xs):\n    return list(filter(is_even, xs))\n```"
    assert run(extract_code(full, "evens", prompt=prompt).code, "evens", [2, 3]) == [2]


def test_body_only_reply_with_a_signature_and_repl_transcripts():
    body = "return x * 3"
    assert run(extract_code(body, "triple", signature="def triple(x):").code, "triple", 2) == 6
    repl = "```pycon\n>>> def inc(x):\n...     return x + 1\n>>> inc(1)\n2\n```"
    assert run(extract_code(repl, "inc").code, "inc", 1) == 2


@pytest.mark.parametrize("reply", [
    "", "I'm sorry, I can't help with that.", "Sorry", "```python\ndef other(x):\n    return x\n```",
    "```python\ndef add(a, b)\n    return a +\n```", "```json\n{\"def\": 1}\n```",
])
def test_no_usable_code(reply):
    assert extract_code(reply, "add", signature="def add(a, b):") is None


@pytest.mark.parametrize(("reply", "reason"), [
    ("  \n", "no usable code in the reply: the reply is empty"),
    ("Sorry, I can't help with that.", "no usable code in the reply: it holds no Python code"),
    ("```json\n{\"def\": 1}\n```", "no usable code in the reply: its code blocks are not Python (json)"),
    ("```python\ndef other(a, b):\n    return a\n```", "no usable code in the reply: the code defines other, not add"),
    ("```python\ndef add(a, b)\n    return a + b\n```",
     "no usable code in the reply: the code does not parse (line 1: expected ':')"),
    ("Sure:\ndef add(a, b)\n    return a + b\nDone.",
     "no usable code in the reply: the code does not parse (line 1: expected ':')"),
    (("```python\ndef add(a, b):\n    return a + b\n```\nOr faster:\n```python\ndef add(a, b):\n"
     "    return sum((a, b))\n```"),
     "ambiguous reply: it holds 2 different versions of add; not guessing which one was meant"),
])
def test_each_reply_without_a_program_says_why_in_one_line(reply, reason):
    with pytest.raises(NoUsableCode) as err:
        extract_program(reply, "add")
    assert str(err.value) == reason


def test_the_same_function_repeated_with_tests_is_one_version_and_repl_after_code_is_dropped():
    reply = ("```python\ndef add(a, b):\n    return a + b\n```\nWith tests:\n```python\ndef add(a, b):\n"
             "    \"\"\"Sum.\"\"\"\n    return a + b\n\nassert add(1, 2) == 3\n```")
    assert run(extract_program(reply, "add").code, "add", 2, 3) == 5
    session = "```python\ndef add(a, b):\n    return a + b\n>>> add(1, 2)\n3\n```"
    assert extract_program(session, "add").code == "def add(a, b):\n    return a + b\n"


def test_reply_cut_by_max_tokens_inside_a_fence_is_still_used_when_it_parses():
    reply = "```python\ndef sq(x):\n    return x * x\n"
    assert run(extract_code(reply, "sq").code, "sq", 4) == 16


# -- near-duplicates ---------------------------------------------------------------------------

SUM_A = 'def f(xs: list[int]) -> int:\n    """Sum."""\n    total = 0  # acc\n    for x in xs:\n        total += x\n    return total\n'
SUM_B = "def f(items):\n    s = 0\n    for it in items:\n        s += it\n    return s\n"
SUM_C = "def f(items):\n    s: int = 0\n    for it in items:\n        s += it\n    return s\n"
DIFF = "def f(items):\n    s = 0\n    for it in items:\n        s -= it\n    return s\n"
OTHER = "def f(items):\n    return sum(items)\n"


SUM_B_LAYOUT = "def f(items):\n    s = 0   # start\n\n    for it in items:  s += it\n    return (s)\n"


def test_fingerprint_ignores_comments_and_layout_only():
    assert fingerprint(SUM_B) == fingerprint(SUM_B_LAYOUT)
    # names, docstrings and annotations all count: a test may tell them apart
    assert len({fingerprint(SUM_A), fingerprint(SUM_B), fingerprint(SUM_C)}) == 3
    assert fingerprint(SUM_B) != fingerprint(DIFF)
    assert fingerprint("def f(:") is None


def test_a_renamed_parameter_does_not_inherit_a_verdict():
    """The attack: an honest version that fails a keyword-argument test used to be marked a
    duplicate of a passing one (names were ignored) and inherited `passed` without running."""
    passing = "def f(xs, key=None):\n    return sorted(xs, key=key)\n"
    renamed = "def f(items, k=None):\n    return sorted(items, key=k)\n"
    cands = [Candidate(id=f"t#{k}", task_id="t", code=code) for k, code in enumerate([passing, renamed])]
    assert [c.duplicate_of for c in mark_duplicates(cands)] == [None, None]


def test_mark_duplicates_points_later_copies_at_the_first():
    cands = [Candidate(id=f"t#{k}", task_id="t", code=code)
             for k, code in enumerate([SUM_B, OTHER, SUM_B_LAYOUT, SUM_C])]
    cands.append(Candidate(id="t#4", task_id="t", code="", error="no usable code in the reply"))
    marked = mark_duplicates(cands)
    assert [c.duplicate_of for c in marked] == [None, None, "t#0", None, None]


# -- strategies ---------------------------------------------------------------------------------

def test_plan_cycles_strategies_and_raises_temperature_per_cycle():
    versions = plan(len(STRATEGIES) + 2)
    assert [v.k for v in versions] == list(range(len(STRATEGIES) + 2))
    assert len({v.strategy.name for v in versions[:len(STRATEGIES)]}) == len(STRATEGIES)
    again = versions[len(STRATEGIES)]
    assert again.strategy == STRATEGIES[0] and again.temperature > versions[0].temperature
    assert all(s.addendum and s.title for s in STRATEGIES)


# -- generated asserts --------------------------------------------------------------------------

def test_parse_asserts_keeps_valid_asserts_calling_the_function():
    reply = ("Here are tests:\n```python\nassert inc(1) == 2\nassert inc(-1) == 0\nassert 1 == 1\n"
             "assert inc(1) == 2\nassert inc(\n    10\n) == 11\nimport os\n```")
    assert parse_asserts(reply, "inc") == ["assert inc(1) == 2", "assert inc(-1) == 0", "assert inc(10) == 11"]


def test_parse_asserts_drops_broken_lines_one_by_one():
    reply = ("1. assert inc(1) == 2\n2. assert inc(2) == \n- `assert inc(3) == 4`\n* assert inc([1,\n  2]) == 3\n"
             "assert other(1) == 2\nThese cover the edge cases.\n>>> inc(0)\n1")
    assert parse_asserts(reply, "inc") == ["assert inc(1) == 2", "assert inc(3) == 4",
                                           "assert inc([1, 2]) == 3", "assert inc(0) == 1"]
    assert parse_asserts("no tests here", "inc") == []
