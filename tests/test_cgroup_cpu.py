"""benchmarks/cgroup_cpu.py: a harness's CPU counts processes that it never reaps itself (the
warm server reaps our commands; an orphan is reaped by init), which getrusage misses."""
import resource
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

from cgroup_cpu import CgroupCpu

if not CgroupCpu.available():
    pytest.skip("needs a writable cgroup v1 cpuacct hierarchy (root)", allow_module_level=True)

# the child forks a grandchild that spins, reports its own CPU time, and is left to init to reap
ORPHAN = """
import os, sys, time
r, w = os.pipe()
if os.fork() == 0:
    x = 0
    for i in range(3_000_000):
        x += i * i
    os.write(w, repr(time.process_time()).encode())
    os._exit(0)
os.close(w)
sys.stdout.write(os.read(r, 100).decode())
"""


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def test_counts_the_cpu_of_processes_reaped_by_someone_else():
    before = children_cpu()
    with CgroupCpu("test") as acct:
        out = subprocess.run([sys.executable, "-c", ORPHAN], capture_output=True, text=True, check=True).stdout
    orphan_cpu = float(out)
    assert acct.seconds >= orphan_cpu  # the orphan's own CPU is in the cgroup's count
    assert acct.seconds > children_cpu() - before  # the cgroup saw more than getrusage's children did
    assert not acct._dir.exists()  # removed after use
