"""Error messages state each parameter's own allowed range, exactly; bodies that are not JSON objects (not
JSON, the wrong Content-Type, nested too deep) are a 422 that says so; echoed user input is cut short."""
from __future__ import annotations

import json
import time

import annotated_types as at
import pytest
from fastapi.testclient import TestClient

from app.errors import MAX_ECHO
from app.main import create_app
from app.routers.cliff import SurfaceQuery
from app.settings import Settings
from rnncore.config import FIELDS


@pytest.fixture(scope="module")
def client():
    with TestClient(create_app(Settings())) as c:
        yield c


def _declared(name: str) -> tuple[str, float, float, bool]:
    """(kind, low, high, low exclusive) as declared on SurfaceQuery's field."""
    field = SurfaceQuery.model_fields[name]
    low = high = None
    low_open = False
    for item in field.metadata:
        if isinstance(item, at.Ge):
            low = item.ge
        elif isinstance(item, at.Gt):
            low, low_open = item.gt, True
        elif isinstance(item, at.Le):
            high = item.le
    assert low is not None and high is not None, name
    return ("integer" if field.annotation is int else "number"), low, high, low_open


def _expected_allowed(name: str) -> str:
    kind, low, high, low_open = _declared(name)
    return f"(allowed: {kind} in {'(' if low_open else '['}{low!r}, {high!r}])"


@pytest.mark.parametrize("name", list(SurfaceQuery.model_fields))
def test_every_loss_surface_parameter_states_its_own_range(client, name):
    kind, low, high, low_open = _declared(name)
    step = 1 if kind == "integer" else 1.0
    allowed = _expected_allowed(name)
    for value in (high + step, low - step if not low_open else low):
        response = client.get("/api/loss-surface", params={name: value})
        assert response.status_code == 422, response.text
        message = response.json()["message"]
        assert message.startswith(f"query.{name}: "), message
        assert message.endswith(allowed), (message, allowed)


@pytest.mark.parametrize("query, message", [
    ("steps=600", "query.steps: must be <= 500 (allowed: integer in [1, 500])"),
    ("steps=0", "query.steps: must be >= 1 (allowed: integer in [1, 500])"),
    ("steps=many", "query.steps: must be a whole number written without a decimal point or exponent "
                   "(allowed: integer in [1, 500])"),
    ("steps=2.0", "query.steps: must be a whole number written without a decimal point or exponent "
                  "(allowed: integer in [1, 500])"),
    ("resolution=1e2", "query.resolution: must be a whole number written without a decimal point or exponent "
                       "(allowed: integer in [5, 200])"),
    ("learning_rate=200", "query.learning_rate: must be <= 100.0 (allowed: number in (0.0, 100.0])"),
    ("learning_rate=0", "query.learning_rate: must be > 0.0 (allowed: number in (0.0, 100.0])"),
    ("threshold=-1", "query.threshold: must be > 0.0 (allowed: number in (0.0, 1000000.0])"),
    ("resolution=201", "query.resolution: must be <= 200 (allowed: integer in [5, 200])"),
    ("resolution=2", "query.resolution: must be >= 5 (allowed: integer in [5, 200])"),
])
def test_loss_surface_messages_the_audit_found(client, query, message):
    response = client.get(f"/api/loss-surface?{query}")
    assert response.status_code == 422
    assert response.json()["message"] == message


def test_unknown_loss_surface_parameter_lists_the_known_ones(client):
    message = client.get("/api/loss-surface?resolutoin=50").json()["message"]
    assert message == "query.resolutoin: unknown query parameter; known: " + ", ".join(SurfaceQuery.model_fields)


def test_other_query_parameters_use_their_own_bounds(client):
    message = client.get("/api/runs/abc/events?after=-5").json()["message"]
    assert message == "query.after: must be >= -1 (allowed: integer >= -1 or null)"


@pytest.mark.parametrize("spec", [s for s in FIELDS if s.kind == "int"], ids=lambda s: s.name)
def test_integer_ranges_print_exactly(client, spec):
    response = client.post("/api/runs", json={"lanes": [{spec.name: int(spec.maximum) + 1}]})
    assert response.status_code == 422
    message = response.json()["message"]
    assert f"must be <= {int(spec.maximum)} (allowed: integer in [{int(spec.minimum)}, {int(spec.maximum)}]" \
        in message, message


def test_seed_limit_is_not_rounded(client):
    message = client.post("/api/runs", json={"lanes": [{"seed": 2**31}]}).json()["message"]
    assert message == "lanes[0].seed: must be <= 2147483647 (allowed: integer in [0, 2147483647])"


def test_float_ranges_print_exactly(client):
    message = client.post("/api/runs", json={"lanes": [{"learning_rate": 11}]}).json()["message"]
    assert message == "lanes[0].learning_rate: must be <= 10.0 (allowed: number in [1e-06, 10.0])"
    message = client.post("/api/runs", json={"lanes": [{"truncate": 0}]}).json()["message"]
    assert message == "lanes[0].truncate: must be >= 1 (allowed: integer in [1, 2000] or null)"


