"""/openapi.json declares what the service really sends, precisely enough to build a typed client: real streams
and responses are validated against the schemas the document declares for them (jsonschema_rs, JSON Schema
2020-12, OpenAPI 3.1), each event's data against its event type's schema. The schemas are validated *closed*
(every object given additionalProperties: false here, not in the API) so no key goes undeclared, and a
corrupted copy of each response must fail, so a permissive schema ({} or a free-form object) cannot pass."""
from __future__ import annotations

import copy
import json
from typing import Any

import httpx
import jsonschema_rs
import pytest

from app.settings import Settings
from tests.conftest import module_live_server

SMALL = {"hidden_size": 4, "batch_size": 2, "steps": 6}
LANES = [
    # diverges at step 2 after the explosion at step 1, not an array step: lane_done carries last_arrays
    {"seq_len": 30, "hidden_size": 8, "batch_size": 4, "steps": 30, "activation": "relu", "spectral_radius": 1.3,
     "clip": "none", "optimizer": "sgd", "learning_rate": 0.2},
    {**SMALL, "cell": "lstm", "task": "copy", "seq_len": 4},  # cell gradient, forget gate; copy's task_info
    {**SMALL, "cell": "gru", "task": "recall", "target": "every", "truncate": 3, "seq_len": 9},
    {**SMALL, "activation": "sigmoid", "task": "temporal_order", "truncate": 4, "seq_len": 12},  # null gradients
]
EVENTS = "/api/runs/{run_id}/events"


server = module_live_server(Settings(cancel_grace_seconds=1.0, max_arrays_per_lane=10))


@pytest.fixture(scope="module")
def doc(server) -> dict:
    return httpx.get(f"{server.url}/openapi.json", timeout=10).json()


@pytest.fixture(scope="module")
def run(server) -> dict:
    """One finished run of LANES: its POST response and its whole event stream, as sent."""
    created = httpx.post(f"{server.url}/api/runs", json={"lanes": LANES}, timeout=10)
    assert created.status_code == 201, created.text
    run_id = created.json()["id"]
    body = httpx.get(f"{server.url}/api/runs/{run_id}/events", timeout=60).text
    frames = []
    for block in body.split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if not line.startswith((":", "retry:")))
        if fields:
            frames.append(fields)
    assert frames[-1]["event"] == "done"
    return {"id": run_id, "created": created, "frames": frames}


# --- helpers -------------------------------------------------------------------------------------------------
def _closed(schema: Any) -> Any:
    """A copy in which every object schema with properties allows no other key."""
    if isinstance(schema, dict):
        out = {key: _closed(value) for key, value in schema.items()}
        if "properties" in out and "additionalProperties" not in out:
            out["additionalProperties"] = False
        return out
    if isinstance(schema, list):
        return [_closed(value) for value in schema]
    return schema


def _validator(doc: dict, schema: dict):
    """``schema`` (which may $ref the document's components), closed, as a validator."""
    return jsonschema_rs.validator_for(_closed({"$schema": "https://json-schema.org/draft/2020-12/schema",
                                                "$ref": "#/$defs/target", "$defs": {"target": schema},
                                                "components": doc["components"]}))


def _resolve(doc: dict, ref: str) -> dict:
    node = doc
    for part in ref.removeprefix("#/").split("/"):
        node = node[part]
    return node


def _declared(doc: dict, path: str, method: str, status: str, media: str = "application/json") -> dict:
    return doc["paths"][path][method]["responses"][status]["content"][media]["schema"]


def _assert_valid(validator, instance, what) -> None:
    errors = [f"{'/'.join(map(str, e.instance_path))}: {e.message}" for e in validator.iter_errors(instance)]
    assert not errors, (what, errors[:5])


def _corrupted(instance, path: tuple, value):
    out = copy.deepcopy(instance)
    node = out
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return out


def _assert_precise(validator, instance, corruptions: list[tuple[tuple, Any]], what) -> None:
    """The real instance is valid; each corrupted copy (a value of the wrong type or out of range) is not."""
    _assert_valid(validator, instance, what)
    for path, value in corruptions:
        assert not validator.is_valid(_corrupted(instance, path, value)), (what, "accepts", path, value)


def _event_schemas(doc: dict) -> dict[str, tuple[dict, dict]]:
    """Per event type: (its frame's schema, its data's schema), as the event stream's 200 declares them."""
    stream = _declared(doc, EVENTS, "get", "200", "text/event-stream")
    assert stream["discriminator"]["propertyName"] == "event"
    out = {}
    for event, ref in stream["discriminator"]["mapping"].items():
        frame = _resolve(doc, ref)
        assert frame["properties"]["event"]["const"] == event
        data = frame["properties"]["data"]
        assert data["type"] == "string" and data["contentMediaType"] == "application/json"
        out[event] = (frame, data["contentSchema"])
    return out


