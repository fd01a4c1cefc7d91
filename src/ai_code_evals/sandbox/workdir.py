"""A local sandbox's files on the host: its working directory and the temp root holding them.

Uploads are written without following links a sandboxed process may have planted (a command at
the ``rlimits`` level works in the real directory, and a later upload must not land outside it),
upload paths are checked to stay inside, and the temp roots of app processes that died without
cleaning up (kill -9) are removed by the next backend.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from pathlib import PurePosixPath

from ai_code_evals.sandbox.base import SandboxError

ROOT_PREFIX = "ace-sbx-"


def safe_write(workdir: str, rel: str, data: bytes) -> None:
    """Write ``workdir/rel`` without following links a sandboxed process may have planted."""
    parts = PurePosixPath(rel).parts
    fd = os.open(workdir, os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        for part in parts[:-1]:
            with contextlib.suppress(FileExistsError):
                os.mkdir(part, 0o755, dir_fd=fd)
            nfd = os.open(part, os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=fd)
            os.close(fd)
            fd = nfd
        tmp = f".ace-upload-{uuid.uuid4().hex}"
        out = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644, dir_fd=fd)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(out, view):]
            os.fchmod(out, 0o644)
        finally:
            os.close(out)
        os.replace(tmp, parts[-1], src_dir_fd=fd, dst_dir_fd=fd)
    finally:
        os.close(fd)


def check_rel(rel: str) -> str:
    """``rel`` normalised, or SandboxError when it is absolute or leaves the directory."""
    p = PurePosixPath(rel)
    if not rel or p.is_absolute() or any(part in ("..", "") for part in p.parts) or str(p) in (".",):
        raise SandboxError(f"upload path must be relative and inside the sandbox: {rel!r}")
    return str(p)


def reap_stale_roots(parent: str) -> None:
    """Remove temp roots of app processes that died without cleaning up (kill -9)."""
    try:
        names = os.listdir(parent)
    except OSError:
        return
    for name in names:
        if not name.startswith(ROOT_PREFIX):
            continue
        pid = name[len(ROOT_PREFIX):].split("-", 1)[0]
        if pid.isdigit() and int(pid) != os.getpid() and not os.path.exists(f"/proc/{pid}"):
            shutil.rmtree(os.path.join(parent, name), ignore_errors=True)
