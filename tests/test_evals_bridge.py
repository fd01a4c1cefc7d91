"""CodeEval and the registry against the real OpenAI Evals code (skipped when evals is not installed:
scripts/install-evals-lean.sh installs the lean set CI uses).

In process through evals' own machinery (oaieval.run, Registry, LocalRecorder, eval_all_samples)
and end to end as an ``oaieval`` subprocess; real sandboxes (local backend) throughout.
"""
from __future__ import annotations

import importlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from openai_server import OpenAITestServer, Reply, code_reply, user_text

from ai_code_evals.evals_bridge import registry_dir
from ai_code_evals.runlog.reader import read_record
from ai_code_evals.sandbox.base import SandboxError
from ai_code_evals.sandbox.local import LocalBackend

BIN = Path(sys.executable).parent
CLOSED_URL = "http://127.0.0.1:9/v1"  # evals asks the API for its model list; fail fast, offline

TASKS_YAML = '''\
- id: add
  entry_point: add
  prompt: |
    def add(a, b):
        """Return a + b."""
  tests:
    - {args: [1, 2], expect: 3}
    - {args: [-1, 1], expect: 0}
- id: neg
  entry_point: neg
  prompt: |
    def neg(x):
        """Return -x."""
  tests:
    - {args: [1], expect: -1}
    - {args: [0], expect: 0}
'''
TINY_EVAL = '''\
tiny:
  id: tiny.dev.v0
  metrics: [pass@1, selection_accuracy]
tiny.dev.v0:
  class: ai_code_evals.evals_bridge.eval:CodeEval
  args: {samples_jsonl: rows.jsonl, n: 3, jobs: 2}
'''


@pytest.fixture
def evals(monkeypatch):
    """The evals package (its import builds an OpenAI client, which wants a key; a dummy does)."""
    if not os.environ.get("OPENAI_API_KEY"):
        monkeypatch.setenv("OPENAI_API_KEY", "dummy-key-for-evals-import")
    module = pytest.importorskip("evals")
    pytest.importorskip("evals.cli.oaieval")
    eval_module = importlib.import_module("evals.eval")
    eval_module.set_max_samples(None)  # a module global that oaieval --max_samples sets
    yield module
    eval_module.set_max_samples(None)


@pytest.fixture
def tiny(tmp_path):
    """A registry with a two-task eval (tiny) from a task file."""
    reg = tmp_path / "reg"
    (reg / "evals").mkdir(parents=True)
    (reg / "data").mkdir()
    (reg / "data" / "tasks.yaml").write_text(TASKS_YAML)
    (reg / "data" / "rows.jsonl").write_text('{"task_id": "add", "source": "tasks.yaml"}\n'
                                             '{"task_id": "neg", "source": "tasks.yaml"}\n')
    (reg / "evals" / "tiny.yaml").write_text(TINY_EVAL)
    return reg


def registry(*paths):
    from evals.registry import Registry

    reg = Registry([*paths, registry_dir()])
    reg.__dict__["api_model_ids"] = []  # the list lives on api.openai.com, unreachable here
    return reg


def oaieval_in_process(argv, *paths):
    from evals.cli import oaieval

    args = oaieval.get_parser().parse_args(argv)
    return oaieval.run(args, registry=registry(*paths))


def run_eval(tmp_path, reg, eval_name, fn, **args):
    """What oaieval does, with a completion function object of our own: build the eval from the
    registry, run it with a LocalRecorder, write the final report. Returns the log path."""
    from evals.base import RunSpec
    from evals.record import LocalRecorder

    spec = reg.get_eval(eval_name)
    spec.args.update(args)
    ev = reg.get_class(spec)(completion_fns=[fn], seed=1, name=spec.key,
                             eval_registry_path=spec.registry_path, registry=reg)
    run_spec = RunSpec(completion_fns=[type(fn).__name__], eval_name=spec.key, base_eval=spec.key.split(".")[0],
                       split=spec.key.split(".")[1], run_config={}, created_by="test")
    path = tmp_path / "log.jsonl"
    recorder = LocalRecorder(str(path), run_spec)
    recorder.record_final_report(ev.run(recorder))
    return path


def lines(path):
    return [json.loads(line) for line in Path(path).read_text().splitlines()]


def events(path, type_=None):
    return [o for o in lines(path)[1:-1] if type_ is None or o["type"] == type_]


