"""Run independent per-column jobs on a thread pool (Arrow and numpy release the GIL)."""

from __future__ import annotations

import os
from typing import Any, Callable


def workers() -> int:
    env = os.environ.get("MLCI_THREADS")
    if env and env.isdigit():
        return max(1, int(env))
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(8, cpus))


def run_jobs(jobs: list[Callable[[], Any]], rows: int) -> list[Any]:
    """Results of ``jobs`` in order; threads only when there is enough work to share."""
    n = workers()
    if n == 1 or len(jobs) <= 1 or rows < 50_000:
        return [job() for job in jobs]
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(min(n, len(jobs))) as pool:
        return [f.result() for f in [pool.submit(job) for job in jobs]]
