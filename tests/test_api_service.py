"""Service-wide behaviour: the BLAS thread limit, /api/health while runs train, the size of the default
preset's event stream. Timing *targets* are measured in tests/bench/bench_service.py; here only loose
behavioural bounds (health never blocks for a second) that fail when training runs on the event loop."""
from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient
from threadpoolctl import threadpool_info

from app.main import create_app
from app.presets import DEFAULT_PRESET
from app.runs import record_every, step_to_json
from app.settings import Settings
from app.worker import EnginePool
from rnncore import Config, StepRecord, TimestepArrays
from tests.conftest import module_live_server


def blas_threads() -> list[int]:
    return [info["num_threads"] for info in threadpool_info() if info["user_api"] == "blas"]


def test_the_run_manager_sets_the_blas_thread_limit():
    # Only the production value (1) is asserted: raising OpenBLAS's count again is not guaranteed once
    # other tests in this process have run, and the limit is process-wide.
    with TestClient(create_app(Settings(blas_threads=1))):
        assert blas_threads() and set(blas_threads()) == {1}


server = module_live_server(Settings(cancel_grace_seconds=2.0))


def _stream_bytes(url: str, run_id: str, out: dict) -> None:
    with httpx.stream("GET", f"{url}/api/runs/{run_id}/events", timeout=60) as response:
        out["bytes"] = sum(len(chunk) for chunk in response.iter_bytes())


def test_default_preset_stream_is_under_2_mb_and_health_never_blocks(server):
    """The default preset's stream shape (2 lanes, T=100, 500 steps, its record stride) with small H and
    batch: the bytes depend on the number of events and array lengths, not on H or batch. Meanwhile a
    second run trains too and /api/health must answer every time within 1 s (training off the loop)."""
    assert [(lane.get("hidden_size", 64), lane.get("batch_size", 32)) for lane in DEFAULT_PRESET["lanes"]] \
        == [(64, 32), (64, 32)]
    lanes = [{**lane, "hidden_size": 8, "batch_size": 4} for lane in DEFAULT_PRESET["lanes"]]
    run_ids = [httpx.post(f"{server.url}/api/runs", json={"lanes": lanes}).json()["id"] for _ in range(2)]
    sizes = [{}, {}]
    readers = [threading.Thread(target=_stream_bytes, args=(server.url, rid, out))
               for rid, out in zip(run_ids, sizes, strict=True)]
    for reader in readers:
        reader.start()
    latencies = []
    with httpx.Client(timeout=5) as client:
        while any(reader.is_alive() for reader in readers):
            start = time.perf_counter()
            assert client.get(f"{server.url}/api/health").json()["status"] == "ok"
            latencies.append(time.perf_counter() - start)
            time.sleep(0.02)
    for reader in readers:
        reader.join()
    summary = httpx.get(f"{server.url}/api/runs/{run_ids[0]}", params={"history": "false"}).json()
    assert summary["lane_status"] == ["done", "done"] and summary["steps_done"] == [500, 500]
    assert len(latencies) >= 10 and max(latencies) < 1.0, max(latencies)
    assert sizes[0]["bytes"] == sizes[1]["bytes"] < 2e6  # same seed, same bytes


def test_delete_stops_a_long_step_at_once(server):
    """A step of T=1000, H=512, batch 16 takes seconds: DELETE terminates the worker mid-step."""
    big = {"seq_len": 1000, "hidden_size": 512, "batch_size": 16, "steps": 1}
    run_id = httpx.post(f"{server.url}/api/runs", json={"lanes": [big]}).json()["id"]
    run = server.app.state.runs.get(run_id)
    with httpx.stream("GET", f"{server.url}/api/runs/{run_id}/events", timeout=30) as response:
        lines = response.iter_lines()
        assert next(lines) == "retry: 2000"
        time.sleep(0.5)  # the worker is inside its (only) step now
        assert run.steps_done == [0] and run.status == "running"
        start = time.perf_counter()
        deleted = httpx.delete(f"{server.url}/api/runs/{run_id}", timeout=10).json()
        elapsed = time.perf_counter() - start
        tail = list(lines)
    assert deleted == {"id": run_id, "status": "cancelled", "lane_status": ["cancelled"]}
    assert elapsed < 1.0 and not any(worker.process.is_alive() for worker in run._workers)
    assert [line for line in tail if line.startswith("event:")][-2:] == ["event: lane_done", "event: done"]


