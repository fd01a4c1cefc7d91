"""Who created a sandbox, recorded in its labels, so a later run can tell leftovers of a dead
run from sandboxes of a live one.

A sandbox carries ``ace-host`` (a hash of hostname and machine id), ``ace-boot`` (the kernel
boot id) and ``ace-pid`` (``<pid>.<process start time>``). A run is alive when its host is this
host, the boot is this boot, and a process with that pid and that start time exists (the start
time guards against pid reuse). For sandboxes of other hosts liveness is unknown: they are
reaped only once older than a configured age (ephemeral sandboxes with an auto-stop interval
disappear by themselves anyway).
"""
from __future__ import annotations

import hashlib
import os
import socket
from datetime import UTC, datetime
from pathlib import Path

HOST, BOOT, PID, SESSION, CREATE = "ace-host", "ace-boot", "ace-pid", "ace-session", "ace-create"


def _read(path: str) -> str:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return ""


def host_id() -> str:
    raw = socket.gethostname() + "/" + _read("/etc/machine-id")
    return hashlib.sha256(raw.encode()).hexdigest()[:16]


def boot_id() -> str:
    return _read("/proc/sys/kernel/random/boot_id").replace("-", "")[:16] or "unknown"


def process_start(pid: int) -> str | None:
    """The start time (clock ticks since boot) of process ``pid``; None when it does not exist."""
    stat = _read(f"/proc/{pid}/stat")
    if not stat:
        return None
    fields = stat.rsplit(")", 1)[-1].split()
    return fields[19] if len(fields) > 19 else None


def owner_labels() -> dict[str, str]:
    """Labels naming this process as the owner."""
    pid = os.getpid()
    return {HOST: host_id(), BOOT: boot_id(), PID: f"{pid}.{process_start(pid) or 0}"}


def owner_alive(labels: dict[str, str]) -> bool | None:
    """True/False when the owner runs on this host, None when that cannot be known here."""
    if labels.get(HOST) != host_id():
        return None
    if labels.get(BOOT) != boot_id():
        return False
    pid, _, start = (labels.get(PID) or "").partition(".")
    if not pid.isdigit():
        return False
    return process_start(int(pid)) == start


def age_s(created_at: str | None) -> float | None:
    """Seconds since an ISO timestamp from the API; None when absent or unreadable."""
    if not created_at:
        return None
    try:
        when = datetime.fromisoformat(created_at)
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return (datetime.now(UTC) - when).total_seconds()
