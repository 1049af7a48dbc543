"""Each 422 detail item states its facts in ``ctx`` as JSON data, so a client (the page) words them without
parsing the English of ``msg``/``message``: rnncore's cross-field rules (truncate <= seq_len, the targets a task
allows) give their bounds and the other field involved; wherever the message says "(allowed: ...)", the
schema's bounds or choices are there too, beside pydantic's own ctx."""
from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from app.settings import Settings


@pytest.fixture(scope="module")
def client():
    with TestClient(create_app(Settings())) as c:
        yield c


def _item(response) -> dict:
    assert response.status_code == 422, response.text
    assert "NaN" not in response.text and "Infinity" not in response.text
    detail = response.json()["detail"]
    assert len(detail) == 1, detail
    return detail[0]


def test_truncate_beyond_seq_len_gives_its_bounds_and_the_field_that_sets_them(client):
    item = _item(client.post("/api/runs", json={"lanes": [{}, {"seq_len": 100, "truncate": 500}]}))
    assert item["loc"] == ["body", "lanes", 1, "truncate"] and item["type"] == "value_error"
    assert item["msg"] == "must be in [1, seq_len=100] or null (full BPTT)"  # the sentence as it was
    assert item["ctx"] == {"minimum": 1, "maximum": 100, "integer": True, "nullable": True,
                           "maximum_from": "seq_len", "seq_len": 100}
    # one config alone (the page's preview of lane B): the same facts
    item = _item(client.post("/api/profile", json={"seq_len": 40, "truncate": 41}))
    assert item["loc"] == ["body", "truncate"]
    assert item["ctx"]["maximum"] == item["ctx"]["seq_len"] == 40 and item["ctx"]["maximum_from"] == "seq_len"


def test_a_target_the_task_does_not_allow_gives_the_task_and_its_targets(client):
    item = _item(client.post("/api/runs", json={"lanes": [{"task": "copy", "target": "last"}]}))
    assert item["loc"] == ["body", "lanes", 0, "target"] and item["msg"] == "task copy allows target in {every}"
    assert item["ctx"] == {"allowed": ["every"], "allowed_from": "task", "task": "copy", "nullable": True}
    item = _item(client.post("/api/gradcheck", json={"task": "temporal_order", "target": "every"}))
    assert item["ctx"] == {"allowed": ["last"], "allowed_from": "task", "task": "temporal_order", "nullable": True}


@pytest.mark.parametrize(("request_", "ctx"), [
    # a lane field out of its own range: pydantic's ge beside the schema's bounds
    (("post", "/api/runs", {"lanes": [{"truncate": 0}]}),
     {"ge": 1, "integer": True, "minimum": 1, "maximum": 2000, "nullable": True}),
    (("post", "/api/runs", {"lanes": [{"learning_rate": 20}]}),
     {"le": 10.0, "integer": False, "minimum": 1e-06, "maximum": 10.0, "nullable": False}),
    # the wrong type: pydantic gives no ctx, the schema's facts are all there is
    (("post", "/api/runs", {"lanes": [{"seq_len": None}]}),
     {"integer": True, "minimum": 2, "maximum": 2000, "nullable": False}),
    (("post", "/api/runs", {"lanes": [{"activation": "selu"}]}),
     {"expected": "'sigmoid', 'tanh', 'relu' or 'linear'", "allowed": ["sigmoid", "tanh", "relu", "linear"],
      "nullable": False}),
    (("get", "/api/loss-surface?steps=2.5", None), {"integer": True, "minimum": 1, "maximum": 500, "nullable": False}),
    # an open bound is exclusive_minimum; a one-sided, nullable one
    (("get", "/api/loss-surface?learning_rate=0", None),
     {"gt": 0.0, "integer": False, "exclusive_minimum": 0.0, "maximum": 100.0, "nullable": False}),
    (("get", "/api/runs/abc/events?after=-5", None), {"ge": -1, "integer": True, "minimum": -1, "nullable": True}),
    (("post", "/api/runs", {"lanes": []}),
     {"field_type": "List", "min_length": 1, "actual_length": 0, "min_items": 1, "max_items": 4, "nullable": False}),
], ids=["truncate-0", "learning_rate-20", "seq_len-null", "activation", "steps-2.5", "learning_rate-0", "after",
        "lanes-empty"])
def test_the_allowed_part_of_a_message_is_in_ctx_too(client, request_, ctx):
    method, url, body = request_
    item = _item(client.request(method.upper(), url, json=body))
    assert "(allowed: " in item["message"], item["message"]
    assert item["ctx"] == ctx


def test_no_schema_facts_where_the_message_states_none(client):
    item = _item(client.get("/api/loss-surface?resolutoin=50"))  # an unknown key has no bounds
    assert "ctx" not in item
    item = _item(client.post("/api/profile", json={"seq_len": 2000, "hidden_size": 512}))  # a cap: its own ctx only
    assert set(item["ctx"]) == {"work", "limit", "reduce"}


def test_the_loss_surface_s_range_rule_carries_its_facts():
    with TestClient(create_app(Settings())) as client:
        item = client.get("/api/loss-surface", params={"w_min": 2, "w_max": 1}).json()["detail"][0]
    assert item["loc"] == ["query", "w_max"]
    assert item["ctx"] == {"exclusive_minimum": 2.0, "minimum_from": "w_min", "w_min": 2.0, "integer": False}
