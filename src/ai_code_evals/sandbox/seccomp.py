"""A seccomp filter for every sandboxed command: no new user namespaces, no kernel keyrings.

A user namespace gives its creator every capability inside it, which widens the kernel surface
a candidate can reach (nested mounts, network setup); as root, bubblewrap's own
``--disable-userns`` needs a user namespace that the root path does not make. The kernel keyring
is keyed by uid, not by sandbox: a candidate running under a uid that a previous one had could
read the key that one left. Neither is anything a candidate needs, so both are refused (EPERM):
``unshare`` and ``clone`` with CLONE_NEWUSER, ``add_key``, ``request_key`` and ``keyctl``.
``clone3`` passes its flags in memory, out of a filter's reach: it answers ENOSYS, and the C
library falls back to ``clone``. Syscalls of a foreign ABI (x32, 32-bit) answer ENOSYS.

The program is built here as bytes (struct sock_filter[]) and handed to bubblewrap on a
descriptor, to the unshare launcher and to the warm server in their plans; they install it with
``install`` (copied there: those run stdlib-only scripts that cannot import this module).
"""
from __future__ import annotations

import errno
import os
import struct

CLONE_NEWUSER = 0x10000000
# audit arch, x32 bit, syscall numbers: unshare, clone, clone3, add_key, request_key, keyctl
_ARCH = {
    "x86_64": (0xC000003E, True, {"unshare": 272, "clone": 56, "clone3": 435, "add_key": 248, "request_key": 249,
                                  "keyctl": 250}),
    "aarch64": (0xC00000B7, False, {"unshare": 97, "clone": 220, "clone3": 435, "add_key": 217,
                                    "request_key": 218, "keyctl": 219}),
}
_LD_W_ABS, _JEQ, _JGE, _JSET, _RET = 0x20, 0x15, 0x35, 0x45, 0x06
_ALLOW, _ERRNO = 0x7FFF0000, 0x00050000


def _op(code: int, k: int, jt: int = 0, jf: int = 0) -> bytes:
    return struct.pack("=HBBI", code, jt, jf, k)


def program(machine: str | None = None) -> bytes | None:
    """The filter for this machine's architecture (None: unknown architecture)."""
    arch = _ARCH.get(machine or os.uname().machine)
    if arch is None:
        return None
    audit, has_x32, nr = arch
    eperm, enosys = _op(_RET, _ERRNO | errno.EPERM), _op(_RET, _ERRNO | errno.ENOSYS)
    ops = [
        _op(_LD_W_ABS, 4),                                       # 0  arch
        _op(_JEQ, audit, 1, 0),                                  # 1  -> 3
        enosys,                                                  # 2  a foreign ABI
        _op(_LD_W_ABS, 0),                                       # 3  syscall number
        _op(_JGE, 0x40000000 if has_x32 else 0xFFFFFFFF, 0, 1),  # 4  x32 -> 5, else 6
        enosys,                                                  # 5
        _op(_JEQ, nr["clone3"], 0, 1),                           # 6  -> 7, else 8
        enosys,                                                  # 7
        _op(_JEQ, nr["add_key"], 3, 0),                          # 8  -> 12
        _op(_JEQ, nr["request_key"], 2, 0),                      # 9  -> 12
        _op(_JEQ, nr["keyctl"], 1, 0),                           # 10 -> 12
        _op(_JEQ, nr["unshare"], 2, 1),                          # 11 -> 14 (flags), else 13
        eperm,                                                   # 12 the keyring calls
        _op(_JEQ, nr["clone"], 0, 3),                            # 13 -> 14 (flags), else 17
        _op(_LD_W_ABS, 16),                                      # 14 args[0], low 32 bits: the flags
        _op(_JSET, CLONE_NEWUSER, 0, 1),                         # 15 -> 16, else 17
        eperm,                                                   # 16 a new user namespace
        _op(_RET, _ALLOW),                                       # 17
    ]
    return b"".join(ops)


def install(prog: bytes) -> None:
    """Install ``prog`` on this process (after no_new_privs); raises OSError on failure."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    filt = ctypes.create_string_buffer(prog, len(prog))
    fprog = ctypes.create_string_buffer(struct.pack("=HxxxxxxQ", len(prog) // 8, ctypes.addressof(filt)), 16)
    if libc.prctl(38, 1, 0, 0, 0) != 0 or libc.prctl(22, 2, ctypes.addressof(fprog), 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "seccomp: " + os.strerror(ctypes.get_errno()))