def check_log_shape(path):
    """spec first, final_report last, our events in between, and our reader opens it."""
    objs = lines(path)
    assert "spec" in objs[0] and "final_report" in objs[-1]
    types = {o["type"] for o in objs[1:-1]}
    assert {"task", "run_started", "candidate", "sampling", "snapshot", "result", "match", "selection"} <= types
    ids = [o["event_id"] for o in objs[1:-1]]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    record = read_record(path)
    assert record.final_report == objs[-1]["final_report"] and not record.truncated_tail
    return record


class TextFn:
    """An evals CompletionFn that answers with chat-model-like text, per task from a script
    (an Exception entry is raised). Records nothing itself."""

    def __init__(self, script):
        self.script = {task: list(answers) for task, answers in script.items()}

    def __call__(self, prompt, **kwargs):
        task = next(t for t in self.script if f"`{t}`" in prompt[-1]["content"])
        answer = self.script[task].pop(0)
        if isinstance(answer, Exception):
            raise answer

        class Result:
            def get_completions(self):
                return [answer]

        return Result()


# -- in process, evals' own machinery -------------------------------------------------------------------
@pytest.fixture
def samples_run(evals, tiny, tmp_path):
    """``oaieval ai-code-evals/samples tiny`` on 4 samples (one does not parse): (log, run id)."""
    samples = tmp_path / "samples.jsonl"
    samples.write_text('{"task_id": "add", "completion": "    return a + b\\n"}\n'
                       '{"task_id": "add", "completion": "    return a - b\\n"}\n'
                       '{"task_id": "add", "code": "def add(a, b)\\n    return a + b\\n"}\n'
                       '{"task_id": "neg", "completion": "    return -x\\n"}\n')
    log = tmp_path / "out.jsonl"
    run_id = oaieval_in_process(["ai-code-evals/samples", "tiny", "--completion_args", f"samples={samples}",
                                 "--record_path", str(log)], tiny)
    return log, run_id


def test_oaieval_samples_fn_on_a_task_file(samples_run):
    log, run_id = samples_run
    record = check_log_shape(log)
    report = record.final_report
    assert record.run_id == run_id and report["run_id"] == run_id
    assert report["pass@1"] == round((1 / 3 + 1) / 2, 4) and report["pass@3"] == 1.0
    assert report["selection_accuracy"] == 1.0 and report["statuses"] == {"passed": 2, "failed": 1, "error": 1}
    assert {t["task_id"]: t["winner"] for t in report["tasks"]} == {"add": "add#0", "neg": "neg#0"}
    assert report["duration_s_max"] > 0 and report["wall_s"] > 0
    # the broken sample: its error is recorded in full, and the run went on
    result = next(e["data"]["result"] for e in events(log, "result") if e["sample_id"] == "add#2")
    (error,) = events(log, "error")
    assert error["sample_id"] == "add#2" and error["data"]["type"] == "CandidateError"
    assert error["data"]["message"] == result["reason"] and "SyntaxError" in result["reason"]
    # evals' own event shapes
    match = {e["sample_id"]: e["data"] for e in events(log, "match")}
    assert match["add#0"]["correct"] is True and match["add#1"] == {
        "correct": False, "expected": "all tests pass", "picked": "failed", "profile": "default"}
    sampled = {e["sample_id"]: e["data"]["sampled"] for e in events(log, "sampling")}
    assert sampled["neg#0"] == ['def neg(x):\n    """Return -x."""\n    return -x\n']


async def test_replay_opens_an_oaieval_log(samples_run, tmp_path):
    from ai_code_evals.tui.app import WorkspaceApp

    log, run_id = samples_run
    app = WorkspaceApp(record=log, export_dir=tmp_path)
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.pause()
        app.flush()
        assert app.mode == "replay" and len(app.workspace.slots) == 4
        assert "REPLAY" in str(app.topbar.render()) and run_id in str(app.topbar.render())
        assert {t: m.engine_selection["winner"] for t, m in app.model.tasks.items()} == {"add": "add#0",
                                                                                       "neg": "neg#0"}
        assert app.model.finished and app.model.summary["selection_accuracy"] == 1.0


