"""Isolation levels of the local backend and the command line for each.

Levels, strongest first; the first one that actually works here is used:

``bwrap``    bubblewrap: new pid/net/ipc/uts(/cgroup) namespaces and an allow-list view on an
             empty root: the system directories (/usr and its links) and the candidate's clean
             interpreter read-only with its site-packages empty (``interpreter.py``), a fresh
             /dev and /proc, private size-limited tmpfs for /tmp, /var/tmp, /dev/shm and the
             working directory. Nothing else of the host exists inside: not the project (wherever
             it lives), homes, /run, /srv or /sys. As root it runs without a user namespace and
             drops to the sandbox's private uid with setpriv; otherwise it uses its own user ns.
``unshare``  the same allow-list view built by ``_launch.py`` inside ``unshare`` (mount, pid, net,
             ipc, uts namespaces, then pivot_root), for hosts without bubblewrap.
``rlimits``  no namespaces: a new session, rlimits, a Landlock allowlist (read-only system dirs and
             interpreter, writable working directory only) and a seccomp filter that refuses
             network sockets. A grandchild that calls setsid leaves the process group; as root
             the sandbox's private uid still finds and kills it, otherwise it can escape.

Every level clears the environment and applies rlimits (CPU, address space, file size, open
files, no core dumps; processes where they count one sandbox only: its own uid as root, its own
user namespace otherwise) and a seccomp filter (``seccomp.py``: no new user namespaces, no
kernel keyrings). Where cgroups can be written, each sandbox is also one cgroup (``cgroups.py``).
``rlimits`` cannot contain candidates (``gaps``): ``detect`` refuses it unless the user accepts
that with --unsafe-isolation.
"""
from __future__ import annotations

import marshal
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

from ai_code_evals.core.errors import ConfigError
from ai_code_evals.sandbox import interpreter, seccomp
from ai_code_evals.sandbox.base import SandboxLimits
from ai_code_evals.sandbox.requirements import SITE_VAR

LEVELS = ("bwrap", "unshare", "rlimits")
ENV_VAR = "ACE_ISOLATION"
SYS_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
LAUNCHER = str(Path(__file__).with_name("_launch.py"))
MIB = 1 << 20
SMALL_TMPFS = 8 * MIB  # /var/tmp, /dev/shm, /run inside the sandbox
# shared writable directories; the rlimits level sweeps the sandbox uid's leftovers from them
SHARED_WRITABLE = ("/tmp", "/var/tmp", "/dev/shm", "/run/lock")
# what bwrap sandboxes see of the system, read-only (an allow-list: nothing else of the host)
SYSTEM_RO = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
ETC_RO = ("/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/localtime", "/etc/alternatives")
# read-only system directories allowed by Landlock at the rlimits level
SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc", "/proc", "/sys")
# every bwrap sandbox: its own pid, network, IPC, UTS (and cgroup) namespaces, gone with the app
BWRAP_NAMESPACES = ("--unshare-net", "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
                    "--die-with-parent", "--new-session", "--hostname", "sandbox")
SECRET_FILES = re.compile(r"^(\.env(\..*)?|ai-code-evals\.toml)$")
NOT_SECRET = re.compile(r"\.(example|sample|template|dist)$")


def _which(name: str) -> str | None:
    return shutil.which(name, path=SYS_PATH)


