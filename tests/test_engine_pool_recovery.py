"""A pool process of /api/profile and /api/gradcheck that dies (OOM killer, a crash) breaks the whole
ProcessPoolExecutor. Before, every later call to both endpoints was a 500 (BrokenProcessPool) until the server
restarted; now the pool is rebuilt, the call that hit it is retried once, and a call that crashes its worker
each time is a 503 after that one retry, not a loop."""
from __future__ import annotations

import asyncio
import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from app.schemas import ERROR_CODES
from app.settings import Settings
from app.worker import EngineCrashed, EnginePool, warm_up
from tests.conftest import wait_until


def _run(coroutine):
    """asyncio.run in a thread of its own: in the full suite Playwright's sync API keeps an event loop running in
    this one, where asyncio.run refuses to start."""
    with ThreadPoolExecutor(1) as thread:
        return thread.submit(asyncio.run, coroutine).result()

PATHS = ["/api/profile", "/api/gradcheck"]


def _crash(*args):
    """Stands in for an engine call that takes its process down (the OOM killer's SIGKILL)."""
    os.kill(os.getpid(), signal.SIGKILL)


def _slow(value, seconds: float):
    """An innocent engine call that takes a while (it is computing when another call's process dies)."""
    time.sleep(seconds)
    return value


def _crash_later(seconds: float):
    """Takes its process down ``seconds`` in (once the pool's other processes are computing too)."""
    time.sleep(seconds)
    os.kill(os.getpid(), signal.SIGKILL)


def _crash_once(marker: str):
    """Takes its process down the first time (``marker`` does not exist yet), computes the second."""
    if os.path.exists(marker):
        return "computed"
    open(marker, "w").close()
    time.sleep(0.3)
    os.kill(os.getpid(), signal.SIGKILL)


def _children(pid: int) -> set[int]:
    """Live (not zombie) direct children of ``pid``, from /proc."""
    out = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        state, ppid = stat.rsplit(")", 1)[1].split()[:2]
        if int(ppid) == pid and state != "Z":
            out.add(int(entry))
    return out


def _descendants() -> set[int]:
    """Our processes: the forkserver, its workers (grandchildren), the resource tracker."""
    found, todo = set(), [os.getpid()]
    while todo:
        for child in _children(todo.pop()) - found:
            found.add(child)
            todo.append(child)
    return found


def _before() -> set[int]:
    """Our processes before a test, with the forkserver and resource tracker, which outlive an app."""
    warm_up()
    return _descendants()


def _wait_until(condition, timeout: float = 5.0) -> bool:
    return wait_until(condition, timeout, poll=0.02)


def _no_leftovers(engine, before: set[int]) -> bool:
    """Every process started since ``before`` is one of the current pool's."""
    return _descendants() - before <= set(engine._pool._processes or ())


def _pending_zero(app) -> bool:
    engine = app.state.runs.engine
    return (getattr(app.state, "profiles_pending", 0) == getattr(app.state, "gradchecks_pending", 0) == 0
            and engine.waiting == engine.computing == 0)


@pytest.mark.parametrize("path", PATHS)
def test_a_killed_pool_process_is_replaced_and_the_call_that_hit_it_retried(path):
    before = _before()
    with TestClient(create_app(Settings(engine_processes=1)), raise_server_exceptions=False) as client:
        engine = client.app.state.runs.engine
        assert client.post(path, json={}).status_code == 200  # starts a pool process
        pids = list(engine._pool._processes)
        assert pids
        for pid in pids:
            os.kill(pid, signal.SIGKILL)
        assert _wait_until(lambda: not any(os.path.exists(f"/proc/{pid}") for pid in pids))
        response = client.post(path, json={})
        assert response.status_code == 200, response.text  # retried once on a fresh pool
        assert engine.restarts == 1
        for other in PATHS:  # and the pool serves both endpoints again, as before
            assert client.post(other, json={}).status_code == 200
        assert engine.restarts == 1
        assert _pending_zero(client.app)
        assert _wait_until(lambda: _no_leftovers(engine, before))
    assert _wait_until(lambda: _descendants() - before == set())


@pytest.mark.parametrize(("path", "name"), [("/api/profile", "profile_payload"),
                                            ("/api/gradcheck", "gradcheck_report")])
