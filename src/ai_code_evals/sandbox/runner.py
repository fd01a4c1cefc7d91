"""The runner: a trusted checker and the candidate child it starts, inside every sandbox.

Usage inside the sandbox: ``python runner.py job.json``. Stdlib only, for any Python 3.8+.

Trust is split in two processes, so that the code being judged cannot write its own verdict:

- The **checker** (this process) never runs candidate code. It alone holds the job (tests,
  expected values, the verdict nonce) and the verdict channel (its stdout). HumanEval-style
  ``check(candidate)`` code and assert tests run here, with ``candidate`` a proxy that forwards
  each call to the child; helpers from a completion-style task's prompt come from the task file.
- The **candidate child** is forked *before* the job is read, so no secret is in its memory. It
  receives call arguments and sends back return values as strict, tagged JSON data (see
  ``encode``/``decode``): never pickled, never executed. An object of any other type (a mock that
  equals anything, a class with a forged ``__eq__``) cannot cross: the case fails and says why.
  Its stdout and stderr are pipes to the checker, which relays them (capped) as output events;
  no verdict is ever parsed from what the candidate prints. Model-written tests and probes (dozens
  of literal calls per version) go to the child in one batch message, answered call by call, and
  report as one ``group`` event: each call is still timed and judged on its own.

The checker makes itself non-dumpable (``prctl(PR_SET_DUMPABLE, 0)``), so a same-uid child can
neither ptrace it nor open ``/proc/<checker>/mem`` or ``/proc/<checker>/fd/*``; when the checker
runs as root (a Daytona sandbox), the child also drops to uid 65534 with no capabilities. A child
that kills the checker or exits early produces no verdict line, and only a verdict line can
pass a version. After a timeout or a crash the child is replaced by a fresh interpreter
(``python runner.py --child``), never by a fork of the checker, whose memory holds the tests.

Events are lines ``@@ace:<nonce>:<json>`` on the checker's stdout.
"""
# ace-warm-preload: run_as_script
# (the warm server runs this module's body once and calls run_as_script() in each command's
# fork: the body only defines things, and defining them in every checker cost ~3 ms of CPU)
import builtins
import json
import os
import select
import signal
import struct
import sys
import time

MARK = "@@ace:"
_OUT_FD = None
_NONCE = ""

GROUP_NAMES = {"tests": "test", "error_cases": "bad input", "generated": "generated test"}
MAX_DEPTH = 200  # nesting of one value
MAX_ITEMS = 2000000  # elements in one value (an iterator is consumed up to this)
MAX_MESSAGE = 64 << 20  # bytes of one message between checker and child
OUTPUT_CAP = 512 << 10  # candidate output relayed per stream; the rest is counted, not kept
MAX_LINE = 4096
BIG_INT_BITS = 12000  # larger ints cross as hex (decimal parsing is capped at 4300 digits)
SHORT = 160
TIMEOUTS_MAX = 3  # time-outs among a version's generated tests and probes together before the rest are not run
FAILURES_IN_GROUP = 5  # failures of a quiet group (generated tests) described in its end event
# stdin (empty), stdout, stderr, requests in, replies out, as the child sees them. The candidate's
# stdin is an empty pipe, as ``python prog.py < /dev/null`` has: an ``input()`` a model left in
# its program raises EOFError at once, and nothing the candidate reads is the checker's.
CHILD_FDS = (0, 1, 2, 3, 4)


class TestTimeout(BaseException):
    """The current test ran out of time. A BaseException so ``except Exception`` can't eat it."""


class Unsupported(Exception):
    """A value that is not plain data (raised while encoding)."""


class Malformed(Exception):
    """A message from the child that is not strict data (raised while decoding)."""


# -- values across the boundary ---------------------------------------------------------------
# JSON's own None, bool, int, float and str stand for themselves; every other value is a list
# whose first item is a tag. JSON objects are never used.
_SEQ_TAGS = {"l": list, "t": tuple, "s": set, "z": frozenset}


def encode(value, depth=0, budget=None):
    """Plain data -> JSON-able tagged form. Subclasses of data types cross as their base type
    (a Counter as a dict, a namedtuple as a tuple): their own methods are left behind."""
    if budget is None:
        budget = [MAX_ITEMS]
    budget[0] -= 1
    if budget[0] < 0:
        raise Unsupported("more than %d items" % MAX_ITEMS)
    if depth > MAX_DEPTH:
        raise Unsupported("nested deeper than %d" % MAX_DEPTH)
    if value is None or value is True or value is False:
        return value
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, int):
        value = int.__index__(value)
        return value if value.bit_length() <= BIG_INT_BITS else ["x", hex(value)]
    if isinstance(value, float):
        value = float.__float__(value)
        return value if value - value == 0.0 else ["f", repr(value)]
    if isinstance(value, complex):
        value = complex.__complex__(value) if hasattr(complex, "__complex__") else complex(value)
        return ["c", encode(value.real, depth + 1, budget), encode(value.imag, depth + 1, budget)]
    if isinstance(value, (bytes, bytearray)):
        return ["B" if isinstance(value, bytearray) else "b", bytes(value).decode("latin-1")]
    if isinstance(value, dict):
        out = ["d"]
        for k, v in dict.items(value):
            out.append(encode(k, depth + 1, budget))
            out.append(encode(v, depth + 1, budget))
        return out
    for tag, kind in (("t", tuple), ("l", list), ("z", frozenset), ("s", set)):
        if isinstance(value, kind):
            return [tag] + [encode(x, depth + 1, budget) for x in kind.__iter__(value)]
    if isinstance(value, range):
        return ["r", value.start, value.stop, value.step]
    if _is_iterator(value):
        out = ["i"]
        for x in value:
            out.append(encode(x, depth + 1, budget))
        return out
    raise Unsupported(type(value).__name__)


def _is_iterator(value):
    try:
        return hasattr(type(value), "__next__") and iter(value) is value
    except Exception:
        return False