# --- the event stream -----------------------------------------------------------------------------------------
def test_each_event_of_a_real_stream_matches_its_event_types_schema(doc, run):
    schemas = _event_schemas(doc)
    assert set(schemas) == {"run", "step", "lane_done", "done"}
    whole = _validator(doc, _declared(doc, EVENTS, "get", "200", "text/event-stream"))
    frames = {event: _validator(doc, frame) for event, (frame, _) in schemas.items()}
    data = {event: _validator(doc, schema) for event, (_, schema) in schemas.items()}
    seen: dict[str, list] = {event: [] for event in schemas}
    for frame in run["frames"]:
        event = frame["event"]
        _assert_valid(whole, frame, ("frame", frame["id"]))  # as the stream's schema: one of the event types
        _assert_valid(frames[event], frame, ("frame", frame["id"]))
        payload = json.loads(frame["data"])
        _assert_valid(data[event], payload, (event, frame["id"]))
        seen[event].append(payload)
    assert not frames["step"].is_valid({**run["frames"][1], "event": "run"})  # each frame its own type

    # what the stream covered: every kind of value the schemas declare, null and not
    steps = seen["step"]
    arrays = [s["arrays"] for s in steps if s["arrays"]]
    assert any(a["log10_cell_grad_norm_per_step"] for a in arrays) and any(a["gate_mean_per_step"] for a in arrays)
    assert any(a["log10_bound_per_step"] for a in arrays) and any(s["gamma"] is None for s in steps)
    assert any(s["spectral_radius"] is None for s in steps)
    diverged = [d for d in seen["lane_done"] if d["status"] == "diverged"]
    assert diverged and diverged[0]["last_arrays"]["arrays"]["log10_grad_norm_per_step"]
    assert {t["name"] for t in seen["run"][0]["task_info"]} == {"adding", "copy", "recall", "temporal_order"}
    # a step names its nulls in nonfinite, and only those; every array step's t = 0 of the weight gradient is null
    for step in steps:
        nulls = [f"arrays.{k}" for k, v in (step["arrays"] or {}).items() if isinstance(v, list) and None in v]
        nulls += [k for k in ("loss", "metric", "grad_norm", "grad_norm_clipped", "sigma_max", "gamma")
                  if step[k] is None and not (k == "gamma" and step["lane"] in (1, 2))]
        assert sorted(step.get("nonfinite", [])) == sorted(nulls), step["lane"]
        if step["arrays"]:
            assert step["arrays"]["log10_weight_grad_per_step"][0] is None
            assert "arrays.log10_weight_grad_per_step" in step["nonfinite"]
    assert any("arrays.log10_grad_norm_per_step" in s.get("nonfinite", []) for s in steps)  # truncated BPTT

    step = next(s for s in steps if s["arrays"] and s["lane"] == 1)
    for path, value in ((("loss",), "1.5"), (("arrays", "log10_grad_norm_per_step", 0), "x"),
                        (("arrays", "gate_mean_per_step"), {}), (("nonfinite",), ["arrays.nothing"]),
                        (("clipped",), None), (("lane",), 4)):
        assert not data["step"].is_valid(_corrupted(step, path, value)), (path, value)
    assert not data["step"].is_valid({k: v for k, v in step.items() if k != "arrays"})  # every key required
    assert not data["step"].is_valid({**step, "undeclared": 1})  # closed, here
    assert not data["run"].is_valid(_corrupted(seen["run"][0], ("lanes", 0, "hidden_size"), 0))  # the bounds
    assert not data["lane_done"].is_valid(_corrupted(diverged[0], ("last_arrays", "arrays", "input_saliency"), 1))
    assert not data["done"].is_valid(_corrupted(seen["done"][0], ("lanes", 0), "running"))


def test_the_lane_done_model_keeps_the_streamed_bytes(run):
    """The `lane_done` events are serialized through app.schemas.LaneDone, whose last_arrays are typed now:
    parsing and re-serializing them gives back the very bytes streamed (nothing added, dropped or reordered)."""
    from app.schemas import LaneDone

    raws = [frame["data"] for frame in run["frames"] if frame["event"] == "lane_done"]
    assert any('"last_arrays":{' in raw for raw in raws)
    for raw in raws:
        assert LaneDone.model_validate_json(raw).model_dump_json() == raw


