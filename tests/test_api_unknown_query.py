"""Every API route rejects a query parameter it does not declare, with the names it does declare (a typo
such as ?histroy=false used to be ignored and return the whole history); the page's own URL keeps its
free-form state, and the liveness probe answers whatever a monitor appends."""
from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from app.settings import Settings

TINY = {"lanes": [{"seq_len": 5, "hidden_size": 4, "batch_size": 2, "steps": 2}]}


@pytest.fixture(scope="module")
def client():
    with TestClient(create_app(Settings())) as c:
        yield c


@pytest.fixture(scope="module")
def run_id(client):
    response = client.post("/api/runs", json=TINY)
    assert response.status_code == 201, response.text
    return response.json()["id"]


def test_a_typo_in_a_known_parameter_is_named_with_the_known_ones(client, run_id):
    response = client.get(f"/api/runs/{run_id}?histroy=false")
    assert response.status_code == 422
    assert response.json()["message"] == "query.histroy: unknown query parameter; known: history"
    assert response.json()["detail"][0]["loc"] == ["query", "histroy"]


def test_export_and_events_list_their_parameters(client, run_id):
    message = client.get(f"/api/runs/{run_id}/export?fromat=csv").json()["message"]
    assert message == "query.fromat: unknown query parameter; known: format"
    message = client.get(f"/api/runs/{run_id}/events?aftr=3").json()["message"]
    assert message == "query.aftr: unknown query parameter; known: after"


@pytest.mark.parametrize(("method", "path"), [("GET", "/api/options"), ("GET", "/api/presets"),
                                              ("GET", "/api/runs"), ("POST", "/api/runs")])
def test_a_route_without_parameters_says_it_takes_none(client, method, path):
    response = client.request(method, f"{path}?verbose=1", json=TINY if method == "POST" else None)
    assert response.status_code == 422
    assert response.json()["message"] == "query.verbose: unknown query parameter; this endpoint takes none"


def test_every_unknown_parameter_is_named_once(client):
    response = client.get("/api/runs?a=1&b=2&a=3")
    assert response.status_code == 422
    assert [item["loc"] for item in response.json()["detail"]] == [["query", "a"], ["query", "b"]]


def test_head_is_checked_like_get(client):
    assert client.head("/api/options?verbose=1").status_code == 422
    assert client.head("/api/options").status_code == 200


def test_declared_parameters_still_work(client, run_id):
    assert client.get(f"/api/runs/{run_id}?history=false").status_code == 200
    assert client.get(f"/api/runs/{run_id}/export?format=csv").status_code == 200


def test_the_page_and_the_health_probe_accept_any_parameters(client):
    assert client.get("/?preset=activations&utm_source=course").status_code == 200
    assert client.get("/api/health?_=1733580000").status_code == 200


def test_the_schema_is_built_on_the_event_loop_only(monkeypatch):
    """FastAPI builds its OpenAPI schema on first use and is not thread-safe doing so: the check runs on the
    event loop (as the error handlers do), never in the thread pool, where the page's first concurrent requests
    built it twice at once and one failed (a KeyError, logged, and that request went unchecked)."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    import httpx

    from tests.conftest import start_live_server, stop_live_server

    live = start_live_server(Settings())
    threads = set()
    build = live.app.openapi

    def recording():
        threads.add(threading.current_thread().name)
        return build()

    monkeypatch.setattr(live.app, "openapi", recording)
    try:
        paths = ["/api/options", "/api/presets", "/api/runs", "/api/loss-surface?resolution=9", "/api/runs?x=1"]
        with ThreadPoolExecutor(8) as pool:
            codes = list(pool.map(lambda i: httpx.get(live.url + paths[i % len(paths)]).status_code, range(20)))
    finally:
        stop_live_server(live)
    assert sorted(set(codes)) == [200, 422]
    assert len(threads) == 1, threads  # the event loop's thread
