"""Quick offline executor for the selection benchmark: runs every version on its task's probes in
plain forked subprocesses (no sandbox, no engine) and returns what the engine's checker returns:
``probe_outputs`` (``v:``/``h:``/``e:``/``t``/``u:``/``x`` strings) and ``generated_passed``.

Only for iterating on selection research with trusted data (the CodeT samples); the figures in
the README come from the real engine path (``bench_selection.py --engine``). Each task runs in a
driver process that forks one child per version, so a version that exits, crashes or hangs
loses only its own remaining probes.
"""
from __future__ import annotations

import ast
import hashlib
import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

MAX_REPR = 256  # longer canonical reprs travel as a sha1
PROBE_LIMIT_S = 0.25  # per probe: the dev data's right versions take microseconds
VERSION_BUDGET_S = 6.0  # per version, all probes together


class Unsupported(Exception):
    pass


def canonical(value, depth: int = 0) -> str:
    """Deterministic repr: sets and dict keys sorted, floats to 9 significant digits, returned
    iterators consumed into lists."""
    if depth > 50:
        raise Unsupported("deep")
    c = lambda v: canonical(v, depth + 1)
    if value is None or isinstance(value, bool):
        return repr(value)
    if isinstance(value, int):
        return repr(value)
    if isinstance(value, float):
        return format(value, ".9g")
    if isinstance(value, complex):
        return f"({format(value.real, '.9g')}+{format(value.imag, '.9g')}j)"
    if isinstance(value, (str, bytes)):
        return repr(value)
    if isinstance(value, list):
        return "[" + ",".join(map(c, value)) + "]"
    if isinstance(value, tuple):
        return "(" + ",".join(map(c, value)) + ")"
    if isinstance(value, (set, frozenset)):
        return "{" + ",".join(sorted(map(c, value))) + "}"
    if isinstance(value, dict):
        return "{" + ",".join(sorted(f"{c(k)}:{c(v)}" for k, v in value.items())) + "}"
    if hasattr(value, "__next__"):
        items = []
        for i, v in enumerate(value):
            if i > 100_000:
                raise Unsupported(type(value).__name__)
            items.append(v)
        return c(items)
    raise Unsupported(type(value).__name__)


def encode(value) -> str:
    try:
        text = canonical(value)
    except Unsupported as exc:
        return f"u:{exc}"
    except RecursionError:
        return "u:deep"
    if len(text) > MAX_REPR:
        return "h:" + hashlib.sha1(text.encode()).hexdigest()
    return "v:" + text


# --- generated tests as literal calls: the engine's own parser ---------------------------------

def expected_output(test: str, entry_point: str) -> tuple[str, str] | None:
    """(probe source, expected output string) of a generated test the engine would run (a
    literal ``assert f(...) == value``); None for one it drops."""
    from ai_code_evals.engine.calls import parse_generated_test

    call = parse_generated_test(test, entry_point)
    if call is None:
        return None
    args, kwargs = ast.literal_eval(call.args_src), ast.literal_eval(call.kwargs_src)
    return repr((tuple(args), dict(kwargs))), encode(ast.literal_eval(call.expect_src))


# --- the driver process -------------------------------------------------------------------------

def _alarm(_sig, _frame):
    raise TimeoutError


def _child(code: str, entry: str, probes: list[str], out_fd: int) -> None:
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    out = os.fdopen(out_fd, "w", buffering=1)
    signal.signal(signal.SIGALRM, _alarm)
    ns: dict = {"__name__": "__candidate__"}
    try:
        signal.setitimer(signal.ITIMER_REAL, 2.0)
        exec(compile(code, "<candidate>", "exec"), ns)  # noqa: S102 - research mode, runs the dev samples
        signal.setitimer(signal.ITIMER_REAL, 0)
        fn = ns[entry]
    except BaseException:  # noqa: BLE001 - a version that does not load answers nothing
        signal.setitimer(signal.ITIMER_REAL, 0)
        out.write("LOADFAIL\n")
        out.flush()
        os._exit(0)
    for src in probes:
        args, kwargs = ast.literal_eval(src)
        try:
            signal.setitimer(signal.ITIMER_REAL, PROBE_LIMIT_S)
            value = fn(*args, **kwargs)
            if hasattr(value, "__next__"):
                value = list(value)
            signal.setitimer(signal.ITIMER_REAL, 0)
            line = encode(value)
        except TimeoutError:
            line = "t"
        except BaseException as exc:  # noqa: BLE001
            signal.setitimer(signal.ITIMER_REAL, 0)
            line = f"e:{type(exc).__name__}"
        out.write(json.dumps(line) + "\n")
    out.flush()
    os._exit(0)


def run_one(code: str, entry: str, probes: list[str]) -> dict:
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        try:
            _child(code, entry, probes, w)
        finally:
            os._exit(1)
    os.close(w)
    buf = b""
    deadline = time.monotonic() + VERSION_BUDGET_S + 2.0
    with os.fdopen(r, "rb") as fh:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                os.kill(pid, signal.SIGKILL)
                break
            ready, _, _ = select.select([fh], [], [], left)
            if not ready:
                continue
            chunk = os.read(fh.fileno(), 65536)
            if not chunk:
                break
            buf += chunk
    os.waitpid(pid, 0)
    lines = buf.decode(errors="replace").splitlines()
    if lines[:1] == ["LOADFAIL"]:
        return {"loaded": False, "outputs": ["x"] * len(probes)}
    outs = [json.loads(x) for x in lines if x]
    return {"loaded": True, "outputs": outs + ["x"] * (len(probes) - len(outs))}


def driver_main() -> None:
    job = json.load(sys.stdin)
    res = [run_one(code, job["entry"], job["probes"]) for code in job["codes"]]
    json.dump(res, sys.stdout)


def run_task(entry: str, codes: list[str], probes: list[str]) -> list[dict]:
    with tempfile.TemporaryDirectory(prefix="ace-sel-") as work:
        proc = subprocess.run([sys.executable, "-I", __file__, "--driver"], check=False, input=json.dumps(
            {"entry": entry, "codes": codes, "probes": probes}), capture_output=True, text=True, cwd=work,
            env={"PATH": os.environ.get("PATH", "")})
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-2000:])
    return json.loads(proc.stdout)


def run_all(jobs: list[tuple[str, list[str], list[str]]], workers: int = 2) -> list[list[dict]]:
    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(lambda j: run_task(*j), jobs))


if __name__ == "__main__" and sys.argv[1:] == ["--driver"]:
    driver_main()
