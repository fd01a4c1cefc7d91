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


def _scan(uid: int | None) -> tuple[dict[int, tuple[int, bytes]], set[int]]:
    """One pass over /proc: ``{pid: (ppid, state)}`` of every process, and the pids owned by
    ``uid``. Raw ``os`` calls (no file objects): this runs at least once per sandbox, and its
    cost grows with the number of processes on the machine."""
    table: dict[int, tuple[int, bytes]] = {}
    owned: set[int] = set()
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            # the directory carries the process's uid even for zombies and non-dumpable
            # processes (the files in it then belong to root)
            owner = os.stat(f"/proc/{name}").st_uid if uid is not None else None
            fd = os.open(f"/proc/{name}/stat", os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            continue
        try:
            raw = os.read(fd, 4096)
        except OSError:
            continue
        finally:
            os.close(fd)
        # the command name may contain spaces and parentheses: split after the last ')'
        rest = raw[raw.rfind(b")") + 2:].split(None, 2)
        if len(rest) < 2:
            continue
        pid = int(name)
        table[pid] = (int(rest[1]), rest[0])
        if owner is not None and owner == uid:
            owned.add(pid)
    return table, owned


def _members(table: dict[int, tuple[int, bytes]], owned: set[int], root: int | None,
             known: set[int] | frozenset[int] = frozenset()) -> set[int]:
    """The sandbox in a scan: processes of its uid and every descendant of ``root`` and of the
    ``known`` members of earlier scans (a process whose parent died is re-parented outside the
    tree, yet is still the sandbox's)."""
    found = set(owned)
    tops = [p for p in (root, *known) if p is not None and p in table]
    if tops:
        children: dict[int, list[int]] = {}
        for pid, (ppid, _) in table.items():
            children.setdefault(ppid, []).append(pid)
        stack, seen = list(tops), set(tops)
        while stack:
            pid = stack.pop()
            found.add(pid)
            for kid in children.get(pid, ()):
                if kid not in seen:
                    seen.add(kid)
                    stack.append(kid)
    return found


def sandbox_pids(root: int | None, uid: int | None) -> set[int]:
    """Live (or zombie) pids of a sandbox: descendants of ``root`` and processes owned by ``uid``."""
    table, owned = _scan(uid)
    return _members(table, owned, root)


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
    Returns how many live processes remained after ``rounds`` scans (0: none is alive; with
    ``rounds=1`` a non-zero answer only says that something was alive and has been signalled)."""
    if root is not None:
        try:
            os.killpg(root, signal.SIGKILL)
        except OSError:
            pass
    me = os.getpid()
    left = 0
    # Every process found once stays a member until it is gone: killing a parent re-parents its
    # children out of the tree (without root, where no uid marks them, they would be lost while
    # still dying: a pid namespace's pid 1 ends only after every process in it, for example).
    known: set[int] = set()
    for i in range(rounds):
        table, owned = _scan(uid)
        found = _members(table, owned, root, known)
        known = found
        live = [p for p in found if p != me and table.get(p, (0, b"X"))[1] not in (b"Z", b"X")]
        if uid is not None:
            for pid in found:  # our zombie orphans of this uid (see docstring)
                ppid, state = table.get(pid, (0, b""))
                if pid != root and state == b"Z" and ppid == me and pid in owned:
                    try:
                        os.waitpid(pid, os.WNOHANG)
                    except OSError:
                        pass
        left = len(live)
        if not live:
            return 0
        for pid in live:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        if i + 1 < rounds:
            time.sleep(0.001 if i < 20 else 0.01)
    return left


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


def remove_shm_owned(uid: int) -> int:
    """Remove the SysV shared memory segments ``uid`` owns or made (the rlimits level has no IPC
    namespace). A segment outlives every process of its maker: without this, each one a version
    made held its memory on the host after the sandbox was gone (64 MiB apiece; a day of test runs
    left 24 GB and the machine ran out of memory). Returns how many were removed."""
    import ctypes

    try:
        with open("/proc/sysvipc/shm") as f:
            rows = [line.split() for line in list(f)[1:]]
    except OSError:
        return 0
    libc = ctypes.CDLL(None, use_errno=True)
    removed = 0
    for row in rows:  # key shmid perms size cpid lpid nattch uid gid cuid cgid ...
        if len(row) > 9 and uid in (int(row[7]), int(row[9])):
            removed += libc.shmctl(int(row[1]), 0, None) == 0  # IPC_RMID: gone once detached
    return removed
