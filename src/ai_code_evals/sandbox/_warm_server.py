"""Warm sandbox server: forks a fresh, freshly confined process per command.

Stdlib only. The local backend starts one of these per environment (``warm.py``) inside a
long-lived bubblewrap sandbox: the host read-only, homes and secrets hidden, no network, as
root with its capabilities. Starting an interpreter and importing the runner's modules costs
tens of milliseconds; forking this already-started process costs about one. Each command gets,
on top of what bubblewrap set up once:

- its sandbox's cgroup (joined through descriptors the app passes), then new pid, mount,
  network, IPC, UTS and cgroup namespaces (it sees only its own processes, a fresh ``/proc``, no
  loopback shared with any other command); without root a user namespace of its own first;
- fresh private tmpfs mounts on every writable place (``/tmp``, ``/var/tmp``, ``/dev/shm``,
  ``/run``), a read-only ``/dev``, and on its working directory, with its files written there (owned by root, in a
  world-writable directory, so the runner can delete its job file after reading it);
- its own unprivileged uid (as root), no supplementary groups, every capability dropped
  (bounding set too), ``no_new_privs``, the app's seccomp filter, a new session, and rlimits.

A fork starts from this server's clean state, never from another command's: nothing a command
does reaches the server, which only reads requests from the app and reports exits.

Process tree per command: server -> the command, cloned straight into the new namespaces as
their pid 1 (it joins the cgroup, mounts, drops its privileges and runs the script in place: no
init process in between, whose fork, copy-on-write faults and exit cost as much as the
command's own). When the command exits, the kernel kills and reaps whatever else is left in
its namespace before the server's wait returns: an exit report means the command's processes
are all gone. A kill is a SIGKILL to that pid 1, which ends the namespace the same way. Being
pid 1 also shields the command (the runner's checker) from its own children: the kernel drops
a signal sent to pid 1 from inside its namespace unless pid 1 handles it, so a candidate can
neither SIGKILL nor SIGSTOP its checker. Signals that end a process by default get a handler
that ends the command as they would (see ``_die``), so a command, or a candidate's SIGTERM to
its checker, still ends it. Orphans of the command's children stay zombies until it exits
(bounded by the cgroup's process limit).

Protocol on fd 3 (a unix stream socket): frames of a 4-byte big-endian length and ``marshal``
data. Requests: ``{"op": "run", "id", "uid", "workdir", "files": {rel: bytes}, "argv", "env", "keep",
"rlimits": {name: (soft, hard)}, "tmp_size", "small_size", "script"}`` with the command's stdout and
stderr write ends attached (SCM_RIGHTS); ``{"op": "kill", "id"}``. ``script`` is ``(key, source)`` the first time a script is sent and
``(key, None)`` after: the runner (47 kB) crosses the socket once, not once per command. Both
sides forget every key at the same point (the ``CACHE_MAX``-th new one), so they agree on what is
known. ``"preload": true`` (the app sets it for its own runner only) lets the server run the
script's body once and have each command call its entry (see ``_preload``). Replies: ``{"op": "exit",
"id", "status", "cpu", "maxrss"}`` and ``{"op": "error", "id", "error"}``.
"""
import ast  # noqa: F401 - the runner's imports, loaded once here so that forks start with them
import bisect  # noqa: F401 - and the standard modules versions import most (see PRELOADED)
import collections  # noqa: F401
import ctypes
import functools  # noqa: F401
import gc
import heapq  # noqa: F401
import itertools  # noqa: F401
import json  # noqa: F401
import marshal
import math  # noqa: F401
import os
import random  # noqa: F401 - reseeds itself in every fork (os.register_at_fork)
import resource
import select
import signal
import socket
import string  # noqa: F401
import struct
import sys
import time  # noqa: F401
import traceback  # noqa: F401
import typing  # noqa: F401 - HumanEval prompts start with ``from typing import List``: 6 ms each time

# Standard modules already imported when a command starts. A version's ``import typing`` (and its
# checker's, which runs a completion-style task's prompt) then costs a dictionary look-up, not
# milliseconds of CPU in every sandbox. They hold no state from any command, and ``random``
# draws a new seed in each fork, as a fresh interpreter would.
PRELOADED = ("bisect", "collections", "functools", "heapq", "itertools", "math", "random", "string", "typing")

