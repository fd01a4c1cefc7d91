"""cgroup v2 in sandbox/cgroups.py: what this machine can test for real, and what only as writes.

This machine kind runs cgroup v1 for ``memory``, ``pids``, ``cpu`` and ``freezer``; its cgroup2
hierarchy (hybrid mode) offers none of those controllers, because the kernel binds a controller
to one hierarchy at a time. Moving them to v2 would mean unmounting the v1 hierarchies that hold
every other process of the machine, so it is not done. What is tested **for real**, as root, on
the cgroup2 hierarchy mounted again under /tmp:

- the probe refuses that hierarchy in one line naming the controllers it lacks (where it offers
  them all, the real limits are written and read back instead);
- a sandbox's cgroup: created, a command joins it through ``join_argv`` (the cold path) and a
  process through a descriptor from ``open_procs`` (the warm server's holder), descendants that
  called ``setsid`` are inside too, ``cgroup.kill`` empties it, and it is removed; a cgroup of a
  dead app is reaped; creating one where the limit files are missing fails and leaves nothing.

The limit files (``memory.max``, ``pids.max``, ``cpu.max``, ``memory.swap.max``) and
``memory.events``/``memory.peak`` are tested only against a directory laid out like cgroupfs:
that proves the values written and the parsing, not that a kernel enforces them.
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pytest

from ai_code_evals.sandbox import cgroups

SH = "/bin/sh"


@pytest.fixture
def cgroup2():
    """A cgroup2 hierarchy mounted under /tmp (as root), unmounted afterwards."""
    if os.geteuid() != 0:
        pytest.skip("mounting a cgroup2 hierarchy needs root")
    mnt = tempfile.mkdtemp(prefix="ace-cgroup2-")
    proc = subprocess.run(["mount", "-t", "cgroup2", "none", mnt], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        os.rmdir(mnt)
        pytest.skip(f"cannot mount cgroup2 here: {proc.stderr.strip()}")
    made: list[str] = []
    try:
        yield mnt, made
    finally:
        for d in made:
            if os.path.isdir(d):
                cgroups.SandboxCgroup(2, {"": d}).remove()
        subprocess.run(["umount", "-l", mnt], check=False)
        os.rmdir(mnt)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False


def test_the_v2_probe_names_what_this_hierarchy_lacks(cgroup2):
    mnt, _ = cgroup2
    offered = set(Path(mnt, "cgroup.controllers").read_text().split())
    iface, why = cgroups._probe_v2(mnt)
    if set(cgroups.V2_CONTROLLERS) <= offered:  # a host whose v2 has them: the real limits
        assert iface is not None and iface.version == 2, why
        group = iface.create(cgroups.Limits(memory_bytes=64 << 20, pids=7, cpus=0.5))
        try:
            d = group.dirs[""]
            assert Path(d, "memory.max").read_text().strip() == str(64 << 20)
            assert Path(d, "pids.max").read_text().strip() == "7"
            assert Path(d, "cpu.max").read_text().split() == ["50000", "100000"]
            assert Path(d, "cpu.weight").read_text().strip() == str(cgroups.CPU_WEIGHT_V2)
        finally:
            assert group.remove()
        return
    absent = [c for c in cgroups.V2_CONTROLLERS if c not in offered]
    assert iface is None and "\n" not in why
    assert why.startswith("cgroup v2 ") and f"offers no {', '.join(absent)} controller" in why


def test_a_sandbox_cgroup_on_real_v2_joins_kills_and_is_removed(cgroup2):
    mnt, made = cgroup2
    d = os.path.join(mnt, f"ace-{os.getpid()}-{uuid.uuid4().hex[:10]}")
    os.mkdir(d)
    made.append(d)
    group = cgroups.SandboxCgroup(2, {"": d})
    # the cold path: the wrapper joins, then everything it starts is inside, setsid or not
    script = ("import os, sys, time\n"
              "for _ in range(3):\n"
              "    if os.fork() == 0:\n"
              "        os.setsid()\n"
              "        time.sleep(60)\n"
              "        os._exit(0)\n"
              "print(os.getpid(), flush=True)\n"
              "time.sleep(60)\n")
    proc = subprocess.Popen([*group.join_argv(SH), sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        leader = int(proc.stdout.readline())
        deadline = time.monotonic() + 10
        while len(group.pids()) < 4 and time.monotonic() < deadline:
            time.sleep(0.02)
        members = group.pids()
        assert leader in members and len(members) == 4, members
        name = os.path.basename(d)
        for pid in members:
            assert f"0::/{name}\n" in Path(f"/proc/{pid}/cgroup").read_text()
        # the warm path: a process joins through a descriptor it was handed
        fds = group.open_procs()
        holder = subprocess.Popen([sys.executable, "-c", f"import os, time; os.write({fds[0]}, b'0'); time.sleep(60)"],
                                  pass_fds=fds)
        for fd in fds:
            os.close(fd)
        deadline = time.monotonic() + 10
        while holder.pid not in group.pids() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert holder.pid in group.pids()
        # cgroup.kill: every process, wherever its session went
        assert group.kill()
        assert group.pids() == [] and not any(_alive(p) for p in members)
        assert proc.wait(10) != 0 and holder.wait(10) != 0
        assert group.remove() and not os.path.exists(d)
    finally:
        proc.kill()
        proc.wait()


def test_real_v2_reaps_a_dead_apps_cgroup_and_a_failed_create_leaves_nothing(cgroup2):
    mnt, made = cgroup2
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    stale = os.path.join(mnt, f"ace-{int(dead.stdout)}-{uuid.uuid4().hex[:10]}")
    os.mkdir(stale)
    made.append(stale)
    iface = cgroups.Backend(2, {"": mnt})
    assert cgroups.reap_stale(iface) >= 1 and not os.path.exists(stale)
    offered = set(Path(mnt, "cgroup.controllers").read_text().split())
    if {"memory", "pids", "cpu"} <= offered:
        pytest.skip("this v2 hierarchy has the controllers: create succeeds (see the probe test)")
    before = set(os.listdir(mnt))
    with pytest.raises(OSError):  # no memory.max to write: the directory is removed again
        iface.create(cgroups.Limits(memory_bytes=64 << 20, pids=8))
    assert set(os.listdir(mnt)) == before


def fake_cgroupfs(tmp_path: Path) -> Path:
    d = tmp_path / "ace-1-fake"
    d.mkdir()
    for name, text in {"memory.max": "max\n", "memory.swap.max": "max\n", "pids.max": "max\n",
                       "cpu.max": "max 100000\n", "cpu.weight": "100\n", "cgroup.kill": "", "cgroup.procs": "",
                       "memory.events": "low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n",
                       "memory.peak": "7340032\n"}.items():
        (d / name).write_text(text)
    return d


def test_v2_limit_writes_against_a_cgroupfs_layout(tmp_path):
    """Only the writes and reads: no kernel behind these files."""
    d = fake_cgroupfs(tmp_path)
    group = cgroups.SandboxCgroup(2, {"": str(d)})
    limits = cgroups.limits_for(256, 32 << 20, 16)
    group.apply(limits)
    assert (d / "memory.max").read_text() == str(limits.memory_bytes) == str((256 + 64 + 64) << 20)
    assert (d / "memory.swap.max").read_text() == "0"
    assert (d / "pids.max").read_text() == "24"
    assert (d / "cpu.max").read_text() == "100000 100000"
    assert (d / "cpu.weight").read_text() == "25"  # below the app's threads (default 100)
    (d / "pids.max").write_text("max")
    group.apply(limits)  # the same limits again: nothing rewritten (a pooled cgroup is reused as is)
    assert (d / "pids.max").read_text() == "max"
    assert group.oom_killed() and group.memory_peak_bytes() == 7340032
    assert group.kill() and (d / "cgroup.kill").read_text() == "1"
    assert group.procs_files() == [str(d / "cgroup.procs")]
