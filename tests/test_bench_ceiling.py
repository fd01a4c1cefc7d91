"""benchmarks/bench_ceiling.py: the floor it measures must be versions that all run and all pass,
through our real CLI, and its ratios must say what the README says they say."""
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
import bench_ceiling
from bench_humaneval import run_ours, write_inputs

from ai_code_evals.generation.dedupe import fingerprint


def test_no_two_floor_versions_are_duplicates_so_every_one_runs_and_passes(tmp_path):
    floor = bench_ceiling.floor_samples(4)
    prompt = bench_ceiling.FLOOR_TASK["prompt"]
    assert len({fingerprint(prompt + s.completion) for s in floor}) == 4

    problems, samples = write_inputs(tmp_path, [bench_ceiling.FLOOR_TASK], floor)
    ours = run_ours(problems, samples, floor, tmp_path, jobs=None, tag="floor")
    assert [r["status"] for r in ours["results"]] == ["passed"] * 4
    assert ours["duplicates"] == 0
    assert ours["log"]["ran"] == 5  # the four and the task's reference, run first


def test_the_ceiling_is_the_peers_time_over_the_floors():
    row = bench_ceiling.ceiling(human_eval_s=60.0, ours_s=25.0, floor_s=20.0)
    assert row["ratio"] == 2.4  # as run
    assert row["ceiling"] == 3.0  # if every version cost only the fixed part
    assert row["floor_share"] == 0.8


PERF_SCRIPT = """\
python3.11 
\tffffffff81000001 copy_mc_enhanced_fast_string
\tffffffff81000002 do_wp_page
\tffffffff81000003 exc_page_fault
\tffffffff81000004 asm_exc_page_fault
\t           12345 _PyEval_EvalFrameDefault

python3.11 
\tffffffff81000005 unmap_page_range
\tffffffff81000006 do_exit
\tffffffff81000007 __x64_sys_exit_group
\tffffffff81000008 do_syscall_64

python3.11 
\tffffffff81000009 copy_page_range
\tffffffff8100000a __do_sys_clone
\tffffffff8100000b do_syscall_64

python3.11 
\t           12346 _PyEval_EvalFrameDefault

python 
\tffffffff8100000c __x64_sys_sendmsg
\tffffffff8100000d do_syscall_64

swapper 
\tffffffff8100000e pv_native_safe_halt

kworker/u8:1-kv 
\tffffffff8100000f cleanup_net
"""


def test_perf_by_entry_sorts_the_machines_samples_by_process_and_kernel_entry():
    import perf_by_entry

    counts, total = perf_by_entry.classify(PERF_SCRIPT)
    assert total == 7
    assert counts == {("sandboxed", "page faults"): 1, ("sandboxed", "exit"): 1, ("sandboxed", "clone/fork"): 1,
                      ("sandboxed", "user space"): 1, ("app", "system call sendmsg"): 1, ("idle", ""): 1,
                      ("kernel threads", ""): 1}
    table = perf_by_entry.report(counts, total)
    assert "| sandboxed | 57.1% |" in table and "| &nbsp;&nbsp;page faults | 14.3% |" in table
