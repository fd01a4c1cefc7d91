"""The local sandbox backend: each sandbox is an isolated process tree on this machine.

``LocalBackend`` owns what its sandboxes share: the isolation level (detected once, see
``isolation.py``), the private temp root their working directories live in (``workdir.py``), the
pool of private uids when running as root (a sandbox that ended clean hands its uid to the next
without a sweep), the pool of empty per-sandbox cgroups (``cgroups.py``), the warm fork servers of
the ``bwrap`` level (``warm.py``), and the cached environments of tasks' requirements
(``requirements.py``). It creates sandboxes (``local_sandbox.py``: one command at a time, and
its end) and, on every exit path (``aclose``, or interpreter exit), destroys what is left.
What dead app processes left (temp roots, processes of sandbox uids, cgroups) is reaped when the
first sandbox is created. Per sandbox the backend itself does little
(``benchmarks/bench_sandbox.py`` measures it).
"""
from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
import shutil
import tempfile
import threading
import uuid
import weakref
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from ai_code_evals.core.errors import ConfigError
from ai_code_evals.sandbox import cgroups, interpreter, procs, uidslots
from ai_code_evals.sandbox import requirements as requirements_mod
from ai_code_evals.sandbox import warm as warm_mod
from ai_code_evals.sandbox.base import RequirementsError, SandboxError, SandboxLimits, SandboxSpec
from ai_code_evals.sandbox.isolation import (
    LEVELS,
    SHARED_WRITABLE,
    ExecPlan,
    Host,
    default_host,
    detect,
    disk_budget,
    gaps,
    reachable_by_others,
    sandbox_env,
    secret_files,
    warm_server_command,
)
from ai_code_evals.sandbox.local_sandbox import LocalSandbox
from ai_code_evals.sandbox.process import stop_fd_inheritance
from ai_code_evals.sandbox.workdir import ROOT_PREFIX, reap_stale_roots

if TYPE_CHECKING:
    from ai_code_evals.core.settings import Settings

__all__ = ["LocalBackend", "LocalSandbox"]

CGROUP_POOL = 64  # empty per-sandbox cgroups kept for reuse (creating one costs ~1-3 ms)
# warm servers kept at once (one per hash seed and set of task packages); past it, the least
# recently used idle one is closed (a later command for it starts it again)
WARM_SERVERS_MAX = 8

_backends: weakref.WeakSet[LocalBackend] = weakref.WeakSet()


def _check_level(name: str | None) -> str | None:
    if name in (None, "", "auto"):
        return None
    if name not in LEVELS:
        raise ConfigError(f"unknown isolation level {name!r} (choose from auto, {', '.join(LEVELS)})")
    return name


def _reap_stale_uids() -> None:
    """Kill processes (and remove /tmp files) of sandbox uids that no live sandbox holds: what a
    killed app left at the rlimits level, where nothing dies with the app but its direct child."""
    for uid in sorted(u for u in procs.uids_with_processes() if uidslots.in_range(u)):
        slot = uidslots.try_claim(uid)
        if slot is None:
            continue  # in use by a live sandbox (of this or another app process)
        try:
            procs.kill_all(None, uid)
            procs.remove_owned(uid, SHARED_WRITABLE)
        finally:
            slot.release()


