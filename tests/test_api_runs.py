"""Runs over real HTTP (uvicorn on 127.0.0.1): streaming order, export == stream, divergence, disconnect ->
pause -> cancel, Last-Event-ID resume, DELETE, 429, eviction -> 404. Small configs keep it fast."""
from __future__ import annotations

import csv
import io
import json
import os
import time

import httpx
import pytest
from threadpoolctl import threadpool_limits

from app.presets import PRESETS
from app.settings import Settings
from rnncore import Config, train
from tests.conftest import module_live_server, start_live_server, stop_live_server

SMALL = {"seq_len": 12, "hidden_size": 8, "batch_size": 4, "steps": 30}
ENDLESS = {"seq_len": 8, "hidden_size": 4, "batch_size": 2, "steps": 20000}  # runs until we stop it


def _strict_json(text: str):
    def reject(token):
        raise ValueError(f"non-JSON number {token} on the wire")
    return json.loads(text, parse_constant=reject)


def sse_events(response: httpx.Response):
    """Yield (id, event, data) from a streamed text/event-stream response, event by event."""
    event_id, name, data = None, None, []
    for line in response.iter_lines():
        if line == "":
            if data:
                yield event_id, name, _strict_json("\n".join(data))
            event_id, name, data = None, None, []
        elif line.startswith(":") or line.startswith("retry:"):
            continue
        else:
            key, _, value = line.partition(": ")
            if key == "id":
                event_id = int(value)
            elif key == "event":
                name = value
            elif key == "data":
                data.append(value)


def read_all(url: str, run_id: str, headers: dict | None = None, limit: int | None = None,
             params: dict | None = None) -> list:
    events = []
    with httpx.stream("GET", f"{url}/api/runs/{run_id}/events", headers=headers or {}, params=params,
                      timeout=30) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        for event in sse_events(response):
            events.append(event)
            if limit is not None and len(events) >= limit:
                break
    return events


def start(url: str, lanes: list[dict]) -> str:
    response = httpx.post(f"{url}/api/runs", json={"lanes": lanes}, timeout=10)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["events_url"] == f"/api/runs/{body['id']}/events" and body["status"] == "running"
    return body["id"]


def status(url: str, run_id: str) -> dict:
    return httpx.get(f"{url}/api/runs/{run_id}", params={"history": "false"}, timeout=10).json()


