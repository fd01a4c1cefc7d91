"""Load: thousands of tiny candidates through the real local backend with bounded app memory.

The app's resident memory and open file descriptors are sampled about 40 times while the run
goes (and the run log is written, as the CLI does). Open descriptors must come back to where
they started, and memory may grow only by the results the run keeps (a small, fixed amount per
candidate), never by anything that scales with output, sandboxes or time.

    uv run pytest tests/test_soak.py -s --runslow      # the 2,000-candidate soak, figures printed
"""
import asyncio
import os
import time

import pytest

from ai_code_evals.core.candidate import Candidate
from ai_code_evals.core.events import CandidateFinished, EventBus
from ai_code_evals.core.task import Task, TestCase
from ai_code_evals.engine.run import RunConfig, run_evaluation
from ai_code_evals.runlog.writer import RunLog
from ai_code_evals.sandbox.local import LocalBackend

TASK = Task(id="inc", entry_point="inc", time_limit_s=5.0,
            tests=[TestCase(args=[1], expect=2), TestCase(kind="code", code="assert inc(-1) == 0")])
CODES = ["def inc(x):\n    return x + 1\n", "def inc(x):\n    return x - 1\n",
         "def inc(x):\n    print('x' * 2000)\n    return x + 1\n"]
PER_CANDIDATE_KIB = 24  # what the run may keep per finished candidate (its result, its row)


def rss_kib() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024


def peak_kib() -> int:
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith("VmHWM:"))


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def soak(n: int, tmp_path, jobs: int = 2) -> dict:
    cands = [Candidate(id=f"inc#{k}", task_id="inc", code=CODES[k % 3]) for k in range(n)]
    backend = LocalBackend(temp_dir=str(tmp_path))
    samples: list[tuple[int, int, int]] = []  # (finished, rss KiB, open fds)
    every = max(10, n // 40)
    statuses: dict[str, int] = {}
    bus = EventBus()
    log = RunLog(tmp_path / "soak.jsonl", "soak")
    bus.subscribe(log.on_event)

    def watch(event) -> None:
        if isinstance(event, CandidateFinished):
            status = event.result["status"]
            statuses[status] = statuses.get(status, 0) + 1
            done = sum(statuses.values())
            if done % every == 0:
                samples.append((done, rss_kib(), open_fds()))

    bus.subscribe(watch)

    async def go():
        config = RunConfig(tasks=[TASK], backend=backend, candidates=cands, jobs=jobs, check_reference=False)
        try:
            return await run_evaluation(config, bus)
        finally:
            await backend.aclose()

    fds_before, rss_before = open_fds(), rss_kib()
    started = time.monotonic()
    asyncio.run(go())
    seconds = time.monotonic() - started
    log.close()
    return {"n": n, "statuses": statuses, "samples": samples, "fds_before": fds_before, "fds_after": open_fds(),
            "rss_before_kib": rss_before, "rss_after_kib": rss_kib(), "peak_kib": peak_kib(),
            "seconds": round(seconds, 1), "per_s": round(n / seconds, 1),
            "log_bytes": (tmp_path / "soak.jsonl").stat().st_size, "left": os.listdir(tmp_path)}


def check(fig: dict) -> None:
    n = fig["n"]
    wrong = (n + 1) // 3  # every third version, from the second one, is wrong
    assert fig["statuses"] == {"passed": n - wrong, "failed": wrong}, fig["statuses"]
    assert fig["left"] == ["soak.jsonl"], "every sandbox directory is removed"
    assert fig["fds_after"] <= fig["fds_before"] + 2, (fig["fds_before"], fig["fds_after"])
    fds = [s[2] for s in fig["samples"]]
    assert max(fds) - min(fds) <= 2 * 2 * 4, f"open descriptors drift while running: {fds}"
    first_done, first_rss, _ = fig["samples"][0]
    for done, rss, _ in fig["samples"][1:]:
        allowed = (done - first_done) * PER_CANDIDATE_KIB + 16 * 1024  # results kept + allocator slack
        assert rss - first_rss <= allowed, f"memory grew {rss - first_rss} KiB over {done - first_done} results"


def test_soak_100(tmp_path):
    fig = soak(100, tmp_path)
    print(f"\nsoak-100: {fig}")
    check(fig)


@pytest.mark.slow
def test_soak_2000(tmp_path):
    fig = soak(2000, tmp_path)
    print(f"\nsoak-2000: { {k: v for k, v in fig.items() if k != 'samples'} }")
    print("samples (done, rss KiB, fds):", fig["samples"][:: max(1, len(fig["samples"]) // 10)])
    check(fig)