def decode(obj, depth=0):
    """The checker's side: tagged JSON -> plain values, refusing anything else."""
    if depth > MAX_DEPTH:
        raise Malformed("nested too deep")
    kind = type(obj)
    if obj is None or kind is bool or kind is int or kind is float or kind is str:
        return obj
    if kind is not list or not obj or type(obj[0]) is not str:
        raise Malformed("not a tagged value")
    tag, rest = obj[0], obj[1:]
    try:
        if tag in _SEQ_TAGS:
            return _SEQ_TAGS[tag](decode(x, depth + 1) for x in rest)
        if tag == "d":
            if len(rest) % 2:
                raise Malformed("odd dict")
            return {decode(rest[i], depth + 1): decode(rest[i + 1], depth + 1) for i in range(0, len(rest), 2)}
        if tag == "i":
            return iter([decode(x, depth + 1) for x in rest])
        if tag in ("b", "B") and len(rest) == 1 and type(rest[0]) is str:
            data = rest[0].encode("latin-1")
            return data if tag == "b" else bytearray(data)
        if tag == "c" and len(rest) == 2 and all(type(x) in (int, float) or type(x) is list for x in rest):
            re_, im = (decode(x, depth + 1) for x in rest)
            if type(re_) is float and type(im) is float:
                return complex(re_, im)
        if tag == "f" and rest in (["nan"], ["inf"], ["-inf"]):
            return float(rest[0])
        if tag == "x" and len(rest) == 1 and type(rest[0]) is str and len(rest[0]) < (1 << 22):
            return int(rest[0], 16)
        if tag == "r" and len(rest) == 3 and all(type(x) is int for x in rest):
            return range(*rest)
    except (TypeError, ValueError, RecursionError, UnicodeError) as exc:
        raise Malformed(str(exc)[:100])
    raise Malformed("unknown tag %r" % tag[:20])


def canon(value, depth=0):
    """A deterministic text for a decoded value: equal values give equal texts (set and dict
    order sorted, floats to 9 significant digits, iterators as lists). Used to compare behaviour."""
    if depth > MAX_DEPTH:
        return "..."
    kind = type(value)
    if kind is float:
        return format(value, ".9g")
    if kind is int:
        return hex(value) if value.bit_length() > BIG_INT_BITS else str(value)
    if kind is complex:
        return "complex(%s,%s)" % (canon(value.real), canon(value.imag))
    if kind in (list, tuple) or kind.__name__ == "list_iterator":
        items = [canon(x, depth + 1) for x in value]
        return ("(%s)" if kind is tuple else "[%s]") % ",".join(items)
    if kind in (set, frozenset):
        return "{%s}" % ",".join(sorted(canon(x, depth + 1) for x in value))
    if kind is dict:
        return "{%s}" % ",".join(sorted(canon(k, depth + 1) + ":" + canon(v, depth + 1) for k, v in value.items()))
    return repr(value)


def _literal(source):
    """A Python literal from trusted-format text (``ast`` costs ~20 ms to import: only when needed)."""
    import ast

    return ast.literal_eval(source)


def short(value, limit=SHORT):
    try:
        text = repr(value)
    except Exception:  # a huge int has no decimal repr
        text = "<%s>" % type(value).__name__
    return text if len(text) <= limit else text[:limit] + "..."


def describe(exc):
    """One line: 'ValueError: bad input' (the message cut to a sane length)."""
    name = type(exc).__name__
    try:
        msg = str(exc)
    except Exception:
        msg = ""
    if len(msg) > 300:
        msg = msg[:300] + "..."
    return name + (": " + msg if msg else "")


# -- framing ------------------------------------------------------------------------------------
def send(fd, obj):
    data = json.dumps(obj, separators=(",", ":")).encode("utf-8", "surrogatepass")
    data = struct.pack(">I", len(data)) + data
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _read_exact(fd, n):
    chunks = []
    while n:
        chunk = os.read(fd, min(n, 1 << 20))
        if not chunk:
            raise EOFError()
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


# -- the candidate child --------------------------------------------------------------------------
def child_main():
    """Serve the checker's requests on fd 3, reply on fd 4. Runs candidate code: trusts nothing."""
    for stream in (sys.stdout, sys.stderr):  # the candidate's prints reach its pane line by line
        try:
            stream.reconfigure(line_buffering=True)
        except Exception:
            pass
    ns = {"__name__": "__main__", "__builtins__": __builtins__}
    state = {"fn": None, "stash": None}
    while True:
        try:
            (size,) = struct.unpack(">I", _read_exact(3, 4))
            req = json.loads(_read_exact(3, size))
        except Exception:
            os._exit(0)
        batch = req.get("calls") if req.get("op") == "batch" else None
        for one in (batch if type(batch) is list else [req]):
            if batch is not None:
                one = {"op": "call", "args": one[0], "kwargs": one[1]} if type(one) is list and len(one) == 2 else {}
            try:
                reply = _child_handle(one, ns, state)
            except BaseException as exc:
                reply = {"raise": _exc_info(exc)}
            for stream in (sys.stdout, sys.stderr):
                try:
                    stream.flush()
                except BaseException:
                    pass
            try:
                send(4, reply)
            except BaseException:
                os._exit(0)


def _child_handle(req, ns, state):
    op = req.get("op")
    if op == "load":
        set_limits(req.get("limits") or {})
        exec(compile(req["program"], "candidate.py", "exec"), ns)
        state["fn"] = ns.get(req["entry"])
        if not callable(state["fn"]):
            raise NameError("the program does not define %s()" % req["entry"])
        return {"ok": True}
    if op == "exit":
        os._exit(0)
    args, kwargs = state["stash"] if op == "again" else (decode(req["args"]), decode(req["kwargs"]))
    if op == "stash":
        state["stash"] = (args, kwargs)
        return {"ok": True}
    value = state["fn"](*args, **kwargs)
    if op == "again":
        return {"ok": True}
    try:
        reply = {"ok": True, "value": encode(value)}
        changed = [[i, encode(a)] for i, a in enumerate(args) if _mutable(a) and encode(a) != req["args"][i + 1]]
        changed += [[k, encode(a)] for k, a in kwargs.items() if _mutable(a)]
    except Unsupported as exc:
        return {"unsupported": str(exc)}
    if changed:
        reply["mut"] = changed
    return reply


def _mutable(value):
    return type(value) in (list, dict, set, bytearray)


def _exc_info(exc):
    """What crosses for an exception: names and text only, the candidate's frames only."""
    try:
        import traceback

        mro = [k.__name__ for k in type(exc).__mro__][:12]
        frames = traceback.StackSummary.extract(_last_candidate_frames(exc.__traceback__, 8))
        lines = traceback.format_list(frames) + traceback.format_exception_only(type(exc), exc)
        tb = "Traceback (most recent call last):\n" + "".join(lines)
        return {"type": mro[0], "mro": mro, "msg": describe(exc)[len(mro[0]) + 2:], "tb": tb[-3000:]}
    except BaseException:
        return {"type": "Exception", "mro": ["Exception"], "msg": "", "tb": ""}


def _last_candidate_frames(tb, keep):
    """The last ``keep`` (frame, line) pairs of the candidate's own code in a traceback. Only
    those are summarised: summarising every frame of a RecursionError (1,000 of them) cost
    ~30 ms per failed call, seconds for a version that recurses without end on every input."""
    frames = []
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "candidate.py":
            frames.append((tb.tb_frame, tb.tb_lineno))
            if len(frames) > 2 * keep:
                del frames[:-keep]
        tb = tb.tb_next
    return iter(frames[-keep:])


