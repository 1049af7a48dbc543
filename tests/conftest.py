"""Shared fixtures. ``live_server`` runs the real app under uvicorn on a free loopback port."""
from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
import uvicorn

from app.main import create_app
from app.settings import Settings


@dataclass
class LiveServer:
    url: str
    app: object
    server: uvicorn.Server
    thread: threading.Thread


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_live_server(settings: Settings | None = None) -> LiveServer:
    app = create_app(settings or Settings())
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/api/health", timeout=1).status_code == 200:
                return LiveServer(url=url, app=app, server=server, thread=thread)
        except httpx.HTTPError:
            time.sleep(0.05)
    raise RuntimeError("live server did not start")


def wait_until(condition, timeout: float = 10.0, poll: float = 0.05) -> bool:
    """Whether ``condition()`` comes true within ``timeout`` seconds (asked every ``poll`` seconds)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(poll)
    return condition()


def stop_live_server(live: LiveServer) -> None:
    """Stop and join: a server thread still shutting down after pytest closed its output logs to a closed file."""
    live.server.should_exit = True
    live.thread.join(timeout=15)


@pytest.fixture(scope="session")
def live_server() -> Iterator[LiveServer]:
    """One uvicorn for the session, default settings. Tests needing other settings start their own."""
    live = start_live_server()
    yield live
    stop_live_server(live)


def module_live_server(settings: Settings):
    """A module-scoped fixture: a live server with ``settings`` for one test module; its runs are cancelled and
    joined, then it stops. In a module: ``server = module_live_server(Settings(...))``."""
    @pytest.fixture(scope="module")
    def server() -> Iterator[LiveServer]:
        live = start_live_server(settings)
        yield live
        live.app.state.runs.shutdown()
        stop_live_server(live)
    return server