class LocalBackend:
    """Creates isolated local sandboxes. ``isolation`` is ``None``/``"auto"`` (detect), or one of
    ``bwrap``, ``unshare``, ``rlimits`` (must work, else ConfigError); env ACE_ISOLATION too.
    ``warm`` turns the bwrap level's fast path on or off (default: $ACE_WARM, else on)."""

    name = "local"

    def __init__(self, isolation: str | None = None, *, temp_dir: str | None = None,
                 host: Host | None = None, warm: bool = True, cgroups: bool = True, unsafe: bool = False,
                 env_cache: str | None = None) -> None:
        self._forced = _check_level(isolation)
        self._host = host or default_host()
        self._temp_parent = temp_dir or tempfile.gettempdir()
        self._level: str | None = None
        self._unsafe = unsafe  # --unsafe-isolation: a level that cannot contain candidates may run
        self.unsafe_isolation = ""  # what the level in use cannot contain (set only when it runs anyway)
        self.isolation_reasons: dict[str, str] = {}  # why stronger levels were skipped
        self._root: str | None = None
        self._root_lock = threading.Lock()
        self._live: set[LocalSandbox] = set()
        self._uids = uidslots.UidPool()  # private uids (as root), kept from sandbox to sandbox
        self._closed = False
        self._subreaper = False
        self._warm: dict[tuple, warm_mod.WarmServer] = {}  # environment -> its warm server
        self._warm_lock: asyncio.Lock | None = None
        stop_fd_inheritance()
        self._cgroups_on = cgroups  # False: ACE_CGROUPS=0, the per-sandbox uid/userns limits only
        # where tasks' requirements are installed (ACE_ENV_CACHE; None: the user's cache directory)
        self._env_cache = Path(env_cache).expanduser() if env_cache else None
        self.cgroups_off: str | None = None  # why sandboxes have no cgroup (None: they have one)
        self._cgroup_pool: list[cgroups.SandboxCgroup] = []  # empty cgroups of clean sandboxes, reused
        # why the warm fast path is not used (None: it is)
        self.warm_off: str | None = None if warm else "turned off (ACE_WARM)"
        _backends.add(self)

    # -- isolation level ---------------------------------------------------------------------
    @property
    def isolation(self) -> str:
        """The level in use; the first read probes the levels (a fraction of a second, once)."""
        if self._level is None:
            self._level, self.isolation_reasons = detect(self._forced, self._host, unsafe=self._unsafe)
            self.unsafe_isolation = gaps(self._level, self._host) or ""
        return self._level

    async def detect(self) -> str:
        if self._level is None:
            await asyncio.to_thread(lambda: self.isolation)
        return self.isolation

    # -- a task's packages (requirements.py) -------------------------------------------------
    async def prepare_requirements(self, requirements: list[str], python: str = "python",
                                   on_progress: Callable[[str], None] | None = None) -> str:
        """The site-packages directory holding ``requirements`` for the interpreter that
        ``python`` (a command's first word) runs at this level: from the cache, or built now.
        Give it to ``create`` as ``SandboxSpec.packages``. Raises RequirementsError (one line)."""
        level = await self.detect()
        try:
            if level == "rlimits" and python == "python":
                exe = self._host.rlimits_python()
                if exe is None:
                    raise OSError("no Python interpreter is reachable by the sandbox user")
                py = await asyncio.to_thread(interpreter.describe, os.path.realpath(exe))
            else:
                py = await asyncio.to_thread(interpreter.for_command, python)
        except OSError as exc:
            raise RequirementsError(str(exc)) from None
        env = await requirements_mod.ensure(py, requirements, root=self._env_cache, on_progress=on_progress)
        site = str(env.site_packages)
        if level == "rlimits" and self._host.root and not reachable_by_others(site):
            raise RequirementsError(f"the environment in {env.path} is not readable by the sandboxes' own uids "
                                    f"(at the rlimits level nothing hides the rest of the path): set "
                                    f"{requirements_mod.CACHE_VAR} to a directory every user can read")
        return site

    # -- sandboxes ---------------------------------------------------------------------------
    def _private_root(self) -> str:
        """The temp root (created on first use). Call with ``_root_lock`` held."""
        if self._closed:
            raise SandboxError("the local backend is closed")
        if self._root is None:
            reap_stale_roots(self._temp_parent)
            if self._host.root:
                _reap_stale_uids()
            iface, _ = self._cgroups_available()
            if iface is not None:
                cgroups.reap_stale(iface)
            self._root = tempfile.mkdtemp(prefix=f"{ROOT_PREFIX}{os.getpid()}-", dir=self._temp_parent)
            os.chmod(self._root, 0o711)  # sandbox uids may traverse to their own directory only
        return self._root

    def _new_workdir(self, *, virtual: bool = False) -> str:
        """A working directory under the private root; ``virtual``: only its path (a warm
        command gets it as a tmpfs in its own mount namespace; created on the host if needed)."""
        with self._root_lock:  # never races with aclose() removing the root
            if virtual:
                return os.path.join(self._private_root(), f"w{uuid.uuid4().hex[:10]}")
            return tempfile.mkdtemp(prefix="w", dir=self._private_root())

    # -- the warm fast path (warm.py) -------------------------------------------------------
    def _warm_wanted(self, spec: SandboxSpec, level: str) -> bool:
        """Warm commands need bwrap and a fixed hash seed: the forks of one server share its
        seed, so a per-process random seed would become a shared one."""
        return level == "bwrap" and self.warm_off is None and "PYTHONHASHSEED" in spec.env

    async def warm_server(self, env: dict[str, str], packages: str | None = None) -> warm_mod.WarmServer | None:
        """The running warm server for ``env`` and ``packages`` (a task's site-packages, which
        its view must hold; started on first use); None when the fast path does not work here,
        with the reason in ``warm_off`` (the ordinary bwrap path is used).

        Only ``PYTHON*`` variables reach the server (the interpreter reads them at start:
        hash seed, bytecode, I/O encoding...); each command gets its whole environment itself."""
        env = {k: v for k, v in env.items() if k.startswith("PYTHON")}
        key = (tuple(sorted(env.items())), packages)
        server = self._warm.get(key)
        if server is not None and not server.dead and server.loop is not asyncio.get_running_loop():
            server.close()  # started under another event loop (a second asyncio.run): start anew
        if server is not None and not server.dead:
            self._warm[key] = self._warm.pop(key)  # the most recently used last
            return server
        if self._warm_lock is None:
            self._warm_lock = asyncio.Lock()
        async with self._warm_lock:
            server = self._warm.get(key)
            if server is not None and not server.dead:
                return server
            if self.warm_off is not None or self._closed:
                return None
            plan = ExecPlan(level="bwrap", workdir="/", files=[], uid=None, limits=SandboxLimits(),
                            env=dict(env), argv=[])
            try:
                cmd = warm_server_command(self._host, sandbox_env(plan), secret_files(), warm_mod.SERVER.read_text(),
                                          packages)
                server = warm_mod.WarmServer(cmd, sandbox_env(plan))
                await server.start()
            except (OSError, SandboxError) as exc:
                self.warm_off = f"warm server unavailable: {exc}"
                return None
            self._close_idle_warm(keep=WARM_SERVERS_MAX - 1)
            self._warm[key] = server
            return server

    def _give_back_cgroup(self, group: cgroups.SandboxCgroup) -> None:
        """Keep an empty cgroup for the next sandbox; otherwise kill what is in it and remove it."""
        with self._root_lock:
            if not self._closed and len(self._cgroup_pool) < CGROUP_POOL and not group.pids():
                self._cgroup_pool.append(group)
                return
        group.remove()  # kills what is left in it (a setsid escapee at rlimits too)

    def _close_cgroups(self) -> None:
        with self._root_lock:
            pool, self._cgroup_pool = self._cgroup_pool, []
        for group in pool:
            with contextlib.suppress(Exception):
                group.remove()

    def _close_idle_warm(self, keep: int) -> None:
        """Close the least recently used idle warm servers until at most ``keep`` are left."""
        for key in list(self._warm):
            if len(self._warm) <= keep:
                return
            server = self._warm[key]
            if server.dead or not server.busy:
                del self._warm[key]
                with contextlib.suppress(Exception):
                    server.close()

    def _close_warm(self) -> None:
        servers, self._warm = list(self._warm.values()), {}
        for server in servers:
            with contextlib.suppress(Exception):
                server.close()

    def _remove_root(self) -> None:
        with self._root_lock:
            if self._root is not None:
                shutil.rmtree(self._root, ignore_errors=True)
                self._root = None

    async def create(self, spec: SandboxSpec) -> LocalSandbox:
        if self._closed:
            raise SandboxError("the local backend is closed")
        level = await self.detect()
        if self._root is not None and (not self._host.root or self._uids.has_free()):
            box = self._create_sync(spec, level)  # a directory and a uid we hold: quicker than a thread hop
        else:  # first use (reaps what dead apps left) or a new uid to claim and sweep
            box = await asyncio.to_thread(self._create_sync, spec, level)
        if self._closed:  # closed while we were creating
            await box.destroy()
            raise SandboxError("the local backend is closed")
        return box

    def _create_sync(self, spec: SandboxSpec, level: str) -> LocalSandbox:
        slot = None
        try:
            if self._host.root:
                slot, fresh = self._uids.take()
                if fresh:  # leftovers of a crashed earlier run of this uid (a reused uid ended clean)
                    procs.kill_all(None, slot.uid)
                    if level == "rlimits":  # the only level where it can write to shared directories
                        procs.remove_owned(slot.uid, SHARED_WRITABLE)
            warm = self._warm_wanted(spec, level)
            workdir = self._new_workdir(virtual=warm)
            group = self._cgroup(spec)
            if level == "rlimits":  # the real directory is the sandbox's working directory
                if slot is not None and not self._subreaper:
                    self._subreaper = procs.become_subreaper()
                os.mkdir(os.path.join(workdir, ".tmp"), 0o700)
                if slot is not None:
                    for path in (workdir, os.path.join(workdir, ".tmp")):
                        os.chown(path, slot.uid, slot.uid)
        except (OSError, SandboxError) as exc:
            if slot is not None:
                self._uids.give_back(slot, clean=False)
            if isinstance(exc, SandboxError):
                raise
            raise SandboxError(f"cannot create a local sandbox: {exc}") from exc
        box = LocalSandbox(self, spec, level, workdir, slot, warm=warm, group=group)
        self._live.add(box)
        return box

    def _cgroups_available(self) -> tuple[cgroups.Backend | None, str]:
        return cgroups.available() if self._cgroups_on else (None, "turned off (ACE_CGROUPS=0)")

    def _cgroup(self, spec: SandboxSpec) -> cgroups.SandboxCgroup | None:
        """The sandbox's own cgroup (cgroups.py); None where none can be made (``cgroups_off``
        says why: the fallback limits then apply)."""
        iface, why = self._cgroups_available()
        self.cgroups_off = why if iface is None else None
        if iface is None:
            return None
        limits = spec.limits
        wanted = cgroups.limits_for(limits.memory_mb, disk_budget(limits), limits.processes)
        try:
            with self._root_lock:
                pooled = self._cgroup_pool.pop() if self._cgroup_pool else None
            if pooled is not None:  # an empty cgroup a clean sandbox gave back: no mkdir, no rmdir
                try:
                    pooled.apply(wanted)
                    return pooled
                except OSError:
                    pooled.remove()
            return iface.create(wanted)
        except OSError as exc:
            self.cgroups_off = f"cannot create a cgroup: {exc}"
            return None

    async def aclose(self) -> None:
        """Destroy every sandbox still alive and remove the private temp root."""
        self._closed = True
        await asyncio.gather(*(box.destroy() for box in list(self._live)), return_exceptions=True)
        self._close_warm()
        self._uids.close()
        await asyncio.to_thread(self._close_cgroups)
        await asyncio.to_thread(self._remove_root)

    def close_sync(self) -> None:
        """Last-resort cleanup at interpreter exit (no event loop needed)."""
        self._closed = True
        for box in list(self._live):
            box.cleanup_sync()
        self._close_warm()
        self._uids.close()
        self._close_cgroups()
        self._remove_root()


@atexit.register
def _cleanup_at_exit() -> None:
    for backend in list(_backends):
        with contextlib.suppress(Exception):
            backend.close_sync()


def make_local_backend(env: Settings | Mapping[str, str] | None, jobs: int | None, unsafe: bool) -> LocalBackend:
    """``--backend local`` (sandbox/registry.py): level, warm server, cgroups and the cache of
    tasks' environments from the app's settings, which the sandbox package never reads itself (it
    stays importable by a bare python: the non-root warm test runs it that way)."""
    from ai_code_evals.core.settings import as_settings

    s = as_settings(env)
    return LocalBackend(s.ace_isolation, warm=s.ace_warm, cgroups=s.ace_cgroups, unsafe=unsafe,
                        env_cache=s.ace_env_cache)
