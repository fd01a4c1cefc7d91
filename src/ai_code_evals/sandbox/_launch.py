"""Sandbox launcher: confine this process, then exec the real command.

Stdlib only, run as a script (``python -I -S _launch.py PLAN -- CMD...``) by the local
backend for the isolation levels that need work done inside the new process before the
command starts: the ``unshare`` level (build a private mount view: read-only host, private
tmpfs for /tmp and the working directory, homes and .env files hidden) and the ``rlimits``
level (Landlock file-system allowlist, seccomp filter against network sockets). Both set
rlimits and start a new session. It runs before the privilege drop (setpriv is the command).

Any failure exits with status 125 and one line on stderr, so the backend's probe sees it.

It starts once per sandboxed command, so it imports little: PLAN is ``marshal`` data in hex
(built in, and the backend runs this with its own interpreter) rather than JSON, and the machine
comes from ``os.uname()`` rather than ``platform``; those two imports cost more CPU than the
rest of the launcher.
"""
from __future__ import annotations

import ctypes
import errno
import marshal
import os
import resource
import struct
import sys

LAUNCH_FAILED = 125

# mount(2) flags
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18
MS_NOATIME, MS_NODIRATIME, MS_RELATIME = 1024, 2048, 1 << 21
# statvfs f_flag bits -> mount flags that a bind remount must keep
_KEEP = ((os.ST_NOSUID, MS_NOSUID), (os.ST_NODEV, MS_NODEV), (os.ST_NOEXEC, MS_NOEXEC),
         (os.ST_NOATIME, MS_NOATIME), (os.ST_NODIRATIME, MS_NODIRATIME), (os.ST_RELATIME, MS_RELATIME))
# mounts left as they are when the host view is made read-only (fresh /proc, device nodes)
_SKIP_RO = ("/proc", "/dev")

_libc = ctypes.CDLL(None, use_errno=True)
_libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
_libc.syscall.restype = ctypes.c_long
_libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]


class LaunchError(Exception):
    pass


def _check(ret: int, what: str) -> int:
    if ret < 0:
        err = ctypes.get_errno()
        raise LaunchError(f"{what}: {os.strerror(err)}")
    return ret