def test_oaieval_offline_fn_on_the_demo_eval(evals, tmp_path):
    log = tmp_path / "demo.jsonl"
    oaieval_in_process(["ai-code-evals/offline", "code-evals.demo", "--record_path", str(log),
                        "--max_samples", "2", "--extra_eval_params", "n=2,jobs=2"])
    record = check_log_shape(log)
    report = record.final_report
    assert report["n_tasks"] == 2 and report["n_versions"] == 4 and report["k"] == 2
    assert {"pass@1", "pass@2", "selection_accuracy", "mean_score", "duration_s_mean"} <= set(report)
    assert record.spec["eval_name"] == "code-evals.demo.dev.v0"
    assert record.spec["run_config"]["eval_spec"]["args"]["n"] == 2
    started = record.of_type("run_started")[0]["data"]
    assert started["backend"] == "local" and len(started["tasks"]) == 2
    winners = {e["data"]["task_id"]: e["data"]["winner"] for e in record.of_type("selection")}
    assert winners == {t["task_id"]: t["winner"] for t in report["tasks"]}


def test_text_completion_fn_errors_are_recorded_in_full_and_the_run_goes_on(evals, tiny, tmp_path):
    detail = "rate limited upstream; retry in 20 s; request id req_" + "7" * 400
    fn = TextFn({
        "add": ["Here you go:\n```python\ndef add(a, b):\n    return a + b\n```",
                ("```python\nraise ImportError('numpy is not installed in this sandbox')\ndef add(a, b):\n"
                 "    return a + b\n```"),
                RuntimeError(detail)],
        "neg": ["def neg(x):\n    return -x\n", "Sorry, I can only write Rust.",
                "```python\ndef neg(x):\n    return 0 - x\n```"],
    })
    log = run_eval(tmp_path, registry(tiny), "tiny", fn)
    record = check_log_shape(log)
    errors = {e["sample_id"]: e["data"] for e in record.of_type("error")}
    assert set(errors) == {"add#1", "add#2", "neg#1"}
    assert errors["add#2"]["message"] == f"the completion function TextFn failed: RuntimeError: {detail}"
    assert "ImportError: numpy is not installed in this sandbox" in errors["add#1"]["message"]
    assert errors["neg#1"]["message"] == "no usable code in the reply: it holds no Python code"
    report = record.final_report
    assert report["statuses"] == {"passed": 3, "error": 3} and report["selection_accuracy"] == 1.0
    assert report["pass@1"] == round((1 / 3 + 2 / 3) / 2, 4)
    raw = next(e["data"] for e in record.of_type("candidate") if e["sample_id"] == "neg#1")
    assert raw["error"] == "no usable code in the reply: it holds no Python code"


class FlakyBackend(LocalBackend):
    """The local backend, except that one candidate's sandbox cannot be created (fault injection:
    a real quota error cannot be provoked reliably on a shared machine)."""

    message = "cannot create the sandbox: disk quota exceeded on /tmp (" + "q" * 300 + ")"

    async def create(self, spec):
        if spec.labels.get("candidate") == "add#1":
            raise SandboxError(self.message)
        return await super().create(spec)


def test_sandbox_failure_is_recorded_in_full_and_the_run_goes_on(evals, tiny, tmp_path):
    fn = TextFn({"add": ["def add(a, b):\n    return a + b\n", "def add(a, b):\n    return b + a\n"],
                 "neg": ["def neg(x):\n    return -x\n", "def neg(x):\n    return x\n"]})
    log = run_eval(tmp_path, registry(tiny), "tiny", fn, n=2, backend=FlakyBackend())
    record = check_log_shape(log)
    (error,) = record.of_type("error")
    assert error["sample_id"] == "add#1" and error["data"]["type"] == "SandboxFailure"
    assert error["data"]["message"] == f"infrastructure: SandboxError: {FlakyBackend.message}"
    statuses = {c["id"]: c["status"] for t in record.final_report["tasks"] for c in t["candidates"]}
    assert statuses == {"add#0": "passed", "add#1": "error", "neg#0": "passed", "neg#1": "failed"}


def test_oaieval_with_an_openai_model_name_against_a_local_server(evals, tiny, tmp_path, monkeypatch):
    """``oaieval gpt-3.5-turbo tiny``: evals' own OpenAIChatCompletionFn (the generic text path),
    over HTTP to the test double."""

    def answer(request):
        return code_reply("def neg(x):\n    return -x" if "`neg`" in user_text(request)
                          else "def add(a, b):\n    return a + b")

    log = tmp_path / "out.jsonl"
    with OpenAITestServer(answer) as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        oaieval_in_process(["gpt-3.5-turbo", "tiny", "--extra_eval_params", "n=2", "--record_path", str(log)], tiny)
        assert len(server.requests) == 4 and server.requests[0]["model"] == "gpt-3.5-turbo"
    record = check_log_shape(log)
    report = record.final_report
    assert report["pass@1"] == 1.0 and report["selection_accuracy"] == 1.0
    dupes = [c for t in report["tasks"] for c in t["candidates"] if c.get("duplicate_of")]
    assert len(dupes) == 2  # the second identical answer of each task ran once
    # evals' function recorded its own sampling events, with usage, inside our calls
    usage = [e for e in record.of_type("sampling") if "usage" in e["data"]]
    assert len(usage) == 4 and {e["sample_id"] for e in usage} == {"add#0", "add#1", "neg#0", "neg#1"}
    assert report["usage_total_tokens"] == sum(e["data"]["usage"]["total_tokens"] for e in usage) > 0


