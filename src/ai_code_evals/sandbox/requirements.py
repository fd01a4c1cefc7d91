"""Task requirements: one cached environment per (interpreter, requirement set), built with uv.

A task may declare packages that its versions (and its tests) import: ``requirements`` in the
task file. Candidates otherwise get the standard library only (``interpreter.py``), so that the
same version passes or fails the same way on every machine. The packages are installed once,
with ``uv pip install --target``, into a directory of the user's cache
(``$XDG_CACHE_HOME/ai-code-evals/envs/<key>``; ``ACE_ENV_CACHE`` names another), keyed by the
interpreter and the sorted requirement set. A build happens in a temporary directory renamed into
place at the end, under a lock file, so a build that dies leaves nothing half-made and two runs
never build the same environment at once. Later runs reuse it without calling uv at all: a
cached environment needs no network. A first build tries uv's own package cache first
(``--offline``), then the package index (unless uv is told to stay offline, e.g. ``UV_OFFLINE=1``).

The environment is a plain ``site-packages`` directory: sandboxes see it read-only at its own
path, and the runner adds it to ``sys.path`` after the standard library (``SITE_VAR``).
"""
from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ai_code_evals.sandbox.base import RequirementsError
from ai_code_evals.sandbox.interpreter import Interpreter

CACHE_VAR = "ACE_ENV_CACHE"
# the variable that tells the runner inside a sandbox where the task's packages are (runner.py)
SITE_VAR = "SANDBOX_SITE_PACKAGES"
MARKER = "ace-env.json"  # written last, inside the build directory: its presence = complete
LOCK_POLL_S = 0.2
REASON_MAX = 400


@dataclass(frozen=True)
class Environment:
    """A built environment: ``site_packages`` is what sandboxes mount and import from."""

    key: str
    path: Path
    built: bool  # True: built by this call; False: found in the cache

    @property
    def site_packages(self) -> Path:
        return self.path / "site-packages"


