"""Replaying or exporting a long run costs the server a bounded buffer per client, not a copy of the whole log:
the event stream, GET /api/runs/{id} and both exports go out in chunks of at most app.streaming.CHUNK_BYTES
(or one stored event, if larger), and the JSON is spliced from the stored bytes without parsing them. Before,
one client replaying a valid 77 MB run held 77 MB (the stream joined every stored event into one write) or
~0.5 GB of parsed objects (the summary and the exports)."""
from __future__ import annotations

import csv
import io
import json

import pytest
from fastapi.testclient import TestClient

from app import streaming
from app.main import create_app
from app.settings import Settings

LANES = [{"seq_len": 40, "hidden_size": 6, "batch_size": 2, "steps": 60, "seed": seed} for seed in (1, 2)]
CHUNK = 4096  # far below the run's log (~200 KB), far above one event (~3 KB)


@pytest.fixture(scope="module")
def finished():
    with TestClient(create_app(Settings())) as client:
        run = client.post("/api/runs", json={"lanes": LANES}).json()
        with client.stream("GET", run["events_url"]) as response:  # a listener, so it trains; to the end
            stream = b"".join(response.iter_bytes())
        yield client, run["id"], stream


@pytest.fixture()
def small_chunks(monkeypatch):
    monkeypatch.setattr(streaming, "CHUNK_BYTES", CHUNK)


def _events(stream: bytes) -> list[tuple[str, dict]]:
    out = []
    for block in stream.decode().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line and not line.startswith(":"))
        if "event" in fields:
            out.append((fields["event"], json.loads(fields["data"])))
    return out


def _chunks(client, url: str, headers: dict | None = None) -> list[bytes]:
    with client.stream("GET", url, headers=headers or {}) as response:
        assert response.status_code == 200
        return [chunk for chunk in response.iter_raw() if chunk]


def _largest_event(stream: bytes) -> int:
    return max(len(block) + 2 for block in stream.split(b"\n\n") if block)


def test_the_log_is_far_larger_than_a_chunk(finished):
    _, _, stream = finished
    assert len(stream) > 20 * CHUNK and _largest_event(stream) < CHUNK


def test_a_replay_goes_out_in_bounded_chunks(finished, small_chunks):
    client, run_id, stream = finished
    chunks = _chunks(client, f"/api/runs/{run_id}/events", {"Last-Event-ID": "-1"})
    assert max(len(c) for c in chunks) <= CHUNK
    assert len(chunks) > 20
    assert b"".join(chunks) == stream  # the same bytes, event for event


@pytest.mark.parametrize("path", ["", "/export", "/export?format=json"])
def test_the_summary_and_json_export_go_out_in_bounded_chunks_and_equal_the_stream(finished, small_chunks, path):
    client, run_id, stream = finished
    chunks = _chunks(client, f"/api/runs/{run_id}{path}")
    assert max(len(c) for c in chunks) <= CHUNK and len(chunks) > 20
    summary = json.loads(b"".join(chunks))
    steps = [data for event, data in _events(stream) if event == "step"]
    assert summary["history"] == [[d for d in steps if d["lane"] == lane] for lane in range(len(LANES))]
    assert [d["status"] for d in summary["lane_done"]] == ["done", "done"]
    assert summary["steps_done"] == [60, 60] and summary["events"] == len(_events(stream))


def test_the_csv_export_goes_out_step_by_step(finished, small_chunks):
    client, run_id, stream = finished
    chunks = _chunks(client, f"/api/runs/{run_id}/export?format=csv")
    assert max(len(c) for c in chunks) <= 2 * CHUNK  # one step's rows (40 timesteps) at a time
    rows = list(csv.DictReader(io.StringIO(b"".join(chunks).decode())))
    assert len(rows) == 2 * 60 * 40
    assert {row["lane_status"] for row in rows} == {"done"}


def test_history_false_is_a_small_summary_with_history_null(finished):
    client, run_id, _ = finished
    body = client.get(f"/api/runs/{run_id}?history=false").json()
    listed = next(item for item in client.get("/api/runs").json() if item["id"] == run_id)
    assert body["history"] is None and listed["history"] is None
    assert body["steps_done"] == [60, 60]
