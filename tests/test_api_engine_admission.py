"""/api/profile has a cap on calls queued or computing, as /api/gradcheck has (beyond: 429 + Retry-After), and a
call still queued when its client goes away is dropped, not computed for nobody. Before, 20 aborted profiles
of 2.4 s each all computed, and the next gradcheck (35 ms idle) waited 33 s behind them."""
from __future__ import annotations

import threading

import httpx
import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from app.settings import Settings
from tests.conftest import start_live_server, stop_live_server, wait_until


def test_profiles_beyond_the_pending_cap_are_a_429():
    with TestClient(create_app(Settings(profile_max_pending=1))) as client:
        client.app.state.profiles_pending = 1  # as if another profile were computing
        response = client.post("/api/profile", json={})
        assert response.status_code == 429 and response.headers["retry-after"] == "1"
        assert response.json()["message"] == "1 profiles are queued or computing, the limit is 1; retry in a second"
        client.app.state.profiles_pending = 0
        assert client.post("/api/profile", json={}).status_code == 200
        assert client.app.state.profiles_pending == 0


def test_the_caps_are_in_the_openapi_schema():
    with TestClient(create_app(Settings())) as client:
        paths = client.get("/openapi.json").json()["paths"]
        assert "429" in paths["/api/profile"]["post"]["responses"]
        assert "429" in paths["/api/gradcheck"]["post"]["responses"]


SLOW = {"cell": "lstm", "task": "copy"}  # a gradcheck of 0.2-1.3 s
AHEAD = 8


@pytest.mark.parametrize("path", ["/api/profile", "/api/gradcheck"])
def test_a_queued_call_whose_client_left_is_dropped(path):
    live = start_live_server(Settings(engine_processes=1, gradcheck_max_pending=AHEAD + 1))
    try:
        engine = live.app.state.runs.engine
        ahead = [threading.Thread(target=httpx.post, args=(f"{live.url}/api/gradcheck",),
                                  kwargs={"json": SLOW, "timeout": 60}) for _ in range(AHEAD)]
        for thread in ahead:  # one computes, the others wait: 1.6 s of work or more
            thread.start()
        assert wait_until(lambda: engine.computing + engine.waiting == AHEAD)
        with pytest.raises(httpx.ReadTimeout):  # queued behind them; the client gives up and closes the connection
            httpx.post(f"{live.url}{path}", json={}, timeout=httpx.Timeout(10, read=0.3))
        assert wait_until(lambda: engine.dropped == 1, timeout=3.0), (engine.waiting, engine.computing, engine.dropped)
        assert engine.waiting >= 1  # dropped while calls sent before it still waited: it never computed
        for thread in ahead:
            thread.join(60)
        assert engine.waiting == engine.computing == 0
        assert getattr(live.app.state, f"{path.rsplit('/', 1)[1]}s_pending") == 0
        assert httpx.post(f"{live.url}{path}", json={}, timeout=30).status_code == 200  # and the next one runs
    finally:
        stop_live_server(live)
