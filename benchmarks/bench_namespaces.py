"""What each new namespace adds to a clone, against a plain fork measured in the same run.

The warm server (``sandbox/_warm_server.py``) starts every command with one clone that makes
its mount, UTS, IPC, pid and network namespaces; that clone runs in the server, one at a time.
This clones a small child with each flag alone and with all of them, alternating the cases over
``--rounds``, and prints the machine's CPU per clone (/proc/stat: the kernel's deferred work,
such as a network namespace's clean-up in a worker thread, included; so is anything else
running, so run it on a quiet machine) as a ratio to the plain fork's. Needs root.

    uv run python benchmarks/bench_namespaces.py
    uv run python benchmarks/bench_namespaces.py --clones 500 --rounds 4
"""
from __future__ import annotations

import argparse
import ctypes
import os
import signal
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from bench_sandbox import machine_cpu_ms

from ai_code_evals.sandbox import _warm_server as server  # the flags and call it starts commands with

FLAGS = {"mount": server.CLONE_NEWNS, "uts": server.CLONE_NEWUTS, "ipc": server.CLONE_NEWIPC,
         "pid": server.CLONE_NEWPID, "network": server.CLONE_NEWNET}
assert sum(FLAGS.values()) == server.CLONE_INIT


def clone_and_reap(flags: int, clones: int) -> float:
    """Machine CPU milliseconds per clone of a child that exits at once."""
    libc = ctypes.PyDLL(None, use_errno=True)  # keeps the interpreter's lock across the clone
    libc.syscall.argtypes = [ctypes.c_long, ctypes.c_ulong] + [ctypes.c_ulong] * 4
    libc.syscall.restype = ctypes.c_long
    start = machine_cpu_ms()
    for _ in range(clones):
        pid = libc.syscall(server.SYS_CLONE, flags | signal.SIGCHLD, 0, 0, 0, 0)
        if pid == 0:
            os._exit(0)
        if pid < 0:
            raise OSError(ctypes.get_errno(), f"clone failed: {os.strerror(ctypes.get_errno())}")
        os.waitpid(pid, 0)
    return (machine_cpu_ms() - start) / clones


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clones", type=int, default=500, help="clones per case and round")
    ap.add_argument("--rounds", type=int, default=4)
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("bench_namespaces: needs root (new namespaces without a user namespace)")
        return 2
    cases = {"plain fork": 0, **{f"+ {name}": flag for name, flag in FLAGS.items()},
             "all five": sum(FLAGS.values()), "all but network": sum(FLAGS.values()) - FLAGS["network"]}
    totals = dict.fromkeys(cases, 0.0)
    for r in range(args.rounds):
        for name in (cases if r % 2 == 0 else reversed(list(cases))):
            totals[name] += clone_and_reap(cases[name], args.clones) / args.rounds
    print(f"{os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}; {args.clones} clones per case, {args.rounds} rounds")
    print(f"  {'clone':18s} {'ms/clone':>9s} {'vs plain fork':>14s}")
    for name, ms in totals.items():
        print(f"  {name:18s} {ms:9.2f} {ms / totals['plain fork']:13.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