def _mount(src: str | None, dst: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    enc = (lambda s: s.encode() if s is not None else None)
    _check(_libc.mount(enc(src), enc(dst), enc(fstype), flags, enc(data)), f"mount {dst}")


# -- mount view (unshare level) ----------------------------------------------------------------
def _mountpoints() -> list[str]:
    points = []
    with open("/proc/self/mountinfo", encoding="utf-8", errors="replace") as f:
        for line in f:
            raw = line.split()[4]
            points.append(raw.encode().decode("unicode_escape"))  # \040 style escapes
    return points


def _remount_ro(path: str) -> None:
    flags = MS_REMOUNT | MS_BIND | MS_RDONLY
    st = os.statvfs(path)
    for bit, flag in _KEEP:
        if st.f_flag & bit:
            flags |= flag
    _mount(None, path, None, flags)


def _mkdirs(path: str) -> None:
    """Create ``path`` and missing parents (inside our tmpfs mounts) traversable by everyone."""
    parts, cur = path.strip("/").split("/"), ""
    for part in parts:
        cur += "/" + part
        if not os.path.isdir(cur):
            os.mkdir(cur, 0o755)
            os.chmod(cur, 0o755)


def build_view(plan: dict) -> None:
    """Read-only host, private tmpfs mounts, interpreter re-exposed, writable workdir tmpfs
    holding copies of the uploaded files."""
    host_ns = plan.get("host_mntns")
    if not host_ns or os.readlink("/proc/self/ns/mnt") == host_ns:
        raise LaunchError("refusing to change mounts: not in a private mount namespace")
    _mount(None, "/", None, MS_REC | MS_PRIVATE)
    # open what we will hide first, and bind it back through the open descriptor later
    binds = [(os.open(p, os.O_PATH | os.O_CLOEXEC), p) for p in plan.get("ro_binds", [])]
    files = [(os.open(src, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC), dst) for src, dst in plan.get("files", [])]
    for point in sorted(set(_mountpoints()), key=len):
        if any(point == s or point.startswith(s + "/") for s in _SKIP_RO):
            continue
        try:
            _remount_ro(point)
        except (LaunchError, OSError):
            if point == "/":
                raise
    for path, size, mode in plan.get("tmpfs", []):
        if not os.path.isdir(path):
            continue  # nothing to hide (and / is read-only now)
        opts = f"mode={mode:o}" + (f",size={size}" if size else "")
        _mount("tmpfs", path, "tmpfs", MS_NOSUID | MS_NODEV, opts)
    for fd, path in binds:
        _mkdirs(path)
        _mount(f"/proc/self/fd/{fd}", path, None, MS_BIND | MS_REC)
        _remount_ro(path)
    work, size = plan["workdir"]
    _mkdirs(work)
    _mount("tmpfs", work, "tmpfs", MS_NOSUID | MS_NODEV, f"mode=777,size={size}")
    for fd, dst in files:  # copies, not binds: the command may delete them (the runner's job file)
        _mkdirs(os.path.dirname(dst))
        out = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
        try:
            while chunk := os.read(fd, 1 << 20):
                view = memoryview(chunk)
                while view:
                    view = view[os.write(out, view):]
        finally:
            os.close(out)
    for path in plan.get("masks", []):
        if os.path.exists(path):
            _mount("/dev/null", path, None, MS_BIND)
    for fd, _ in binds + files:
        os.close(fd)


# -- Landlock (rlimits level) --------------------------------------------------------------------
_LL_CREATE, _LL_ADD, _LL_RESTRICT = 444, 445, 446  # same numbers on x86_64 and aarch64
_FS_READ = 1 << 2 | 1 << 3 | 1 << 0  # READ_FILE | READ_DIR | EXECUTE
_FS_WRITE_FILE = 1 << 1
_FS_TRUNCATE = 1 << 14
_SCOPE_ABSTRACT_UNIX, _SCOPE_SIGNAL = 1, 2


def _fs_rights(abi: int) -> int:
    bits = 13 + (abi >= 2) + (abi >= 3) + (abi >= 5)  # REFER (v2), TRUNCATE (v3), IOCTL_DEV (v5)
    return (1 << bits) - 1


class _PathBeneath(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


def landlock(rules: dict) -> int:
    """Allow read+execute under ``rules['ro']``, everything under ``rules['rw']``, nothing else.
    Returns the ABI used (0 when the kernel has no Landlock: the caller decides if that is fatal)."""
    abi = _libc.syscall(_LL_CREATE, None, ctypes.c_size_t(0), ctypes.c_uint32(1))
    if abi < 0:
        return 0
    handled = _fs_rights(abi)
    scoped = (_SCOPE_ABSTRACT_UNIX | _SCOPE_SIGNAL) if abi >= 6 else 0
    attr = struct.pack("=QQQ", handled, 0, scoped)[: 24 if abi >= 6 else 16 if abi >= 4 else 8]
    buf = ctypes.create_string_buffer(attr, len(attr))
    rfd = _check(_libc.syscall(_LL_CREATE, buf, ctypes.c_size_t(len(attr)), ctypes.c_uint32(0)),
                 "landlock_create_ruleset")
    grants = [(p, _FS_READ & handled) for p in rules.get("ro", [])]
    grants += [(p, (_FS_READ | _FS_WRITE_FILE | _FS_TRUNCATE) & handled) for p in rules.get("dev", [])]
    grants += [(p, handled) for p in rules.get("rw", [])]
    for path, access in grants:
        try:
            fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
        except OSError:
            continue
        try:
            if not os.path.isdir(path):  # rules on files take file rights only
                access &= _FS_READ & ~(1 << 3) | _FS_WRITE_FILE | _FS_TRUNCATE
            rule = _PathBeneath(access, fd)
            _check(_libc.syscall(_LL_ADD, rfd, 1, ctypes.byref(rule), 0), f"landlock rule {path}")
        finally:
            os.close(fd)
    _check(_libc.prctl(38, 1, 0, 0, 0), "no_new_privs")  # PR_SET_NO_NEW_PRIVS
    _check(_libc.syscall(_LL_RESTRICT, rfd, 0), "landlock_restrict_self")
    os.close(rfd)
    return abi


# -- seccomp: no network sockets (rlimits level) -----------------------------------------------
_ARCH = {"x86_64": (0xC000003E, 41, 425, True), "aarch64": (0xC00000B7, 198, 425, False)}


def _bpf(code: int, k: int, jt: int = 0, jf: int = 0) -> bytes:
    return struct.pack("=HBBI", code, jt, jf, k)


def seccomp_no_network() -> bool:
    """Install a filter: socket() only for AF_UNIX, no io_uring (it can open sockets behind the
    filter's back), no syscalls from a foreign ABI. Returns False on an unknown architecture."""
    arch = _ARCH.get(os.uname().machine)
    if arch is None:
        return False
    audit_arch, nr_socket, nr_uring, has_x32 = arch
    ld, jeq, jge, ret = 0x20, 0x15, 0x35, 0x06
    allow, errno_ret = 0x7FFF0000, 0x00050000
    prog = [
        _bpf(ld, 4),                                  # 0 arch
        _bpf(jeq, audit_arch, 0, 9),                  # 1 -> 11 ENOSYS
        _bpf(ld, 0),                                  # 2 nr
        _bpf(jge, 0x40000000 if has_x32 else 0xFFFFFFFF, 7, 0),  # 3 x32 -> 11
        _bpf(jeq, nr_uring, 5, 0),                    # 4 -> 10 EPERM
        _bpf(jeq, nr_socket, 0, 2),                   # 5 -> 6 / -> 8 allow
        _bpf(ld, 16),                                 # 6 args[0] (family)
        _bpf(jeq, 1, 0, 1),                           # 7 AF_UNIX -> 8 allow, else -> 9
        _bpf(ret, allow),                             # 8
        _bpf(ret, errno_ret | errno.EAFNOSUPPORT),    # 9
        _bpf(ret, errno_ret | errno.EPERM),           # 10
        _bpf(ret, errno_ret | errno.ENOSYS),          # 11
    ]
    code = b"".join(prog)
    filt = ctypes.create_string_buffer(code, len(code))
    fprog = struct.pack("=HxxxxxxQ", len(prog), ctypes.addressof(filt))
    fbuf = ctypes.create_string_buffer(fprog, len(fprog))
    _check(_libc.prctl(38, 1, 0, 0, 0), "no_new_privs")
    _check(_libc.prctl(22, 2, ctypes.addressof(fbuf), 0, 0), "seccomp")  # SECCOMP_MODE_FILTER
    return True


# -- main ------------------------------------------------------------------------------------------
def apply(plan: dict) -> None:
    if plan.get("view"):
        build_view(plan["view"])
    if plan.get("setsid"):
        try:
            os.setsid()
        except OSError:
            pass  # already a session leader
    for name, (soft, hard) in plan.get("rlimits", {}).items():
        resource.setrlimit(getattr(resource, name), (soft, hard))
    if plan.get("landlock") is not None and not landlock(plan["landlock"]) and plan.get("require_landlock"):
        raise LaunchError("Landlock is not available")
    if plan.get("seccomp_net") and not seccomp_no_network():
        raise LaunchError(f"no seccomp filter for architecture {os.uname().machine}")
    if plan.get("chdir"):
        os.chdir(plan["chdir"])


def main(argv: list[str]) -> None:
    try:
        sep = argv.index("--")
        plan, cmd = marshal.loads(bytes.fromhex(argv[1])), argv[sep + 1:]
        if not cmd:
            raise LaunchError("no command")
        apply(plan)
        os.execv(cmd[0], cmd)
    except (LaunchError, OSError, ValueError, KeyError, EOFError, TypeError) as exc:
        sys.stderr.write(f"ace-launch: {exc}\n")
        sys.stderr.flush()
        os._exit(LAUNCH_FAILED)


if __name__ == "__main__":
    main(sys.argv)
