"""Every error body has a stable ``code`` (what kind of error, for a program) and, where it has figures, ``ctx``:
a client tells an evicted run (start it again) from one never known, and reads a 429's limit, without parsing
the English ``message``. Before, 404/413/429 bodies were {message, detail} with the same sentence twice."""
from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from app.schemas import ERROR_CODES
from app.settings import Settings

TINY = {"lanes": [{"seq_len": 5, "hidden_size": 4, "batch_size": 2, "steps": 3}]}
LONG = {"lanes": [{"seq_len": 5, "hidden_size": 4, "batch_size": 2, "steps": 20000}]}
SETTINGS = Settings(store_max_runs=1, max_concurrent_runs=1, cancel_grace_seconds=60, max_body_bytes=4096,
                    profile_max_pending=2)


@pytest.fixture(scope="module")
def client():
    with TestClient(create_app(SETTINGS)) as client:
        yield client


def _finished(client) -> str:
    run = client.post("/api/runs", json=TINY).json()
    with client.stream("GET", run["events_url"]) as response:
        b"".join(response.iter_bytes())
    return run["id"]


def _error(response, status: int, code: str, ctx: dict | None = None) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["code"] == code and code in ERROR_CODES, body
    assert body.get("ctx") == ctx, body
    assert isinstance(body["message"], str) and body["message"]
    return body


def test_an_evicted_run_and_an_unknown_one_have_their_own_codes(client):
    first = _finished(client)
    _finished(client)  # the store keeps 1 finished run: the first is evicted
    body = _error(client.get(f"/api/runs/{first}"), 404, "run_evicted")
    assert "evicted" in body["message"]
    _error(client.get("/api/runs/000000000000"), 404, "run_not_found")
    _error(client.delete("/api/runs/" + "x" * 300), 404, "run_not_found")


def test_429s_carry_their_limits(client):
    live = client.post("/api/runs", json=LONG).json()
    try:
        _error(client.post("/api/runs", json=TINY), 429, "too_many_runs", {"running": 1, "limit": 1})
    finally:
        client.delete(f"/api/runs/{live['id']}")
    client.app.state.profiles_pending = 2  # as if two other profiles were computing
    try:
        _error(client.post("/api/profile", json={}), 429, "too_many_pending",
               {"kind": "profiles", "pending": 2, "limit": 2})
    finally:
        client.app.state.profiles_pending = 0


def test_the_framework_s_own_errors_have_codes_too(client):
    _error(client.post("/api/runs", content=b"{" + b" " * 5000 + b"}", headers={"content-type": "application/json"}),
           413, "body_too_large", {"limit": 4096, "size": 5002})
    chunks = iter([b'{"lanes": [', b" " * 5000, b"]}"])  # no Content-Length: counted as it arrives
    _error(client.post("/api/runs", content=chunks, headers={"content-type": "application/json"}),
           413, "body_too_large", {"limit": 4096})
    _error(client.get("/api/nothing-here"), 404, "not_found")
    _error(client.put("/api/runs"), 405, "method_not_allowed")
    not_utf8 = b'{"lanes": "\xff"}'
    _error(client.post("/api/runs", content=not_utf8, headers={"content-type": "application/json"}), 400,
           "unreadable_body")
    body = _error(client.post("/api/runs", json={"lanes": [{"seq_len": 1}]}), 422, "validation_error")
    assert body["detail"][0]["loc"] == ["body", "lanes", 0, "seq_len"]


def test_the_schema_declares_code_and_ctx(client):
    error = client.get("/openapi.json").json()["components"]["schemas"]["ErrorResponse"]
    assert "code" in error["required"] and "ctx" in error["properties"]
    assert all(code in error["properties"]["code"]["description"] for code in ERROR_CODES)