def test_oaieval_with_the_project_generator_against_a_local_server(evals, tiny, tmp_path, monkeypatch):
    """``oaieval ai-code-evals/openai tiny``: versions stream from the project's generator; its
    usage records (model name and all) still add up in evals' token summary."""

    def answer(request):
        return code_reply("def add(a, b):\n    return a + b" if "`add`" in user_text(request)
                          else "def neg(x):\n    return x")

    log = tmp_path / "out.jsonl"
    with OpenAITestServer(answer) as server:
        server.script(Reply("", status=500, error="overloaded"))
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        monkeypatch.setenv("ACE_OPENAI_MAX_RETRIES", "2")
        oaieval_in_process(["ai-code-evals/openai", "tiny", "--completion_args", "model=m",
                            "--extra_eval_params", "n=2", "--record_path", str(log)], tiny)
    record = check_log_shape(log)
    report = record.final_report
    statuses = {c["id"]: c["status"] for t in report["tasks"] for c in t["candidates"]}
    assert set(statuses) == {"add#0", "add#1", "neg#0", "neg#1"}
    assert statuses["add#0"] == "passed" and statuses["neg#0"] == "failed"
    sampling = record.of_type("sampling")
    assert len({e["data"]["strategy"] for e in sampling}) == 2  # the generator varies the versions
    assert all(e["data"]["usage"]["model"] == "m" for e in sampling)  # the log keeps the full record
    assert report["usage_total_tokens"] == sum(e["data"]["usage"]["total_tokens"] for e in sampling) > 0
    assert "usage_model" not in report


def test_usage_is_made_summable_for_oaieval(evals):
    from evals.base import RunSpec
    from evals.cli.oaieval import add_token_usage_to_result
    from evals.record import DummyRecorder
    from openai.types import CompletionUsage

    from ai_code_evals.evals_bridge.recording import normalise_usage

    recorder = DummyRecorder(RunSpec(completion_fns=["x"], eval_name="a.b.v0", base_eval="a", split="b",
                                     run_config={}, created_by=""), log=False)
    usage = CompletionUsage.model_validate({
        "prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15,
        "completion_tokens_details": {"reasoning_tokens": 2}, "prompt_tokens_details": {"cached_tokens": 1}})
    with recorder.as_default_recorder("s"):
        recorder.record_sampling("p", ["a"], usage=usage)
        recorder.record_sampling("p", ["b"], usage={"model": "m", "total_tokens": 7, "attempts": 2})
    with pytest.raises((KeyError, TypeError)):
        add_token_usage_to_result({}, recorder)  # what oaieval would hit
    normalise_usage(recorder)
    result = {}
    add_token_usage_to_result(result, recorder)
    assert result == {"usage_completion_tokens": 5, "usage_prompt_tokens": 10, "usage_total_tokens": 22}


def test_eval_sample_in_evals_worker_threads(evals, tiny, tmp_path):
    """evals' per-sample path: eval_all_samples runs eval_sample in its thread pool; each runs
    its own engine in that thread's event loop."""
    from evals.base import RunSpec
    from evals.record import LocalRecorder

    reg = registry(tiny)
    spec = reg.get_eval("tiny")
    fn = TextFn({"add": ["def add(a, b):\n    return a + b\n"], "neg": ["def neg(x):\n    return -x\n"]})
    ev = reg.get_class(spec)(completion_fns=[fn], seed=1, name=spec.key, eval_registry_path=spec.registry_path,
                             registry=reg, n=1)
    recorder = LocalRecorder(str(tmp_path / "t.jsonl"), RunSpec(
        completion_fns=["t"], eval_name=spec.key, base_eval="tiny", split="dev", run_config={}, created_by=""))
    reports = ev.eval_all_samples(recorder, ev.get_samples(), show_progress=False)
    assert [r["tasks"][0]["winner"] for r in reports] == ["add#0", "neg#0"]
    assert all(r["pass@1"] == 1.0 for r in reports)


