"""The evals bridge without evals installed: registry contents and packaging, the lean CI pins,
eval args, task sources, the final report, and completion functions used as generators."""
from __future__ import annotations

import asyncio
import importlib
import json
import re
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest
import yaml

from ai_code_evals.core.errors import ConfigError, InputError
from ai_code_evals.core.task import Task
from ai_code_evals.evals_bridge import registry_dir
from ai_code_evals.evals_bridge.completion_fns import OfflineCompletionFn, SamplesCompletionFn
from ai_code_evals.evals_bridge.options import EvalOptions
from ai_code_evals.evals_bridge.report import final_report, task_pass_at_k
from ai_code_evals.evals_bridge.sources import TaskCatalog, humaneval_path
from ai_code_evals.evals_bridge.textfn import NO_CODE, CompletionFnGenerator
from ai_code_evals.tasks.loaders import load_tasks

ROOT = Path(__file__).resolve().parents[1]
REG = registry_dir()


def rows(name: str) -> list[dict]:
    return [json.loads(line) for line in (REG / "data" / "code-evals" / name).read_text().splitlines()]


# -- registry and packaging ------------------------------------------------------------------------
def test_registry_evals_point_at_code_eval_with_valid_args():
    evals_yaml = yaml.safe_load((REG / "evals" / "code-evals.yaml").read_text())
    bases = {k: v for k, v in evals_yaml.items() if "id" in v}
    assert set(bases) == {"code-evals.demo", "code-evals.humaneval"}
    for name, base in bases.items():
        assert base["id"] == f"{name}.dev.v0"
        assert base["metrics"][0] == "pass@1"
        spec = evals_yaml[base["id"]]
        module, _, cls = spec["class"].partition(":")
        assert (module, cls) == ("ai_code_evals.evals_bridge.eval", "CodeEval")
        args = dict(spec["args"])
        assert (REG / "data" / args.pop("samples_jsonl")).is_file()
        EvalOptions.parse(**args)  # raises on a bad arg


def test_registry_completion_fns_resolve_to_classes():
    fns = yaml.safe_load((REG / "completion_fns" / "ai-code-evals.yaml").read_text())
    assert set(fns) == {"ai-code-evals/offline", "ai-code-evals/samples", "ai-code-evals/openai"}
    for spec in fns.values():
        module, _, cls = spec["class"].partition(":")
        obj = getattr(importlib.import_module(module), cls)
        assert callable(obj) and hasattr(obj, "code_generator")


def test_demo_rows_are_the_demo_pack_in_order():
    assert [r["task_id"] for r in rows("demo.jsonl")] == [t.id for t in load_tasks("demo")]
    assert {r["source"] for r in rows("demo.jsonl")} == {"demo"}


def test_humaneval_rows_load_from_the_installed_package():
    data = rows("humaneval.jsonl")
    assert len(data) == 164 and data[0] == {"task_id": "HumanEval/0", "source": "humaneval"}
    tasks = TaskCatalog(REG / "data").tasks(data)
    assert [t.id for t in tasks] == [f"HumanEval/{i}" for i in range(164)]
    assert all(t.completion_style and t.tests for t in tasks)
    assert humaneval_path().name == "HumanEval.jsonl.gz"


def test_registry_is_in_the_wheel(tmp_path):
    subprocess.run(["uv", "build", "--wheel", "-q", "-o", str(tmp_path)], cwd=ROOT, check=True,
                   capture_output=True, timeout=120)
    (wheel,) = tmp_path.glob("*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for rel in ("evals/code-evals.yaml", "completion_fns/ai-code-evals.yaml",
                "data/code-evals/demo.jsonl", "data/code-evals/humaneval.jsonl"):
        assert f"ai_code_evals/evals_bridge/registry/{rel}" in names


def test_cli_prints_the_registry_path():
    out = subprocess.run([sys.executable, "-m", "ai_code_evals", "registry-path"], capture_output=True,
                         text=True, check=True, timeout=60)
    assert Path(out.stdout.strip()) == REG


