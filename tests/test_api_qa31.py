"""QA round 31: the loss surface is computed in the engine pool behind a pending cap; the CSV export is built
without a csv.writer call per row (same cells; booleans as JSON writes them); a lane whose worker process is
killed is named as the one that died, with how it exited; a number too long to parse is a 422 naming its
field; integers in the query and Last-Event-ID are plain digits, a repeated parameter is a 422; /api/options
lists every service cap; a trailing slash is a JSON 404 naming the route."""
from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import signal
import threading

import httpx
import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from app.settings import Settings
from tests.conftest import start_live_server, stop_live_server, wait_until

TINY = {"seq_len": 5, "hidden_size": 4, "batch_size": 2, "steps": 3}


def _drain(client, run: dict) -> str:
    with client.stream("GET", run["events_url"]) as response:
        return b"".join(response.iter_bytes()).decode()


@pytest.fixture(scope="module")
def client():
    with TestClient(create_app(Settings(max_arrays_per_lane=2))) as c:
        yield c


@pytest.fixture(scope="module")
def finished(client):
    run = client.post("/api/runs", json={"lanes": [TINY]}).json()
    _drain(client, run)
    return run


# --- 1. the loss surface: engine pool, pending cap ------------------------------------------------------------
def test_loss_surfaces_beyond_the_pending_cap_are_a_429():
    with TestClient(create_app(Settings(loss_surface_max_pending=1))) as client:
        client.app.state.loss_surfaces_pending = 1  # as if another one were computing
        response = client.get("/api/loss-surface?resolution=5&steps=1")
        assert response.status_code == 429 and response.headers["retry-after"] == "1"
        assert response.json()["ctx"] == {"kind": "loss_surfaces", "pending": 1, "limit": 1}
        client.app.state.loss_surfaces_pending = 0
        assert client.get("/api/loss-surface?resolution=5&steps=1").status_code == 200
        assert client.app.state.loss_surfaces_pending == 0


def test_loss_surfaces_wait_for_the_engine_while_the_server_answers():
    """They are computed by the engine pool (here held until released), not in the server process: while the
    cap's worth wait, /api/health answers and one more is a 429."""
    cap = 3
    live = start_live_server(Settings(loss_surface_max_pending=cap))
    release = threading.Event()
    engine = live.app.state.runs.engine
    real_call = engine.call

    computed_by_engine: list[str] = []

    async def held_call(fn, *args, request=None):
        computed_by_engine.append(fn.__name__)  # the route hands the work to the engine pool
        while not release.is_set():
            await asyncio.sleep(0.01)
        return await real_call(fn, *args, request=request)

    engine.call = held_call
    try:
        url = f"{live.url}/api/loss-surface?resolution=20&steps=5"
        answers: list[httpx.Response] = []
        threads = [threading.Thread(target=lambda: answers.append(httpx.get(url, timeout=30))) for _ in range(cap)]
        for thread in threads:
            thread.start()
        assert wait_until(lambda: getattr(live.app.state, "loss_surfaces_pending", 0) == cap)
        assert httpx.get(f"{live.url}/api/health", timeout=5).status_code == 200
        refused = httpx.get(url, timeout=5)
        assert refused.status_code == 429 and refused.json()["code"] == "too_many_pending"
        release.set()
        for thread in threads:
            thread.join(30)
        assert [a.status_code for a in answers] == [200] * cap and computed_by_engine == ["surface_json"] * cap
        body = answers[0].json()
        assert len(body["log10_loss"]) == 20 and body["params"]["steps"] == 5
        assert live.app.state.loss_surfaces_pending == 0
    finally:
        release.set()
        engine.call = real_call
        live.app.state.runs.shutdown()
        stop_live_server(live)


def test_the_rounding_is_format_s_own():
    import numpy as np

    from app.routers.cliff import _finite

    rng = np.random.default_rng(0)
    values = np.concatenate([rng.standard_normal(4000) * 10.0 ** rng.integers(-300, 300, 4000),
                             [0.0, -0.0, 5e-324, 1e-320, 1.7e308, -1.7e308, 9.99995, 0.000123455, 123455.0,
                              99999.95, float("inf"), float("-inf"), float("nan")],
                             np.round(rng.standard_normal(2000), 4) + 5e-5])
    for digits in (4, 6):
        expected = [float(format(v, f".{digits}g")) if np.isfinite(v) else None for v in values.tolist()]
        assert _finite(values, digits) == expected


