"""What a task's requirements cost: building the environment once, finding it again, and the
per-candidate overhead of showing it to every sandbox.

A pure-Python wheel is written here and installed by uv from a local folder (offline, caches of
its own in a temporary directory). Measured:

- the first ``prepare_requirements`` (uv builds the environment) against later ones (found in the
  cache: no uv call);
- an empty candidate's lifecycle (create, upload the runner and its job, run, destroy; as
  ``bench_overhead.py``) with the task's packages mounted and added to ``sys.path``, against the
  same lifecycle without, on the warm path and with ``ACE_WARM=0``, in interleaved rounds.

    uv run python benchmarks/bench_requirements.py              # 30 rounds
    uv run python benchmarks/bench_requirements.py --rounds 10
"""
from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(ROOT / "tests"))
from bench_overhead import empty_files
from bench_sandbox import PROFILE
from wheels import write_wheel

from ai_code_evals.sandbox import requirements
from ai_code_evals.sandbox.base import SandboxSpec
from ai_code_evals.sandbox.local import LocalBackend


async def lifecycle(backend: LocalBackend, files: dict[str, bytes], packages: str | None) -> None:
    lines: list[str] = []
    box = await backend.create(SandboxSpec(limits=PROFILE.limits, env=dict(PROFILE.env), packages=packages))
    try:
        await box.upload(files)
        result = await box.exec(["python", "runner.py", "job.json"], on_line=lambda s, line: lines.append(line),
                                timeout_s=60)
    finally:
        await box.destroy()
    if result.exit_code != 0 or not any('"verdict"' in x for x in lines):
        raise SystemExit(f"the empty candidate failed: {result} {lines[-3:]}")


async def measure(rounds: int) -> dict:
    top = Path(tempfile.mkdtemp(prefix="bench-req-"))
    os.chmod(top, 0o755)
    write_wheel(top / "wheels")
    os.environ.update({"UV_FIND_LINKS": str(top / "wheels"), "UV_NO_INDEX": "1", "UV_OFFLINE": "1",
                       "UV_CACHE_DIR": str(top / "uv-cache"), requirements.CACHE_VAR: str(top / "envs")})
    cache = str(top / "envs")
    warm, cold = LocalBackend(warm=True, env_cache=cache), LocalBackend(warm=False, env_cache=cache)
    try:
        t0 = time.perf_counter()
        site = await warm.prepare_requirements(["acetoy"])
        first_ms = (time.perf_counter() - t0) * 1000
        again = []
        for _ in range(rounds):
            t0 = time.perf_counter()
            assert await warm.prepare_requirements(["acetoy"]) == site
            again.append((time.perf_counter() - t0) * 1000)
        files = empty_files()
        variants = {"warm, packages": (warm, site), "warm, none": (warm, None),
                    "cold, packages": (cold, site), "cold, none": (cold, None)}
        times: dict[str, list[float]] = {k: [] for k in variants}
        for backend, packages in variants.values():  # warm up: roots, uids, warm servers
            await lifecycle(backend, files, packages)
        for r in range(rounds):
            order = list(variants.items())
            if r % 2:
                order.reverse()
            for name, (backend, packages) in order:
                t0 = time.perf_counter()
                await lifecycle(backend, files, packages)
                times[name].append((time.perf_counter() - t0) * 1000)
        level = warm.isolation
    finally:
        await warm.aclose()
        await cold.aclose()
        shutil.rmtree(top, ignore_errors=True)
    med = {k: statistics.median(v) for k, v in times.items()}
    return {"level": level, "first_ms": first_ms, "again_ms": statistics.median(again), "median_ms": med}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=30)
    args = ap.parse_args()
    res = asyncio.run(measure(args.rounds))
    print(f"task requirements, isolation {res['level']}, {args.rounds} interleaved rounds, "
          f"load {os.getloadavg()[0]:.2f}")
    print(f"  environment: first build {res['first_ms']:.0f} ms (uv), found in the cache {res['again_ms']:.2f} ms "
          f"({res['first_ms'] / max(res['again_ms'], 1e-6):.0f}x less)")
    med = res["median_ms"]
    for path in ("warm", "cold"):
        with_, without = med[f"{path}, packages"], med[f"{path}, none"]
        print(f"  {path:4s} path, empty candidate: {with_:6.1f} ms with the packages, {without:6.1f} ms without: "
              f"ratio {with_ / without:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