# -- the lean set CI installs -----------------------------------------------------------------------
def test_lean_pins_agree_with_the_lock():
    lock = tomllib.loads((ROOT / "uv.lock").read_text())
    locked = {p["name"]: p["version"] for p in lock["package"]}
    pins = [line.split("#")[0].strip() for line in (ROOT / "ci" / "evals-lean-requirements.txt").read_text().splitlines()]
    pins = [p for p in pins if p]
    assert len(pins) >= 5
    for pin in pins:
        name, _, version = pin.partition("==")
        assert locked.get(name) == version, f"{pin}: uv.lock has {locked.get(name)}"
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "evals==3.0.1.post1" in pyproject["project"]["optional-dependencies"]["evals"]
    script = (ROOT / "scripts" / "install-evals-lean.sh").read_text()
    assert "--no-deps evals==3.0.1.post1 -r ci/evals-lean-requirements.txt" in script


# -- eval args ----------------------------------------------------------------------------------------
def test_options_accept_extra_eval_params_strings():
    opts = EvalOptions.parse(n="3", jobs="2", profiles="default+hash-seed", select="score")
    assert (opts.n, opts.jobs, opts.profiles) == (3, 2, ["default", "hash-seed"])
    assert EvalOptions.parse().profiles == ["default"]


@pytest.mark.parametrize("kwargs, words", [
    ({"backend": "docker"}, "'backend' must be one of local, daytona"),
    ({"n": 0}, "'n' must be a whole number"),
    ({"jobs": "two"}, "'jobs' must be a whole number"),
    ({"profiles": ["default", "nope"]}, "unknown environment profile 'nope'"),
    ({"select": "vibes"}, "unknown selection strategy 'vibes'"),
])
def test_options_reject_bad_args_in_one_line(kwargs, words):
    with pytest.raises(InputError) as err:
        EvalOptions.parse(**kwargs)
    assert words in str(err.value) and "\n" not in str(err.value)


# -- task sources --------------------------------------------------------------------------------------
def test_catalog_reports_unknown_tasks_and_bad_rows(tmp_path):
    catalog = TaskCatalog(tmp_path)
    with pytest.raises(InputError, match="no task 'nope' in source 'demo'"):
        catalog.task({"task_id": "nope", "source": "demo"})
    with pytest.raises(InputError, match="must be"):
        catalog.task({"task": "two_sum"})
    with pytest.raises(InputError, match="appears twice"):
        catalog.tasks([{"task_id": "two_sum", "source": "demo"}] * 2)
    (tmp_path / "mine.yaml").write_text("id: inc\nentry_point: inc\ntests:\n  - {args: [1], expect: 2}\n")
    assert catalog.task({"task_id": "inc", "source": "mine.yaml"}).entry_point == "inc"


# -- final report ----------------------------------------------------------------------------------------
def _cand(cid, status, score):
    return {"id": cid, "status": status, "score": score}


def test_final_report_pass_at_k_and_selection_accuracy():
    summary = {"tasks": [
        {"task_id": "a", "winner": "a#1", "candidates": [_cand("a#0", "failed", 10.0), _cand("a#1", "passed", 90.0),
                                                         _cand("a#2", "passed", 80.0)]},
        {"task_id": "b", "winner": "b#0", "candidates": [_cand("b#0", "failed", 40.0), _cand("b#1", "passed", 30.0)]},
        {"task_id": "c", "winner": None, "candidates": [_cand("c#0", "error", 0.0)]},
        {"task_id": "d", "winner": None, "candidates": []},
    ], "pass_at_k": {"1": 0.5}}
    results = [{"duration_s": 1.0, "status": "passed", "median_ms": 2.0}, {"duration_s": 3.0, "status": "failed"},
               {"duration_s": 9.0, "status": "passed", "duplicate_of": "x", "median_ms": 50.0}]
    r = final_report(summary, results, k=3, wall_s=4.5)
    assert r["pass@1"] == round((2 / 3 + 1 / 2 + 0 + 0) / 4, 4)
    assert r["pass@3"] == round((1 + 1 + 0 + 0) / 4, 4)  # b has 2 < 3 versions: counts with both
    assert r["selection_accuracy"] == 0.25  # a right; b picked a failing one; c, d no winner
    assert r["selection_accuracy_solvable"] == 0.5
    assert r["mean_score"] == round((10 + 90 + 80 + 40 + 30 + 0) / 6, 4) and r["winner_mean_score"] == 65.0
    assert r["statuses"] == {"failed": 2, "passed": 3, "error": 1} and r["n_versions"] == 6
    assert r["duration_s_max"] == 3.0 and r["median_ms_median"] == 2.0  # the duplicate is not counted
    assert r["tasks"] is summary["tasks"] and r["wall_s"] == 4.5