def _record(**overrides) -> StepRecord:
    T = 5
    arrays = TimestepArrays(log10_grad_norm_per_step=np.array([-np.inf, -np.inf, -3.14159, -2.0, -1.0]),
                            log10_weight_grad_per_step=np.linspace(-4, -1, T),
                            log10_input_weight_grad_per_step=np.linspace(-5, -2, T),
                            log10_input_grad_per_step=np.array([np.nan, 1, 2, 3, 4.00049]),
                            log10_bound_per_step=np.linspace(-6, -1, T), dtype_underflow_steps=2)
    fields = dict(step=7, loss=0.5, metric=0.25, grad_norm=float("inf"), grad_norm_clipped=1.0, clipped=True,
                  sigma_max=1.5, spectral_radius=None, gamma=1.0, arrays=arrays)
    return StepRecord(**{**fields, **overrides})


def test_non_finite_numbers_are_null_and_flagged():
    data = step_to_json(1, _record())
    wire = json.dumps(data, allow_nan=False)  # raises on NaN/Infinity
    assert json.loads(wire) == data
    assert data["grad_norm"] is None and data["spectral_radius"] is None and data["loss"] == 0.5
    arrays = data["arrays"]
    assert arrays["log10_grad_norm_per_step"] == [None, None, -3.142, -2.0, -1.0]  # 3 decimals
    assert arrays["log10_input_grad_per_step"] == [None, 1.0, 2.0, 3.0, 4.0]
    assert arrays["dtype_underflow_steps"] == 2 and arrays["gate_mean_per_step"] is None
    # flagged by name; spectral_radius None means "not computed on this step", not non-finite
    assert data["nonfinite"] == ["grad_norm", "arrays.log10_grad_norm_per_step", "arrays.log10_input_grad_per_step"]
    clean = step_to_json(0, _record(grad_norm=2.0, arrays=None))
    assert "nonfinite" not in clean and clean["arrays"] is None and clean["grad_norm"] == 2.0


@pytest.mark.parametrize("max_arrays", [1, 10, 200, 500])
@pytest.mark.parametrize("steps", [1, 2, 199, 200, 201, 500, 1999, 20000])
def test_record_stride_bounds_the_arrays_per_lane(steps, max_arrays):
    k = record_every(Config(steps=steps), max_arrays)
    with_arrays = [s for s in range(steps) if s % k == 0 or s == steps - 1]  # what the trainer records
    assert len(with_arrays) <= max_arrays + 1
    assert k == 1 or len(with_arrays) >= max_arrays // 2  # and not needlessly sparse


STDIN_SCRIPT = """
import httpx
from tests.conftest import start_live_server, stop_live_server
live = start_live_server()
run = httpx.post(live.url + "/api/runs", json={"lanes": [{"seq_len": 6, "hidden_size": 4, "steps": 3}]}).json()
body = httpx.get(live.url + run["events_url"], timeout=30).text
print(body.strip().splitlines()[-1])
live.app.state.runs.shutdown()
stop_live_server(live)
"""


def test_workers_start_whatever_the_main_module_is():
    """Worker processes must not re-import the parent's __main__ (here <stdin>, which cannot be)."""
    out = subprocess.run([sys.executable, "-"], input=STDIN_SCRIPT, capture_output=True, text=True, timeout=60,
                         cwd=Path(__file__).resolve().parents[1])
    assert out.stdout.strip() == 'data: {"status":"done","lanes":["done"]}', out.stderr[-2000:]


