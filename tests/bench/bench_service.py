"""Service benchmark (issue 4 targets), against a live uvicorn in its own process:

1. the default preset (2 lanes, T=100, H=64, batch 32, 500 steps): wall time from the POST to the end of
   the stream (< 10 s), the first event after the POST (< 300 ms), the stream's bytes (< 2 MB);
2. GET /api/health latency while 4 runs train (p99 < 50 ms), against the same server idle: the ratio
   busy/idle is the peer comparison.

    .venv/bin/python -m tests.bench.bench_service                 # both parts
    .venv/bin/python -m tests.bench.bench_service --presets 5 --health 500
    RNNLAB_GIL_SWITCH_MS=5 .venv/bin/python -m tests.bench.bench_service   # a server setting to compare

The measuring client runs in this process, the server in another (uvicorn, settings from the RNNLAB_
environment), so they do not share a GIL. ``main()`` returns the numbers and whether each target is met.
"""
from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import threading
import time

import httpx

from app.presets import DEFAULT_PRESET

TARGETS = {"wall_s": 10.0, "first_event_ms": 300.0, "bytes": 2e6, "health_p99_ms": 50.0}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(env: dict | None = None) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "app.main:app", "--host", "127.0.0.1", "--port",
                             str(port), "--log-level", "warning"], cwd=os.getcwd(), env={**os.environ, **(env or {})})
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/api/health", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("server did not start")


def run_preset(client: httpx.Client, url: str) -> dict:
    """POST the default preset and read its whole event stream; times are from the start of the POST."""
    t0 = time.perf_counter()
    response = client.post(f"{url}/api/runs", json={"lanes": DEFAULT_PRESET["lanes"]})
    post_ms = (time.perf_counter() - t0) * 1e3
    run_id = response.json()["id"]
    first_event = first_step = None
    nbytes = 0
    with client.stream("GET", f"{url}/api/runs/{run_id}/events", timeout=120) as stream:
        for chunk in stream.iter_bytes():
            now = (time.perf_counter() - t0) * 1e3
            if first_event is None and b"event: run" in chunk:
                first_event = now
            if first_step is None and b"event: step" in chunk:
                first_step = now
            nbytes += len(chunk)
    wall = time.perf_counter() - t0
    summary = client.get(f"{url}/api/runs/{run_id}", params={"history": "false"}).json()
    assert summary["lane_status"] == ["done", "done"], summary["lane_status"]
    return {"bytes": nbytes, "post_ms": post_ms, "first_event_ms": first_event, "first_step_ms": first_step,
            "wall_s": wall}


def health_latencies(url: str, n: int) -> list[float]:
    """n sequential GET /api/health on one keep-alive connection, 10 ms apart; milliseconds each."""
    out = []
    with httpx.Client(timeout=10) as client:
        client.get(f"{url}/api/health")
        for _ in range(n):
            t = time.perf_counter()
            client.get(f"{url}/api/health")
            out.append((time.perf_counter() - t) * 1e3)
            time.sleep(0.01)
    return out


def p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[98]


def _consume(url: str, run_id: str) -> None:
    with httpx.stream("GET", f"{url}/api/runs/{run_id}/events", timeout=300) as response:
        for _ in response.iter_bytes():
            pass


def health_while_training(url: str, n: int, runs: int = 4) -> tuple[list[float], list[float]]:
    """Health latencies idle, then while ``runs`` single-lane default runs (2000 steps) train and stream."""
    idle = health_latencies(url, n)
    run_ids = [httpx.post(f"{url}/api/runs", json={"lanes": [{"steps": 2000}]}).json()["id"] for _ in range(runs)]
    readers = [threading.Thread(target=_consume, args=(url, rid), daemon=True) for rid in run_ids]
    for reader in readers:
        reader.start()
    time.sleep(1.0)
    busy = health_latencies(url, n)
    states = [httpx.get(f"{url}/api/runs/{rid}", params={"history": "false"}).json() for rid in run_ids]
    for rid in run_ids:
        httpx.delete(f"{url}/api/runs/{rid}")
    for reader in readers:
        reader.join(10)
    assert all(s["status"] == "running" for s in states), "the runs finished before the measurement ended"
    return idle, busy


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--presets", type=int, default=3, help="default-preset runs (0 to skip)")
    parser.add_argument("--health", type=int, default=300, help="health requests per phase (0 to skip)")
    args = parser.parse_args(argv)

    proc, url = start_server()
    results: dict = {}
    try:
        if args.presets:
            with httpx.Client(timeout=30) as client:
                runs = [run_preset(client, url) for _ in range(args.presets)]
            print(f"default preset ({len(runs)} runs; 2 lanes, T=100, H=64, batch 32, 500 steps):")
            for key in ("bytes", "post_ms", "first_event_ms", "first_step_ms", "wall_s"):
                values = [r[key] for r in runs]
                results[key] = max(values)
                target = f"   target < {TARGETS[key]:g}" if key in TARGETS else ""
                print(f"  {key:15s} median {statistics.median(values):11.1f}   max {max(values):11.1f}{target}")
        if args.health:
            idle, busy = health_while_training(url, args.health)
            results["health_p99_ms"] = p99(busy)
            print(f"GET /api/health latency (ms), {args.health} requests each:")
            print(f"  idle               p50 {statistics.median(idle):6.2f}   p99 {p99(idle):6.2f}")
            print(f"  4 runs training    p50 {statistics.median(busy):6.2f}   p99 {p99(busy):6.2f}"
                  f"   max {max(busy):6.1f}   (p99 busy/idle {p99(busy) / p99(idle):.1f}x)   target p99 < 50")
    finally:
        proc.terminate()
        proc.wait(10)
    met = {key: value < TARGETS[key] for key, value in results.items() if key in TARGETS}
    print("targets met:", ", ".join(f"{k} {'yes' if v else 'NO'}" for k, v in met.items()))
    return {"results": results, "met": met}


if __name__ == "__main__":
    main()