def cache_dir() -> Path:
    """Where environments live by default: the user's cache directory (the app's ACE_ENV_CACHE
    setting names another, passed down as ``root``)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "ai-code-evals" / "envs"


def normalized(requirements: list[str] | tuple[str, ...]) -> list[str]:
    """The set the key is made of: sorted, without repeats (order and repeats change nothing)."""
    return sorted({r.strip() for r in requirements if r.strip()})


def env_key(python: Interpreter, requirements: list[str] | tuple[str, ...]) -> str:
    data = json.dumps({"python": python.executable, "version": list(python.version),
                       "requirements": normalized(requirements)}, sort_keys=True)
    return hashlib.sha256(data.encode()).hexdigest()[:24]


def find_uv() -> str | None:
    """uv on PATH, else the one installed beside this interpreter (a virtualenv's ``bin``)."""
    found = shutil.which("uv")
    if found:
        return found
    beside = Path(sys.executable).parent / "uv"
    return str(beside) if os.access(beside, os.X_OK) else None


def cached(python: Interpreter, requirements: list[str] | tuple[str, ...], root: Path | None = None) -> Environment | None:
    """The environment when it is already built (no uv, no network), else None."""
    key = env_key(python, requirements)
    path = (root or cache_dir()) / key
    return Environment(key, path, built=False) if (path / MARKER).is_file() else None


async def ensure(python: Interpreter, requirements: list[str] | tuple[str, ...], *, root: Path | None = None,
                 on_progress: Callable[[str], None] | None = None) -> Environment:
    """The environment for ``requirements`` under ``python``: from the cache, or built now.
    Raises RequirementsError with one readable line when it cannot be built."""
    root = root or cache_dir()
    reqs = normalized(requirements)
    found = cached(python, reqs, root)
    if found is not None:
        return found
    uv = find_uv()
    if uv is None:
        raise RequirementsError("installing task requirements needs uv, which is not installed here "
                                "(pip install uv)")
    key = env_key(python, reqs)
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RequirementsError(f"cannot create the environment cache {root}: {exc.strerror or exc}") from None
    async with _locked(root / f".{key}.lock"):
        found = cached(python, reqs, root)  # another run built it while we waited
        if found is not None:
            return found
        return await _build(uv, python, reqs, root, key, on_progress)


async def _build(uv: str, python: Interpreter, reqs: list[str], root: Path, key: str,
                 on_progress: Callable[[str], None] | None) -> Environment:
    for stale in root.glob(f".build-{key}-*"):  # what a killed build left (we hold the key's lock)
        shutil.rmtree(stale, ignore_errors=True)
    version = ".".join(map(str, python.version))
    if on_progress is not None:
        on_progress(f"installing {', '.join(reqs)} for Python {version} with uv (once: later runs reuse "
                    f"the environment cached in {root})")
    started = time.monotonic()
    tmp = Path(tempfile.mkdtemp(prefix=f".build-{key}-", dir=root))
    try:
        site = tmp / "site-packages"
        error = await _uv_install(uv, python, reqs, site, offline=True)
        if error is not None and not _uv_offline():
            shutil.rmtree(site, ignore_errors=True)
            error = await _uv_install(uv, python, reqs, site, offline=False)
        if error is not None:
            raise RequirementsError(f"cannot install {', '.join(reqs)} for Python {version}: {error}")
        with contextlib.suppress(FileNotFoundError):
            (site / ".lock").unlink()  # uv's own lock file, writable by everyone
        (tmp / MARKER).write_text(json.dumps({"python": python.executable, "version": list(python.version),
                                              "requirements": reqs, "built_at": time.time()}) + "\n")
        _readable(tmp)
        dest = root / key
        shutil.rmtree(dest, ignore_errors=True)  # an incomplete one (no marker): never used
        os.rename(tmp, dest)
    except OSError as exc:
        raise RequirementsError(f"cannot write the environment for {', '.join(reqs)} in {root}: "
                                f"{exc.strerror or exc}") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if on_progress is not None:
        on_progress(f"installed {', '.join(reqs)} in {time.monotonic() - started:.1f}s")
    return Environment(key, dest, built=True)


async def _uv_install(uv: str, python: Interpreter, reqs: list[str], site: Path, *, offline: bool) -> str | None:
    """Run uv; None on success, else its reason in one line. Cancelling kills uv."""
    argv = [uv, "pip", "install", "--color", "never", "--no-progress", "--python", python.executable,
            "--target", str(site), "--link-mode", "copy"] + (["--offline"] if offline else []) + reqs
    proc = await asyncio.create_subprocess_exec(*argv, stdin=asyncio.subprocess.DEVNULL,
                                                stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
                                                start_new_session=True)
    try:
        _, err = await proc.communicate()
    except BaseException:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        with contextlib.suppress(BaseException):
            await asyncio.shield(proc.wait())
        raise
    if proc.returncode == 0:
        return None
    return uv_reason(err.decode(errors="replace")) or f"uv exited with status {proc.returncode}"


_PREFIX = re.compile(r"^(?:[×╰─▶│|]+\s*)*(?:error|cause|caused by)\s*:\s*", re.IGNORECASE)


def uv_reason(stderr: str) -> str:
    """uv's error in one line: what failed and its deepest cause (which names the requirement)."""
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    errors = [_PREFIX.sub("", ln) for ln in lines if _PREFIX.match(ln)]
    if not errors:
        errors = [ln for ln in lines if not ln.startswith(("Using ", "Resolved ", "hint:", "help:"))][-1:]
    if not errors:
        return ""
    text = errors[0] if len(errors) == 1 else f"{errors[0].rstrip(':.')}: {errors[-1]}"
    text = " ".join(text.split())
    return text if len(text) <= REASON_MAX else text[: REASON_MAX - 3] + "..."


def _uv_offline() -> bool:
    return os.environ.get("UV_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def _readable(top: Path) -> None:
    """Every file readable and every directory searchable by others: sandboxes may run under
    another uid (as root, each sandbox has its own); nothing is writable but by the owner."""
    for dirpath, dirnames, filenames in os.walk(top):
        os.chmod(dirpath, (os.stat(dirpath).st_mode & 0o755) | 0o755)
        for name in filenames:
            path = os.path.join(dirpath, name)
            if not os.path.islink(path):
                os.chmod(path, (os.stat(path).st_mode & 0o755) | 0o444)


@contextlib.asynccontextmanager
async def _locked(path: Path):
    """An exclusive lock on ``path`` across processes (and across tasks of this process: every
    caller opens its own descriptor), waited for without blocking the event loop."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                await asyncio.sleep(LOCK_POLL_S)
        yield
    finally:
        os.close(fd)  # releases the lock