def _under(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


def reachable_by_others(path: str) -> bool:
    """Can an unprivileged uid without groups execute ``path`` (every directory searchable)?"""
    real = os.path.realpath(path)
    parts = Path(real).parents
    try:
        if not all(os.stat(p).st_mode & 0o001 for p in parts):
            return False
        return bool(os.stat(real).st_mode & 0o005 == 0o005)
    except OSError:
        return False


@dataclass
class Host:
    """Facts about this machine and process, computed once."""

    root: bool = field(default_factory=lambda: os.geteuid() == 0)
    app_python: str = sys.executable
    bwrap: str | None = field(default_factory=lambda: _which("bwrap"))
    unshare: str | None = field(default_factory=lambda: _which("unshare"))
    setpriv: str | None = field(default_factory=lambda: _which("setpriv"))
    prlimit: str | None = field(default_factory=lambda: _which("prlimit"))
    sh: str | None = field(default_factory=lambda: _which("sh"))

    def __post_init__(self) -> None:
        self.probed: dict[str, tuple[bool, str]] = {}  # level -> (works, reason), see detect()
        self.host_mntns = os.readlink("/proc/self/ns/mnt")

    @property
    def python(self) -> interpreter.Interpreter:
        """The candidates' clean interpreter: the base one behind the app's virtualenv."""
        if getattr(self, "_python", None) is None:
            self._python = interpreter.clean()
        return self._python

    def python_dirs(self) -> list[str]:
        """Directories of the clean interpreter, for views that hide them (unshare, warm)."""
        return list(self.python.dirs)

    @property
    def landlock_abi(self) -> int:
        """The kernel's Landlock ABI version (0: none). The rlimits level relies on it to keep
        the sandbox out of the file system; without it only file permissions protect files."""
        if not hasattr(self, "_landlock_abi"):
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            libc.syscall.restype = ctypes.c_long
            abi = libc.syscall(444, None, ctypes.c_size_t(0), ctypes.c_uint32(1))
            self._landlock_abi = max(0, int(abi)) if os.uname().machine in ("x86_64", "aarch64") else 0
        return self._landlock_abi

    def rlimits_python(self) -> str | None:
        """The interpreter for the rlimits level: the clean one if the sandbox uid can reach it,
        else a system python3 (the runner is stdlib-only). None when there is none."""
        if not self.root or reachable_by_others(self.python.executable):
            return self.python.executable
        for name in ("python3", "python"):
            found = _which(name)
            if found and reachable_by_others(found):
                return found
        return None


def secret_files(cwd: str | None = None) -> list[str]:
    """The .env-like files of the working directory and its parents, and of this project."""
    dirs: list[Path] = []
    for start in (Path(cwd or os.getcwd()), Path(__file__).resolve().parents[3]):
        for d in (start, *start.parents):
            if d not in dirs:
                dirs.append(d)
    found = []
    for d in dirs:
        try:
            names = os.listdir(d)
        except OSError:
            continue
        found += [str(d / n) for n in names
                  if SECRET_FILES.match(n) and not NOT_SECRET.search(n) and os.path.isfile(d / n)]
    return sorted(found)


def rlimit_pairs(limits: SandboxLimits, nproc: int | None) -> dict[str, tuple[int, int]]:
    """The rlimits of a sandbox. ``nproc``: RLIMIT_NPROC, or None where it would count other
    sandboxes' processes too. The kernel counts processes per user *and user namespace*, so the
    limit is per sandbox where the sandbox has its own uid (as root) or its own user namespace
    (without root; set from inside it: the creator's limit at creation caps the parent level)."""
    pairs = {
        "RLIMIT_CPU": (limits.cpu_s, limits.cpu_s + 1),
        "RLIMIT_AS": (limits.memory_mb * MIB,) * 2,
        "RLIMIT_FSIZE": (limits.file_size_mb * MIB,) * 2,
        "RLIMIT_NOFILE": (limits.open_files,) * 2,
        "RLIMIT_CORE": (0, 0),
    }
    if nproc is not None:
        pairs["RLIMIT_NPROC"] = (nproc, nproc)
    return pairs


def disk_budget(limits: SandboxLimits) -> int:
    """Size of the private working-directory and /tmp tmpfs mounts."""
    return max(16, 2 * limits.file_size_mb) * MIB


@dataclass
class ExecPlan:
    """Everything needed to build one sandboxed command line."""

    level: str
    workdir: str
    files: list[str]  # relative paths uploaded into workdir
    uid: int | None  # private uid when root
    limits: SandboxLimits
    env: dict[str, str]
    argv: list[str]
    masks: list[str] = field(default_factory=list)
    status_fd: int | None = None  # bwrap level: an fd for bwrap's --json-status-fd (see process.py)
    seccomp_fd: int | None = None  # bwrap level: an fd holding the seccomp program (seccomp.py)
    # bwrap level: the descriptor each uploaded file is open on when bwrap starts; bwrap copies
    # it into the working directory, where the command may delete it (the runner deletes its
    # job file, which holds the verdict nonce); files without one are bound read-only
    file_fds: dict[str, int] = field(default_factory=dict)
    # a task's site-packages directory (requirements.py): read-only inside at its own path
    packages: str | None = None


def sandbox_env(plan: ExecPlan) -> dict[str, str]:
    tmp = os.path.join(plan.workdir, ".tmp") if plan.level == "rlimits" else "/tmp"
    env = {"PATH": SYS_PATH, "HOME": plan.workdir, "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8",
           "PYTHONDONTWRITEBYTECODE": "1", "TMPDIR": tmp}
    env.update(plan.env)
    if plan.packages:  # the runner adds it to sys.path, after the standard library
        env[SITE_VAR] = plan.packages
    return env


def is_python(name: str) -> bool:
    """Whether a command's first word names a sandbox interpreter (``python``, ``python3.N``)."""
    return name == "python" or interpreter.VERSIONED.match(name) is not None


def plan_python(plan: ExecPlan, host: Host) -> interpreter.Interpreter | None:
    """The interpreter a plan's command runs (None for other commands). Raises
    InterpreterMissing (an OSError) when a profile names one that is not installed."""
    if not plan.argv or not is_python(plan.argv[0]):
        return None
    return host.python if plan.argv[0] == "python" else interpreter.find(plan.argv[0])


def resolve_argv(plan: ExecPlan, host: Host) -> list[str]:
    """Replace a leading ``python`` / ``python3.N`` with that clean interpreter and its flags
    (at the rlimits level, which cannot hide site-packages, with -S as well)."""
    argv = list(plan.argv)
    py = plan_python(plan, host)
    if py is None:
        return argv
    if plan.level == "rlimits":
        exe = host.rlimits_python() if argv[0] == "python" else py.executable
        if exe is None:
            raise OSError("no Python interpreter is reachable by the sandbox user")
        return [exe, *interpreter.describe(os.path.realpath(exe)).flags(), "-S", *argv[1:]]
    return [py.executable, *py.flags(), *argv[1:]]


def _setpriv(plan: ExecPlan, host: Host, *, pdeath: bool) -> list[str]:
    if host.setpriv is None:
        raise OSError("setpriv not found")
    cmd = [host.setpriv]
    if plan.uid is not None:
        cmd += [f"--reuid={plan.uid}", f"--regid={plan.uid}", "--clear-groups",
                "--inh-caps=-all", "--bounding-set=-all"]
    elif plan.level == "unshare":  # root inside our own user namespace: drop its capabilities
        cmd += ["--inh-caps=-all", "--bounding-set=-all"]
    cmd.append("--no-new-privs")
    if pdeath:
        cmd.append("--pdeathsig=KILL")
    return cmd + ["--"]


def _dirs_between(top: str, path: str) -> list[str]:
    """Directories strictly between ``top`` and ``path`` (to create them traversable)."""
    rel = Path(path).relative_to(top).parts[:-1]
    out, cur = [], Path(top)
    for part in rel:
        cur = cur / part
        out.append(str(cur))
    return out


def system_view() -> list[str]:
    """bwrap arguments for what every sandbox may see of the system, read-only: /usr and the
    top-level links or directories into it, and the few files of /etc the dynamic loader and
    the time functions read. Nothing else of the host exists inside (no /home, /root, /srv,
    /opt, /run, /var, /sys, /etc/passwd...)."""
    cmd: list[str] = []
    for path in SYSTEM_RO:
        if os.path.islink(path):
            cmd += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            cmd += ["--ro-bind", path, path]
    cmd += ["--perms", "0755", "--dir", "/etc"]
    for path in ETC_RO:
        if os.path.lexists(path):
            cmd += ["--ro-bind", path, path]
    return cmd


def _bwrap_view(host: Host, py: interpreter.Interpreter | None, budget: str, workdir: str | None,
                files: list[str], masks: list[str], file_fds: dict[str, int] | None = None,
                packages: str | None = None) -> list[str]:
    """bwrap's mount arguments, an allow-list on an empty root: the system (``system_view``),
    the interpreter's own directories read-only with its site-packages empty, the task's own
    packages (``packages``, a site-packages directory) read-only, a fresh /dev,
    /proc, and private size-limited tmpfs for /tmp, /var/tmp and /dev/shm; then (if given) the
    working directory as its own tmpfs with ``files`` copied into it from ``file_fds`` (else
    bound read-only). ``masks`` (secret files) are hidden where a bound directory holds one."""
    cmd = [*system_view(), "--dev", "/dev", "--proc", "/proc",
           "--perms", "1777", "--size", str(SMALL_TMPFS), "--tmpfs", "/dev/shm",
           "--perms", "1777", "--size", str(SMALL_TMPFS), "--tmpfs", "/var/tmp",
           "--perms", "1777", "--size", budget, "--tmpfs", "/tmp"]
    made = {"/", "/dev", "/dev/shm", "/var", "/var/tmp", "/tmp", "/proc", *SYSTEM_RO, "/etc"}
    bound = [p for p in SYSTEM_RO if os.path.isdir(p) and not os.path.islink(p)]

    def make_parents(path: str) -> None:
        parent = os.path.dirname(path)
        chain = []
        while parent not in made and parent != "/":
            chain.append(parent)
            parent = os.path.dirname(parent)
        for d in reversed(chain):
            cmd.extend(["--perms", "0755", "--dir", d])
            made.add(d)

    for d in (py.dirs if py is not None else ()):
        if not any(_under(d, b) for b in bound):
            make_parents(d)
            cmd += ["--ro-bind", d, d]
            bound.append(d)
            made.add(d)
    for d in (py.site_dirs if py is not None else ()):
        if any(_under(d, b) for b in bound):
            cmd += ["--perms", "0555", "--size", "4096", "--tmpfs", d, "--remount-ro", d]
    if packages:
        make_parents(packages)
        cmd += ["--ro-bind", packages, packages]
        made.add(packages)
    if workdir is not None:
        make_parents(workdir)
        cmd += ["--perms", "0777", "--size", budget, "--tmpfs", workdir]
        made.add(workdir)
        for rel in files:
            dst = os.path.join(workdir, rel)
            make_parents(dst)
            fd = (file_fds or {}).get(rel)
            if fd is not None:
                cmd += ["--perms", "0644", "--file", str(fd), dst]
            else:
                cmd += ["--ro-bind", dst, dst]  # source: the host path (resolved outside the sandbox)
    for mask in masks:
        if any(_under(mask, b) for b in bound) and os.path.exists(mask):
            cmd += ["--ro-bind", "/dev/null", mask]
    # the empty root itself (and the directories made on it) read-only: without root, the
    # user namespace's owner could write there, and at the warm level the next command would see it
    return cmd + ["--remount-ro", "/"]


def _bwrap_env(env: dict[str, str]) -> list[str]:
    cmd = ["--clearenv"]
    for key, value in env.items():
        cmd += ["--setenv", key, value]
    return cmd


def bwrap_command(plan: ExecPlan, host: Host) -> list[str]:
    if host.bwrap is None:
        raise OSError("bwrap not found")
    cmd = [host.bwrap, *BWRAP_NAMESPACES, "--as-pid-1"]
    if plan.uid is None:
        cmd += ["--unshare-user", "--disable-userns"]
    if plan.status_fd is not None:
        cmd += ["--json-status-fd", str(plan.status_fd)]
    if plan.seccomp_fd is not None:
        cmd += ["--add-seccomp-fd", str(plan.seccomp_fd)]
    cmd += _bwrap_view(host, plan_python(plan, host), str(disk_budget(plan.limits)), plan.workdir, plan.files,
                       plan.masks, plan.file_fds, plan.packages)
    cmd += ["--chdir", plan.workdir, *_bwrap_env(sandbox_env(plan)), "--", *_init(host)]
    if plan.uid is not None:
        cmd += _setpriv(plan, host, pdeath=False)
    elif host.prlimit is not None:  # its own user namespace: a process limit of its own (init shell + command)
        n = plan.limits.processes + 1
        cmd += [host.prlimit, f"--nproc={n}:{n}", "--"]
    return _prlimit(plan, host) + cmd + resolve_argv(plan, host)


def warm_server_command(host: Host, env: dict[str, str], masks: list[str], source: str,
                        packages: str | None = None) -> list[str]:
    """The long-lived bwrap sandbox of a warm server (``warm.py``): the same view as
    ``bwrap_command`` without a working directory, with capabilities so that the server can
    confine each command it forks: as root, real ones (commands then get their own uids);
    otherwise ones inside a user namespace holding only the user's own uid, where no further
    user namespace can be made (commands keep that uid, without capabilities). ``packages``: a
    task's site-packages directory, read-only (one server per directory: a fork can only show
    what its server sees). The server's source goes on the command line: its file may sit in a
    directory we hide."""
    if host.bwrap is None:
        raise OSError("bwrap not found")
    # no cgroup namespace for the server: each command's pid 1 joins its sandbox's cgroup first,
    # then makes a cgroup namespace of its own (_warm_server.py)
    cmd = [host.bwrap, *(a for a in BWRAP_NAMESPACES if a != "--unshare-cgroup-try"), "--cap-add", "ALL"]
    if not host.root:  # each command gets a user namespace of its own, then the seccomp filter
        cmd += ["--unshare-user", "--uid", str(os.getuid()), "--gid", str(os.getgid())]
    py = host.python
    cmd += _bwrap_view(host, py, str(SMALL_TMPFS), None, [], masks, packages=packages)
    cmd += ["--chdir", "/", *_bwrap_env(env), "--", py.executable, *py.flags(), "-c", source]
    return cmd


def _init(host: Host) -> list[str]:
    """pid 1 of the sandbox's pid namespace: a shell that waits for the command and exits with
    its status. It reaps the command, so wait4 on the outer process sees the whole tree's CPU
    time and peak RSS (bubblewrap's own init reports the status before it is reaped), and the
    command is an ordinary process (pid 1 ignores signals it has no handler for)."""
    if host.sh is None:
        raise OSError("sh not found")
    return [host.sh, "-c", '"$@"; exit $?', "sh"]


def _prlimit(plan: ExecPlan, host: Host) -> list[str]:
    if host.prlimit is None:
        raise OSError("prlimit not found")
    names = {"RLIMIT_CPU": "cpu", "RLIMIT_AS": "as", "RLIMIT_FSIZE": "fsize", "RLIMIT_NOFILE": "nofile",
             "RLIMIT_CORE": "core", "RLIMIT_NPROC": "nproc"}
    pairs = rlimit_pairs(plan.limits, plan.limits.processes if host.root else None)
    return [host.prlimit] + [f"--{names[k]}={s}:{h}" for k, (s, h) in pairs.items()] + ["--"]


def _launch(plan: dict, host: Host) -> list[str]:
    """The launcher's command line (its plan as marshal data in hex: see _launch.py)."""
    return [host.app_python, "-I", "-S", LAUNCHER, marshal.dumps(plan).hex(), "--"]


def unshare_command(plan: ExecPlan, host: Host) -> list[str]:
    if host.unshare is None:
        raise OSError("unshare not found")
    budget = disk_budget(plan.limits)
    py = plan_python(plan, host)
    system = [[p, os.readlink(p) if os.path.islink(p) else None] for p in (*SYSTEM_RO, *ETC_RO)]
    view = {
        "host_mntns": host.host_mntns,
        "system": system,
        "tmpfs": [["/tmp", budget, 0o1777], ["/var/tmp", SMALL_TMPFS, 0o1777], ["/dev/shm", SMALL_TMPFS, 0o1777]],
        "ro_binds": (list(py.dirs) if py else []) + ([plan.packages] if plan.packages else []),
        "empty": list(py.site_dirs) if py else [],
        "workdir": [plan.workdir, budget],
        "files": [[os.path.join(plan.workdir, r)] * 2 for r in plan.files],
        "masks": plan.masks,
    }
    # without root: counted in unshare's user namespace (launcher, init shell, then the command)
    nproc = plan.limits.processes + (0 if host.root else 2)
    launch = {"view": view, "setsid": True, "rlimits": rlimit_pairs(plan.limits, nproc), "seccomp": seccomp.program(),
              "chdir": plan.workdir}
    if host.setpriv is None:
        raise OSError("setpriv not found")
    # the outer setpriv makes unshare die with the app (its --kill-child then takes the rest)
    cmd = [host.setpriv, "--pdeathsig=KILL", "--", host.unshare, "--mount", "--net", "--pid", "--ipc", "--uts", "--fork", "--kill-child",
           "--mount-proc", "--propagation", "private"]
    if not host.root:
        cmd += ["--user", "--map-root-user"]
    return (cmd + ["--"] + _launch(launch, host) + _init(host) + _setpriv(plan, host, pdeath=False)
            + resolve_argv(plan, host))


def rlimits_command(plan: ExecPlan, host: Host) -> list[str]:
    py = host.rlimits_python()
    ro = list(SYSTEM_DIRS)
    if py is not None:
        ro.append(str(Path(os.path.realpath(py)).parent.parent))
    ro += [sys.prefix, sys.base_prefix]
    if plan.packages:
        ro.append(plan.packages)
    launch = {"setsid": True, "rlimits": rlimit_pairs(plan.limits, plan.limits.processes if host.root else None),
              "seccomp": seccomp.program(),
              "landlock": {"ro": ro, "dev": ["/dev"], "rw": [plan.workdir]}, "require_landlock": False,
              "seccomp_net": True, "chdir": plan.workdir}
    return _launch(launch, host) + _setpriv(plan, host, pdeath=True) + resolve_argv(plan, host)


def build_command(plan: ExecPlan, host: Host) -> list[str]:
    """The full argv for ``plan``. Raises OSError when a needed tool is missing."""
    return {"bwrap": bwrap_command, "unshare": unshare_command, "rlimits": rlimits_command}[plan.level](
        plan, host)


# -- detection ---------------------------------------------------------------------------------
PROBE = "import os; print('ace-probe', os.getuid())"

_lock = threading.Lock()
_default_host: Host | None = None


def default_host() -> Host:
    """The host facts of this process (and so its probe results), shared by all backends."""
    global _default_host
    with _lock:
        if _default_host is None:
            _default_host = Host()
        return _default_host


def probe(level: str, host: Host) -> tuple[bool, str]:
    """Run a tiny Python program at ``level`` for real. Returns (works, reason if not)."""
    from ai_code_evals.sandbox import uidslots

    slot = uidslots.claim() if host.root else None
    root = tempfile.mkdtemp(prefix="ace-probe-")
    try:
        os.chmod(root, 0o711)
        work = os.path.join(root, "w")
        os.mkdir(work, 0o700)
        if slot is not None:
            os.chown(work, slot.uid, slot.uid)
        plan = ExecPlan(level=level, workdir=work, files=[], uid=slot.uid if slot else None,
                        limits=SandboxLimits(), env={}, argv=["python", "-c", PROBE],
                        masks=secret_files())
        try:
            cmd = build_command(plan, host)
        except OSError as exc:
            return False, str(exc)
        try:
            proc = subprocess.run(cmd, check=False, stdin=subprocess.DEVNULL, capture_output=True, timeout=30,
                                  env=sandbox_env(plan), start_new_session=True)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return False, f"{type(exc).__name__}: {exc}"
        out = proc.stdout.decode(errors="replace").strip()
        if proc.returncode == 0 and out.startswith("ace-probe") and (slot is None or out == f"ace-probe {slot.uid}"):
            return True, ""
        err = (proc.stderr.decode(errors="replace").strip().splitlines() or [f"exit {proc.returncode}"])[-1]
        return False, err[:300]
    finally:
        shutil.rmtree(root, ignore_errors=True)
        if slot is not None:
            slot.release()


def works(level: str, host: Host) -> bool:
    """Whether ``level`` works here (probed once per host and level)."""
    with _lock:
        if level not in host.probed:
            host.probed[level] = probe(level, host)
        return host.probed[level][0]


# What a level cannot contain, in one phrase (levels not named here contain candidates fully).
RLIMITS_GAPS = ("no IPC, mount or network namespace: SysV shared memory escapes the memory limit and outlives "
                "the run, host unix sockets (a tmux server, D-Bus) can be reached")
INSTALL_HINT = "install bubblewrap (apt-get install bubblewrap)"
UNSAFE_FLAG = "--unsafe-isolation"


def gaps(level: str, host: Host) -> str | None:
    """What ``level`` cannot contain here (None: nothing known). Only rlimits has gaps: it has
    no namespaces; without root it also has no private uid to find processes that left with
    setsid."""
    if level != "rlimits":
        return None
    return RLIMITS_GAPS + ("" if host.root else ", a process that calls setsid outlives the sandbox")


def detect(forced: str | None, host: Host, *, unsafe: bool = False) -> tuple[str, dict[str, str]]:
    """The level to use and why stronger levels were skipped. ``forced`` (ACE_ISOLATION, passed
    down from the settings) names one level that must work. A level that works but cannot contain candidates (``gaps``)
    is refused unless ``unsafe``: the error says what is missing and what to install. Probes run
    once per process and level."""
    forced = forced or None
    if forced in ("", "auto"):
        forced = None
    if forced is not None and forced not in LEVELS:
        raise ConfigError(f"unknown isolation level {forced!r} (choose from auto, {', '.join(LEVELS)})")
    reasons: dict[str, str] = {}
    with _lock:
        for level in [forced] if forced else LEVELS:
            if level not in host.probed:
                host.probed[level] = probe(level, host)
            ok, why = host.probed[level]
            missing = gaps(level, host) if ok else None
            if ok and (missing is None or unsafe):
                return level, reasons
            reasons[level] = why if not ok else f"works but cannot contain candidates ({missing})"
    detail = "; ".join(f"{k}: {v}" for k, v in reasons.items())
    if forced and not host.probed[forced][0]:
        raise ConfigError(f"isolation level {forced!r} does not work here ({detail})")
    if forced:
        raise ConfigError(f"isolation level {forced!r} cannot contain candidates ({gaps(forced, host)}): "
                          f"{INSTALL_HINT}, or pass {UNSAFE_FLAG} to run them uncontained")
    if any(host.probed.get(lv, (False, ""))[0] for lv in reasons):
        raise ConfigError(f"no isolation level here contains candidates ({detail}): {INSTALL_HINT}, "
                          f"or pass {UNSAFE_FLAG} to run them uncontained")
    raise ConfigError(f"no sandbox isolation level works here ({detail})")
