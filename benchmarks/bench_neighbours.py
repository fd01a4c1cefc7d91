"""Noisy neighbours: do correct versions get the same verdicts beside hostile ones?

Why: every sandbox of a run shares the machine. A version that starts ``setsid`` CPU spinners,
one that forks until it cannot, one that holds SysV shared memory must not change the verdict of
a correct version running beside it (a correct version that forks failed when RLIMIT_NPROC
counted every process of the user; spinners slowed a run from 7 s to 19 s). This runs the real
engine on the real local backend twice per round, alternating: ``quiet`` (the correct versions
alone) and ``noisy`` (the same correct versions beside the hostile ones, same jobs), in every
profile, and compares the correct versions' verdicts (status and tests passed).

Peers, same process, alternated round by round: quiet vs noisy. Printed: verdicts identical
(count / total, per profile), the hostile versions' own verdicts, and the wall-clock ratio
noisy / quiet of the whole run (it includes the hostile versions' own time limits).

    uv run python benchmarks/bench_neighbours.py                 # 2 rounds, 3 profiles
    uv run python benchmarks/bench_neighbours.py --no-cgroups    # the fallback (no per-sandbox cgroup)
    uv run python benchmarks/bench_neighbours.py --rounds 3 --copies 3

Figures (issue 14; 2 cores shared with other work, Debian 12, root, bwrap warm, cgroup v1):
see README, "Containment and trust model".
"""
from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "src"))

CORRECT = {
    "plain": "def add(a, b):\n    return a + b\n",
    # a correct version that forks: its child computes the answer
    "forks": ("import os\ndef add(a, b):\n    r, w = os.pipe()\n    pid = os.fork()\n    if pid == 0:\n"
              "        os.write(w, str(a + b).encode())\n        os._exit(0)\n    os.close(w)\n"
              "    data = os.read(r, 100)\n    os.close(r)\n    os.waitpid(pid, 0)\n    return int(data)\n"),
    "threads": ("import threading\ndef add(a, b):\n    out = []\n    t = threading.Thread(target=lambda: out.append(a + b))\n"
                "    t.start()\n    t.join()\n    return out[0]\n"),
}
HOSTILE = {
    "setsid spinners": ("import os\nfor _ in range(4):\n    if os.fork() == 0:\n        os.setsid()\n"
                        "        if os.fork() == 0:\n            while True:\n                pass\n        os._exit(0)\n"
                        "def add(a, b):\n    return a + b\n"),
    "fork storm": ("import os, time\nkids = 0\ntry:\n    while kids < 100000:\n        if os.fork() == 0:\n"
                   "            time.sleep(30)\n            os._exit(0)\n        kids += 1\nexcept OSError:\n    pass\n"
                   "def add(a, b):\n    return a + b\n"),
    "shm hog": ("import ctypes\nlibc = ctypes.CDLL(None)\nlibc.shmat.restype = ctypes.c_void_p\n"
                "for i in range(16):\n    sid = libc.shmget(0, 64 << 20, 0o1000 | 0o600)\n    if sid < 0:\n        break\n"
                "    p = libc.shmat(sid, None, 0)\n    if p in (None, ctypes.c_void_p(-1).value):\n        break\n"
                "    ctypes.memset(p, 1, 64 << 20)\n    libc.shmdt(ctypes.c_void_p(p))\n"
                "def add(a, b):\n    return a + b\n"),
}


def task():
    from ai_code_evals.core.task import Task, TestCase

    return Task(id="add", entry_point="add", prompt="Add two numbers.",
                tests=[TestCase(args=[1, 2], expect=3), TestCase(args=[0, 0], expect=0),
                       TestCase(kind="code", code="assert add(-1, 1) == 0")],
                time_limit_s=2.0)


def candidates(copies: int, hostile: bool):
    from ai_code_evals.core.candidate import Candidate

    out = []
    for name, code in CORRECT.items():
        for i in range(copies):
            out.append(Candidate(id=f"add#{len(out)}", task_id="add", code=code, label=f"{name} {i}"))
    if hostile:
        for name, code in HOSTILE.items():
            for i in range(copies):
                out.append(Candidate(id=f"add#{len(out)}", task_id="add", code=code, label=f"HOSTILE {name} {i}"))
    return out


