"""One cgroup per sandbox: limits and accounting for the sandbox as a whole.

Rlimits apply per process (RLIMIT_AS) or per user (RLIMIT_NPROC); neither bounds what a sandbox
holds altogether: SysV shared memory pages belong to no process, and eight ``setsid`` spinners
take eight times the CPU of a correct neighbour. A cgroup per sandbox bounds the memory it holds
(shared memory and its tmpfs files included), the number of its processes, and its CPU (at most
one core, and a fair share of the machine like every other sandbox, however many processes it
starts, weighted below the app itself), and it can be killed whole.

Both kernel interfaces are supported:

- cgroup v1 (``memory``, ``pids``, ``cpu``, ``freezer`` hierarchies under /sys/fs/cgroup): a
  directory per controller, under this process's own cgroup in each;
- cgroup v2 (unified): one directory under this process's cgroup, with ``memory.max``,
  ``pids.max``, ``cpu.max`` and ``cgroup.kill``; the parent must let us enable those
  controllers for its children (a delegated cgroup, as ``systemd-run --user --scope -p
  Delegate=yes`` gives).

Where neither can be written (an ordinary user without delegation), ``available()`` says why and
sandboxes run without: the process count is then still per sandbox (its own uid as root, its own
user namespace otherwise), memory per process (RLIMIT_AS), and CPU not shared fairly.

A sandbox's processes join its cgroup before they start: the cold path runs its wrapper through
``join_argv`` (a shell that writes itself into each ``cgroup.procs``, then execs), the warm path
hands the server open ``cgroup.procs`` descriptors that each command's pid 1 writes to.
"""
from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
import uuid
from dataclasses import dataclass

ROOT = "/sys/fs/cgroup"
V1_CONTROLLERS = ("memory", "pids", "cpu", "freezer")
V2_CONTROLLERS = ("memory", "pids", "cpu")
CPU_PERIOD_US = 100_000
# A sandbox's CPU weight, a quarter of the default (v1 ``cpu.shares`` 1024, v2 ``cpu.weight``
# 100): sandboxes share the machine fairly among themselves, and the app's own threads (the
# engine starting the next version, the TUI answering a key) never wait behind them.
CPU_SHARES_V1, CPU_WEIGHT_V2 = 256, 25
JOIN_SCRIPT = 'while [ "$1" != -- ]; do echo 0 > "$1" || exit 125; shift; done; shift; exec "$@"'
MIB = 1 << 20


@dataclass(frozen=True)
class Limits:
    memory_bytes: int
    pids: int
    cpus: float = 1.0  # cores a sandbox may use at once


def _own_path(controller: str | None) -> str | None:
    """This process's cgroup path in a v1 hierarchy (``controller``) or in v2 (None)."""
    try:
        with open("/proc/self/cgroup") as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    for line in lines:
        _, ctrls, path = line.split(":", 2)
        if controller is None and ctrls == "":
            return path
        if controller is not None and controller in ctrls.split(","):
            return path
    return None


def _write(path: str, value: str) -> None:
    with open(path, "w") as f:
        f.write(value)


class Backend:
    """Creates per-sandbox cgroups on one interface (v1 or v2)."""

    def __init__(self, version: int, parents: dict[str, str]) -> None:
        self.version = version
        self.parents = parents  # v1: controller -> parent dir; v2: {"": parent dir}

    def create(self, limits: Limits) -> SandboxCgroup:
        name = f"ace-{os.getpid()}-{uuid.uuid4().hex[:10]}"
        dirs = {c: os.path.join(p, name) for c, p in self.parents.items()}
        made: list[str] = []
        try:
            for d in dirs.values():
                os.mkdir(d)
                made.append(d)
            cg = SandboxCgroup(self.version, dirs)
            cg.apply(limits)
            return cg
        except OSError:
            for d in reversed(made):
                with contextlib.suppress(OSError):
                    os.rmdir(d)
            raise


def reap_stale(iface: Backend) -> int:
    """Kill and remove the cgroups of app processes that died without cleaning up (kill -9):
    what they held stays limited but must not stay forever. Returns how many were removed."""
    names: set[str] = set()
    for parent in iface.parents.values():
        with contextlib.suppress(OSError):
            names |= {n for n in os.listdir(parent) if n.startswith("ace-") and not n.startswith("ace-probe-")}
    removed = 0
    for name in names:
        pid = name.split("-")[1]
        if not pid.isdigit() or int(pid) == os.getpid() or os.path.exists(f"/proc/{pid}"):
            continue
        dirs = {c: os.path.join(p, name) for c, p in iface.parents.items() if os.path.isdir(os.path.join(p, name))}
        if dirs and SandboxCgroup(iface.version, dirs).remove():
            removed += 1
    return removed