# --- responses ------------------------------------------------------------------------------------------------
def test_the_run_summaries_match_their_declared_schemas(server, doc, run):
    run_id = run["id"]
    summary = _validator(doc, _declared(doc, "/api/runs/{run_id}", "get", "200"))
    body = httpx.get(f"{server.url}/api/runs/{run_id}", timeout=30).json()  # history spliced from the stream
    lane = 1  # the LSTM's
    first = next(i for i, s in enumerate(body["history"][lane]) if s["arrays"])
    _assert_precise(summary, body, [
        (("history", lane, first, "arrays", "log10_cell_grad_norm_per_step", 0), "x"),
        (("history", lane, first, "loss"), "x"), (("history", lane, first, "nonfinite"), "arrays.x"),
        (("lanes", 0, "seq_len"), 1), (("lanes", 0, "cell"), "transformer"), (("lane_status", 0), "exploded"),
        (("task_info", 1, "extra", "answer", "start"), "15"), (("task_info", 0, "chance_loss"), "0.1"),
        (("lane_done", 0, "last_arrays", "arrays", "dtype_underflow_steps"), 0.5),
    ], "GET /api/runs/{id}")
    brief = httpx.get(f"{server.url}/api/runs/{run_id}", params={"history": "false"}, timeout=30).json()
    assert brief["history"] is None
    _assert_valid(summary, brief, "history=false")
    listed = httpx.get(f"{server.url}/api/runs", timeout=30).json()
    _assert_valid(_validator(doc, _declared(doc, "/api/runs", "get", "200")), listed, "GET /api/runs")
    exported = httpx.get(f"{server.url}/api/runs/{run_id}/export", timeout=30).json()
    _assert_valid(_validator(doc, _declared(doc, "/api/runs/{run_id}/export", "get", "200")), exported, "export")
    cancelled = httpx.delete(f"{server.url}/api/runs/{run_id}", timeout=30).json()
    _assert_precise(_validator(doc, _declared(doc, "/api/runs/{run_id}", "delete", "200")), cancelled,
                    [(("lane_status", 0), "gone"), (("status",), 1)], "DELETE")


@pytest.mark.parametrize("config", [{"seq_len": 20, "truncate": 5}, {"cell": "lstm", "task": "copy", "seq_len": 5},
                                   {"cell": "gru", "task": "recall", "target": "every"}], ids=["rnn", "lstm", "gru"])
def test_the_profile_matches_its_declared_schema(server, doc, config):
    response = httpx.post(f"{server.url}/api/profile", json={**config, "hidden_size": 8, "batch_size": 4}, timeout=60)
    assert response.status_code == 200, response.text
    body = response.json()
    _assert_precise(_validator(doc, _declared(doc, "/api/profile", "post", "200")), body, [
        (("record", "arrays", "input_saliency", 0), "x"), (("record", "loss"), "x"), (("record", "arrays"), []),
        (("record", "nonfinite"), ["bogus"]), (("config", "seq_len"), 1), (("config", "dtype"), "float16"),
        (("task_info", "loss_name"), "l1"), (("task_info", "extra", "informative", 0, "stop"), None),
    ], config)
    arrays, nonfinite = body["record"]["arrays"], body["record"]["nonfinite"]
    assert nonfinite == [f"arrays.{k}" for k, v in arrays.items() if isinstance(v, list) and None in v]
    assert arrays["log10_weight_grad_per_step"][0] is None
    assert ("arrays.log10_grad_norm_per_step" in nonfinite) == ("truncate" in config)
    # the response model keeps the response as it was: the same keys in the same order, nonfinite only when set
    from app.schemas import ProfileResult

    assert json.dumps(ProfileResult.model_validate(body).model_dump(mode="json")) == json.dumps(body)


def test_the_models_follow_the_engines_records():
    """The models that declare a `step` event's data have the fields app.runs.step_to_json sends, in its order
    (the profile and the diverged lanes' arrays are serialized through them)."""
    import rnncore
    from app.runs import ARRAY_FIELDS, SCALARS, step_to_json
    from app.schemas import STEP_SCALARS, StepEvent, TimestepArrays

    assert tuple(TimestepArrays.model_fields) == ARRAY_FIELDS and STEP_SCALARS == SCALARS
    data = step_to_json(0, rnncore.profile(rnncore.Config(seq_len=4, hidden_size=3, batch_size=2)))
    assert list(StepEvent.model_fields) == list(data)  # nonfinite last, present here (t = 0)


# --- statuses and headers -------------------------------------------------------------------------------------
POSTS = ("/api/runs", "/api/profile", "/api/gradcheck", "/api/labels")