def wait_for(predicate, timeout: float, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError("condition not met in time")


server = module_live_server(Settings(cancel_grace_seconds=1.0, max_arrays_per_lane=10))


def test_two_lanes_stream_in_order_end_with_done_and_export_matches(server):
    lanes = [{**SMALL, "activation": "sigmoid"}, {**SMALL, "activation": "relu", "truncate": 5}]
    run_id = start(server.url, lanes)
    events = read_all(server.url, run_id)

    assert [e[0] for e in events] == list(range(len(events)))  # ids 0, 1, 2, ... no gap
    names = [e[1] for e in events]
    assert names[0] == "run" and names[-1] == "done"
    run = events[0][2]
    assert run["id"] == run_id and run["labels"] == ["sigmoid, full BPTT", "relu, TBPTT k=5"]
    assert run["record_every"] == [3, 3] and len(run["task_info"]) == 2
    assert [lane["activation"] for lane in run["lanes"]] == ["sigmoid", "relu"]

    steps = [e[2] for e in events if e[1] == "step"]
    assert [(s["lane"], s["step"]) for s in steps] == [(lane, step) for step in range(30) for lane in (0, 1)]
    for s in steps:  # arrays on every 3rd step and the last one
        assert (s["arrays"] is not None) == (s["step"] % 3 == 0 or s["step"] == 29)
        assert isinstance(s["loss"], float) and isinstance(s["clipped"], bool)
    truncated = [s for s in steps if s["lane"] == 1 and s["arrays"]]
    for s in truncated:  # the 7 earliest timesteps get an exact zero gradient: -inf on the engine side, null here
        grad = s["arrays"]["log10_grad_norm_per_step"]
        assert len(grad) == 12 and grad[:7] == [None] * 7 and all(v is not None for v in grad[7:])
    full = [s for s in steps if s["lane"] == 0 and s["arrays"]]
    assert all(round(v, 3) == v for s in full for v in s["arrays"]["log10_grad_norm_per_step"])

    lane_done = [e[2] for e in events if e[1] == "lane_done"]
    assert sorted(d["lane"] for d in lane_done) == [0, 1]
    assert all(d["status"] == "done" and d["step"] == 29 and d["reason"] is None for d in lane_done)
    assert events[-1][2] == {"status": "done", "lanes": ["done", "done"]}

    exported = httpx.get(f"{server.url}/api/runs/{run_id}/export", params={"format": "json"}).json()
    assert exported["status"] == "done" and exported["lane_status"] == ["done", "done"]
    assert exported["history"] == [[s for s in steps if s["lane"] == lane] for lane in (0, 1)]
    assert httpx.get(f"{server.url}/api/runs/{run_id}").json()["history"] == exported["history"]

    response = httpx.get(f"{server.url}/api/runs/{run_id}/export", params={"format": "csv"})
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    with_arrays = sum(1 for s in steps if s["arrays"])
    assert len(rows) == with_arrays * 12 + (len(steps) - with_arrays)
    by_key = {(int(r["lane"]), int(r["step"]), r["t"]): r for r in rows}
    for s in steps:
        if s["arrays"] is None:
            assert float(by_key[(s["lane"], s["step"], "")]["loss"]) == s["loss"]
            continue
        for t in range(12):
            row = by_key[(s["lane"], s["step"], str(t))]
            assert row["label"] == run["labels"][s["lane"]]
            assert float(row["loss"]) == s["loss"]
            for name in ("log10_grad_norm", "log10_weight_grad", "log10_input_grad", "log10_bound"):
                streamed = s["arrays"][f"{name}_per_step"][t]
                assert (row[name] == "") if streamed is None else (float(row[name]) == streamed)


def test_each_lane_trains_in_its_own_process_and_streams_the_engines_numbers(server):
    """Lanes run in parallel worker processes; what they stream is what rnncore computes alone, in order."""
    lanes = [{**SMALL, "activation": "tanh"}, {**SMALL, "cell": "lstm", "seed": 3},
             {**SMALL, "cell": "gru", "clip": "norm", "clip_threshold": 0.5}]
    run_id = start(server.url, lanes)
    run = server.app.state.runs.get(run_id)
    events = read_all(server.url, run_id)
    assert events[-1][2] == {"status": "done", "lanes": ["done"] * 3}
    pids = [worker.process.pid for worker in run._workers]
    assert len(set(pids)) == 3 and os.getpid() not in pids
    assert not any(worker.process.is_alive() for worker in run._workers)

    steps = [e[2] for e in events if e[1] == "step"]
    assert [(s["lane"], s["step"]) for s in steps] == [(lane, step) for step in range(30) for lane in (0, 1, 2)]
    with threadpool_limits(1, user_api="blas"):  # as in the workers
        for lane, config in enumerate(lanes):
            alone = [(r.loss, r.grad_norm, r.sigma_max) for r in train(Config(**config), record_every=3)]
            streamed = [(s["loss"], s["grad_norm"], s["sigma_max"]) for s in steps if s["lane"] == lane]
            assert streamed == alone


def test_runs_are_listed_oldest_first_without_histories(server):
    first = start(server.url, [SMALL])
    read_all(server.url, first)
    second = start(server.url, [SMALL, {**SMALL, "activation": "relu"}])
    read_all(server.url, second)
    listed = httpx.get(f"{server.url}/api/runs").json()
    ids = [run["id"] for run in listed]
    assert ids.index(first) < ids.index(second)
    mine = {run["id"]: run for run in listed}
    assert mine[second]["labels"] == ["tanh", "relu"] and mine[second]["steps_done"] == [30, 30]
    assert mine[first]["status"] == mine[second]["status"] == "done"
    assert all(run["history"] is None for run in listed)


def test_a_diverged_lane_ends_cleanly_and_the_other_continues(server):
    # diverges at step 2 (loss NaN); step 1, the explosion, is not an array step (record_every 3)
    exploding = {**SMALL, "activation": "relu", "spectral_radius": 1.3, "clip": "none",
                 "optimizer": "sgd", "learning_rate": 0.2, "seq_len": 30}
    run_id = start(server.url, [exploding, SMALL])
    events = read_all(server.url, run_id)
    lane_done = {e[2]["lane"]: e for e in events if e[1] == "lane_done"}
    diverged = lane_done[0][2]
    assert diverged["status"] == "diverged" and diverged["reason"] and isinstance(diverged["step"], int)
    assert diverged["step"] < 29
    steps_after = [e for e in events if e[1] == "step" and e[0] > lane_done[0][0]]
    assert steps_after and all(e[2]["lane"] == 1 for e in steps_after)
    assert lane_done[1][2]["status"] == "done" and lane_done[1][2]["step"] == 29
    assert events[-1][1] == "done" and events[-1][2] == {"status": "done", "lanes": ["diverged", "done"]}
    lane0_steps = [e[2]["step"] for e in events if e[1] == "step" and e[2]["lane"] == 0]
    assert lane0_steps == list(range(diverged["step"]))  # no record for the diverged step itself
    # ... but lane_done carries the arrays of the step before it (the explosion), array step or not
    assert diverged["step"] == 2 and diverged["last_arrays"]["step"] == 1
    assert [e[2]["arrays"] is not None for e in events if e[1] == "step" and e[2]["lane"] == 0] == [True, False]
    profile_before = diverged["last_arrays"]["arrays"]["log10_grad_norm_per_step"]
    assert len(profile_before) == 30 and all(v is not None for v in profile_before)
    assert lane_done[1][2]["last_arrays"] is None


def test_summary_and_exports_say_how_each_lane_ended_with_the_diverged_lanes_last_arrays(server):
    """The preset "relu-clipping": the unclipped lane diverges at step 2 (loss NaN) after the explosion at step
    1, which is not an array step. GET /api/runs/{id} and both exports carry each lane's lane_done as streamed:
    status, step, reason and the last arrays before the divergence (10^5-10^10), not only lane_status."""
    lanes = next(p for p in PRESETS if p["id"] == "relu-clipping")["lanes"]
    run_id = start(server.url, lanes)
    events = read_all(server.url, run_id)
    streamed = {e[2]["lane"]: e[2] for e in events if e[1] == "lane_done"}
    steps = [e[2] for e in events if e[1] == "step"]

    summary = _strict_json(httpx.get(f"{server.url}/api/runs/{run_id}", timeout=10).text)
    exported = _strict_json(httpx.get(f"{server.url}/api/runs/{run_id}/export", params={"format": "json"},
                                      timeout=10).text)
    listed = status(server.url, run_id)
    for body in (summary, exported, listed):
        assert body["lane_status"] == ["diverged", "done"]
        assert body["lane_done"] == [streamed[0], streamed[1]]  # the very data of the stream's lane_done
    diverged, clipped = exported["lane_done"]
    assert diverged["lane"] == 0 and diverged["status"] == "diverged"
    reason = "loss is nan at step 2 (the float32 forward pass overflowed: h_t is not finite from t = 3 on)"
    assert diverged["step"] == 2 and diverged["reason"] == reason
    last = diverged["last_arrays"]
    assert last["step"] == 1 and [s["arrays"] is None for s in steps if s["lane"] == 0] == [False, True]
    grad = last["arrays"]["log10_grad_norm_per_step"]
    assert len(grad) == 30 and all(v is not None and v > 5 for v in grad)  # ||dL/dh_t|| above 1e5 at every t
    assert max(last["arrays"]["log10_bound_per_step"]) > 10
    assert last["arrays"]["log10_weight_grad_per_step"][0] is None  # h_{-1} = 0: an exact zero, -inf -> null
    assert clipped == {"lane": 1, "status": "done", "step": 499, "reason": None, "last_arrays": None}

    response = httpx.get(f"{server.url}/api/runs/{run_id}/export", params={"format": "csv"}, timeout=10)
    rows = list(csv.DictReader(io.StringIO(response.text)))
    lane0 = [r for r in rows if r["lane"] == "0"]
    assert {(r["lane_status"], r["lane_done_step"], r["lane_done_reason"]) for r in lane0} == \
        {("diverged", "2", reason)}
    assert {(r["lane_status"], r["lane_done_step"], r["lane_done_reason"]) for r in rows if r["lane"] == "1"} == \
        {("done", "499", "")}
    assert sorted({r["step"] for r in lane0}, key=int) == ["0", "1"]  # the diverged step has no row
    step1 = [r for r in lane0 if r["step"] == "1"]
    assert [r["t"] for r in step1] == [str(t) for t in range(30)]
    assert {r["arrays_from"] for r in step1} == {"last_arrays"}
    assert {r["arrays_from"] for r in lane0 if r["step"] == "0"} == {"step"}
    loss1 = next(s["loss"] for s in steps if s["lane"] == 0 and s["step"] == 1)
    for t, row in enumerate(step1):
        assert float(row["loss"]) == loss1 and float(row["log10_grad_norm"]) == grad[t]
        for name, values in last["arrays"].items():
            if isinstance(values, list):
                column = row[name.removesuffix("_per_step")]
                assert (column == "") if values[t] is None else (float(column) == values[t])
    assert {r["arrays_from"] for r in rows if r["lane"] == "1"} == {"step", ""}


def test_csv_export_keeps_a_lane_that_diverged_at_step_0(server):
    """ReLU, identity * 5, lr 10, no clipping: the float32 forward pass overflows at step 0, so the lane has no
    step event. The CSV still has its header and one row saying how that lane ended (it was a 0-byte body with
    this lane alone, and beside a lane that trained, the diverged lane was missing)."""
    exploding = {"activation": "relu", "init": "identity", "spectral_radius": 5, "clip": "none",
                 "optimizer": "sgd", "learning_rate": 10, "steps": 5, "seq_len": 100, "hidden_size": 8}
    for lanes in ([exploding], [exploding, {"steps": 3, "seq_len": 10, "hidden_size": 8}]):
        run_id = start(server.url, lanes)
        events = read_all(server.url, run_id)
        done0 = next(e[2] for e in events if e[1] == "lane_done" and e[2]["lane"] == 0)
        assert done0["status"] == "diverged" and done0["step"] == 0
        assert not [e for e in events if e[1] == "step" and e[2]["lane"] == 0]
        response = httpx.get(f"{server.url}/api/runs/{run_id}/export", params={"format": "csv"}, timeout=10)
        assert response.status_code == 200 and response.text.startswith("lane,label,step,t,")
        rows = list(csv.DictReader(io.StringIO(response.text)))
        lane0 = [r for r in rows if r["lane"] == "0"]
        assert len(lane0) == 1
        assert (lane0[0]["lane_status"], lane0[0]["lane_done_step"], lane0[0]["lane_done_reason"]) == \
            ("diverged", "0", done0["reason"])
        assert lane0[0]["step"] == lane0[0]["t"] == lane0[0]["loss"] == ""
        assert {r["lane_status"] for r in rows if r["lane"] == "1"} == ({"done"} if len(lanes) == 2 else set())


def test_a_run_names_the_settings_it_accepted_but_does_not_use(server):
    """The API takes every field for every lane (the page sends them all), so a setting without effect (an
    LSTM's activation, Adam's momentum, a threshold without clipping) is named in the 201, per lane."""
    small = {"steps": 1, "seq_len": 5, "hidden_size": 4}
    lanes = [{"cell": "lstm", "activation": "relu", **small},
             {"optimizer": "adam", "momentum": 0.5, "clip": "none", "clip_threshold": 2.0, **small},
             {"optimizer": "momentum", "momentum": 0.5, "activation": "relu", **small}]
    response = httpx.post(f"{server.url}/api/runs", json={"lanes": lanes}, timeout=10)
    assert response.status_code == 201, response.text
    assert response.json()["ignored_settings"] == [["activation"], ["momentum", "clip_threshold"], []]
    read_all(server.url, response.json()["id"])


def test_no_browser_cache_answers_for_a_run(server):
    """A run changes while it trains and is evicted later: its summary, the list and the exports say
    Cache-Control: no-store (a page brought back with Back may otherwise get a stale summary from the cache);
    the event stream keeps its no-cache."""
    run_id = start(server.url, [{"steps": 2, "seq_len": 5, "hidden_size": 4}])
    read_all(server.url, run_id)
    for path, params in ((f"/api/runs/{run_id}", {}), ("/api/runs", {}), (f"/api/runs/{run_id}/export", {}),
                         (f"/api/runs/{run_id}/export", {"format": "csv"})):
        response = httpx.get(f"{server.url}{path}", params=params, timeout=10)
        assert response.headers.get("cache-control") == "no-store", (path, params, response.status_code)
    with httpx.stream("GET", f"{server.url}/api/runs/{run_id}/events", timeout=10) as response:
        assert response.headers["cache-control"] == "no-cache"


def test_the_lane_done_fields_are_documented_in_openapi(server):
    schemas = httpx.get(f"{server.url}/openapi.json", timeout=10).json()["components"]["schemas"]
    assert "lane_done" in schemas["RunSummary"]["required"]
    assert "lane_done" in schemas["RunSummary"]["properties"]["lane_done"]["description"]
    for model, names in (("LaneDone", ("step", "reason", "last_arrays")), ("LastArrays", ("step", "arrays"))):
        for name in names:
            assert schemas[model]["properties"][name]["description"], (model, name)


def test_disconnect_pauses_then_cancels_after_grace_and_work_stops(server):
    run_id = start(server.url, [ENDLESS, ENDLESS])
    events = read_all(server.url, run_id, limit=20)  # closes the connection after 20 events
    assert events[0][1] == "run"
    time.sleep(0.3)  # the worker notices within one step that nobody listens and pauses
    paused = status(server.url, run_id)
    assert paused["status"] == "running" and paused["paused"] and paused["clients"] == 0
    cancelled = wait_for(lambda: (s := status(server.url, run_id))["status"] == "cancelled" and s, timeout=5)
    assert cancelled["steps_done"] == paused["steps_done"]  # paused: nothing computed during the grace period
    assert cancelled["lane_status"] == ["cancelled", "cancelled"] and "no client" in cancelled["cancel_reason"]
    assert max(cancelled["steps_done"]) < 20000
    time.sleep(0.3)
    assert status(server.url, run_id)["steps_done"] == cancelled["steps_done"]
    rest = read_all(server.url, run_id, headers={"Last-Event-ID": str(events[-1][0])})
    assert [e[1] for e in rest][-3:] == ["lane_done", "lane_done", "done"]
    assert rest[-1][2]["status"] == "cancelled"


def test_a_run_nobody_listens_to_is_cancelled_without_computing(server):
    run_id = start(server.url, [ENDLESS])
    done = wait_for(lambda: (s := status(server.url, run_id))["status"] != "running" and s, timeout=5)
    assert done["status"] == "cancelled" and done["steps_done"] == [0]


def test_last_event_id_resume_loses_and_repeats_nothing(server):
    run_id = start(server.url, [SMALL, {**SMALL, "seq_len": 20}])
    first = read_all(server.url, run_id, limit=15)
    second = read_all(server.url, run_id, headers={"Last-Event-ID": str(first[-1][0])}, limit=10)
    third = read_all(server.url, run_id, headers={"Last-Event-ID": str(second[-1][0])})
    resumed = first + second + third
    assert [e[0] for e in resumed] == list(range(len(resumed)))
    assert resumed[-1][1] == "done"
    assert read_all(server.url, run_id) == resumed  # a fresh full replay is identical
    query = read_all(server.url, run_id, params={"after": first[-1][0]})
    assert query == resumed[len(first):]
    finished = httpx.get(f"{server.url}/api/runs/{run_id}/events", headers={"Last-Event-ID": str(resumed[-1][0])})
    assert finished.status_code == 204  # a browser EventSource stops reconnecting
    bad = httpx.get(f"{server.url}/api/runs/{run_id}/events", headers={"Last-Event-ID": "x"})
    assert bad.status_code == 422 and "last-event-id" in bad.json()["message"]


def test_delete_cancels_within_a_step(server):
    run_id = start(server.url, [ENDLESS, ENDLESS])
    with httpx.stream("GET", f"{server.url}/api/runs/{run_id}/events", timeout=30) as response:
        events = sse_events(response)
        for event in events:
            if event[1] == "step" and event[2]["step"] >= 5:
                break
        deleted = httpx.delete(f"{server.url}/api/runs/{run_id}", timeout=10).json()
        assert deleted["status"] == "cancelled" and deleted["lane_status"] == ["cancelled", "cancelled"]
        tail = list(events)
    assert [e[1] for e in tail][-3:] == ["lane_done", "lane_done", "done"]
    assert tail[-1][2] == {"status": "cancelled", "lanes": ["cancelled", "cancelled"]}
    steps = status(server.url, run_id)["steps_done"]
    time.sleep(0.2)
    assert status(server.url, run_id)["steps_done"] == steps and max(steps) < 20000


def test_concurrency_limit_is_a_429_with_retry_after():
    live = start_live_server(Settings(max_concurrent_runs=1, cancel_grace_seconds=30))
    try:
        first = start(live.url, [ENDLESS])
        response = httpx.post(f"{live.url}/api/runs", json={"lanes": [SMALL]})
        assert response.status_code == 429
        assert int(response.headers["Retry-After"]) >= 1 and "limit is 1" in response.json()["message"]
        assert httpx.delete(f"{live.url}/api/runs/{first}").json()["status"] == "cancelled"
        start(live.url, [SMALL])
    finally:
        live.app.state.runs.shutdown()
        stop_live_server(live)


def test_finished_runs_are_evicted_lru_then_404():
    live = start_live_server(Settings(store_max_runs=2))
    try:
        ids = []
        for _ in range(3):
            ids.append(start(live.url, [SMALL]))
            assert read_all(live.url, ids[-1])[-1][1] == "done"
        response = httpx.get(f"{live.url}/api/runs/{ids[0]}")
        assert response.status_code == 404 and "evicted" in response.json()["message"]
        assert httpx.get(f"{live.url}/api/runs/{ids[0]}/export").status_code == 404
        assert httpx.get(f"{live.url}/api/runs/{ids[0]}/events").status_code == 404
        assert all(httpx.get(f"{live.url}/api/runs/{i}").status_code == 200 for i in ids[1:])
    finally:
        stop_live_server(live)


def test_finished_runs_are_evicted_by_bytes_too():
    live = start_live_server(Settings(store_max_runs=100, store_max_bytes=1))  # no finished run fits
    try:
        run_id = start(live.url, [SMALL])
        assert read_all(live.url, run_id)[-1][1] == "done"  # a client reading the run gets all of it
        response = wait_for(lambda: (r := httpx.get(f"{live.url}/api/runs/{run_id}")).status_code == 404 and r, 5)
        assert "evicted" in response.json()["message"] and "MiB" in response.json()["message"]
    finally:
        stop_live_server(live)


def test_profile_and_gradcheck(server):
    response = httpx.post(f"{server.url}/api/profile", json={"activation": "sigmoid", "seq_len": 30,
                                                            "hidden_size": 16, "batch_size": 4})
    assert response.status_code == 200, response.text
    body = _strict_json(response.text)
    grad = body["record"]["arrays"]["log10_grad_norm_per_step"]
    assert len(grad) == 30 and grad[0] < grad[-1] - 5  # sigmoid: at least 1/4 per step back
    assert body["task_info"]["name"] == "adding" and body["config"]["activation"] == "sigmoid"
    response = httpx.post(f"{server.url}/api/gradcheck", json={"seq_len": 6, "hidden_size": 5, "batch_size": 3},
                          timeout=60)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["passed"] and body["worst"] < 1e-5 and len(body["max_rel_error"]) >= 3


def test_the_documented_event_stream_example_is_a_real_run(server):
    """/docs shows SSE_EXAMPLE as the "spectral-radius" preset's stream: its step 0's numbers, the beginnings of
    the arrays it shows, its `nonfinite` list and the ids of its last events are what that preset streams (it
    showed ids 1002/1004 and another run's step 0, then a step 0 without the `nonfinite` it has)."""
    import re

    from app.routers.runs import SSE_EXAMPLE

    documented, shown_arrays, shown_nonfinite = {}, {}, {}
    for frame in SSE_EXAMPLE.split("\n\n"):
        fields = dict(line.split(": ", 1) for line in frame.splitlines() if ": " in line)
        if fields.get("event") in ("step", "lane_done", "done"):
            event_id, data = int(fields["id"]), fields["data"]
            scalars = dict(re.findall(r'"(\w+)":(-?[\d.e-]+|true|false|null|"\w*")(?=[,}])', data))
            documented[event_id] = (fields["event"], scalars)
            shown_arrays[event_id] = {name: json.loads(f"[{values}]") for name, values
                                      in re.findall(r'"(\w+)":\[([^\]]*?),\.\.\.\]', data)}
            if fields["event"] == "step":  # the example names its nulls exactly as the real step does (or not)
                found = re.search(r'"nonfinite":(\[[^\]]*\])', data)
                shown_nonfinite[event_id] = json.loads(found.group(1)) if found else None
    assert shown_arrays[1]["log10_weight_grad_per_step"][0] is None  # t = 0: h_{-1} = 0, log10 0 = -inf
    lanes = next(p for p in PRESETS if p["id"] == "spectral-radius")["lanes"]
    events = {event_id: (name, data) for event_id, name, data in read_all(server.url, start(server.url, lanes))}
    for event_id, (name, scalars) in documented.items():
        assert events[event_id][0] == name, (event_id, name)
        real = events[event_id][1]
        for key, text in scalars.items():  # floats to float32's rounding: other CPUs' SIMD paths round apart
            value = json.loads(text)
            if isinstance(value, float):
                assert value == pytest.approx(real[key], rel=1e-5), (event_id, key, text, real[key])
            else:
                assert value == real[key], (event_id, key, text, real[key])
        for name, values in shown_arrays[event_id].items():  # 3 decimals, to float32's rounding
            assert real["arrays"][name][:len(values)] == pytest.approx(values, abs=2e-3), (event_id, name)
        if event_id in shown_nonfinite:
            assert shown_nonfinite[event_id] == real.get("nonfinite"), (event_id, real.get("nonfinite"))
    assert max(events) == max(documented)  # the last event, done, has the documented id