def test_task_pass_at_k_edges():
    assert task_pass_at_k(0, 0, 1) == 0.0
    assert task_pass_at_k(2, 0, 5) == 0.0 and task_pass_at_k(2, 1, 5) == 1.0
    assert task_pass_at_k(4, 2, 1) == 0.5


# -- completion functions as generators -------------------------------------------------------------------
TASK = Task(id="inc", entry_point="inc", prompt='def inc(x):\n    """Return x + 1."""\n', completion_style=True)


class _Result:
    def __init__(self, texts):
        self.texts = texts

    def get_completions(self):
        return self.texts


class ScriptedFn:
    """A plain evals-style CompletionFn: answers from a script, raises on an Exception entry."""

    def __init__(self, *answers):
        self.answers = list(answers)
        self.prompts = []

    def __call__(self, prompt, **kwargs):
        self.prompts.append(prompt)
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return _Result(answer)


async def _collect(gen, task, n):
    return [c async for c in gen.generate(task, n)]


def test_text_fn_generator_extracts_code_and_keeps_errors_in_full():
    detail = "upstream said: " + "x" * 600
    fn = ScriptedFn(["Sure!\n```python\ndef inc(x):\n    return x + 1\n```\nDone."],
                    RuntimeError(detail), ["I cannot help with that."],
                    ["    return x + 1\n", "```python\ndef inc(y):\n    return y + 1\n```"])
    cands = asyncio.run(_collect(CompletionFnGenerator(fn), TASK, 4))
    assert [c.id for c in cands] == ["inc#0", "inc#1", "inc#2", "inc#3"]  # capped at n
    assert cands[0].code.startswith("def inc(x):") and cands[0].error is None
    assert cands[1].error == f"the completion function ScriptedFn failed: RuntimeError: {detail}"
    assert cands[2].error == f"{NO_CODE}: it holds no Python code" and cands[2].raw_reply == "I cannot help with that."
    assert "return x + 1" in cands[3].code and cands[3].code.startswith('def inc(x):\n    """Return x + 1."""')
    assert cands[3].duplicate_of is None  # #0 lacks the docstring: a test could tell them apart
    assert fn.prompts[0][0]["role"] == "system" and "`inc`" in fn.prompts[0][1]["content"]
    assert len(fn.prompts) == 4


def test_offline_fn_called_the_evals_way_returns_code():
    task = load_tasks("demo")[0]
    result = OfflineCompletionFn()("ignored", task=task, n=2)
    assert len(result.get_completions()) == 2 and all(task.entry_point in c for c in result.get_completions())
    with pytest.raises(InputError, match="task=<Task>"):
        OfflineCompletionFn()("write a sort function")


def test_samples_fn_needs_a_file_that_matches_the_tasks(tmp_path):
    with pytest.raises(ConfigError, match=re.escape("--completion_args samples=FILE")):
        SamplesCompletionFn().code_generator([TASK], None, {})
    other = tmp_path / "s.jsonl"
    other.write_text('{"task_id": "other", "completion": "    return 1\\n"}\n')
    with pytest.raises(InputError, match="no sample is for a task of this eval"):
        SamplesCompletionFn(samples=str(other)).code_generator([TASK], None, {})
