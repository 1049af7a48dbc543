"""One BLAS thread per training thread, set at runtime with threadpoolctl.

The engine multiplies small matrices (batch x H by H x H, H <= 512), once per timestep. Multi-threaded
OpenBLAS spins its helper threads on every such call; with several runs training at once on 2 cores
that makes each step 5-10x slower than single-threaded BLAS (measured: 37 ms vs 5 ms per step of the
default config). Parallelism comes from the lanes, one worker process each (app/worker.py), so each
BLAS call uses one thread.

The limit is process-wide (OpenBLAS keeps one global thread count) and stays for the life of the
process: ``RunManager`` applies it to the server at startup and every worker process applies it when it
starts, after NumPy is loaded, so it works whatever imported NumPy first and needs no environment
variables. ``RNNLAB_BLAS_THREADS`` changes it.
"""
from __future__ import annotations

import logging

from threadpoolctl import threadpool_info, threadpool_limits

log = logging.getLogger("rnnlab")


def limit_blas_threads(threads: int) -> list[dict]:
    """Set every loaded BLAS library (NumPy's OpenBLAS, ...) to ``threads`` threads; return what was set."""
    import numpy  # noqa: F401  (the BLAS must be loaded for threadpoolctl to find it)

    threadpool_limits(limits=int(threads), user_api="blas")
    limited = [info for info in threadpool_info() if info["user_api"] == "blas"]
    if not limited:
        log.warning("threadpoolctl found no BLAS library to limit to %d thread(s)", threads)
    return limited