def _drop_root(runner_path):
    """A checker running as root (a Daytona sandbox) gives its child no capabilities (none in
    the bounding set either, so a fresh interpreter gets none back) and, where the interpreter
    and the runner are reachable by others, uid 65534, so the child cannot trace or signal the
    checker. Elsewhere the child keeps the uid (without capabilities already) and the checker's
    non-dumpable flag protects it."""
    if os.getuid() != 0:
        return
    if all(_reachable_by_others(p) for p in (sys.executable, runner_path)):
        try:
            scratch = os.path.abspath("scratch")
            os.makedirs(scratch, exist_ok=True)
            os.chmod(scratch, 0o1777)
            os.chdir(scratch)
            os.setgroups([])
            os.setresgid(65534, 65534, 65534)
            os.setresuid(65534, 65534, 65534)
        except OSError:
            pass
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        for cap in range(64):
            libc.prctl(24, cap, 0, 0, 0)  # PR_CAPBSET_DROP
        header = (ctypes.c_uint32 * 2)(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3, this process
        libc.capset(header, (ctypes.c_uint32 * 6)())
        libc.prctl(38, 1, 0, 0, 0)  # PR_SET_NO_NEW_PRIVS
    except Exception:
        pass


def _reachable_by_others(path):
    """True when a user with no groups can read ``path`` and search every directory above it."""
    path = os.path.realpath(path)
    try:
        if not os.stat(path).st_mode & 0o004:
            return False
        parent = os.path.dirname(path)
        while True:
            if not os.stat(parent).st_mode & 0o001:
                return False
            if parent == os.path.dirname(parent):
                return True
            parent = os.path.dirname(parent)
    except OSError:
        return False


# -- the checker's handle on its child ------------------------------------------------------------
class Wire:
    """A call already in the form the child receives (tagged JSON args and kwargs): the engine
    encodes each model test and probe once per task, so the checker only forwards it."""

    __slots__ = ("call",)

    def __init__(self, call):
        self.call = call

    def values(self):
        return decode(self.call[0]), decode(self.call[1])


class ChildGone(Exception):
    """The child died or broke the protocol during a call."""


class CandidateRaised(Exception):
    """Stands for an exception the candidate raised when its class is not a builtin one."""


class Child:
    """The checker's side of one candidate process: start, load, call, time, relay, stop."""

    def __init__(self, runner_path):
        self.runner_path = runner_path
        self.pid = None
        self.req = self.rep = self.stat_fd = None
        self.outs = {}  # fd -> [stream name, pending bytes]
        self.relayed = {"stdout": 0, "stderr": 0}
        self.dropped = 0
        self.buf = b""
        self.peak_kib = 0
        self.cpu_done = 0.0
        self.death = None  # how the last child ended, when it died unasked
        self.crash = None  # the first such death: {"signal": name or None, "text"}
        self.job = None
        self.load_error = None
        self.test_cpu0 = 0.0
        self.limit = (3.0, 6.5)  # (CPU seconds, wall seconds) for the current test
        self.test_started = 0.0
        self.last_call = None

    # -- lifecycle
    def start(self, fresh):
        """Fork a child: ``fresh`` re-executes the interpreter (the checker's memory now holds
        the job); the first child is forked before the job is read and runs in place."""
        in_r, in_w = os.pipe()
        req_r, req_w = os.pipe()
        rep_r, rep_w = os.pipe()
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        pid = os.fork()
        if pid == 0:
            try:
                for src, dst in zip((in_r, out_w, err_w, req_r, rep_w), CHILD_FDS):
                    os.dup2(src, dst + 16)
                for dst in CHILD_FDS:
                    os.dup2(dst + 16, dst)
                os.closerange(len(CHILD_FDS), 1 << 16)
                signal.signal(signal.SIGALRM, signal.SIG_DFL)
                signal.setitimer(signal.ITIMER_REAL, 0)
                _drop_root(self.runner_path)
                if fresh:
                    os.execv(sys.executable, [sys.executable] + _python_flags() + [self.runner_path, "--child"])
                sys.stdout = os.fdopen(1, "w", closefd=False)
                sys.stderr = os.fdopen(2, "w", closefd=False)
                child_main()
            except BaseException:
                pass
            os._exit(127)
        for fd in (in_r, in_w, req_r, rep_w, out_w, err_w):
            os.close(fd)
        self.pid, self.req, self.rep = pid, req_w, rep_r
        try:
            self.stat_fd = os.open("/proc/%d/stat" % pid, os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            self.stat_fd = None
        os.set_blocking(rep_r, False)
        self.buf = b""
        self.outs = {}
        for fd, name in ((out_r, "stdout"), (err_r, "stderr")):
            os.set_blocking(fd, False)
            self.outs[fd] = [name, b""]

    def ensure(self):
        """A loaded child, started afresh when the last one died. False when it cannot load."""
        if self.pid is not None:
            return True
        if self.load_error is not None:
            return False
        self.start(fresh=True)
        failed = load(self.job, self)
        if failed:
            self.load_error = failed[0]
            self.stop(kill=True)
            return False
        return True

    def stop(self, kill=False):
        """End the child and collect its CPU time and peak memory."""
        if self.pid is None:
            return
        got = 0
        if not kill:  # end of requests: the child exits, which closes its end of the replies
            os.close(self.req)
            self.req = None
            os.set_blocking(self.rep, True)
            if select.select([self.rep], [], [], 0.5)[0] and not _read_some(self.rep):
                got, status, rusage = os.wait4(self.pid, 0)
        if not got:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except OSError:
                pass
            _, status, rusage = os.wait4(self.pid, 0)
        self.cpu_done += rusage.ru_utime + rusage.ru_stime
        self.peak_kib = max(self.peak_kib, rusage.ru_maxrss)
        self.drain(0.0)
        for fd in [self.req, self.rep, self.stat_fd] + list(self.outs):
            try:
                if fd is not None:
                    os.close(fd)
            except OSError:
                pass
        self.pid, self.outs, self.stat_fd = None, {}, None
        return status

    def died(self):
        """The child is gone unasked: reap it and say how it ended."""
        status = self.stop(kill=True)
        name = None
        if status is not None and os.WIFSIGNALED(status):
            name = _signal_name(os.WTERMSIG(status))
            hint = " (memory or process limit?)" if name == "SIGKILL" else ""
            self.death = "the version's process was killed by %s%s" % (name, hint)
        else:
            code = os.WEXITSTATUS(status) if status is not None else "?"
            self.death = "the version's process exited (status %s)" % code
        if self.crash is None:
            self.crash = {"signal": name, "text": self.death}
        return self.death

    # -- measurement
    def cpu(self):
        """CPU seconds of the live child (all its threads), from /proc; 0 where there is none."""
        try:
            if self.stat_fd is not None:  # kept open: a read per call, not an open and a close
                data = os.pread(self.stat_fd, 4096, 0)
            else:
                with open("/proc/%d/stat" % self.pid, "rb") as fh:
                    data = fh.read()
            fields = data.rsplit(b")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / _TICKS
        except (OSError, IndexError, ValueError, TypeError):
            return 0.0

    def rss_kib(self):
        try:
            with open("/proc/%d/status" % self.pid, "rb") as fh:
                for line in fh:
                    if line.startswith(b"VmHWM:"):
                        kib = int(line.split()[1])
                        self.peak_kib = max(self.peak_kib, kib)
                        return kib
        except (OSError, ValueError, IndexError, TypeError):
            pass
        return self.peak_kib or None

    def begin_test(self, limit_s):
        self.limit = (limit_s, wall_backstop(limit_s))
        self.test_started = time.monotonic()
        self.test_cpu0 = self.cpu() if self.pid else 0.0

    # -- talking
    def request(self, msg):
        """Send one request and wait for its reply within the current test's limits, relaying
        the child's output meanwhile. Raises TestTimeout (child killed) or ChildGone."""
        if self.pid is None:
            raise ChildGone(self.death or "the version's process is not running")
        try:
            send(self.req, msg)
        except OSError:
            raise ChildGone(self.died())
        return self.reply()

    def reply(self):
        """Wait for the child's next reply within the current test's limits (see request)."""
        if self.pid is None:
            raise ChildGone(self.death or "the version's process is not running")
        cpu_limit, wall_limit = self.limit
        # how often the limits are checked while waiting: a tenth of the limit, 10-50 ms (the
        # child's CPU time is counted in 10 ms ticks); a 0.1 s call limit overshot by up to 50 ms
        every = min(0.05, max(0.01, cpu_limit / 10.0))
        checked = time.monotonic()
        ready = True
        while True:
            frame = self._frame()
            if frame is not None:
                self.drain(0.0)
                return frame
            now = time.monotonic()
            if not ready or now - checked > every:  # the limits, when waiting (or flooded)
                checked = now
                if now - self.test_started > wall_limit or self.cpu() - self.test_cpu0 > cpu_limit:
                    self.stop(kill=True)
                    self.death = None
                    raise TestTimeout()
            fds = [self.rep] + list(self.outs)
            ready, _, _ = select.select(fds, [], [], every)
            for fd in ready:
                if fd == self.rep:
                    chunk = _read_some(fd)
                    if chunk is None:
                        continue
                    if not chunk:
                        raise ChildGone(self.died())
                    self.buf += chunk
                    if len(self.buf) > MAX_MESSAGE + 4:
                        self.stop(kill=True)
                        raise ChildGone("the version sent more than %d MiB in one reply" % (MAX_MESSAGE >> 20))
                else:
                    self._relay(fd)

    def _frame(self):
        if len(self.buf) < 4:
            return None
        (size,) = struct.unpack(">I", self.buf[:4])
        if size > MAX_MESSAGE:
            self.stop(kill=True)
            raise ChildGone("the version sent a reply of %d bytes" % size)
        if len(self.buf) < 4 + size:
            return None
        data, self.buf = self.buf[4:4 + size], self.buf[4 + size:]
        try:
            frame = json.loads(data)
        except (ValueError, RecursionError):
            frame = None
        if type(frame) is not dict:
            self.stop(kill=True)
            raise ChildGone("the version's process sent a malformed reply")
        return frame

    def drain(self, wait):
        """Relay whatever output is ready (waiting at most ``wait`` seconds for the first)."""
        while self.outs:
            ready, _, _ = select.select(list(self.outs), [], [], wait)
            if not ready:
                return
            for fd in ready:
                self._relay(fd)
            wait = 0.0

    def _relay(self, fd):
        name, pending = self.outs[fd]
        chunk = _read_some(fd)
        if chunk is None:
            return
        if not chunk:
            if pending:
                self._line(name, pending)
            del self.outs[fd]
            os.close(fd)
            return
        data = pending + chunk
        lines = data.split(b"\n")
        pending = lines.pop()
        while len(pending) > MAX_LINE:
            lines.append(pending[:MAX_LINE])
            pending = pending[MAX_LINE:]
        self.outs[fd][1] = pending
        for line in lines:
            self._line(name, line)

    def _line(self, name, raw):
        if self.relayed[name] + len(raw) > OUTPUT_CAP:
            self.dropped += len(raw) + 1
            return
        self.relayed[name] += len(raw) + 1
        emit({"ev": "out", "s": name, "t": raw.decode("utf-8", "replace")})

    def run_calls(self, calls, limit_s, max_timeouts=None):
        """Make every call (an (args, kwargs) pair, or an exception saying why it cannot be
        made) and return one outcome each: ("v", value), ("e", exception), ("t", ms) for a
        time-out or ("n", None) for a call not made. The calls go to the child in one message and it replies to each in turn, so
        a call costs no round trip; each is still timed on its own, from the previous reply
        (CPU and wall clock, as any test), and a call that times out or kills the child is
        that call's outcome: the rest go to a fresh child. After ``max_timeouts`` time-outs
        the version is taken not to end and the remaining calls are not made: a hanging
        version would otherwise cost its full limit on every call."""
        out, i, timeouts = [None] * len(calls), 0, 0
        while i < len(calls):
            if max_timeouts is not None and timeouts >= max_timeouts:
                for j in range(i, len(calls)):
                    out[j] = ("n", None)
                break
            batch, where = [], []
            for j in range(i, len(calls)):
                call = calls[j]
                if isinstance(call, BaseException):
                    out[j] = ("e", call)
                    continue
                if isinstance(call, Wire):
                    batch.append(call.call)
                    where.append(j)
                    continue
                try:
                    batch.append([encode(list(call[0])), encode(dict(call[1]))])
                    where.append(j)
                except Unsupported as exc:
                    out[j] = ("e", Unchecked("the call passes a %s: only plain data crosses" % exc))
            if not batch:
                break
            i = len(calls)
            try:
                if not self.ensure():
                    raise ChildGone("does not load: %s" % self.load_error)
                self.begin_test(limit_s)
                signal.setitimer(signal.ITIMER_REAL, wall_backstop(limit_s) + 1.0)
                send(self.req, {"op": "batch", "calls": batch})
            except (ChildGone, OSError) as exc:
                signal.setitimer(signal.ITIMER_REAL, 0)
                for j in where:
                    out[j] = ("e", exc if isinstance(exc, ChildGone) else ChildGone(self.died()))
                break
            for n, j in enumerate(where):
                try:
                    if n:
                        self.begin_test(limit_s)
                        signal.setitimer(signal.ITIMER_REAL, wall_backstop(limit_s) + 1.0)
                    # a wire call's arguments are not kept here: a change the version makes to them is not needed
                    args, kwargs = ((), {}) if isinstance(calls[j], Wire) else calls[j]
                    out[j] = ("v", self._value(self.reply(), args, kwargs))
                except TestTimeout:
                    self.stop(kill=True)
                    out[j], timeouts = ("t", (time.monotonic() - self.test_started) * 1000.0), timeouts + 1
                except Exception as exc:
                    out[j] = ("e", exc)
                finally:
                    signal.setitimer(signal.ITIMER_REAL, 0)
                if self.pid is None:  # timed out or gone: the rest go to a fresh child
                    i = j + 1
                    break
        return out

    # -- calls
    def call(self, args, kwargs):
        """Call the candidate's function: returns the value, raises what it raised (as a builtin
        exception class where one fits), or AssertionError for a value that is not data."""
        try:
            enc_args, enc_kwargs = encode(list(args)), encode(dict(kwargs))
        except Unsupported as exc:
            raise Unchecked("the test passes a %s to the version: only plain data crosses the sandbox "
                            "boundary, so this task cannot be checked here" % exc)
        self.last_call = (args, kwargs, None)
        if not self.ensure():
            raise ChildGone("does not load: %s" % self.load_error)
        value = self._value(self.request({"op": "call", "args": enc_args, "kwargs": enc_kwargs}), args, kwargs)
        self.last_call = (args, kwargs, value)
        return value

    def _value(self, reply, args, kwargs):
        """A call's reply as the value returned, or the exception that stands for it."""
        if "raise" in reply:
            raise _candidate_exception(reply["raise"])
        if "unsupported" in reply:
            raise NotData(str(reply["unsupported"])[:80])
        try:
            value = decode(reply.get("value"))
            for key, new in reply.get("mut") or []:
                _write_back(args, kwargs, key, decode(new))
        except (Malformed, TypeError, ValueError) as exc:
            raise NotData("malformed reply: %s" % exc)
        return value


class NotData(AssertionError):
    """The version returned something that is not plain data: the case fails."""

    def __init__(self, type_name):
        super().__init__("returned a <%s>: only plain data crosses the sandbox boundary" % type_name)
        self.type_name = type_name


class Unchecked(Exception):
    """The test itself cannot run against a version in another process."""


def _write_back(args, kwargs, key, new):
    """A test that checks how the version changed its argument sees the change: the child's
    copy of a mutated list, dict, set or bytearray argument is written into the checker's."""
    if type(key) is int and 0 <= key < len(args):
        old = args[key]
    elif type(key) is str and key in kwargs:
        old = kwargs[key]
    else:
        return
    if type(old) is not type(new):
        return
    if isinstance(old, (list, bytearray)):
        old[:] = new
    else:
        old.clear()
        old.update(new)


# The candidate's traceback, for the report only: kept off the exception the test code catches,
# where a test could read its line numbers and tell apart versions that differ only in layout,
# which share one run and verdict (generation/dedupe.py). id(exception) -> (exception, text),
# the latest TRACEBACKS_KEPT only: a version raising on every call must not grow the checker.
_TRACEBACKS = {}
TRACEBACKS_KEPT = 1024


def candidate_traceback(exc):
    """The traceback of the candidate's exception ``exc`` stands for, or ""."""
    held = _TRACEBACKS.get(id(exc))
    return held[1] if held is not None and held[0] is exc else ""


def _candidate_exception(info):
    """An exception object the checker's test code can catch as it would the original: its
    type, bases and message, nothing that depends on the version's layout."""
    if type(info) is not dict:
        info = {}
    mro = [str(n) for n in info.get("mro") or [] if type(n) is str][:12] or ["Exception"]
    msg = str(info.get("msg") or "")[:1000]
    cls = CandidateRaised
    for name in mro:
        builtin = getattr(builtins, name, None)
        if isinstance(builtin, type) and issubclass(builtin, Exception):
            cls = builtin
            break
    try:
        exc = cls(msg) if cls is not CandidateRaised else CandidateRaised(msg)
    except Exception:
        exc = CandidateRaised(msg)
    exc.ace_info = {"type": mro[0], "mro": mro, "msg": msg}
    _TRACEBACKS[id(exc)] = (exc, str(info.get("tb") or "")[:3000])
    if len(_TRACEBACKS) > TRACEBACKS_KEPT:
        del _TRACEBACKS[next(iter(_TRACEBACKS))]  # the oldest (dicts keep their order)
    return exc


def _read_some(fd):
    """Bytes ready on ``fd``: b"" at end of file, None when nothing is ready after all."""
    try:
        return os.read(fd, 1 << 16)
    except BlockingIOError:
        return None
    except OSError:
        return b""


def _python_flags():
    flags = []
    for attr, flag in (("isolated", "-I"), ("no_site", "-S"), ("no_user_site", "-s"),
                       ("ignore_environment", "-E"), ("safe_path", "-P")):
        if getattr(sys.flags, attr, 0) and not (flag != "-I" and sys.flags.isolated and flag in ("-s", "-E")):
            flags.append(flag)
    return flags


def _signal_name(num):
    try:
        return signal.Signals(num).name
    except ValueError:
        return "signal %d" % num


try:
    _TICKS = os.sysconf("SC_CLK_TCK")
except (ValueError, OSError, AttributeError):
    _TICKS = 100


# -- the checker ---------------------------------------------------------------------------------
def emit(event):
    """Write one event line on the checker's stdout (atomic for lines < PIPE_BUF)."""
    line = MARK + _NONCE + ":" + json.dumps(event, default=repr) + "\n"
    data = memoryview(line.encode("utf-8", "replace"))
    try:
        while data:
            data = data[os.write(_OUT_FD, data):]
    except OSError:
        pass


def protect_self():
    """Make this process non-dumpable: no same-uid process may trace it or open its /proc
    files (mem, fd, environ). Returns None, or why it could not be done."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(4, 0, 0, 0, 0) != 0:  # PR_SET_DUMPABLE
            return "prctl(PR_SET_DUMPABLE) failed: errno %d" % ctypes.get_errno()
        return None
    except Exception as exc:  # no ctypes in this interpreter, or no prctl (not Linux)
        return describe(exc)


def set_limits(limits):
    """Best-effort rlimits for the candidate (the backend may have set them already)."""
    try:
        import resource
    except ImportError:
        return
    table = [
        ("cpu_s", "RLIMIT_CPU", 1),
        ("memory_mb", "RLIMIT_AS", 1 << 20),
        ("processes", "RLIMIT_NPROC", 1),
        ("file_size_mb", "RLIMIT_FSIZE", 1 << 20),
        ("open_files", "RLIMIT_NOFILE", 1),
    ]
    for key, name, scale in table:
        value = limits.get(key)
        if not value or not hasattr(resource, name):
            continue
        res = getattr(resource, name)
        want = int(value) * scale
        try:
            _, hard = resource.getrlimit(res)
            if hard != resource.RLIM_INFINITY:
                want = min(want, hard)
            resource.setrlimit(res, (want, hard if hard != resource.RLIM_INFINITY else want))
        except (ValueError, OSError):
            pass


def exc_matches(exc, name):
    """True when the exception's class or one of its bases is called ``name``."""
    info = getattr(exc, "ace_info", None)
    if info:
        return name in info["mro"]
    return any(k.__name__ == name for k in type(exc).__mro__)


def explain(exc):
    """One line for a failed case: the candidate's own exception type where it raised one."""
    info = getattr(exc, "ace_info", None)
    if info:
        return info["type"] + (": " + info["msg"] if info["msg"] else "")
    return describe(exc)


def middle(values):
    """The median (statistics costs milliseconds to import in every sandbox)."""
    ordered = sorted(values)
    half = len(ordered) // 2
    return ordered[half] if len(ordered) % 2 else (ordered[half - 1] + ordered[half]) / 2


def wall_backstop(seconds):
    """The wall-clock limit behind a CPU-time limit: a test that sleeps or waits uses no CPU."""
    return 2 * seconds + 0.5


def _on_alarm(signum, frame):
    raise TestTimeout()


def guarded(seconds, fn, *args):
    """Run checker-side test code under a wall-clock alarm a little beyond the child's own
    limits (those are enforced while waiting for each reply). Returns fn's value."""
    signal.setitimer(signal.ITIMER_REAL, wall_backstop(seconds) + 1.0)
    try:
        return fn(*args)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)


def timed_out_msg(seconds):
    return "timed out: over %.1fs of CPU time or %.1fs of wall time" % (seconds, wall_backstop(seconds))


def equal(got, want):
    """Equality for declarative cases: tuples as lists (YAML/JSON have no tuples), floats with
    tolerance. Both sides are plain data here: the candidate's objects never reach the checker."""
    if isinstance(got, tuple):
        got = list(got)
    if isinstance(want, tuple):
        want = list(want)
    if isinstance(got, float) and isinstance(want, (int, float)) and not isinstance(want, bool):
        return abs(got - want) <= 1e-9 * max(1.0, abs(want))
    if isinstance(got, list) and isinstance(want, list):
        return len(got) == len(want) and all(equal(a, b) for a, b in zip(got, want))
    if isinstance(got, dict) and isinstance(want, dict):
        return got.keys() == want.keys() and all(equal(got[k], want[k]) for k in got)
    try:
        return bool(got == want)
    except Exception:
        return False


class Checker:
    """Runs the job's tests against the child and reports every step."""

    def __init__(self, job, child):
        self.job, self.child = job, child
        self.entry = job["entry_point"]
        self.limit_s = float(job.get("time_limit_s") or 3.0)
        # a model-written test or a probe is one literal call, not a test's handful of calls
        self.call_limit_s = float(job.get("call_time_limit_s") or self.limit_s)
        self.scope = {"__name__": "__test__", "__builtins__": builtins}
        context = job.get("context")
        if context:  # a completion-style task's prompt: its helpers, from the task file
            try:
                exec(compile(context, "<prompt>", "exec"), self.scope)
            except Exception:
                pass
        self.scope[self.entry] = self.proxy()
        self.unchecked = None
        self.call_timeouts = 0  # among generated tests and probes (see TIMEOUTS_MAX)
        self.outcomes = {}  # a literal call's wire form -> its outcome (see literal_calls)

    def proxy(self):
        child = self.child

        def candidate(*args, **kwargs):
            return child.call(args, kwargs)

        candidate.__name__ = candidate.__qualname__ = self.entry
        return candidate

    # -- one case
    def run_case(self, test):
        """Returns None on success or raises AssertionError / what the candidate raised."""
        kind = test.get("kind", "case")
        if kind == "case":
            args, kwargs = test.get("args") or [], test.get("kwargs") or {}
            raises = test.get("raises")
            if raises:
                try:
                    self.child.call(args, kwargs)
                except (TestTimeout, ChildGone, Unchecked):
                    raise
                except Exception as exc:
                    if exc_matches(exc, raises):
                        return
                    raise AssertionError("expected %s, got %s" % (raises, explain(exc)))
                raise AssertionError("expected %s, nothing was raised" % raises)
            got = self.child.call(args, kwargs)
            want = test.get("expect")
            if not equal(got, want):
                raise AssertionError("expected %s, got %s" % (short(want), short(got)))
            return
        scope = dict(self.scope)
        exec(compile(test.get("code") or "", "<test>", "exec"), scope)
        if kind == "check":
            scope["check"](scope[self.entry])

    def run_group(self, group, tests, runner):
        """Run a list of tests, emitting start/end events; returns (passed_indices, timeouts)."""
        passed, timeouts = [], 0
        for i, test in enumerate(tests):
            name = (test or {}).get("name") or "%s %d" % (GROUP_NAMES.get(group, group), i + 1)
            emit({"ev": "test", "phase": "start", "group": group, "i": i, "name": name})
            ok, error, error_type, timed_out, detail = False, None, None, False, {}
            self.child.last_call = None
            start = time.perf_counter_ns()
            try:
                if self.child.ensure():
                    self.child.begin_test(self.limit_s)
                guarded(self.limit_s, runner, test)
                ok = True
            except TestTimeout:
                self.child.stop(kill=True)
                timed_out, error, error_type = True, timed_out_msg(self.limit_s), "Timeout"
                timeouts += 1
            except ChildGone as exc:
                error, error_type = str(exc), "Crash"
            except Unchecked as exc:
                error, error_type = str(exc), "Unchecked"
                self.unchecked = self.unchecked or str(exc)
            except NameError as exc:  # raised by the test itself, not by the version
                error, error_type = explain(exc), "NameError"
                if not hasattr(exc, "ace_info"):
                    self.unchecked = self.unchecked or (
                        "%s: tests may call only %s() and the task's own helpers, not names the version "
                        "defines" % (describe(exc), self.entry))
            except BaseException as exc:
                error, error_type = explain(exc), getattr(exc, "ace_info", {}).get("type") or type(exc).__name__
                detail = self.detail(test, exc)
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
            ms = (time.perf_counter_ns() - start) / 1e6
            if ok:
                passed.append(i)
            elif self.child.last_call is not None:
                detail.setdefault("call", self.call_text(self.child.last_call))
            emit({"ev": "test", "phase": "end", "group": group, "i": i, "name": name, "ok": ok,
                  "error": error, "error_type": error_type, "timeout": timed_out, "ms": round(ms, 3),
                  "cpu_s": self.cpu_s(), "rss_kib": self.child.rss_kib(), "detail": detail or None})
        return passed, timeouts

    def detail(self, test, exc):
        """What a person needs to see why a case failed."""
        out, test = {}, test or {}
        if candidate_traceback(exc):
            out["traceback"] = candidate_traceback(exc)
        last = self.child.last_call
        if last is not None and last[2] is not None:
            out["got"] = short(last[2])
        if test.get("kind", "case") == "case" and not test.get("raises"):
            out["expected"] = short(test.get("expect"))
        elif isinstance(exc, AssertionError):
            import traceback

            for frame in reversed(traceback.extract_tb(exc.__traceback__)):
                if frame.filename == "<test>":
                    lines = (test.get("code") or "").splitlines()
                    if 0 < frame.lineno <= len(lines):
                        out["assertion"] = lines[frame.lineno - 1].strip()[:300]
                    break
        return out

    def call_text(self, last):
        args, kwargs, _ = last
        parts = [short(a, 60) for a in args] + ["%s=%s" % (k, short(v, 60)) for k, v in kwargs.items()]
        return short_text("%s(%s)" % (self.entry, ", ".join(parts)))

    def cpu_s(self):
        return round(self.child.cpu_done + (self.child.cpu() if self.child.pid else 0.0), 4)

    # -- generated tests and probes: literal calls only, sent to the child in one batch
    def run_generated_group(self, tests):
        """The generated tests as one quiet group (see run_group): returns (passed, timeouts)."""
        emit({"ev": "group", "phase": "start", "group": "generated", "n": len(tests)})
        calls, wants = [], []
        for test in tests:
            try:
                if not test:
                    raise AssertionError("not run: not a plain `assert %s(...) == value` test" % self.entry)
                if "call" in test:  # encoded once per task by the engine
                    call, want = Wire(test["call"]), decode(test["want"])
                else:
                    call = (_literal(test["args"]), _literal(test.get("kwargs") or "{}"))
                    want = _literal(test["expect"])
                calls.append(call)
                wants.append(want)
            except Exception as exc:
                calls.append(exc)
                wants.append(None)
        passed, failures, timeouts, timeout_ms = [], [], 0, 0.0
        outcomes = self.literal_calls(calls)
        for i, (kind, value) in enumerate(outcomes):
            if kind == "v" and value == wants[i]:
                passed.append(i)
                continue
            if kind == "t":
                timeouts, timeout_ms = timeouts + 1, timeout_ms + value
            if len(failures) >= FAILURES_IN_GROUP:
                continue
            detail = {}
            if kind == "v":
                error, error_type = "expected %s, got %s" % (short(wants[i]), short(value)), "AssertionError"
                detail["expected"], detail["got"] = short(wants[i]), short(value)
            elif kind == "t":
                error, error_type = timed_out_msg(self.call_limit_s), "Timeout"
            elif kind == "n":
                error, error_type = ("not run: the version timed out on %d calls already"
                                     % TIMEOUTS_MAX), "Timeout"
            else:
                error = str(value) if isinstance(value, (ChildGone, Unchecked, AssertionError)) else explain(value)
                error_type = ("Crash" if isinstance(value, ChildGone) else
                              getattr(value, "ace_info", {}).get("type") or type(value).__name__)
                if candidate_traceback(value):
                    detail["traceback"] = candidate_traceback(value)
            if not isinstance(calls[i], BaseException):
                args, kwargs = calls[i].values() if isinstance(calls[i], Wire) else calls[i]
                detail["call"] = self.call_text((args, kwargs, None))
            failures.append({"i": i, "name": "generated test %d" % (i + 1), "error": error,
                             "error_type": error_type, "timeout": kind == "t", "detail": detail or None})
        emit({"ev": "group", "phase": "end", "group": "generated", "n": len(tests), "passed": passed,
              "timeouts": timeouts, "timeout_ms": round(timeout_ms, 3), "failures": failures,
              "cpu_s": self.cpu_s(), "rss_kib": self.child.rss_kib()})
        return passed, timeouts

    def literal_calls(self, calls):
        """Outcomes of literal calls (see Child.run_calls), each distinct call made once per
        version: a model test and the probe made from its input, or two model tests of the
        same input with different expected values, share one call (a fifth of all calls on
        real samples). After TIMEOUTS_MAX time-outs in all, the rest are not made."""
        keys = [json.dumps(c.call) if isinstance(c, Wire) else None for c in calls]
        todo = {}
        for i, key in enumerate(keys):
            if key is None or (key not in self.outcomes and key not in todo):
                todo[key if key is not None else i] = i
        ran = self.child.run_calls([calls[i] for i in todo.values()], self.call_limit_s,
                                   TIMEOUTS_MAX - self.call_timeouts)
        self.call_timeouts += sum(1 for kind, _ in ran if kind == "t")
        mine = {}
        for key, outcome in zip(todo, ran):
            (self.outcomes if isinstance(key, str) else mine)[key] = outcome
        return [self.outcomes[key] if key is not None else mine[i] for i, key in enumerate(keys)]

    def run_probes(self, probes):
        """Each probe's outcome as a short string; equal strings mean equal behaviour. After
        TIMEOUTS_MAX time-outs (its generated tests' included) the version is taken not to
        end: the rest say "t" unrun (a hanging version would otherwise cost its full limit on
        every probe)."""
        calls = []
        for source in probes:
            if type(source) is list:  # encoded once per task by the engine
                calls.append(Wire(source))
                continue
            try:
                args, kwargs = _literal(source)
                calls.append((tuple(args), dict(kwargs)))
            except Exception as exc:
                calls.append(exc)
        outputs = []
        for kind, value in self.literal_calls(calls):
            if kind in ("t", "n"):
                outputs.append("t")
                continue
            try:
                if kind == "e":
                    raise value
                text = canon(value)
                if len(text) > 200:
                    import hashlib

                    text = "h:" + hashlib.sha1(text.encode("utf-8", "replace")).hexdigest()
                else:
                    text = "v:" + text
            except NotData as exc:
                text = "u:" + exc.type_name
            except (ChildGone, Unchecked, ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
                text = "x"
            except Exception as exc:
                text = "e:" + getattr(exc, "ace_info", {}).get("type", type(exc).__name__)
            outputs.append(text)
        return outputs

    def run_perf(self, cases):
        """Time each perf case: the input is built here and sent once, then the checker times
        ``repeats`` calls round trip and reports the median."""
        medians = []
        for i, case in enumerate(cases):
            name = case.get("name") or "perf %d" % (i + 1)
            emit({"ev": "test", "phase": "start", "group": "perf", "i": i, "name": name})
            limit = float(case.get("time_limit_s") or 5.0)
            repeats = max(1, int(case.get("repeats") or 5))
            runs, error, timed_out = [], None, False
            try:
                args = eval(case["setup"], dict(self.scope))
                if not isinstance(args, (list, tuple)):
                    args = (args,)
                if not self.child.ensure():
                    raise ChildGone("does not load")
                self.child.begin_test(limit)
                reply = self.child.request({"op": "stash", "args": encode(list(args)), "kwargs": ["d"]})
                if "raise" in reply:
                    raise _candidate_exception(reply["raise"])
                deadline = time.monotonic() + limit * repeats
                for _ in range(repeats):
                    self.child.begin_test(limit)
                    start = time.perf_counter_ns()
                    reply = guarded(limit, self.child.request, {"op": "again"})
                    if "raise" in reply:
                        raise _candidate_exception(reply["raise"])
                    runs.append(round((time.perf_counter_ns() - start) / 1e6, 4))
                    if time.monotonic() > deadline:
                        break
            except TestTimeout:
                self.child.stop(kill=True)
                timed_out, error = True, timed_out_msg(limit)
            except BaseException as exc:
                error = explain(exc)
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
            median = round(middle(runs), 4) if runs and not error else None
            if median is not None:
                medians.append(median)
            emit({"ev": "test", "phase": "end", "group": "perf", "i": i, "name": name,
                  "ok": median is not None, "error": error, "timeout": timed_out,
                  "error_type": "Timeout" if timed_out else None, "median_ms": median, "runs_ms": runs,
                  "cpu_s": self.cpu_s(), "rss_kib": self.child.rss_kib()})
        return medians


def short_text(text, limit=300):
    return text if len(text) <= limit else text[:limit] + "..."


def load(job, child):
    """Load the program in the child. Returns None, or (error, error_type, traceback)."""
    load_s = float(job.get("load_time_limit_s") or job.get("time_limit_s") or 3.0)
    child.begin_test(load_s)
    try:
        reply = guarded(load_s, child.request, {"op": "load", "program": job["program"],
                                                "entry": job["entry_point"], "limits": job.get("limits") or {}})
    except TestTimeout:
        child.stop(kill=True)
        return "loading " + timed_out_msg(load_s), "Timeout", None
    except ChildGone as exc:
        return str(exc), "Crash", None
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    if "raise" in reply:
        exc = _candidate_exception(reply["raise"])
        info = exc.ace_info
        return info["type"] + (": " + info["msg"] if info["msg"] else ""), info["type"], candidate_traceback(exc)
    return None


def add_task_packages():
    """The task's own packages (its ``requirements``), when the sandbox has them: a read-only
    site-packages directory named by SANDBOX_SITE_PACKAGES, added after the standard library
    (so a package cannot shadow a module the checker uses). The checker sees them too: a
    task's own tests may import them."""
    path = os.environ.get("SANDBOX_SITE_PACKAGES")
    if path and os.path.isdir(path) and path not in sys.path:
        import site

        site.addsitedir(path)


def main():
    global _OUT_FD, _NONCE
    add_task_packages()
    if sys.argv[1:2] == ["--child"]:
        child_main()
        os._exit(0)
    _OUT_FD = 1
    problem = protect_self()
    child = Child(os.path.abspath(sys.argv[0]))
    child.start(fresh=False)  # before the job is read: nothing secret is in its memory
    job_path = sys.argv[1] if len(sys.argv) > 1 else "job.json"
    with open(job_path, encoding="utf-8") as fh:
        job = json.load(fh)
    try:
        os.unlink(job_path)
    except OSError:
        pass
    _NONCE = job["nonce"]
    child.job = job
    signal.signal(signal.SIGALRM, _on_alarm)
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    tests = job.get("tests") or []
    errors = job.get("error_cases") or []
    perf = job.get("perf") or []
    generated = job.get("generated_tests") or []
    probes = job.get("probes") or []
    emit({"ev": "hello", "pid": os.getpid(), "tests_total": len(tests), "error_total": len(errors),
          "perf_total": len(perf), "generated_total": len(generated), "probes_total": len(probes)})
    if problem:
        child.stop(kill=True)
        emit({"ev": "fatal", "error": "the checker could not protect itself from the version (%s)" % problem})
        return

    failed = load(job, child)
    if failed:
        error, error_type, tb = failed
        emit({"ev": "load", "ok": False, "error": error, "error_type": error_type, "traceback": tb})
        child.load_error = error
        child.stop(kill=True)
        emit_verdict(job, child, [], [], [], [], 1 if error_type == "Timeout" else 0, load_error=error)
        return
    emit({"ev": "load", "ok": True})

    checker = Checker(job, child)
    passed, t1 = checker.run_group("tests", tests, checker.run_case)
    handled, t2 = checker.run_group("error_cases", [dict(c, kind="case") for c in errors], checker.run_case)
    gen_passed, t3 = checker.run_generated_group(generated) if generated else ([], 0)
    medians = checker.run_perf(perf) if perf and len(passed) == len(tests) else []
    if probes:  # announced, so the engine's watchdog allows for all of them (as for a group)
        emit({"ev": "group", "phase": "start", "group": "probes", "n": len(probes)})
        emit({"ev": "probes", "outputs": checker.run_probes(probes)})
    child.stop()
    emit_verdict(job, child, passed, handled, gen_passed, medians, t1 + t2 + t3, unchecked=checker.unchecked)


def emit_verdict(job, child, passed, handled, gen_passed, medians, timeouts, load_error=None, unchecked=None):
    emit({"ev": "verdict", "tests_passed": len(passed), "tests_total": len(job.get("tests") or []),
          "passed": passed, "errors_handled": len(handled),
          "errors_total": len(job.get("error_cases") or []), "generated_passed": gen_passed,
          "generated_total": len(job.get("generated_tests") or []),
          "median_ms": round(sum(medians), 4) if medians else None,
          "perf_total": len(job.get("perf") or []), "perf_done": len(medians),
          "timeouts": timeouts, "load_error": load_error, "peak_kib": child.peak_kib or None,
          "cpu_s": round(child.cpu_done, 4), "output_dropped": child.dropped, "unchecked": unchecked,
          "crash": child.crash})


def run_as_script():
    """What ``python runner.py ...`` does. Never returns."""
    try:
        main()
    except BaseException as exc:  # a checker bug: say so (no verdict means no pass)
        if _NONCE:
            import traceback

            emit({"ev": "fatal", "error": "the checker failed: %s" % describe(exc),
                  "traceback": traceback.format_exc()[-2000:]})
    finally:
        os._exit(0)


if __name__ == "__main__":
    run_as_script()