CONTROL_FD = 3
FAILED = 125
CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC = 0x00020000, 0x04000000, 0x08000000
CLONE_NEWPID, CLONE_NEWNET, CLONE_NEWCGROUP = 0x20000000, 0x40000000, 0x02000000
# made by the clone that starts a command's pid 1; its cgroup namespace comes after it joined its cgroup
CLONE_INIT = CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWPID | CLONE_NEWNET
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REMOUNT, MS_BIND = 1, 2, 4, 8, 32, 4096
MS_REC, MS_PRIVATE = 16384, 1 << 18
PR_SET_PDEATHSIG, PR_CAPBSET_DROP, PR_SET_NO_NEW_PRIVS = 1, 24, 38
PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL = 47, 4
PR_SET_SECCOMP, SECCOMP_MODE_FILTER = 22, 2
CLONE_NEWUSER = 0x10000000
SYS_CAPSET = {"x86_64": 126, "aarch64": 91}.get(os.uname().machine, 126)
SYS_CLONE = {"x86_64": 56, "aarch64": 220}.get(os.uname().machine, 56)
# signals that end a process by default (Python itself handles SIGINT and ignores SIGPIPE, SIGXFSZ)
DEADLY = ("SIGTERM", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2", "SIGALRM", "SIGVTALRM", "SIGPROF", "SIGXCPU")
WRITABLE = ("/tmp", "/var/tmp", "/dev/shm", "/run")  # fresh tmpfs per command (bwrap made them shared)
CACHE_MAX = 16
PRELOAD_MARK = "# ace-warm-preload: "  # see _preload

_libc = ctypes.CDLL(None, use_errno=True)
_libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
_libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
_libc.unshare.argtypes = [ctypes.c_int]
_libc.syscall.argtypes = [ctypes.c_long, ctypes.c_char_p, ctypes.c_char_p]
_raw = ctypes.PyDLL(None, use_errno=True)  # calls that keep the interpreter's lock: the clone below
_raw.syscall.argtypes = [ctypes.c_long, ctypes.c_ulong] + [ctypes.c_ulong] * 4
_raw.syscall.restype = ctypes.c_long
_pyapi = ctypes.pythonapi
SERVER_PIDFD = os.pidfd_open(os.getpid())  # readable once the server is gone (see _enter_namespaces)
_compiled = {}  # script source -> code object, compiled once here and inherited by every fork
_scripts = {}  # script key -> source (see the protocol above)


class SetupError(Exception):
    pass


def _check(ret, what):
    if ret != 0:
        raise SetupError("%s: %s" % (what, os.strerror(ctypes.get_errno())))


def _mount(src, dst, fstype, flags, data=None):
    enc = (lambda s: s.encode() if s is not None else None)
    _check(_libc.mount(enc(src), enc(dst), enc(fstype), flags, enc(data)), "mount " + dst)


def _last_cap():
    try:
        with open("/proc/sys/kernel/cap_last_cap") as fh:
            return int(fh.read())
    except (OSError, ValueError):
        return 63


LAST_CAP = _last_cap()


# -- framing ------------------------------------------------------------------------------------
def send(sock, obj):
    data = marshal.dumps(obj)
    sock.sendall(struct.pack("!I", len(data)) + data)


class Reader:
    """Splits the control stream into frames; file descriptors arrive in order with them."""

    def __init__(self, sock):
        self.sock, self.buf, self.fds = sock, b"", []

    def read(self):
        """Frames now complete (a list), or None at end of stream."""
        data, ancdata, _, _ = self.sock.recvmsg(1 << 20, socket.CMSG_SPACE(16 * 4))
        for level, kind, payload in ancdata:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                self.fds.extend(struct.unpack("%di" % (len(payload) // 4), payload[: len(payload) // 4 * 4]))
        if not data:
            return None
        self.buf += data
        out = []
        while len(self.buf) >= 4:
            size = struct.unpack("!I", self.buf[:4])[0]
            if len(self.buf) < 4 + size:
                break
            out.append(marshal.loads(self.buf[4:4 + size]))
            self.buf = self.buf[4 + size:]
        return out


# -- one command ----------------------------------------------------------------------------------
def _write_files(workdir, files):
    for rel, data in files.items():
        path = os.path.join(workdir, rel)
        parent = os.path.dirname(path)
        if not os.path.isdir(parent):
            os.makedirs(parent, 0o777)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
        finally:
            os.close(fd)


def _under(path, top):
    return path == top or path.startswith(top.rstrip("/") + "/")


def _remount_ro(path):
    """Make a bind mount read-only, keeping the flags a user namespace may not drop."""
    flags = MS_REMOUNT | MS_BIND | MS_RDONLY
    st = os.statvfs(path)
    for bit, flag in ((os.ST_NOSUID, MS_NOSUID), (os.ST_NODEV, MS_NODEV), (os.ST_NOEXEC, MS_NOEXEC),
                      (os.ST_NOATIME, 1024), (os.ST_NODIRATIME, 2048), (os.ST_RELATIME, 1 << 21)):
        if st.f_flag & bit:
            flags |= flag
    _mount(None, path, None, flags)


def _build_view(req):
    """Inside the new mount namespace: nothing propagates out, fresh /proc and tmpfs mounts. The
    interpreter's own directories (a virtualenv under /tmp, say) are bound back, read-only."""
    _mount(None, "/", None, MS_REC | MS_PRIVATE)
    _mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    keep = [(os.open(p, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC), p) for p in req.get("keep", [])
            if any(_under(p, w) for w in WRITABLE) and os.path.isdir(p)]
    # /dev read-only: bwrap made it one tmpfs for every fork, and without root the user owns it
    _remount_ro("/dev")
    for path in WRITABLE:
        if os.path.isdir(path):
            size = req["tmp_size"] if path == "/tmp" else req["small_size"]
            mode = "1777" if path != "/run" else "755"
            _mount("tmpfs", path, "tmpfs", MS_NOSUID | MS_NODEV, "mode=%s,size=%d" % (mode, size))
    for fd, path in keep:
        os.makedirs(path, 0o755, exist_ok=True)
        _mount("/proc/self/fd/%d" % fd, path, None, MS_BIND | MS_REC)
        _remount_ro(path)
        os.close(fd)
    work = req["workdir"]
    os.makedirs(work, 0o755, exist_ok=True)
    _mount("tmpfs", work, "tmpfs", MS_NOSUID | MS_NODEV, "mode=777,size=%d" % req["tmp_size"])
    _write_files(work, req["files"])


def _clear_capabilities():
    """Empty the effective, permitted and inheritable sets (capset, version 3)."""
    header = struct.pack("=Ii", 0x20080522, 0)
    data = bytes(24)  # two {effective, permitted, inheritable} u32 triples, all zero
    _check(_libc.syscall(SYS_CAPSET, header, data), "capset")


def _drop_privileges(req):
    """rlimits, then every capability gone (bounding and ambient sets too), then the command's
    own uid (as root; without root the server lives in a user namespace holding only the
    user's own uid, and the command keeps it, with no capabilities), then no_new_privs."""
    for name, pair in req["rlimits"].items():
        resource.setrlimit(getattr(resource, name), tuple(pair))
    for cap in range(LAST_CAP + 1):
        _libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0)
    _check(_libc.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0), "clear ambient capabilities")
    uid = req["uid"]
    if uid is not None:
        os.setgroups([])
        os.setresgid(uid, uid, uid)
        os.setresuid(uid, uid, uid)  # clears the permitted and effective capability sets
        if os.geteuid() != uid or os.getuid() != uid:
            raise SetupError("could not drop privileges")
    _clear_capabilities()
    _check(_libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")
    prog = req.get("seccomp")
    if prog:  # no user namespaces, no keyrings (the app's seccomp.py builds it)
        filt = ctypes.create_string_buffer(prog, len(prog))
        fprog = ctypes.create_string_buffer(struct.pack("=HxxxxxxQ", len(prog) // 8, ctypes.addressof(filt)), 16)
        _check(_libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.addressof(fprog), 0, 0), "seccomp")


def _die(signum, frame):
    """A signal whose default action ends a process, for a command that is its namespace's pid 1
    and would otherwise ignore it: end as the default would, reported the way bubblewrap reports a
    signal death (exit status 128+N). The command may install its own handler instead."""
    os._exit(128 + signum)


def _run_command(req, script_code):
    """The command itself, pid 1 of its namespaces. Never returns."""
    os.setsid()
    _drop_privileges(req)
    # a change of uid cleared the parent-death signal: set it again, then check the server is
    # still there (it may have died in between), and let go of its pidfd
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if select.select([SERVER_PIDFD], [], [], 0)[0]:
        os._exit(FAILED)
    os.close(SERVER_PIDFD)
    os.chdir(req["workdir"])
    os.environ.clear()  # the command's own environment (the server's holds no secrets either)
    os.environ.update(req["env"])
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    for name in DEADLY:  # as pid 1 the kernel would drop these (see the module's docstring)
        signal.signal(getattr(signal, name), _die)
    argv = req["argv"]
    sys.argv = list(argv)
    code = 0
    try:
        import types

        main = types.ModuleType("__main__")
        main.__file__ = os.path.join(req["workdir"], argv[0])
        main.__builtins__ = __builtins__
        sys.modules["__main__"] = main
        if isinstance(script_code, BaseException):  # it did not compile: reported as python would
            raise script_code
        if isinstance(script_code, tuple):  # its body already ran in the server (see _preload)
            main, entry = script_code
            main.__name__, main.__file__ = "__main__", os.path.join(req["workdir"], argv[0])
            sys.modules["__main__"] = main
            getattr(main, entry)()
        else:
            exec(script_code, main.__dict__)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        if exc.code is not None and not isinstance(exc.code, int):
            print(exc.code, file=sys.stderr)
    except BaseException:  # an uncaught error, as the interpreter reports it
        import traceback

        traceback.print_exc()
        code = 1
    try:  # what the interpreter does on the way out: wait for threads, run atexit hooks, flush
        threading = sys.modules.get("threading")
        if threading is not None:
            threading._shutdown()
        import atexit

        atexit._run_exitfuncs()
        sys.stdout.flush()
        sys.stderr.flush()
    except BaseException:
        pass
    os._exit(code & 0xFF)


def _enter_namespaces(req, fds):
    """First steps of pid 1: die with the server, own the command's stdio, join its cgroup, and
    only then a cgroup namespace of its own (rooted at that cgroup)."""
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)  # the server's death ends every command
    if select.select([SERVER_PIDFD], [], [], 0)[0]:  # it died before that line: nobody is left to wait
        os._exit(FAILED)
    out, err = fds[:2]
    for fd in fds[2:]:  # the sandbox's cgroup: this process and all it starts are limited as one
        try:
            os.write(fd, b"0")
        except OSError as exc:
            os.write(err, ("ace-warm: cannot join the sandbox's cgroup: %s\n" % exc).encode())
            os._exit(FAILED)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(out, 1)
    os.dup2(err, 2)
    os.closerange(3, SERVER_PIDFD)  # the server's pidfd is closed once privileges are dropped
    os.closerange(SERVER_PIDFD + 1, 1 << 16)
    _check(_libc.unshare(CLONE_NEWCGROUP), "unshare cgroup namespace")


def _own_user_namespace():
    """Without root every command has the user's uid: a user namespace of its own makes
    RLIMIT_NPROC count this command's processes only (the kernel counts per namespace). Entered
    after the mounts, so the command holds no capability over its mount namespace, even before
    it drops them."""
    uid, gid = os.getuid(), os.getgid()
    _check(_libc.unshare(CLONE_NEWUSER), "unshare user namespace")
    for name, data in (("setgroups", "deny"), ("uid_map", "%d %d 1" % (uid, uid)),
                       ("gid_map", "%d %d 1" % (gid, gid))):
        with open("/proc/self/" + name, "w") as fh:
            fh.write(data)


def _init(req, fds, script_code):
    """The server's direct child, pid 1 of the command's new namespaces: set them up, then run
    the command in place. Never returns."""
    try:
        _enter_namespaces(req, fds)
        _build_view(req)
        if req["uid"] is None:
            _own_user_namespace()
        _run_command(req, script_code)
    except BaseException as exc:  # setup failed: say so on stderr, exit like the launcher
        os.write(2, ("ace-warm: %s\n" % exc).encode())
    os._exit(FAILED)


def _clone_init():
    """``os.fork()``, except that the child starts as pid 1 of new pid, mount, network, IPC and
    UTS namespaces: one process per command fewer than forking a child that unshares them and
    forks again (each fork of this image copies its page tables, and each exit tears them down).
    The raw ``clone`` runs with the interpreter's lock held (``PyDLL``), between the same
    before/after-fork steps as ``os.fork`` (``random`` reseeds, locks are reset), in a server
    that runs no other thread. Returns 0 in the child."""
    _pyapi.PyOS_BeforeFork()
    pid = _raw.syscall(SYS_CLONE, CLONE_INIT | signal.SIGCHLD, 0, 0, 0, 0)
    if pid == 0:
        _pyapi.PyOS_AfterFork_Child()
        return 0
    errno = ctypes.get_errno()
    _pyapi.PyOS_AfterFork_Parent()
    if pid < 0:
        raise OSError(errno, "clone: " + os.strerror(errno))
    return pid


def _script_source(req):
    """Put the command's script into its files: sent with the request, or known by its key."""
    script = req.get("script")
    if not script:
        return
    key, source = script
    if source is not None:
        if len(_scripts) >= CACHE_MAX:
            _scripts.clear()
        _scripts[key] = source
    source = _scripts.get(key)
    if source is None or not req["argv"]:
        raise SetupError("the warm server does not know script %r" % (key,))
    req["files"][req["argv"][0]] = source


def _preload(source, code):
    """The app's own runner (the request says ``preload``, and only the app sets it, for that
    script) carries a line ``# ace-warm-preload: NAME``: its body only defines things. Run it
    once here, as a module, and each command calls NAME() in its fork instead of running the
    body again (~3 ms of CPU and ~400 pages copied on write per version). Returns (module, NAME),
    or the code when the line is missing or the body fails here."""
    import types

    text = source.decode("utf-8", "replace") if isinstance(source, bytes) else source
    for line in text.splitlines():
        name = line[len(PRELOAD_MARK):].strip() if line.startswith(PRELOAD_MARK) else ""
        if name.isidentifier():
            module = types.ModuleType("__ace_preloaded__")
            module.__builtins__ = __builtins__
            try:
                exec(code, module.__dict__)
            except Exception:
                return code
            if callable(getattr(module, name, None)):
                return module, name
    return code


def _script_code(req):
    """The command's script, compiled once per distinct source (the runner, every time)."""
    _script_source(req)
    argv = req["argv"]
    source = req["files"].get(argv[0]) if argv else None
    if source is None:
        raise SetupError("the warm server runs uploaded Python scripts only, not %r" % (argv[:1],))
    code = _compiled.get(source)
    if code is None:
        try:
            code = compile(source, os.path.join(req["workdir"], argv[0]), "exec")
        except (SyntaxError, ValueError) as exc:
            return exc
        if req.get("preload"):
            code = _preload(source, code)
        if len(_compiled) >= CACHE_MAX:
            _compiled.clear()
        _compiled[source] = code
        gc.freeze()
    return code


# -- the server loop --------------------------------------------------------------------------------
def _end_all(running):
    """Kill every running command's pid 1 and reap it. Its exit comes only once the kernel has
    emptied its namespace, so when the server exits nothing of any command is left."""
    for _, pid in running.values():
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    for _, pid in running.values():
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:
            pass


def serve(sock):
    reader = Reader(sock)
    poller = select.poll()
    poller.register(sock.fileno(), select.POLLIN)
    running = {}  # pidfd -> (command id, pid)
    by_id = {}  # command id -> pid
    while True:
        for fd, _ in poller.poll():
            if fd == sock.fileno():
                frames = reader.read()
                if frames is None:  # the app is closing: end every command before going
                    _end_all(running)
                    return
                for req in frames:
                    if req.get("op") == "kill":
                        pid = by_id.get(req.get("id"))
                        if pid is not None:
                            try:
                                os.kill(pid, signal.SIGKILL)  # pid 1: its namespace dies with it
                            except OSError:
                                pass
                        continue
                    n = 2 + req.get("cgroups", 0)  # stdout, stderr, then cgroup.procs files to join
                    fds = reader.fds[:n]
                    del reader.fds[:n]
                    try:
                        code = _script_code(req)
                        pid = _clone_init()
                    except (SetupError, OSError) as exc:
                        for f in fds:
                            os.close(f)
                        send(sock, {"op": "error", "id": req["id"], "error": str(exc)})
                        continue
                    if pid == 0:
                        sock.close()
                        _init(req, fds, code)
                    for f in fds:
                        os.close(f)
                    pidfd = os.pidfd_open(pid)
                    running[pidfd] = (req["id"], pid)
                    by_id[req["id"]] = pid
                    poller.register(pidfd, select.POLLIN)
            else:
                ident, pid = running.pop(fd)
                by_id.pop(ident, None)
                poller.unregister(fd)
                os.close(fd)
                _, status, usage = os.wait4(pid, 0)
                send(sock, {"op": "exit", "id": ident, "status": status,
                            "cpu": usage.ru_utime + usage.ru_stime, "maxrss": usage.ru_maxrss})


def main():
    # Everything loaded so far is shared with every fork: keep the collector away from it, so a
    # fork's first collection does not copy those pages (and forks start and exit cheaper).
    gc.freeze()
    sock = socket.socket(fileno=CONTROL_FD)
    send(sock, {"op": "ready", "pid": os.getpid()})
    serve(sock)


if __name__ == "__main__":
    main()
