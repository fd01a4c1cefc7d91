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
NEW_ROOT = "/tmp"  # where the new root is assembled (a fresh tmpfs over it) before pivot_root
DEVICES = ("null", "zero", "full", "random", "urandom", "tty")
_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41}
MNT_DETACH = 2
_libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]


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


def _bind_ro(fd: int, dst: str) -> None:
    """Bind what ``fd`` (O_PATH) names at ``dst`` (created: a directory or an empty file), read-only."""
    if os.path.isdir(f"/proc/self/fd/{fd}"):
        _mkdirs(dst)
    else:
        _mkdirs(os.path.dirname(dst))
        os.close(os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o644))
    _mount(f"/proc/self/fd/{fd}", dst, None, MS_BIND | MS_REC)
    _remount_ro(dst)


def _tmpfs(path: str, size: int, mode: int, flags: int = 0) -> None:
    _mkdirs(path)
    opts = f"mode={mode:o}" + (f",size={size}" if size else "")
    _mount("tmpfs", path, "tmpfs", MS_NOSUID | MS_NODEV | flags, opts)


def build_view(plan: dict) -> None:
    """An allow-list on an empty root, then pivot_root into it: the system directories and the
    interpreter read-only (its site-packages empty), a minimal /dev, a fresh /proc, private
    tmpfs for /tmp, /var/tmp, /dev/shm, and a writable working-directory tmpfs holding copies of
    the uploaded files. Nothing else of the host exists inside."""
    host_ns = plan.get("host_mntns")
    if not host_ns or os.readlink("/proc/self/ns/mnt") == host_ns:
        raise LaunchError("refusing to change mounts: not in a private mount namespace")
    _mount(None, "/", None, MS_REC | MS_PRIVATE)
    # open every source first: the new root's tmpfs hides what lies under its mount point
    system = [(os.open(p, os.O_PATH | os.O_CLOEXEC), p, None) if target is None else (None, p, target)
              for p, target in plan.get("system", []) if os.path.lexists(p)]
    binds = [(os.open(p, os.O_PATH | os.O_CLOEXEC), p) for p in plan.get("ro_binds", []) if os.path.isdir(p)]
    files = [(os.open(src, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC), dst) for src, dst in plan.get("files", [])]
    devs = [(os.open(f"/dev/{d}", os.O_PATH | os.O_CLOEXEC), d) for d in DEVICES if os.path.exists(f"/dev/{d}")]
    new = NEW_ROOT
    _mount("tmpfs", new, "tmpfs", MS_NOSUID | MS_NODEV, "mode=755,size=1m")
    for fd, path, target in system:
        if target is not None:
            os.symlink(target, new + path)
        else:
            _bind_ro(fd, new + path)
    _tmpfs(new + "/dev", 1 << 20, 0o755, 0)
    for fd, name in devs:
        _bind_ro(fd, f"{new}/dev/{name}")
    for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"), ("stdout", "/proc/self/fd/1"),
                         ("stderr", "/proc/self/fd/2")):
        os.symlink(target, f"{new}/dev/{name}")
    os.mkdir(new + "/dev/shm", 0o755)
    _remount_ro(new + "/dev")
    _mkdirs(new + "/proc")
    _mount("proc", new + "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    for path, size, mode in plan.get("tmpfs", []):
        _tmpfs(new + path, size, mode)
    for fd, path in binds:
        _bind_ro(fd, new + path)
    for path in plan.get("empty", []):  # the interpreter's site-packages: nothing importable
        if os.path.isdir(new + path):
            _mount("tmpfs", new + path, "tmpfs", MS_NOSUID | MS_NODEV | MS_RDONLY, "mode=555,size=4k")
    work, size = plan["workdir"]
    _tmpfs(new + work, size, 0o777)
    for fd, dst in files:  # copies, not binds: the command may delete them (the runner's job file)
        _mkdirs(os.path.dirname(new + dst))
        out = os.open(new + dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
        try:
            while chunk := os.read(fd, 1 << 20):
                view = memoryview(chunk)
                while view:
                    view = view[os.write(out, view):]
        finally:
            os.close(out)
    for path in plan.get("masks", []):
        if os.path.isfile(new + path):
            _mount("/dev/null", new + path, None, MS_BIND)
    _remount_ro(new)
    for fd, *_ in system + binds + files + devs:
        if fd is not None:
            os.close(fd)
    os.chdir(new)
    nr = _PIVOT_ROOT.get(os.uname().machine)
    if nr is None:
        raise LaunchError(f"no pivot_root for architecture {os.uname().machine}")
    _check(_libc.syscall(nr, b".", b"."), "pivot_root")  # the old root now sits on top of the new
    _check(_libc.umount2(b".", MNT_DETACH), "detach the host's root")
    os.chdir("/")


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


def install_filter(code: bytes) -> None:
    filt = ctypes.create_string_buffer(code, len(code))
    fprog = struct.pack("=HxxxxxxQ", len(code) // 8, ctypes.addressof(filt))
    fbuf = ctypes.create_string_buffer(fprog, len(fprog))
    _check(_libc.prctl(38, 1, 0, 0, 0), "no_new_privs")
    _check(_libc.prctl(22, 2, ctypes.addressof(fbuf), 0, 0), "seccomp")  # SECCOMP_MODE_FILTER


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
    if plan.get("seccomp"):  # no user namespaces, no keyrings (see seccomp.py)
        install_filter(plan["seccomp"])
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
