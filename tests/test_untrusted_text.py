"""Untrusted text (candidate output and code, task ids, load-error reasons, notices) never
reaches the terminal as control sequences: not in the TUI (whose one door is
``RunModel.ingest``), nor on the headless writer's stderr/stdout, nor in the CLI's error line."""
from __future__ import annotations

import io
import json
import subprocess
import sys

from rich.console import Console

from ai_code_evals.core.events import EngineNotice, RunStarted
from ai_code_evals.core.sanitize import sanitize_data, sanitize_text
from ai_code_evals.progress import ProgressReporter, results_table
from ai_code_evals.tui.model import RunModel

OSC52 = "\x1b]52;c;cHduZWQ=\x07"  # writes "pwned" to the user's clipboard
CURSOR = "\x1b[2A\x1b[2K"  # up two lines, erase: rewrites what the user saw
BIDI = "\u202e"  # right-to-left override: shows code other than what runs
MARKUP = "[bold red]fake[/] [link=https://example.invalid]click[/link]"
HOSTILE = f"ok{OSC52}{CURSOR}{BIDI}{MARKUP}"


def _terminal_safe(text: str) -> bool:
    return not any((ord(c) < 0x20 and c not in "\n\t") or 0x7F <= ord(c) <= 0x9F or c in "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
                   for c in text)


def _strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _strings(k)
            yield from _strings(v)
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from _strings(v)


def test_sanitize_text_keeps_lines_and_tabs_and_shows_the_rest():
    code = f"def f():\n\treturn 1  # {OSC52}\r\nx = '{BIDI}'"
    out = sanitize_text(code)
    assert out.split("\n")[0] == "def f():" and out.split("\n")[1].startswith("\treturn 1  # ^[]52;c;cHduZWQ=^G")
    assert "<U+202E>" in out and _terminal_safe(out)
    assert sanitize_text("plain\ttext\nline") == "plain\ttext\nline"
    assert sanitize_text(MARKUP) == MARKUP  # markup is text: the widgets render it without markup


def test_every_string_entering_the_tui_model_is_terminal_safe():
    model = RunModel()
    task = f"t{OSC52}"
    model.ingest("run_started", {"run_id": f"r{CURSOR}", "backend": "local", "isolation": "bwrap",
                                 "tasks": [{"task_id": task, "entry_point": "f", "reference": True}],
                                 "profiles": ["default"], "select": "score", "ts": 0.0})
    model.ingest("task", {"id": task, "entry_point": "f", "reference": f"def f():\n    return '{BIDI}'"})
    model.ingest("candidate", {"candidate_id": f"{task}#0", "task_id": task, "code": f"print('{HOSTILE}')",
                               "label": HOSTILE, "error": f"does not load: {HOSTILE}"})
    model.ingest("stdout", {"candidate_id": f"{task}#0", "profile": "default", "stream": "stdout", "text": HOSTILE})
    model.ingest("notice", {"level": "error", "message": f"{task}: cannot load: {HOSTILE}"})
    seen = list(_strings([t.__dict__ for t in model.tasks.values()]))
    seen += [c.code for t in model.tasks.values() for c in t.candidates.values()]
    seen += [c.error or "" for t in model.tasks.values() for c in t.candidates.values()]
    seen += [m for _, m in model.notices] + [model.run_id]
    seen += [line for p in model.panes.values() for line in _strings([getattr(x, "text", x) for x in p.lines])]
    assert seen and all(_terminal_safe(s) for s in seen), [s for s in seen if not _terminal_safe(s)]
    assert any("^[]52;c;cHduZWQ=^G" in s for s in seen)  # shown, inert: the reader still sees it


def test_headless_writer_prints_no_control_sequences_and_no_markup():
    buf = io.StringIO()
    console = Console(file=buf, force_terminal=True, width=200, color_system="standard")
    summary = {"tasks": [{"task_id": f"t{OSC52}", "winner": "t#0", "reason": f"because {HOSTILE}",
                          "candidates": [{"id": "t#0", "status": "passed", "tests_passed": 1, "tests_total": 1,
                                          "score": 1.0, "label": HOSTILE}]}],
               "pass_at_k": {}, "record": f"runs/x{CURSOR}.jsonl"}
    results_table(summary, console)
    with ProgressReporter() as progress:
        progress.console = console
        progress(RunStarted(run_id="r", record="", tasks=[], profiles=["default"], backend="local",
                            isolation="bwrap", select="score"))
        progress(EngineNotice(f"t: {HOSTILE}", level="error"))
    out = buf.getvalue()
    assert "\x1b]52" not in out and "\x1b[2A" not in out and BIDI not in out
    assert "[bold red]fake[/]" in out  # printed as text, not interpreted
    assert "^[]52;c;cHduZWQ=^G" in out


def test_a_task_files_hostile_id_reaches_stderr_inert(tmp_path):
    """A load error quotes the task file's own text (id, entry point): inert on stderr."""
    tasks = tmp_path / "tasks.jsonl"
    tasks.write_text(json.dumps({"task_id": f"bad {OSC52}", "prompt": "def f():\n", "entry_point": f"f{CURSOR}",
                                 "test": "def check(c): pass"}) + "\n")
    proc = subprocess.run([sys.executable, "-m", "ai_code_evals", "run", str(tasks), "--headless", "--json"],
                          capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert proc.returncode != 0 and "is not a Python function name" in proc.stderr
    assert "\x1b" not in proc.stderr and "\x1b" not in proc.stdout


def test_sanitize_data_walks_nested_values():
    data = {"a": [HOSTILE, {"b": (OSC52,)}], f"k{BIDI}": 3}
    assert all(_terminal_safe(s) for s in _strings(sanitize_data(data)))
