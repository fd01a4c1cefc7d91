"""benchmarks/cpu_by_process.py: which group each process's CPU belongs to."""
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from cpu_by_process import Proc, cpu_by_group, read_procs

APP = 100


def table(*rows):
    return {pid: Proc(pid, comm, ppid, own, reaped, started) for pid, comm, ppid, own, reaped, started in rows}


BEFORE = table((1, "init", 0, 0, 0, 0), (2, "kthreadd", 0, 0, 0, 0), (3, "kworker/0:1-events", 2, 50, 0, 1),
               (APP, "python", 1, 1000, 0, 10), (101, "bwrap", APP, 5, 0, 11), (102, "python3.11", 101, 300, 4000, 12),
               (103, "python3.11", 102, 10, 0, 50))
AFTER = table((1, "init", 0, 0, 0, 0), (2, "kthreadd", 0, 0, 0, 0),
              (3, "kworker/0:1-mm_percpu_wq", 2, 70, 0, 1),  # a kernel thread's name changes with its work
              (APP, "python", 1, 1300, 0, 10), (101, "bwrap", APP, 5, 0, 11), (102, "python3.11", 101, 500, 9000, 12),
              (103, "python3.11", 102, 8, 0, 90),  # the pid of a command that ended, reused by a new one
              (104, "python3.11", 103, 6, 0, 91), (105, "sh", 1, 3, 0, 92))


def test_each_process_counts_in_its_group_from_the_first_reading():
    groups = cpu_by_group(BEFORE, AFTER, APP)
    assert groups == {"sandboxed commands": 5000 + 8 + 6, "app": 300, "warm server": 200, "kernel threads": 20,
                      "other": 3}


def test_this_machine_can_be_read():
    procs = read_procs()
    me = procs[os.getpid()]
    assert me.own_ms >= 0 and me.started > 0 and me.ppid in procs
