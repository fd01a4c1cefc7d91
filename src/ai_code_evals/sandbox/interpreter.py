"""The candidates' own clean Python: an interpreter with its standard library and nothing else.

The app runs in a virtualenv whose packages depend on the user's install (with the ``evals``
extra, pandas and torch appear there): a candidate that imported them would pass on one
machine and fail on the next. Sandboxes therefore run the *base* interpreter behind that
virtualenv (or another one named by an environment profile, such as ``python3.9``), see only its
directories read-only, and get its site-packages directories as empty directories.

``find`` looks a versioned name up on PATH, in pyenv's versions and through ``uv python find``
(installed interpreters only, never a download); ``describe`` asks the interpreter itself where
its files are, once per interpreter.
"""
from __future__ import annotations

import functools
import glob
import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass

SYS_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
VERSIONED = re.compile(r"^python(3\.\d+)$")
# the interpreter reports itself; -S: its site module must not run (nor import site-packages)
_DESCRIBE = ("import json, os, site, sys; print(json.dumps({'executable': os.path.realpath(sys.executable), "
             "'version': list(sys.version_info[:2]), 'dirs': [sys.base_prefix, sys.base_exec_prefix], "
             "'site': site.getsitepackages([sys.base_prefix, sys.base_exec_prefix])}))")


class InterpreterMissing(OSError):
    """A profile names an interpreter that is not installed here."""


@dataclass(frozen=True)
class Interpreter:
    executable: str  # real path of the binary
    version: tuple[int, int]
    dirs: tuple[str, ...]  # what the sandbox sees of it, read-only (prefix, exec prefix, binary's)
    site_dirs: tuple[str, ...]  # its site-packages directories: empty inside the sandbox

    def flags(self) -> list[str]:
        """No user site, script directory kept out of sys.path (-P, 3.11+); not -E: the
        environment is already the sandbox's own, and the hash-seed profile sets one on purpose."""
        return ["-s", "-P"] if self.version >= (3, 11) else ["-s"]


@functools.cache
def describe(executable: str) -> Interpreter:
    """Ask ``executable`` where its files are (raises OSError when it cannot say)."""
    try:
        proc = subprocess.run([executable, "-S", "-c", _DESCRIBE], capture_output=True, text=True, timeout=30,
                              check=False, env={"PATH": SYS_PATH, "LC_ALL": "C.UTF-8"}, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise OSError(f"cannot run {executable}: {exc}") from exc
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or [f"exit {proc.returncode}"])[-1]
        raise OSError(f"cannot run {executable}: {last[:200]}")
    info = json.loads(proc.stdout)
    real = info["executable"]
    dirs = {os.path.realpath(d) for d in info["dirs"]} | {os.path.dirname(os.path.dirname(real))}
    dirs = {d for d in dirs if d not in ("/", "")}
    top = sorted(d for d in dirs if not any(o != d and (d + "/").startswith(o + "/") for o in dirs))
    site = sorted({os.path.realpath(d) for d in info["site"] if os.path.isdir(d)})
    return Interpreter(real, tuple(info["version"]), tuple(top), tuple(site))


def base_executable() -> str:
    """The interpreter behind this process's virtualenv (this one when there is none)."""
    base = getattr(sys, "_base_executable", None) or sys.executable
    return os.path.realpath(base if os.path.exists(base) else sys.executable)


def clean() -> Interpreter:
    """The app's base interpreter, described."""
    return describe(base_executable())


def _pyenv_roots() -> list[str]:
    roots = [os.environ.get("PYENV_ROOT", ""), os.path.expanduser("~/.pyenv")]
    return [r for r in dict.fromkeys(roots) if r and os.path.isdir(os.path.join(r, "versions"))]


@functools.cache
def find(name: str) -> Interpreter:
    """The interpreter ``name`` (``python3.9``...): on PATH, in pyenv's versions, or known to uv.
    Raises InterpreterMissing with one line saying where it looked and what to install."""
    m = VERSIONED.match(name)
    if m is None:
        raise InterpreterMissing(f"unknown interpreter name {name!r} (expected python3.N)")
    version = m.group(1)
    candidates: list[str] = []
    path = shutil.which(name, path=os.environ.get("PATH", "") + ":" + SYS_PATH)
    if path and "/shims/" not in path:  # a pyenv shim only works for pyenv's active version
        candidates.append(path)
    for root in _pyenv_roots():
        candidates += sorted(glob.glob(os.path.join(root, "versions", f"{version}.*", "bin", name)), reverse=True)
    uv = shutil.which("uv")
    if uv:
        try:
            proc = subprocess.run([uv, "python", "find", "--no-python-downloads", "--system", version],
                                  capture_output=True, text=True, timeout=30, check=False, stdin=subprocess.DEVNULL)
            if proc.returncode == 0 and proc.stdout.strip():
                candidates.append(proc.stdout.strip().splitlines()[-1])
        except (OSError, subprocess.TimeoutExpired):
            pass
    for cand in candidates:
        try:
            found = describe(os.path.realpath(cand))
        except OSError:
            continue
        if ".".join(map(str, found.version)) == version:
            return found
    raise InterpreterMissing(f"{name} is not installed here (looked on PATH, in pyenv and with `uv python find`); "
                             f"install it, e.g. `uv python install {version}` or `pyenv install {version}`")


def for_command(name: str) -> Interpreter:
    """The interpreter a sandboxed command's leading ``python`` / ``python3.N`` names."""
    return clean() if name == "python" else find(name)
