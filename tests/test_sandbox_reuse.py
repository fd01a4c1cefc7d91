"""What the local backend's fast path relies on, checked for real.

The backend proves a sandbox clean with one scan of /proc when its command ends, then trusts
that proof: destroy() scans no more, and the sandbox's private uid goes to the next sandbox
without a new lock or sweep. These tests pin the pieces: the scan finds a uid's processes even
when they are zombies or non-dumpable (the files under /proc/PID then belong to root), kill_all
reaps our own zombie children of that uid, and the uid pool keeps a clean uid locked for reuse
but unlocks one whose sandbox did not end clean.
"""
from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time

import pytest

from ai_code_evals.sandbox import isolation, procs, uidslots
from ai_code_evals.sandbox.base import SandboxSpec
from ai_code_evals.sandbox.local import LocalBackend

HOST = isolation.default_host()
root_only = pytest.mark.skipif(not HOST.root or HOST.setpriv is None, reason="needs root and setpriv")

HIDE_AND_WAIT = ("import ctypes, sys, time\n"
                 "ctypes.CDLL(None).prctl(4, 0, 0, 0, 0)\n"  # PR_SET_DUMPABLE 0
                 "print('hidden', flush=True)\n"
                 "time.sleep(600)\n")


def _state(pid: int) -> str:
    with open(f"/proc/{pid}/stat", "rb") as f:
        return f.read().rsplit(b")", 1)[1].split()[0].decode()


@root_only
def test_scan_finds_non_dumpable_and_zombie_processes_of_a_uid_and_kill_all_reaps_them():
    slot = uidslots.claim()
    try:
        proc = subprocess.Popen(
            [HOST.setpriv, f"--reuid={slot.uid}", f"--regid={slot.uid}", "--clear-groups", "--",
             sys.executable, "-c", HIDE_AND_WAIT], stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)
        try:
            assert proc.stdout.readline() == b"hidden\n"
            assert os.stat(f"/proc/{proc.pid}/stat").st_uid == 0  # what a file-based owner check sees
            assert proc.pid in procs.sandbox_pids(None, slot.uid)
            os.kill(proc.pid, signal.SIGKILL)
            deadline = time.monotonic() + 10
            while _state(proc.pid) != "Z":  # killed, not yet reaped: a zombie of the uid
                assert time.monotonic() < deadline
                time.sleep(0.01)
            assert proc.pid in procs.sandbox_pids(None, slot.uid)
            assert procs.kill_all(None, slot.uid) == 0  # a zombie is dead already...
            with pytest.raises(ChildProcessError):  # ...and, being our child, it was reaped
                os.waitpid(proc.pid, os.WNOHANG)
        finally:
            proc.kill()
            proc.wait(timeout=10)  # already reaped by kill_all: Popen takes that as an exit
            proc.stdout.close()
    finally:
        slot.release()


def test_uid_pool_keeps_a_clean_uid_and_unlocks_one_that_did_not_end_clean():
    pool = uidslots.UidPool()
    slot, fresh = pool.take()
    assert fresh
    pool.give_back(slot, clean=True)
    again, fresh = pool.take()
    assert again is slot and not fresh
    assert uidslots.try_claim(slot.uid) is None  # still locked by the pool between sandboxes
    pool.give_back(again, clean=False)
    other = uidslots.try_claim(slot.uid)  # unlocked: the next claimer sweeps it
    assert other is not None
    other.release()
    kept, _ = pool.take()
    pool.give_back(kept, clean=True)
    pool.close()
    freed = uidslots.try_claim(kept.uid)
    assert freed is not None
    freed.release()


@root_only
async def test_sequential_sandboxes_reuse_a_uid_and_concurrent_ones_never_share():
    backend = LocalBackend()
    try:
        first = await backend.create(SandboxSpec())
        result = await first.exec(["python", "-c", "pass"], on_line=lambda s, line: None, timeout_s=30)
        assert result.exit_code == 0
        await first.destroy()
        second = await backend.create(SandboxSpec())
        third = await backend.create(SandboxSpec())
        assert second.uid == first.uid  # handed on: the first ended clean
        assert third.uid != second.uid
        lines: list[str] = []
        results = await asyncio.gather(*(
            box.exec(["python", "-c", "import os; print(os.getuid())"], on_line=lambda s, line: lines.append(line),
                     timeout_s=30) for box in (second, third)))
        assert [r.exit_code for r in results] == [0, 0]
        assert sorted(lines) == sorted([str(second.uid), str(third.uid)])
    finally:
        await backend.aclose()
    for uid in {first.uid, second.uid, third.uid}:  # aclose unlocks every uid the backend held
        slot = uidslots.try_claim(uid)
        assert slot is not None
        slot.release()


def test_kill_all_keeps_following_a_process_whose_parent_died(monkeypatch):
    """Seen as an ordinary user (``.ci/containment``): the wrapper a sandbox runs under dies
    first, which re-parents the sandbox's pid-namespace init out of the tree while it is still
    dying (it ends only after every process in its namespace). kill_all returned 0 ("nothing
    left") with those processes still running. A member found once stays one until it is gone.
    The scans are scripted: no real process stays killable-but-alive on demand."""
    me = os.getpid()
    root, init, child = 900001, 900002, 900003
    scans = [
        {root: (me, b"S"), init: (root, b"S"), child: (init, b"S")},  # the tree, intact
        {root: (me, b"Z"), init: (1, b"R"), child: (init, b"R")},     # root died: init re-parented
        {root: (me, b"Z"), init: (1, b"R"), child: (init, b"Z")},
        {root: (me, b"Z")},                                           # all gone
    ]
    seen_scans: list[int] = []

    def scan(uid):
        seen_scans.append(len(seen_scans))
        return scans[min(len(seen_scans) - 1, len(scans) - 1)], set()

    killed: list[int] = []
    monkeypatch.setattr(procs, "_scan", scan)
    monkeypatch.setattr(procs.os, "killpg", lambda pid, sig: None)
    monkeypatch.setattr(procs.os, "kill", lambda pid, sig: killed.append(pid))
    monkeypatch.setattr(procs.time, "sleep", lambda s: None)
    assert procs.kill_all(root, None) == 0
    assert len(seen_scans) == 4  # it waited until init and its child were gone
    assert killed.count(init) == 3 and child in killed
