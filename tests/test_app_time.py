"""Where the app's own time goes (core/appclock.py), reported in a run's summary and its log's
final report, and printed by benchmarks/bench_phases.py next to the sandbox phases."""
import json
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from ai_code_evals.core import appclock

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(__file__).parent / "data"
sys.path.insert(0, str(ROOT / "benchmarks"))
import bench_phases
import perf_tables


@pytest.fixture
def fake_clock(monkeypatch):
    """perf_counter under the test's control: ``now[0]`` is the time."""
    now = [100.0]
    monkeypatch.setattr(appclock.time, "perf_counter", lambda: now[0])
    monkeypatch.setattr(appclock, "_threads", [])
    monkeypatch.setattr(appclock, "_local", threading.local())
    return now


def test_a_section_inside_another_pauses_it(fake_clock):
    now = fake_clock

    @appclock.timed("logging")
    def write():
        now[0] += 5.0

    @appclock.timed("results")
    def handle():
        now[0] += 2.0
        write()
        now[0] += 1.0

    handle()
    assert appclock.totals() == {"results": 3.0, "logging": 5.0}


def test_a_timed_function_counts_even_when_it_raises(fake_clock):
    now = fake_clock

    @appclock.timed("logging")
    def write():
        now[0] += 0.25
        raise OSError("disk full")

    before = appclock.totals()
    with pytest.raises(OSError):
        write()
    assert appclock.since(before) == {"logging": 0.25}
    assert appclock._state()[0] == []


def test_each_thread_has_its_own_sections_and_totals_add_them_up(fake_clock):
    """The TUI's thread may write the run log while the engine's thread is inside a section:
    one shared stack would pair one thread's leave with the other's enter (or pop an empty one)."""
    now = fake_clock
    inside, leave = threading.Event(), threading.Event()

    @appclock.timed("results")
    def engine():
        inside.set()
        leave.wait(5)
        now[0] += 1.0

    @appclock.timed("logging")
    def write():
        now[0] += 2.0

    thread = threading.Thread(target=engine)
    thread.start()
    inside.wait(5)
    write()  # this thread, while the other is in its section
    leave.set()
    thread.join(5)
    assert appclock.totals() == {"results": 3.0, "logging": 2.0}
    assert appclock._state()[0] == []


@pytest.fixture(scope="module")
def cli_run(tmp_path_factory):
    """A real CLI run on two versions: its JSON summary and its run log."""
    tmp_path = tmp_path_factory.mktemp("app_time")
    rows = [{"task_id": "add", "code": "def add(a, b):\n    return a + b\n"},
            {"task_id": "add", "code": "def add(a, b):\n    return a - b\n"}]
    samples = tmp_path / "samples.jsonl"
    samples.write_text("".join(json.dumps(r) + "\n" for r in rows))
    record = tmp_path / "run.jsonl"
    proc = subprocess.run([sys.executable, "-m", "ai_code_evals", "run", str(DATA / "add_task.yaml"),
                           "--samples", str(samples), "--headless", "--json", "--record", str(record)],
                          capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout), record


def test_a_run_reports_the_apps_time_and_bench_phases_prints_it(cli_run):
    summary, record = cli_run
    app = summary["app_time_s"]
    assert app["results"] > 0 and app["logging"] > 0 and "selection" in app
    assert app["results"] + app["logging"] + app["selection"] <= app["wall"]
    assert 0 < app["cpu"]

    figures = bench_phases.phase_totals(record)
    assert figures["app_s"] == json.loads(record.read_text().splitlines()[-1])["final_report"]["app_time_s"]
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_phases.py"), str(record)],
                         capture_output=True, text=True, timeout=60).stdout
    assert "where the sandbox time went (2 versions ran" in out
    for label in ("result handling", "logging (the run log)", "scoring and selection", "the run's wall time"):
        assert label in out


def test_the_readme_tables_come_from_a_runs_figures(cli_run):
    """perf_tables.py turns bench_humaneval.py's saved figures into the README's tables."""
    _, record = cli_run
    run = {"samples": 2, "per_task": 2, "tasks": 1, "load_before": 0.5, "load_after": 1.25,
           "human_eval": {"seconds": 3.0, "tree_cpu_ms_per_sample": 40.0},
           "ours": {"seconds": 1.5, "tree_cpu_ms_per_sample": 10.0},
           "ratio_ours_over_human_eval": 2.0, "agreement": {"agree": 2, "total": 2, "percent": 100.0},
           "phases": bench_phases.phase_totals(record)}
    text = perf_tables.markdown([run])
    assert "| 2 (2 per task, 1 tasks), load 0.5 → 1.2 | 3.0 s | 1.5 s: **2.00×** its throughput; " \
           "**2 / 2 verdicts agree (100.00%)** |" in text
    assert "| whole-tree CPU per sample, same run | 40.0 ms | 10.0 ms (4.00× less) |" in text
    assert "(2 versions ran)" in text and "| program load |" in text
    app = run["phases"]["app_s"]
    assert f"| logging (the run log) | {app['logging']:.2f} |" in text


def test_the_readme_row_gives_the_ratio_over_alternated_rounds():
    """With ``--rounds``, the row adds the ratio of the summed wall times and the per-round range."""
    run = {"samples": 2, "per_task": 2, "tasks": 1, "load_before": 0.5, "load_after": 1.25,
           "human_eval": {"seconds": 3.0}, "ours": {"seconds": 1.5}, "ratio_ours_over_human_eval": 2.0,
           "agreement": {"agree": 2, "total": 2, "percent": 100.0},
           "rounds": {"per_round": [{"human_eval_s": 3.0, "ours_s": 1.5, "ratio": 2.0, "agree": 2},
                                    {"human_eval_s": 4.5, "ours_s": 1.5, "ratio": 3.0, "agree": 2}],
                      "ratio_of_sums": 2.5}}
    (row,) = perf_tables.throughput_rows(run)
    assert "**2.00×** its throughput (**2.50×** over 2 alternated rounds, 2.00–3.00× each);" in row