def _pid_after_a_pause(seconds: float) -> int:
    time.sleep(seconds)
    return os.getpid()


def test_engine_calls_of_several_lanes_are_computed_at_once():
    """/api/profile and /api/gradcheck (one call per lane from the page) share a pool of engine_processes:
    two calls that each take 0.3 s run in two processes, not one after the other in one."""
    assert Settings().engine_processes == min(4, os.cpu_count() or 1)
    pool = EnginePool(processes=2, nice=0)

    async def two_at_once():
        return await asyncio.gather(pool.call(_pid_after_a_pause, 0.3), pool.call(_pid_after_a_pause, 0.3))

    pids = []
    # a thread of its own: in the full suite the browser tests' sync Playwright leaves a loop running here
    runner = threading.Thread(target=lambda: pids.extend(asyncio.run(two_at_once())))
    try:
        runner.start()
        runner.join(30)
    finally:
        pool.shutdown()
    assert len(set(pids)) == 2 and os.getpid() not in pids


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _descendants(pid: int) -> set[int]:
    """Every live process below ``pid`` (Linux /proc)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def _running(pid: int) -> bool:
    """Exists and is not a zombie (an exited child its new parent, PID 1 here, has not reaped yet)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads the process tree from /proc")
@pytest.mark.parametrize(("sig", "exit_code", "reload"),
                         [(signal.SIGINT, 0, False), (signal.SIGTERM, -signal.SIGTERM, False),
                          (signal.SIGINT, 0, True)],
                         ids=["SIGINT", "SIGTERM", "SIGINT-reload"])
def test_ctrl_c_or_sigterm_ends_live_streams_with_cancelled_and_stops_every_worker(sig, exit_code, reload):
    """`rnnlab serve` on Ctrl-C (or `docker stop`'s SIGTERM) with a run streaming: uvicorn waits for
    open responses, and a live stream does not end by itself (it waited for the run, here ~20 s). The
    runs are cancelled first, so each stream ends with lane_done/done "server shutting down" and the
    server and its workers exit. With --reload the server runs in uvicorn's reloader subprocess, which
    the reloader stops with SIGTERM: the same cancel applies there."""
    port = _free_port()
    server = subprocess.Popen([sys.executable, "-m", "app.cli", "serve", "--port", str(port), *(["--reload"] * reload)],
                              cwd=Path(__file__).resolve().parents[1], stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/api/health", timeout=1).status_code == 200:
                    break
            time.sleep(0.1)
        lanes = [{"seq_len": 50, "hidden_size": 64, "batch_size": 16, "steps": 20000},  # ~20 s of work
                 {"seq_len": 20, "hidden_size": 32, "batch_size": 16, "steps": 20000, "cell": "gru"}]
        run = httpx.post(f"{url}/api/runs", json={"lanes": lanes}).json()
        names, last = [], None
        with httpx.stream("GET", url + run["events_url"], timeout=30) as response:
            for line in response.iter_lines():
                if line.startswith("event: "):
                    names.append(line.removeprefix("event: "))
                    if names[-1] == "step" and names.count("step") == 2:  # both lanes train
                        workers = _descendants(server.pid)
                        server.send_signal(sig)
                elif line.startswith("data: "):
                    last = json.loads(line.removeprefix("data: "))
        assert names[-3:] == ["lane_done", "lane_done", "done"], names[-5:]
        assert last == {"status": "cancelled", "lanes": ["cancelled", "cancelled"]}
        # uvicorn's convention: a SIGTERM is re-raised after the shutdown, so the exit says what ended it
        assert server.wait(timeout=15) == exit_code, server.stderr.read()[-2000:]
        assert "Traceback" not in server.stderr.read()
        assert len(workers) >= 3  # the forkserver and a worker per lane, at least
        time.sleep(0.5)
        assert [pid for pid in workers if _running(pid)] == []
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