# -- end to end: the oaieval command ---------------------------------------------------------------------
def oaieval_env():
    return {**os.environ, "OPENAI_API_KEY": os.environ.get("OPENAI_API_KEY") or "dummy", "OPENAI_BASE_URL": CLOSED_URL}


def registry_path_from_cli() -> str:
    out = subprocess.run([str(BIN / "ai-code-evals"), "registry-path"], capture_output=True, text=True,
                         check=True, timeout=60)
    return out.stdout.strip()


def test_oaieval_command_end_to_end_offline(evals, tmp_path):
    log = tmp_path / "out.jsonl"
    proc = subprocess.run(
        [str(BIN / "oaieval"), "ai-code-evals/offline", "code-evals.demo", "--registry_path",
         registry_path_from_cli(), "--record_path", str(log), "--max_samples", "2",
         "--extra_eval_params", "n=2,jobs=2"],
        check=False, capture_output=True, text=True, env=oaieval_env(), cwd=tmp_path, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    record = check_log_shape(log)
    report = record.final_report
    assert {"pass@1", "pass@2", "selection_accuracy", "selection_accuracy_solvable", "mean_score",
            "duration_s_median", "tasks", "pass_at_k"} <= set(report)
    assert 0.0 <= report["pass@1"] <= report["pass@2"] <= 1.0 and report["n_tasks"] == 2
    assert "selection_accuracy: " in proc.stderr  # oaieval logs the report


@pytest.mark.slow
def test_oaieval_command_whole_demo(evals, tmp_path):
    log = tmp_path / "out.jsonl"
    proc = subprocess.run(
        [str(BIN / "oaieval"), "ai-code-evals/offline", "code-evals.demo", "--registry_path",
         registry_path_from_cli(), "--record_path", str(log)],
        check=False, capture_output=True, text=True, env=oaieval_env(), cwd=tmp_path, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = check_log_shape(log).final_report
    assert report["n_tasks"] == 7 and report["k"] == 8 and "pass@8" in report
    assert report["selection_accuracy"] == 1.0  # every demo task has a correct hand-written version


def test_judge_in_an_eval_asks_the_model_the_user_chose(evals, tiny, tmp_path, monkeypatch):
    """``oaieval <model> ... select=judge``: the judge asks that model, not a default one."""
    from ai_code_evals.selectors import judge

    def judge_answer(request):
        ids = re.findall(r"^\| ((?:add|neg)#\d+) \|", user_text(request), flags=re.MULTILINE)
        return Reply(json.dumps({"winner": ids[-1], "reason": "picked by the test double."}))

    fn = TextFn({"add": ["```python\ndef add(a, b):\n    return a + b\n```",
                         "```python\ndef add(a, b):\n    return sum((a, b))\n```"],
                 "neg": ["```python\ndef neg(x):\n    return -x\n```",
                         "```python\ndef neg(x):\n    return 0 - x\n```"]})
    fn.model = "the-users-model"
    with OpenAITestServer(judge_answer) as srv:
        monkeypatch.setenv("OPENAI_BASE_URL", srv.base_url)
        monkeypatch.delenv("ACE_MODEL", raising=False)
        monkeypatch.delenv("ACE_JUDGE_MODEL", raising=False)
        monkeypatch.chdir(tmp_path)
        try:
            log = run_eval(tmp_path, registry(tiny), "tiny", fn, n=2, select="judge")
        finally:
            judge.configure(None)
        assert srv.requests and {r["model"] for r in srv.requests} == {"the-users-model"}
    report = lines(log)[-1]["final_report"]
    assert all("judge (the-users-model)" in t["reason"] for t in report["tasks"])


def test_oaieval_with_nothing_to_evaluate_says_so_and_fails(evals, tmp_path):
    """``ai-code-evals/offline`` has hand-written versions for the demo pack only: on HumanEval it
    used to report pass@1 0.0 over 0 versions and exit 0."""
    log = tmp_path / "out.jsonl"
    proc = subprocess.run(
        [str(BIN / "oaieval"), "ai-code-evals/offline", "code-evals.humaneval", "--registry_path",
         registry_path_from_cli(), "--record_path", str(log), "--max_samples", "2"],
        check=False, capture_output=True, text=True, env=oaieval_env(), cwd=tmp_path, timeout=240)
    assert proc.returncode == 1
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("ai-code-evals: error: ai-code-evals/offline has no hand-written versions for any "
                           "task of this eval"), proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