def _probe_v1() -> tuple[Backend | None, str]:
    parents = {}
    for c in V1_CONTROLLERS:
        top = os.path.join(ROOT, c)
        own = _own_path(c)
        if own is None or not os.path.isfile(os.path.join(top, "cgroup.procs")):
            return None, f"cgroup v1 {c} controller not mounted"
        parents[c] = os.path.normpath(top + own)
    test = {c: os.path.join(p, f"ace-probe-{os.getpid()}") for c, p in parents.items()}
    try:
        for d in test.values():
            os.mkdir(d)
    except OSError as exc:
        return None, f"cgroup v1 not writable ({exc.strerror})"
    finally:
        for d in test.values():
            with contextlib.suppress(OSError):
                os.rmdir(d)
    return Backend(1, parents), ""


def _probe_v2(root: str = ROOT) -> tuple[Backend | None, str]:
    """The v2 interface under this process's cgroup of the hierarchy mounted at ``root``."""
    own = _own_path(None)
    if own is None or not os.path.isfile(os.path.join(root, "cgroup.controllers")):
        return None, f"no cgroup v2 hierarchy at {root}"
    parent = os.path.normpath(root + own)
    try:
        with open(os.path.join(parent, "cgroup.controllers")) as f:
            offered = set(f.read().split())
        absent = [c for c in V2_CONTROLLERS if c not in offered]
        if absent:  # a controller lives in one hierarchy: on a hybrid host, v1 holds them
            return None, (f"cgroup v2 {parent} offers no {', '.join(absent)} controller (bound to cgroup v1, "
                          "or not delegated)")
        with open(os.path.join(parent, "cgroup.subtree_control")) as f:
            enabled = set(f.read().split())
        missing = set(V2_CONTROLLERS) - enabled
        if missing:
            _write(os.path.join(parent, "cgroup.subtree_control"), " ".join(f"+{c}" for c in sorted(missing)))
        probe = os.path.join(parent, f"ace-probe-{os.getpid()}")
        os.mkdir(probe)
        os.rmdir(probe)
    except OSError as exc:
        return None, f"cgroup v2 {parent} not delegated to us ({exc.strerror})"
    return Backend(2, {"": parent}), ""


_lock = threading.Lock()
_probed: tuple[Backend | None, str] | None = None


def available() -> tuple[Backend | None, str]:
    """The cgroup interface sandboxes use here (probed once), or None and why not."""
    global _probed
    with _lock:
        if _probed is None:
            v2, why2 = _probe_v2()
            v1, why1 = (None, "") if v2 else _probe_v1()
            _probed = (v2 or v1, "" if (v2 or v1) else f"{why1}; {why2}")
        return _probed