def run_once(copies: int, hostile: bool, profiles: list[str], jobs: int) -> tuple[dict, float, dict]:
    from ai_code_evals.core.events import CandidateFinished, EventBus
    from ai_code_evals.engine.profiles import resolve_profiles
    from ai_code_evals.engine.run import RunConfig, run_evaluation
    from ai_code_evals.sandbox.registry import make_backend

    bus, finished = EventBus(), []
    bus.subscribe(lambda e: finished.append(e) if isinstance(e, CandidateFinished) else None)
    cands = candidates(copies, hostile)
    labels = {c.id: c.label for c in cands}
    config = RunConfig(tasks=[task()], backend=make_backend("local", None), candidates=cands, jobs=jobs,
                       profiles=resolve_profiles(profiles))
    started = time.monotonic()
    asyncio.run(run_evaluation(config, bus))
    wall = time.monotonic() - started
    verdicts = {}
    for e in finished:
        r = e.result
        verdicts[(labels[e.candidate_id], e.profile)] = (r.get("status"), r.get("tests_passed"))
    info = {"cgroup": "?"}
    return verdicts, wall, info


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--copies", type=int, default=2, help="copies of each version")
    ap.add_argument("--jobs", type=int, default=(os.cpu_count() or 2) + 1)
    ap.add_argument("--env", action="append", help="profiles (default: default, low-memory, hash-seed)")
    ap.add_argument("--no-cgroups", action="store_true", help="sandboxes without their own cgroup")
    args = ap.parse_args()
    if args.no_cgroups:
        os.environ["ACE_CGROUPS"] = "0"
    profiles = args.env or ["default", "low-memory", "hash-seed"]
    from ai_code_evals.sandbox import cgroups

    iface, why = (None, "turned off (ACE_CGROUPS=0)") if args.no_cgroups else cgroups.available()
    shown = f"v{iface.version}" if iface else f"none ({why})"
    print(f"cgroups: {shown}; jobs {args.jobs}; "
          f"profiles {', '.join(profiles)}; {args.copies} copies of each version; root: {os.geteuid() == 0}")
    same = total = 0
    per_profile: dict[str, list[int]] = {p: [0, 0] for p in profiles}
    ratios, differ, hostile_verdicts = [], [], {}
    for rnd in range(args.rounds):
        quiet, t_quiet, _ = run_once(args.copies, False, profiles, args.jobs)
        noisy, t_noisy, _ = run_once(args.copies, True, profiles, args.jobs)
        ratios.append(t_noisy / t_quiet)
        for key, verdict in quiet.items():
            total += 1
            per_profile[key[1]][1] += 1
            if noisy.get(key) == verdict:
                same += 1
                per_profile[key[1]][0] += 1
            else:
                differ.append((rnd, key, verdict, noisy.get(key)))
        for key, verdict in noisy.items():
            if key[0].startswith("HOSTILE"):
                hostile_verdicts.setdefault((key[0].rsplit(" ", 1)[0], key[1]), set()).add(verdict[0])
        print(f"round {rnd + 1}: quiet {t_quiet:.1f} s, noisy {t_noisy:.1f} s (ratio {t_noisy / t_quiet:.2f})")
    print(f"\ncorrect versions' verdicts identical to the quiet run: {same}/{total}")
    for p, (s, t) in per_profile.items():
        print(f"  {p:12s} {s}/{t}")
    for d in differ[:10]:
        print(f"  DIFFERENT round {d[0] + 1} {d[1]}: quiet {d[2]} noisy {d[3]}")
    print("hostile versions' own verdicts:")
    for (name, prof), statuses in sorted(hostile_verdicts.items()):
        print(f"  {name:24s} {prof:12s} {', '.join(sorted(statuses))}")
    print(f"wall noisy/quiet: median {statistics.median(ratios):.2f}")


if __name__ == "__main__":
    main()
