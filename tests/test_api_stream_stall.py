"""A stream slot is not held forever: a client that stops reading loses its slot after RNNLAB_STREAM_STALL_SECONDS
(before, a few silent connections held every slot and locked every page out of its runs), and a training run
whose listener is refused for the moment (429) waits for its retry instead of being cancelled for having none
(before, a page refused for more than cancel_grace_seconds, 5 s, lost its run)."""
from __future__ import annotations

import logging
import socket
import time

import httpx
from fastapi.testclient import TestClient

from app.main import create_app
from app.settings import Settings
from tests.conftest import start_live_server, stop_live_server

LONG = {"lanes": [{"seq_len": 5, "hidden_size": 4, "batch_size": 2, "steps": 20000}]}
BIG = {"lanes": [{"task": "adding", "seq_len": 2000, "hidden_size": 4, "batch_size": 1, "steps": 40, "seed": s}
                 for s in (1, 2)]}  # ~8 MB of events: more than the socket buffers hold


def _wait_for(condition, seconds: float) -> float:
    start = time.monotonic()
    while not condition():
        assert time.monotonic() - start < seconds, f"not within {seconds} s"
        time.sleep(0.05)
    return time.monotonic() - start


class _Errors(logging.Handler):
    """Records of ERROR and above, from the loggers it is added to."""

    def __init__(self):
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_a_client_that_stops_reading_loses_its_slot():
    """... quietly: a stalled client cut off is no server error (it logged "unexpected error on GET" and a
    ~200-line traceback per client, and tried to send a 500 on a response already started)."""
    live = start_live_server(Settings(max_streams=2, stream_stall_seconds=1.0, cancel_grace_seconds=60))
    slots = live.app.state.streams
    errors = _Errors()
    loggers = [logging.getLogger(name) for name in ("rnnlab", "uvicorn.error")]
    for logger in loggers:
        logger.addHandler(errors)
    try:
        run = httpx.post(f"{live.url}/api/runs", json=BIG).json()
        with httpx.stream("GET", live.url + run["events_url"], timeout=120) as response:
            size = sum(len(chunk) for chunk in response.iter_bytes())
            assert size > 5e6
        quiet = []
        for path in (run["events_url"] + "?after=-1", f"/api/runs/{run['id']}/export?format=csv"):
            sock = socket.create_connection(("127.0.0.1", int(live.url.rsplit(":", 1)[1])))
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.sendall(f"GET {path} HTTP/1.1\r\nHost: test\r\n\r\n".encode())
            quiet.append(sock)
        _wait_for(lambda: slots.open == 2, 5)  # both held while the clients read nothing
        assert httpx.get(live.url + run["events_url"]).status_code == 429
        _wait_for(lambda: slots.open == 0, 10)  # 1 s after their sends stalled
        for sock in quiet:
            sock.close()
        with httpx.stream("GET", live.url + run["events_url"], params={"after": -1}, timeout=60) as response:
            assert response.status_code == 200 and sum(len(c) for c in response.iter_bytes()) == size
    finally:
        for logger in loggers:
            logger.removeHandler(errors)
        stop_live_server(live)
    # uvicorn's one line for a response cut short, once per stalled client; no traceback, no "unexpected error"
    assert [(record.getMessage(), record.exc_info) for record in errors.records] == [
        ("ASGI callable returned without completing response.", None)] * 2


def test_a_run_whose_listener_is_refused_waits_for_the_retry():
    with TestClient(create_app(Settings(max_streams=1, cancel_grace_seconds=1.0))) as client:
        run = client.post("/api/runs", json=LONG).json()
        manager = client.app.state.runs
        client.app.state.streams.open = 1  # another client holds the only slot
        try:
            for _ in range(6):  # 3 s of refused retries, three times the grace period
                assert client.get(run["events_url"]).status_code == 429
                time.sleep(0.5)
            assert manager.get(run["id"]).status == "running"
            waited = _wait_for(lambda: manager.get(run["id"]).status == "cancelled", 5)  # nobody knocks now
            assert 0.4 < waited and manager.get(run["id"]).cancel_reason == \
                "no client listened to the event stream for 1 s"
        finally:
            client.app.state.streams.open = 0
            client.delete(f"/api/runs/{run['id']}")
