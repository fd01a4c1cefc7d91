"""CPU time of one harness and everything it starts, however short-lived, and nothing else.

Per-process accounting (``getrusage``) misses processes a harness does not reap itself (the warm
server reaps its commands), and /proc/stat counts every other user of a shared machine. A
cgroup of the v1 ``cpuacct`` hierarchy counts exactly the processes in it and their
descendants, page-table copies at fork and teardown at exit included (they run in the task's
own context). The app's sandbox cgroups live in other hierarchies (memory, pids, cpu, freezer),
so its commands stay in ours. Needs a writable ``/sys/fs/cgroup/cpuacct`` (root, cgroup v1);
elsewhere ``CgroupCpu.available()`` is False and the figure is left out.

    with CgroupCpu("ours") as acct:
        subprocess.run(...)
    acct.seconds  # user + system CPU of this process and all it started inside the block
"""
from __future__ import annotations

import os
import time
import uuid
from pathlib import Path
from typing import Self

HIERARCHY = Path("/sys/fs/cgroup/cpuacct")


def _own_path() -> Path:
    """This process's cgroup in the cpuacct hierarchy."""
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if "cpuacct" in controllers.split(","):
            return HIERARCHY / path.lstrip("/")
    raise OSError("no cpuacct hierarchy")


class CgroupCpu:
    """Moves this process into a fresh cpuacct cgroup for the block (children started in it stay
    there), reads its usage at the end, and moves back."""

    def __init__(self, name: str) -> None:
        self.name, self.seconds = name, None

    @staticmethod
    def available() -> bool:
        try:
            return os.access(_own_path(), os.W_OK)
        except OSError:
            return False

    def __enter__(self) -> Self:
        self._home = _own_path()
        self._dir = self._home / f"ace-bench-{self.name}-{uuid.uuid4().hex[:8]}"
        self._dir.mkdir()
        (self._dir / "cgroup.procs").write_text(str(os.getpid()))
        return self

    def add(self, pid: int) -> None:
        """Count a process started before the block too (from now on; what it starts later
        follows it). A process gone meanwhile is skipped."""
        try:
            (self._dir / "cgroup.procs").write_text(str(pid))
        except ProcessLookupError:
            pass

    def __exit__(self, *exc) -> None:
        self.seconds = int((self._dir / "cpuacct.usage").read_text()) / 1e9
        # this process, and what still lives in there (a server added with add()), go back home
        for pid in [os.getpid(), *(int(p) for p in (self._dir / "cgroup.procs").read_text().split())]:
            try:
                (self._home / "cgroup.procs").write_text(str(pid))
            except ProcessLookupError:
                pass
        for _ in range(50):  # a process it started may still be on its way out
            try:
                self._dir.rmdir()
                return
            except OSError:
                time.sleep(0.02)