def test_413_on_every_post_is_declared_and_is_what_is_sent(server, doc):
    too_big = b'{"lanes": [' + b" " * (Settings().max_body_bytes + 1) + b"]}"
    for path in POSTS:
        validator = _validator(doc, _declared(doc, path, "post", "413"))
        response = httpx.post(f"{server.url}{path}", content=too_big, timeout=10,
                              headers={"content-type": "application/json"})
        assert response.status_code == 413, path
        _assert_precise(validator, response.json(), [(("message",), None)], path)


def test_unknown_query_422_of_options_and_presets_is_declared_and_is_what_is_sent(server, doc):
    for path in ("/api/options", "/api/presets"):
        validator = _validator(doc, _declared(doc, path, "get", "422"))
        response = httpx.get(f"{server.url}{path}", params={"histroy": "false"}, timeout=10)
        assert response.status_code == 422, path
        _assert_valid(validator, response.json(), path)
        assert "histroy" in response.json()["message"]


def test_retry_after_and_location_are_declared_headers(server, doc, run):
    declared = {(method.upper(), path): operation["responses"]["429"]
                for path, methods in doc["paths"].items() for method, operation in methods.items()
                if "429" in operation["responses"]}
    assert {("POST", "/api/runs"), ("POST", "/api/profile"), ("POST", "/api/gradcheck"), ("GET", EVENTS),
            ("GET", "/api/runs/{run_id}"), ("GET", "/api/runs/{run_id}/export")} <= set(declared)
    for where, response in declared.items():
        assert response["headers"]["Retry-After"]["schema"]["type"] == "integer", where
    location = doc["paths"]["/api/runs"]["post"]["responses"]["201"]["headers"]["Location"]
    assert location["schema"]["type"] == "string"
    assert run["created"].headers["location"] == f"/api/runs/{run['id']}"
    # a real 429 sends the header as declared
    state = server.app.state
    state.profiles_pending = state.settings.profile_max_pending
    try:
        refused = httpx.post(f"{server.url}/api/profile", json={}, timeout=10)
    finally:
        state.profiles_pending = 0
    assert refused.status_code == 429
    header = _validator(doc, declared[("POST", "/api/profile")]["headers"]["Retry-After"]["schema"])
    _assert_valid(header, int(refused.headers["retry-after"]), "Retry-After")


# --- the schema's own wording and numbers ---------------------------------------------------------------------
def _integer_schemas(node: Any, where: str = ""):
    if isinstance(node, dict):
        if node.get("type") == "integer":
            yield where, node
        for key, value in node.items():
            yield from _integer_schemas(value, f"{where}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _integer_schemas(value, f"{where}/{index}")


def test_integer_bounds_are_integers(doc):
    from rnncore.config import FIELDS

    lane = doc["components"]["schemas"]["LaneConfig"]["properties"]
    bounds = [(where, key, schema[key]) for where, schema in _integer_schemas(doc)
              for key in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum") if key in schema]
    assert len(bounds) > 20 and [b for b in bounds if type(b[2]) is not int] == []
    assert type(lane["hidden_size"]["maximum"]) is int and lane["hidden_size"]["maximum"] == 512
    for spec in FIELDS:
        if spec.kind == "int":
            schema = lane[spec.name]["anyOf"][0] if spec.nullable else lane[spec.name]
            assert (schema["minimum"], schema["maximum"]) == (spec.minimum, spec.maximum)
            assert type(schema["minimum"]) is int and type(schema["maximum"]) is int, spec.name


def test_history_is_described_as_null_not_omitted(doc):
    history = doc["components"]["schemas"]["RunSummary"]["properties"]["history"]
    assert "omitted" not in history["description"] and "null with history=false" in history["description"]


def test_the_header_wins_over_after_as_documented(server, doc, run):
    parameters = {p["name"]: p.get("description", "") for p in doc["paths"][EVENTS]["get"]["parameters"]}
    assert "wins over ?after" in parameters["last-event-id"].lower() and "the header wins" in parameters["after"]
    with httpx.stream("GET", f"{server.url}/api/runs/{run['id']}/events", params={"after": 0},
                      headers={"Last-Event-ID": "2"}, timeout=30) as response:
        first = next(line for line in response.iter_lines() if line.startswith("id: "))
    assert first == "id: 3"


def test_every_error_status_is_declared_as_the_json_error_body(doc):
    """Every 4xx is declared as the body the service sends ({message, detail}, application/json), also on the
    event stream, whose 200 is text/event-stream."""
    for path, methods in doc["paths"].items():
        for method, operation in methods.items():
            for status, response in operation["responses"].items():
                if status.startswith("4"):
                    assert list(response["content"]) == ["application/json"], (method, path, status)
                    assert response["content"]["application/json"]["schema"]["$ref"].endswith("/ErrorResponse")