@pytest.mark.parametrize(("field", "allowed"), [("seq_len", "integer in [2, 2000]"),
                                                ("activation", "one of sigmoid, tanh, relu, linear")])
def test_null_for_a_field_that_takes_no_null_says_it_is_empty(client, field, allowed):
    """The page sends null for a box left empty: 'must not be empty', not pydantic's 'Input should be a valid
    integer'; a nullable field (truncate: null is full BPTT) takes null."""
    message = client.post("/api/runs", json={"lanes": [{field: None}]}).json()["message"]
    assert message == f"lanes[0].{field}: must not be empty (null) (allowed: {allowed})"
    assert client.post("/api/labels", json={"lanes": [{"truncate": None}, {}]}).status_code == 200


@pytest.mark.parametrize("body", [b"not json", b'{\n  "lanes": [\n    {"seq_len": 10,}\n  ]\n}', b'{"lanes": ['])
def test_invalid_json_names_the_body_and_where_it_breaks(client, body):
    try:
        json.loads(body)
    except json.JSONDecodeError as exc:
        where = f"at line {exc.lineno} column {exc.colno} ({exc.msg})"
    response = client.post("/api/runs", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 422
    assert response.json()["message"] == f"body: the request body is not valid JSON {where}"


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded",
                                          "text/plain; charset=utf-8", None])
@pytest.mark.parametrize("path", ["/api/runs", "/api/profile", "/api/gradcheck", "/api/labels"])
def test_json_sent_with_another_content_type_says_to_send_application_json(client, path, content_type):
    headers = {"content-type": content_type} if content_type else {}
    response = client.post(path, content=b'{"lanes": [{}]}', headers=headers)
    assert response.status_code == 422
    received = f"Content-Type: {content_type}" if content_type else "no Content-Type"
    assert response.json()["message"] == (
        f"body: send the request body as JSON with Content-Type: application/json (received {received})")


@pytest.mark.parametrize(("body", "message"), [
    ([1], "body: must be a JSON object {...}, got an array"),
    (7, "body: must be a JSON object {...}, got a number"),
    (True, "body: must be a JSON object {...}, got true"),
    ({"lanes": "ab"}, "lanes: must be a JSON array [...], got a string (allowed: a list of 1 to 4 items)"),
    ({"lanes": [3]}, "lanes[0]: must be a JSON object {...}, got a number"),
])
def test_a_json_value_of_the_wrong_kind_is_named_in_json_s_words(client, body, message):
    # it was pydantic's "Input should be a valid dictionary or object to extract fields from"
    assert client.post("/api/runs", json=body).json()["message"] == message


# deep enough for Python's JSON parser to give up, small enough for the body limit (RNNLAB_MAX_BODY_BYTES)
@pytest.mark.parametrize("body", ["[" * 50_000 + "]" * 50_000, '{"a":' * 20_000 + "1" + "}" * 20_000,
                                  '{"lanes": ' + "[" * 50_000 + "]" * 50_000 + "}"])
def test_json_nested_too_deep_is_a_fast_422(client, body):
    start = time.perf_counter()
    response = client.post("/api/runs", content=body, headers={"content-type": "application/json"})
    elapsed = time.perf_counter() - start
    assert response.status_code == 422, response.text
    assert response.json()["message"].startswith("body: the request body nests JSON arrays/objects too deeply")
    assert response.json()["detail"][0]["loc"] == ["body"]
    assert elapsed < 2.0


def test_undecodable_bytes_are_still_a_400(client):
    response = client.post("/api/runs", content=b"\xff\xfe{", headers={"content-type": "application/json"})
    assert response.status_code == 400


@pytest.mark.parametrize("body", [{"k" * 10_000: 1}, {"lanes": [{"k" * 10_000: 1}]}])
def test_long_unknown_keys_are_cut_short(client, body):
    response = client.post("/api/runs", json=body)
    assert response.status_code == 422
    data = response.json()
    assert "k" * MAX_ECHO + "… (10000 characters): unknown field" in data["message"]
    assert "k" * (MAX_ECHO + 1) not in data["message"]
    assert len(json.dumps(data)) < 2000
    assert len(response.content) < 2000


def test_long_content_type_is_cut_short(client):
    content_type = "text/" + "x" * 5000
    response = client.post("/api/runs", content=b"{}", headers={"content-type": content_type})
    assert response.status_code == 422
    assert len(response.json()["message"]) < 250


@pytest.mark.parametrize("suffix", ["", "/events", "/export"])
def test_a_long_run_id_is_a_404_that_does_not_echo_it_whole(client, suffix):
    response = client.get(f"/api/runs/{'r' * 10_000}{suffix}")
    assert response.status_code == 404
    assert len(response.content) < 500
    assert "… (10000 characters)" in response.json()["message"]
