"""Resuming a run's event stream names an event the run has sent: Last-Event-ID / ?after beyond the last event
sent is a 422 (it was a 200 stream that sent nothing, kept the run training for a client that received nothing,
and closed without `done`), and the header takes the same bounds as ?after (-5 used to replay from 0)."""
from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from app.settings import Settings

TINY = {"lanes": [{"seq_len": 5, "hidden_size": 4, "batch_size": 2, "steps": 3}]}


@pytest.fixture(scope="module")
def finished():
    with TestClient(create_app(Settings())) as client:
        run = client.post("/api/runs", json=TINY).json()
        with client.stream("GET", run["events_url"]) as response:
            body = b"".join(response.iter_bytes()).decode()
        events = body.count("\nevent: ")
        yield client, run["events_url"], events


def test_an_id_beyond_the_last_event_is_named_with_the_range(finished):
    client, url, events = finished
    for request in ({"headers": {"Last-Event-ID": str(events)}}, {"params": {"after": 100000}}):
        response = client.get(url, **request)
        assert response.status_code == 422
        last = request.get("params", {}).get("after", events)
        where = "query.after" if "params" in request else "header.last-event-id"
        assert response.json()["message"] == (f"{where}: no event {last} yet: this run has sent events 0 to "
                                               f"{events - 1}; resume after one of them (or -1 for all)")


def test_the_header_takes_the_bounds_of_the_query(finished):
    client, url, _ = finished
    response = client.get(url, headers={"Last-Event-ID": "-5"})
    assert response.status_code == 422
    assert response.json()["message"] == "header.last-event-id: must be >= -1 (-1: from the first event)"
    assert client.get(url, params={"after": -5}).status_code == 422


def test_ids_the_run_sent_still_resume(finished):
    client, url, events = finished
    assert client.get(url, headers={"Last-Event-ID": str(events - 1)}).status_code == 204  # has everything
    with client.stream("GET", url, headers={"Last-Event-ID": str(events - 2)}) as response:
        assert response.status_code == 200
        assert b"".join(response.iter_bytes()).decode().count("\nevent: ") == 1  # just `done`
    with client.stream("GET", url, headers={"Last-Event-ID": "-1"}) as response:
        assert b"".join(response.iter_bytes()).decode().count("\nevent: ") == events
