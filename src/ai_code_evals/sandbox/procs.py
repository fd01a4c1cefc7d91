"""Finding, measuring and killing a sandbox's processes through /proc.

A sandbox's processes are the descendants of the process the backend started, plus (when we
run as root) every process of the sandbox's private uid: that second set also catches a
grandchild that called setsid and was re-parented to init, which the first set misses.
"""
from __future__ import annotations

import os
import signal
import stat
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE_KIB = os.sysconf("SC_PAGE_SIZE") // 1024


def _stat_fields(pid: int) -> list[str] | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            raw = f.read().decode("ascii", "replace")
    except OSError:
        return None
    # the command name may contain spaces and parentheses: split after the last ')'
    return raw[raw.rfind(")") + 2:].split()


def _uid(pid: int) -> int | None:
    try:
        return os.stat(f"/proc/{pid}").st_uid
    except OSError:
        return None


def all_pids() -> list[int]:
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def sandbox_pids(root: int | None, uid: int | None) -> set[int]:
    """Live (or zombie) pids of a sandbox: descendants of ``root`` and processes owned by ``uid``."""
    children: dict[int, list[int]] = {}
    found: set[int] = set()
    for pid in all_pids():
        fields = _stat_fields(pid)
        if fields is None:
            continue
        children.setdefault(int(fields[1]), []).append(pid)
        if uid is not None and _uid(pid) == uid:
            found.add(pid)
    if root is not None and _stat_fields(root) is not None:
        stack = [root]
        while stack:
            pid = stack.pop()
            if pid in found and pid != root:
                continue
            found.add(pid)
            stack.extend(children.get(pid, ()))
    return found


def uids_with_processes() -> set[int]:
    found = set()
    for pid in all_pids():
        uid = _uid(pid)
        if uid is not None and _alive(pid):
            found.add(uid)
    return found


def usage(pids: set[int]) -> dict:
    """CPU seconds (including reaped children) and resident memory of a set of processes."""
    ticks, rss_pages = 0, 0
    for pid in pids:
        fields = _stat_fields(pid)
        if fields is None:
            continue
        # fields[0] is state; utime stime cutime cstime are fields 14..17 of stat (1-based)
        ticks += sum(int(x) for x in fields[11:15])
        rss_pages += max(0, int(fields[21]))
    return {"cpu_s": round(ticks / CLK_TCK, 3), "rss_kib": rss_pages * PAGE_KIB, "processes": len(pids)}


def kill_all(root: int | None, uid: int | None, *, rounds: int = 200) -> int:
    """SIGKILL the sandbox's processes until none is left alive (zombies awaiting their parent
    are dead already). Zombies of ``uid`` that are our own children (orphans re-parented to us
    as subreaper) are reaped, except ``root``, which the caller reaps for its exit status.
    Returns how many live processes remained (0 unless something resisted)."""
    if root is not None:
        try:
            os.killpg(root, signal.SIGKILL)
        except OSError:
            pass
    left = 0
    for i in range(rounds):
        found = sandbox_pids(root, uid)
        live = [p for p in found if p != os.getpid() and _alive(p)]
        if uid is not None:
            _reap_orphans(found - {root}, uid)
        left = len(live)
        if not live:
            return 0
        for pid in live:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        time.sleep(0.001 if i < 20 else 0.01)
    return left


def _reap_orphans(pids: set[int], uid: int) -> None:
    me = os.getpid()
    for pid in pids:
        fields = _stat_fields(pid)
        if fields and fields[0] == "Z" and int(fields[1]) == me and _uid(pid) == uid:
            try:
                os.waitpid(pid, os.WNOHANG)
            except OSError:
                pass


def become_subreaper() -> bool:
    """Make orphaned descendants re-parent to this process instead of init, so that the
    rlimits level can reap them (some inits, in containers, never do, and their zombies
    would count against the sandbox uid's process limit)."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    return libc.prctl(36, 1, 0, 0, 0) == 0  # PR_SET_CHILD_SUBREAPER


def _alive(pid: int) -> bool:
    fields = _stat_fields(pid)
    return fields is not None and fields[0] not in ("Z", "X")


def remove_owned(uid: int, dirs: tuple[str, ...]) -> None:
    """Delete what ``uid`` left in shared writable directories (the rlimits level has no private
    /tmp). Never follows symlinks; only entries owned by ``uid`` are touched."""
    for top in dirs:
        try:
            entries = list(os.scandir(top))
        except OSError:
            continue
        for entry in entries:
            try:
                st = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            if st.st_uid != uid:
                continue
            _remove_tree(entry.path, st)


def _remove_tree(path: str, st: os.stat_result) -> None:
    try:
        if stat.S_ISDIR(st.st_mode):
            os.chmod(path, 0o700)
            for entry in os.scandir(path):
                _remove_tree(entry.path, entry.stat(follow_symlinks=False))
            os.rmdir(path)
        else:
            os.unlink(path)
    except OSError:
        pass
