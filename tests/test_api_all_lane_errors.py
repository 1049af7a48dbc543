"""Every lane's cross-field problems come back in one 422, as pydantic's own bounds errors do (before, only the
first: a client fixing one lane at a time needed a round trip per problem)."""
from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from app.settings import Settings
from rnncore import Config

LANES = [{"truncate": 500, "task": "copy", "target": "last"}, {"truncate": 300}, {}]


@pytest.fixture(scope="module")
def client():
    with TestClient(create_app(Settings())) as client:
        yield client


@pytest.mark.parametrize("path", ["/api/runs", "/api/labels"])
def test_every_lane_s_cross_field_problems_in_one_422(client, path):
    response = client.post(path, json={"lanes": LANES})
    assert response.status_code == 422
    body = response.json()
    assert [item["loc"] for item in body["detail"]] == [
        ["body", "lanes", 0, "target"], ["body", "lanes", 0, "truncate"], ["body", "lanes", 1, "truncate"]]
    assert body["message"] == ("lanes[0].target: task copy allows target in {every}; lanes[0].truncate: must be "
                               "in [1, seq_len=100] or null (full BPTT); lanes[1].truncate: must be in [1, "
                               "seq_len=100] or null (full BPTT)")
    assert [item["ctx"].get("maximum") for item in body["detail"]] == [None, 100, 100]


def test_problems_lists_all_and_validate_raises_the_first():
    config = Config(seq_len=10, truncate=20, task="copy", target="last", hidden_size=0)
    problems = config.problems()
    assert [p.field for p in problems] == ["hidden_size", "target", "truncate"]
    with pytest.raises(type(problems[0]), match="hidden_size"):
        config.validate()
    assert Config().problems() == []
    # a rule whose own fields are invalid is not checked on them
    assert [p.field for p in Config(seq_len=0, truncate=5).problems()] == ["seq_len"]
