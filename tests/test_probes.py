"""Probe inputs for behaviour clustering: from the model's tests (even with placeholder expected
values), docstring examples, and boundary values from the signature; bad tests cost nothing."""
from __future__ import annotations

import ast

from ai_code_evals.core.task import Task
from ai_code_evals.generation.probes import MAX_PROBES, call_inputs, docstring_inputs, task_probes

PROMPT = '''from typing import List


def below(xs: List[int], t: int) -> List[int]:
    """The elements of xs below t.
    >>> below([1, 5, 2], 3)
    [1, 2]
    """
'''
TASK = Task(id="b", prompt=PROMPT, entry_point="below", completion_style=True)


def parsed(probes):
    return [ast.literal_eval(p) for p in probes]


def test_inputs_of_the_model_tests_are_kept_whatever_the_expected_value_says():
    assert call_inputs("assert _________ == below([4, 1], 2)", "below") == [(([4, 1], 2), {})]
    assert call_inputs("assert below(xs=[1], t=0) == []", "below") == [((), {"xs": [1], "t": 0})]
    assert call_inputs("assert below(list(range(3)), 1) == [0]", "below") == []  # not a literal
    assert call_inputs("assert abve([1], 2) == [1]", "below") == []  # another function
    assert call_inputs("assert below([1], 2) ==", "below") == []  # does not parse


def test_docstring_examples_give_inputs():
    assert docstring_inputs(PROMPT, "below") == [(([1, 5, 2], 3), {})]


def test_probes_start_with_known_inputs_then_boundaries_from_the_type_hints():
    tests = ["assert below([7, 8], 8) == [7]", "assert below([7, 8], 8) == [7]",  # a repeat: one probe
             "assert ____ == below([], 1)", "assert below([1], 2, 3) == [1]",  # wrong arity: dropped
             "assert below(", "assert other([1], 2) == 1"]
    probes = parsed(task_probes(TASK, tests))
    assert probes[:3] == [(([1, 5, 2], 3), {}), (([7, 8], 8), {}), (([], 1), {})]
    assert all(len(args) == 2 and isinstance(args[0], list) and isinstance(args[1], int) for args, _ in probes)
    assert (([], 0), {}) in probes  # boundaries: an empty list, zero
    assert any(args[1] < 0 for args, _ in probes)  # a negative threshold
    assert 10 < len(probes) <= MAX_PROBES
    assert task_probes(TASK, tests) == task_probes(TASK, tests)  # deterministic


def test_without_hints_the_kinds_seen_in_the_tests_decide_the_boundaries():
    task = Task(id="c", prompt="def count(s, ch):\n    '''how often ch occurs in s'''\n", entry_point="count",
                completion_style=True)
    probes = parsed(task_probes(task, ["assert count('banana', 'a') == 3"]))
    assert probes[0] == (("banana", "a"), {})
    assert all(isinstance(a, str) and isinstance(b, str) for (a, b), _ in probes)
    assert (("", ""), {}) in probes


def test_untyped_list_parameters_get_number_lists_and_a_task_without_anything_gets_none():
    task = Task(id="m", prompt="def median(l: list):\n    '''median of l'''\n", entry_point="median",
                completion_style=True)
    probes = parsed(task_probes(task, []))
    assert (([],), {}) in probes and all(isinstance(args[0], list) for args, _ in probes)
    bare = Task(id="x", prompt="Write f(x), which does something.", entry_point="f")
    assert task_probes(bare, ["assert f(", "assert g(1) == 2"]) == []


def test_huge_literals_are_not_probes():
    big = "assert below(" + repr(list(range(5000))) + ", 3) == [0, 1, 2]"
    assert parsed(task_probes(TASK, [big]))[0] == (([1, 5, 2], 3), {})
    assert all(len(p) < 2100 for p in task_probes(TASK, [big]))


def test_a_task_signature_line_gives_the_boundaries_of_a_prose_prompt():
    task = Task(id="s", prompt="Clamp x to [lo, hi].", entry_point="clamp", signature="clamp(x: int, lo: int, hi: int)")
    probes = parsed(task_probes(task, []))
    assert ((0, 0, 0), {}) in probes and all(len(args) == 3 for args, _ in probes)


def test_a_prompt_ending_on_a_bare_def_line_still_gives_its_signature():
    task = Task(id="h", prompt="def half(x: int) -> int:\n", entry_point="half", completion_style=True)
    assert ((0,), {}) in parsed(task_probes(task, []))
