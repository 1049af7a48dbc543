"""One BLAS thread per training thread.

The engine multiplies small matrices (batch x H by H x H, H <= 512), once per timestep. Multi-threaded
OpenBLAS spins its helper threads on every such call; with several runs training at once on 2 cores
that makes each step 5-10x slower than single-threaded BLAS (measured: 37 ms vs 5 ms per step of the
default config). Parallelism comes from the runs, one thread each, so each BLAS call uses one thread.
"""
from __future__ import annotations

import ctypes
import glob
import logging
import os

log = logging.getLogger("rnnlab")


def limit_blas_threads(threads: int) -> bool:
    """Set the thread count of NumPy's bundled OpenBLAS at runtime (whatever was imported first)."""
    import numpy

    pattern = os.path.join(os.path.dirname(numpy.__file__), os.pardir, "numpy.libs", "*openblas*.so*")
    for path in glob.glob(pattern):
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for name in ("scipy_openblas_set_num_threads64_", "openblas_set_num_threads64_",
                     "openblas_set_num_threads"):
            setter = getattr(lib, name, None)
            if setter is not None:
                setter(int(threads))
                return True
    log.info("could not find OpenBLAS in numpy.libs; set OPENBLAS_NUM_THREADS=%d in the environment", threads)
    return False