def test_a_call_that_crashes_its_worker_every_time_is_a_503_after_one_retry(path, name, monkeypatch):
    before = _before()
    with TestClient(create_app(Settings(engine_processes=2)), raise_server_exceptions=False) as client:
        engine = client.app.state.runs.engine
        monkeypatch.setattr(f"app.routers.engine.{name}", _crash)
        response = client.post(path, json={})
        assert response.status_code == 503, response.text
        body = response.json()
        assert body["code"] == "engine_crashed" and body["code"] in ERROR_CODES
        assert response.headers["retry-after"] == "1"
        assert "retry" in body["message"]
        assert engine.restarts == 2  # the call and its one retry: no loop
        assert _pending_zero(client.app)
        monkeypatch.undo()
        assert client.post(path, json={}).status_code == 200  # the pool was rebuilt after the second crash too
        assert engine.restarts == 2
        assert _wait_until(lambda: _no_leftovers(engine, before))
    assert _wait_until(lambda: _descendants() - before == set())


def test_the_503_is_in_the_openapi_schema():
    with TestClient(create_app(Settings())) as client:
        paths = client.get("/openapi.json").json()["paths"]
        for path in PATHS:
            declared = paths[path]["post"]["responses"]["503"]
            assert "Retry-After" in declared["headers"]
            assert declared["content"]["application/json"]["schema"]["$ref"].endswith("/ErrorResponse")


def test_a_crash_on_a_retry_is_the_retried_call_s_alone():
    """One call kills its process each time, another computes at the same time: both fail on the broken pool,
    and their retries run one at a time, so the killer's retry takes down no one else's (before, they retried
    together, the killer broke the new pool again, and both were 503s: one lane's OOM took every preview down)."""
    before = _before()

    async def main():
        engine = EnginePool(processes=2)
        try:
            # Both processes started first: the executor misses the death of a process it spawns while another
            # computes until some call ends. The innocent call is sent first: it replaces the broken pool, the
            # killer's retry starts the new one.
            assert await asyncio.gather(engine.call(_slow, 0, 0.2), engine.call(_slow, 0, 0.2)) == [0, 0]
            innocent = asyncio.ensure_future(engine.call(_slow, 42, 1.5))
            killer = asyncio.ensure_future(engine.call(_crash_later, 0.5))
            results = await asyncio.gather(killer, innocent, return_exceptions=True)
            assert engine.waiting == engine.computing == 0
            return results, engine.restarts
        finally:
            engine.shutdown()

    (killed, value), restarts = _run(main())
    assert value == 42  # its retry ran alone, on a fresh pool
    assert isinstance(killed, EngineCrashed)
    assert restarts == 2  # the crash of the killer's call, then of its retry: still one retry per call
    assert _wait_until(lambda: _descendants() - before == set())


@pytest.mark.parametrize("when", ["computing", "replacing"])
def test_shutdown_during_a_call_s_recovery_is_a_503_and_leaves_no_process(when, tmp_path):
    """The lifespan shuts the pool down while a call's process dies under it (``computing``: the pool breaks
    during the shutdown) or while the broken pool is being replaced. Before, the call built a new pool after
    the shutdown, whose processes nothing shut down (and computed its retry there), or hit the shut-down pool:
    RuntimeError "cannot schedule new futures after shutdown", a 500."""
    before = _before()

    async def main():
        engine = EnginePool(processes=1)
        loop = asyncio.get_running_loop()
        if when == "computing":
            call = asyncio.ensure_future(engine.call(_crash_once, str(tmp_path / "crashed")))
            await asyncio.sleep(0.1)  # computing (it dies 0.3 s in); shutdown() waits for the pool to end
            engine.shutdown()
        else:
            new_pool = engine._new_pool

            def replacing():  # the lifespan ends just as the broken pool is replaced
                loop.call_soon(engine.shutdown)
                return new_pool()

            engine._new_pool = replacing
            call = asyncio.ensure_future(engine.call(_crash))
        try:
            with pytest.raises(EngineCrashed):
                await call
            assert engine.waiting == engine.computing == 0
            with pytest.raises(EngineCrashed):  # and any later call
                await engine.call(_slow, 1, 0.0)
            return engine.restarts
        finally:
            engine.shutdown()

    restarts = _run(main())
    assert restarts == (0 if when == "computing" else 1)  # never a new pool once shut down
    assert _wait_until(lambda: _descendants() - before == set(), timeout=3.0)