class SandboxCgroup:
    """One sandbox's cgroup (a directory per v1 controller, or one v2 directory)."""

    def __init__(self, version: int, dirs: dict[str, str]) -> None:
        self.version = version
        self.dirs = dirs
        self.limits: Limits | None = None  # as last applied

    def _file(self, controller: str, name: str) -> str:
        """A file of this cgroup; FileNotFoundError (an OSError, as for a missing file) when the
        cgroup has no directory for the controller: a stale one cut short by a crash."""
        d = self.dirs.get("" if self.version == 2 else controller)
        if d is None:
            raise FileNotFoundError(f"this cgroup has no {controller} directory")
        return os.path.join(d, name)

    def apply(self, limits: Limits) -> None:
        if limits == self.limits:
            return
        self.limits = None  # until every write went through
        quota = int(CPU_PERIOD_US * limits.cpus)
        if self.version == 2:
            _write(self._file("", "memory.max"), str(limits.memory_bytes))
            with contextlib.suppress(OSError):  # no swap accounting: nothing to set
                _write(self._file("", "memory.swap.max"), "0")
            _write(self._file("", "pids.max"), str(limits.pids))
            _write(self._file("", "cpu.max"), f"{quota} {CPU_PERIOD_US}")
            _write(self._file("", "cpu.weight"), str(CPU_WEIGHT_V2))
            self.limits = limits
            return
        _write(self._file("memory", "memory.limit_in_bytes"), str(limits.memory_bytes))
        with contextlib.suppress(OSError):  # swap accounting may be off
            _write(self._file("memory", "memory.memsw.limit_in_bytes"), str(limits.memory_bytes))
        _write(self._file("pids", "pids.max"), str(limits.pids))
        _write(self._file("cpu", "cpu.cfs_period_us"), str(CPU_PERIOD_US))
        _write(self._file("cpu", "cpu.cfs_quota_us"), str(quota))
        _write(self._file("cpu", "cpu.shares"), str(CPU_SHARES_V1))
        self.limits = limits

    def procs_files(self) -> list[str]:
        """The ``cgroup.procs`` files a process writes itself into to join."""
        return [os.path.join(d, "cgroup.procs") for d in self.dirs.values()]

    def join_argv(self, sh: str) -> list[str]:
        """A prefix that puts the command (and so everything it starts) in this cgroup."""
        return [sh, "-c", JOIN_SCRIPT, "sh", *self.procs_files(), "--"]

    def open_procs(self) -> list[int]:
        """Descriptors on ``cgroup.procs`` (write-only), for a process that cannot see them."""
        fds: list[int] = []
        try:
            for path in self.procs_files():
                fds.append(os.open(path, os.O_WRONLY | os.O_CLOEXEC))
        except OSError:
            for fd in fds:
                os.close(fd)
            raise
        return fds

    def pids(self) -> list[int]:
        try:
            with open(self._file("pids", "cgroup.procs")) as f:
                return [int(x) for x in f.read().split()]
        except OSError:
            return []

    def memory_peak_bytes(self) -> int | None:
        name = "memory.peak" if self.version == 2 else "memory.max_usage_in_bytes"
        try:
            with open(self._file("memory", name)) as f:
                return int(f.read())
        except (OSError, ValueError):
            return None

    def oom_killed(self) -> bool:
        """Whether the memory limit killed a process of this sandbox."""
        try:
            if self.version == 2:
                with open(self._file("", "memory.events")) as f:
                    return any(line.split()[0] == "oom_kill" and int(line.split()[1]) > 0 for line in f)
            with open(self._file("memory", "memory.oom_control")) as f:
                return any(line.split()[0] == "oom_kill" and int(line.split()[1]) > 0 for line in f)
        except (OSError, ValueError, IndexError):
            return False

    def kill(self, rounds: int = 200) -> bool:
        """Kill every process in the cgroup; True when it is empty."""
        if self.version == 2:
            with contextlib.suppress(OSError):
                _write(self._file("", "cgroup.kill"), "1")
        else:
            with contextlib.suppress(OSError):  # frozen, no process can fork away while we kill
                _write(self._file("freezer", "freezer.state"), "FROZEN")
        try:
            for i in range(rounds):
                pids = self.pids()
                if not pids:
                    return True
                for pid in pids:
                    with contextlib.suppress(OSError):
                        os.kill(pid, signal.SIGKILL)
                if self.version == 1 and i == 0:
                    with contextlib.suppress(OSError):
                        _write(self._file("freezer", "freezer.state"), "THAWED")  # killed tasks must run to die
                time.sleep(0.001 if i < 20 else 0.01)
            return not self.pids()
        finally:
            if self.version == 1:
                with contextlib.suppress(OSError):
                    _write(self._file("freezer", "freezer.state"), "THAWED")

    def remove(self) -> bool:
        """Kill what is left and remove the directories; True when all are gone."""
        if self.pids():
            self.kill()
        gone = True
        for d in self.dirs.values():
            for _ in range(50):
                try:
                    os.rmdir(d)
                    break
                except FileNotFoundError:
                    break
                except OSError:  # EBUSY while the last tasks are still exiting
                    time.sleep(0.01)
            else:
                gone = False
        return gone


def limits_for(memory_mb: int, disk_bytes: int, processes: int) -> Limits:
    """A sandbox's cgroup limits from its profile: its address-space limit plus what its tmpfs
    mounts may hold (the working directory and /tmp, and the small ones), plus slack for the
    sandbox's own wrappers; a few processes more than the command's own limit for the same."""
    return Limits(memory_bytes=memory_mb * MIB + 2 * disk_bytes + 64 * MIB, pids=processes + 8)
