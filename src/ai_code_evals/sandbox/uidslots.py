"""Private unprivileged uids for sandboxes when the app runs as root.

Each live sandbox gets its own uid (61000 + slot) so that RLIMIT_NPROC of one sandbox cannot
starve another, and so that "every process of this uid" names exactly one sandbox's processes,
even the ones that escaped their process group. Slots are claimed with ``flock`` on a lock file,
which the kernel releases when the holder dies, so concurrent app processes never share a uid.
"""
from __future__ import annotations

import fcntl
import os
import pwd
import threading

UID_BASE = 61000
UID_COUNT = 1000
# One place for every app process on the machine, whatever its TMPDIR: two apps looking in
# different directories would both take uid 61000 and reap each other's sandboxes.
LOCK_DIR = "/tmp/ai-code-evals-uids"


class UidSlot:
    """A claimed uid; ``release()`` gives it back (idempotent)."""

    def __init__(self, uid: int, fd: int) -> None:
        self.uid = uid
        self._fd: int | None = fd

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            try:
                os.close(fd)  # closing drops the flock
            except OSError:
                pass

    @property
    def held(self) -> bool:
        return self._fd is not None

    def __del__(self) -> None:  # a forgotten slot must not keep its uid locked until exit
        self.release()


def _taken_by_system(uid: int) -> bool:
    try:
        pwd.getpwuid(uid)
        return True
    except KeyError:
        return False


def try_claim(uid: int) -> UidSlot | None:
    """Claim ``uid`` if no live sandbox holds it."""
    os.makedirs(LOCK_DIR, mode=0o700, exist_ok=True)
    fd = os.open(os.path.join(LOCK_DIR, str(uid)), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return UidSlot(uid, fd)


def in_range(uid: int) -> bool:
    return UID_BASE <= uid < UID_BASE + UID_COUNT


def claim() -> UidSlot:
    """Claim the lowest free uid. Raises OSError when all are in use."""
    for uid in range(UID_BASE, UID_BASE + UID_COUNT):
        if _taken_by_system(uid):
            continue
        slot = try_claim(uid)
        if slot is not None:
            return slot
    raise OSError(f"all {UID_COUNT} sandbox uids from {UID_BASE} are in use")


class UidPool:
    """The uids one backend holds, reused from sandbox to sandbox.

    A uid stays claimed (its lock held) from its first use until ``close()``. A sandbox that
    ended clean (none of its processes alive, its files removed) gives its uid back here and the
    next sandbox takes it without a new lock and without sweeping the uid for leftovers: no other
    process can have used the uid in between. A uid whose sandbox did not end clean is unlocked
    instead, and whoever claims it next sweeps it first (``take()`` says when that is needed).
    """

    def __init__(self) -> None:
        self._free: list[UidSlot] = []
        self._lock = threading.Lock()
        self._closed = False

    def has_free(self) -> bool:
        return bool(self._free)

    def take(self) -> tuple[UidSlot, bool]:
        """A uid for a new sandbox, and whether it is newly claimed (then sweep it first)."""
        with self._lock:
            while self._free:
                slot = self._free.pop()
                if slot.held:
                    return slot, False
        return claim(), True

    def give_back(self, slot: UidSlot, *, clean: bool) -> None:
        with self._lock:
            if clean and slot.held and not self._closed:
                self._free.append(slot)
                return
        slot.release()

    def close(self) -> None:
        """Unlock every idle uid; later ``give_back`` calls unlock theirs."""
        with self._lock:
            self._closed = True
            free, self._free = self._free, []
        for slot in free:
            slot.release()