# --- 2. the CSV export -----------------------------------------------------------------------------------------
def _reference_csv(run: dict, summary: dict) -> str:
    """What the CSV held before (one csv.writer row per timestep), booleans lowercase as in JSON."""
    from app.routers.runs import CSV_ARRAYS, CSV_COLUMNS, CSV_SCALARS

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")

    def cell(value):
        return "" if value is None else ("true" if value else "false") if isinstance(value, bool) else value

    writer.writerow(CSV_COLUMNS)
    for lane, steps in enumerate(summary["history"]):
        done = summary["lane_done"][lane] or {}
        last = done.get("last_arrays")
        ending = [done.get("status", "running"), cell(done.get("step")), cell(done.get("reason"))]
        head_label = summary["labels"][lane]
        for data in steps:
            head = [lane, head_label, data["step"]]
            scalars = [cell(data[k]) for k in CSV_SCALARS]
            arrays, source = data["arrays"], "step"
            if arrays is None and last is not None and last["step"] == data["step"]:
                arrays, source = last["arrays"], "last_arrays"
            if arrays is None:
                writer.writerow([*head, "", *scalars, "", *[""] * len(CSV_ARRAYS), "", *ending])
                continue
            columns = [arrays.get(name) or [] for name in CSV_ARRAYS]
            for t in range(max(len(c) for c in columns)):
                cells = ["" if t >= len(c) or c[t] is None else c[t] for c in columns]
                writer.writerow([*head, t, *scalars, cell(arrays.get("dtype_underflow_steps")), *cells, source,
                                 *ending])
        if not steps:
            writer.writerow([lane, head_label, *[""] * (len(CSV_COLUMNS) - 5), *ending])
    return buffer.getvalue()


def test_the_csv_has_the_cells_it_had_and_json_s_booleans(client):
    lanes = [{**TINY, "seq_len": 7, "truncate": 2, "steps": 5},  # nulls in the arrays (truncated BPTT)
             {**TINY, "cell": "lstm", "steps": 4, "clip_threshold": 1e-3},  # cell arrays; every step clipped
             {"activation": "relu", "spectral_radius": 1.5, "seq_len": 30, "optimizer": "sgd",  # diverges at 2,
              "learning_rate": 0.05, "clip": "none", "steps": 6}]  # step 1 not an array step: last_arrays
    run = client.post("/api/runs", json={"lanes": lanes}).json()
    _drain(client, run)
    summary = client.get(f"/api/runs/{run['id']}").json()
    assert summary["lane_done"][2]["status"] == "diverged" and summary["lane_done"][2]["last_arrays"]
    text = client.get(f"/api/runs/{run['id']}/export?format=csv").text
    assert text == _reference_csv(run, summary)
    rows = list(csv.DictReader(io.StringIO(text)))
    assert {row["clipped"] for row in rows if row["step"]} == {"true", "false"}
    assert {row["arrays_from"] for row in rows if row["lane"] == "2"} == {"step", "last_arrays"}


# --- 3. a killed lane worker ---------------------------------------------------------------------------------------
def test_a_killed_lane_worker_is_named_with_its_signal(live_server):
    lanes = [{**TINY, "steps": 20000}, {**TINY, "steps": 20000}]
    run = httpx.post(f"{live_server.url}/api/runs", json={"lanes": lanes}, timeout=30).json()
    events: list[tuple[str, dict]] = []
    with httpx.Client(base_url=live_server.url, timeout=30) as http, http.stream("GET", run["events_url"]) as stream:
        event = None
        for line in stream.iter_lines():
            if line.startswith("event: "):
                event = line.removeprefix("event: ")
            elif line.startswith("data: "):
                events.append((event, json.loads(line.removeprefix("data: "))))
                if event == "step" and events[-1][1]["step"] == 5 and events[-1][1]["lane"] == 1:
                    worker = live_server.app.state.runs.get(run["id"])._workers[1]
                    os.kill(worker.process.pid, signal.SIGKILL)
                if event == "done":
                    break
    done = {data["lane"]: data for kind, data in events if kind == "lane_done"}
    assert done[1]["status"] == "cancelled"
    assert done[1]["reason"] == "the lane's worker process was killed (signal 9, SIGKILL: e.g. out of memory)"
    assert done[0]["status"] == "cancelled"
    assert done[0]["reason"] == ("cancelled because lane B's worker process was killed (signal 9, SIGKILL: e.g. "
                                 "out of memory)")
    summary = httpx.get(f"{live_server.url}/api/runs/{run['id']}?history=false", timeout=10).json()
    assert summary["status"] == "cancelled"
    assert summary["cancel_reason"] == "lane B's worker process was killed (signal 9, SIGKILL: e.g. out of memory)"


# --- 4. a number too long to parse ---------------------------------------------------------------------------------
def test_a_number_too_long_to_parse_names_its_field(client):
    response = client.post("/api/labels", content='{"lanes":[{},{"seed":' + "9" * 4301 + "}]}",
                           headers={"content-type": "application/json"})
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["message"] == ("lanes[1].seed: a number of 4301 digits is too long to read (allowed: integer in "
                               "[0, 2147483647])")
    assert body["detail"][0]["loc"] == ["body", "lanes", 1, "seed"]
    assert body["detail"][0]["ctx"]["maximum"] == 2147483647
    response = client.post("/api/runs", content='{"lanes":[{"seed":-' + "1" * 5000 + "}]}",
                           headers={"content-type": "application/json"})
    assert response.status_code == 422 and response.json()["message"].startswith("lanes[0].seed: a number of 5000")


