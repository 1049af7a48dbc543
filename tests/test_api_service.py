"""Service-wide behaviour: the BLAS thread limit, /api/health while runs train, the size of the default
preset's event stream. Timing *targets* are measured in tests/bench/bench_service.py; here only loose
behavioural bounds (health never blocks for a second) that fail when training runs on the event loop."""
from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from threadpoolctl import threadpool_info

from app.main import create_app
from app.settings import Settings


def blas_threads() -> list[int]:
    return [info["num_threads"] for info in threadpool_info() if info["user_api"] == "blas"]


@pytest.mark.parametrize("threads", [2, 1])  # 1 last: the limit is process-wide and stays
def test_the_run_manager_sets_the_blas_thread_limit(threads):
    with TestClient(create_app(Settings(blas_threads=threads))):
        assert blas_threads() and set(blas_threads()) == {threads}
