"""The responses that send a run's events (event streams, GET /api/runs/{id} with its history, exports) are
capped at RNNLAB_MAX_STREAMS open at once; beyond, a 429 with Retry-After. Each stalled client costs the server
~3 MB of a long run's replay: before the cap, 500 clients that opened a replay of a valid 78 MB run and did not
read took the server from 148 to 1318 MB (with the default cap of 64: 343 MB). A slot is free again as soon as
its response has been sent or its client has gone."""
from __future__ import annotations

import time

import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from app.settings import Settings

TINY = {"lanes": [{"seq_len": 5, "hidden_size": 4, "batch_size": 2, "steps": 3}]}
LONG = {"lanes": [{"seq_len": 5, "hidden_size": 4, "batch_size": 2, "steps": 20000}]}  # trains for minutes


@pytest.fixture()
def client():
    with TestClient(create_app(Settings(max_streams=2, cancel_grace_seconds=60))) as client:
        yield client


def _finished_run(client) -> str:
    run = client.post("/api/runs", json=TINY).json()
    with client.stream("GET", run["events_url"]) as response:
        assert b"event: done" in b"".join(response.iter_bytes())
    return run["id"]


def _open(client) -> int:
    return client.app.state.streams.open


def _wait_for(condition, seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "not within 5 s"
        time.sleep(0.02)


def test_beyond_the_limit_every_streaming_route_is_a_429_until_a_stream_ends(client):
    finished = _finished_run(client)
    assert _open(client) == 0  # a stream sent to its end frees its slot
    live = client.post("/api/runs", json=LONG).json()
    try:
        with client.stream("GET", live["events_url"]) as first, client.stream("GET", live["events_url"]) as second:
            assert first.status_code == second.status_code == 200
            assert _open(client) == 2
            for url in (live["events_url"], f"/api/runs/{finished}/events?after=-1", f"/api/runs/{finished}",
                        f"/api/runs/{finished}/export", f"/api/runs/{finished}/export?format=csv"):
                with client.stream("GET", url) as refused:  # a stream: a live run's would not end if let in
                    assert refused.status_code == 429, url
                    assert refused.headers["Retry-After"] == "2"
                    assert refused.read() and refused.json()["message"] == (
                        "2 event streams and downloads are open, the limit is 2 (RNNLAB_MAX_STREAMS); retry in 2 "
                        "seconds")
                    assert refused.json()["code"] == "too_many_streams"
                    assert refused.json()["ctx"] == {"open": 2, "limit": 2}
            # what sends no stored events takes no slot
            assert client.get(f"/api/runs/{finished}?history=false").status_code == 200
            assert client.get("/api/runs").status_code == 200
            assert client.get(f"/api/runs/{finished}/events", headers={"Last-Event-ID": "99999"}).status_code == 422
        _wait_for(lambda: _open(client) == 0)  # both clients left
        for url in (f"/api/runs/{finished}", f"/api/runs/{finished}/export?format=csv"):
            assert client.get(url).status_code == 200
        assert _open(client) == 0
    finally:
        client.delete(f"/api/runs/{live['id']}")


def test_the_429_is_declared_in_the_schema_of_each_streaming_route(client):
    paths = client.get("/openapi.json").json()["paths"]
    for path in ("/api/runs/{run_id}/events", "/api/runs/{run_id}", "/api/runs/{run_id}/export"):
        assert "429" in paths[path]["get"]["responses"], path