# --- 5. strict integers, repeated parameters ----------------------------------------------------------------------
@pytest.mark.parametrize("after", ["1.0", " 1", "+1", "1_0", "0x1", "١"])
def test_after_is_plain_digits(client, finished, after):
    response = client.get(finished["events_url"], params={"after": after})
    assert response.status_code == 422, response.text
    item = response.json()["detail"][0]
    assert item["loc"] == ["query", "after"] and item["type"] == "whole_number"


@pytest.mark.parametrize("header", ["1_0", "+5", "1.0", "0x1", "1e0", " "])
def test_last_event_id_is_plain_digits(client, finished, header):
    response = client.get(finished["events_url"], headers={"Last-Event-ID": header})
    if header == " ":  # blank: as if not sent (a browser's first connection sends none)
        assert response.status_code == 200
        return
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"] == ["header", "last-event-id"]
    assert response.json()["message"].startswith("header.last-event-id: must be an event id written in plain digits")


@pytest.mark.parametrize("query", ["resolution=+10", "resolution=%2010", "steps=1_0", "steps=%EF%BC%91"])
def test_loss_surface_integers_are_plain_digits(client, query):
    response = client.get(f"/api/loss-surface?{query}")
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["type"] == "whole_number"


@pytest.mark.parametrize("path", ["/api/runs/{id}/events?after=1&after=2",
                                  "/api/runs/{id}/export?format=csv&format=json",
                                  "/api/loss-surface?steps=2&steps=3", "/api/runs/{id}?history=false&history=true"])
def test_a_repeated_parameter_is_named(client, finished, path):
    response = client.get(path.format(id=finished["id"]))
    assert response.status_code == 422, response.text
    name = path.split("?")[1].split("=")[0]
    item = response.json()["detail"][0]
    assert item["loc"] == ["query", name] and item["type"] == "repeated_parameter"
    assert item["message"].startswith(f"query.{name}: sent 2 times; send it once")


# --- 6. options and trailing slashes -------------------------------------------------------------------------------
def test_options_list_every_service_cap():
    settings = Settings(store_max_runs=7, store_max_bytes=12345, max_streams=9, stream_stall_seconds=4.5,
                        max_body_bytes=4096, loss_surface_max_pending=2, sse_ping_seconds=3.0)
    with TestClient(create_app(settings)) as client:
        limits = client.get("/api/options").json()["limits"]
    assert {key: limits[key] for key in ("store_max_runs", "store_max_bytes", "max_streams", "stream_stall_seconds",
                                         "max_body_bytes", "loss_surface_max_pending", "sse_ping_seconds")} == {
        "store_max_runs": 7, "store_max_bytes": 12345, "max_streams": 9, "stream_stall_seconds": 4.5,
        "max_body_bytes": 4096, "loss_surface_max_pending": 2, "sse_ping_seconds": 3.0}


@pytest.mark.parametrize(("method", "path", "route"), [("POST", "/api/runs/", "/api/runs"),
                                                      ("GET", "/api/options/", "/api/options")])
def test_a_trailing_slash_is_a_json_404_naming_the_route(client, method, path, route):
    response = client.request(method, path, json={"lanes": [TINY]} if method == "POST" else None,
                              follow_redirects=False)
    assert response.status_code == 404 and "location" not in response.headers
    assert response.json()["code"] == "not_found"
    assert response.json()["message"] == f"no route {path}; did you mean {route} (without the trailing slash)?"


def test_an_unknown_path_is_still_a_plain_404(client):
    response = client.get("/api/nothing/")
    assert response.status_code == 404 and response.json()["code"] == "not_found"



def test_csv_export_parses_a_step_whose_arrays_are_not_of_the_shape_it_slices():
    # the export takes a step's arrays as text where the worker wrote numbers and arrays only; a string or a nested
    # object there (a future field) would misalign the columns: such a step is parsed whole instead
    from app.routers.runs import _array_tokens, _split_step

    plain = b'{"step":3,"loss":1.5,"arrays":{"log10_grad_norm_per_step":[1.0,null,-2.5],"dtype_underflow_steps":0},' \
            b'"nonfinite":[]}'
    data, text = _split_step(plain)
    assert data == {"step": 3, "loss": 1.5, "nonfinite": []} and _array_tokens(text, "log10_grad_norm_per_step") == [
        b"1.0", b"", b"-2.5"]
    for odd in (b'{"step":3,"arrays":{"log10_grad_norm_per_step":[1.0],"note":"a]b},c"},"nonfinite":[]}',
                b'{"step":3,"arrays":{"gates":{"f":[0.5]},"log10_grad_norm_per_step":[1.0]},"nonfinite":[]}'):
        data, text = _split_step(odd)
        assert text is None and data["arrays"]["log10_grad_norm_per_step"] == [1.0], odd
