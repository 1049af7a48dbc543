"""Request validation, /api/options, /api/presets and lane labels: everything derived from rnncore FIELDS."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from fastapi.testclient import TestClient

from app.labels import lane_labels
from app.main import create_app
from app.presets import PRESETS
from app.runs import state_values, work
from app.settings import Settings
from rnncore import GRADCHECK_CAPS, gradcheck, gradcheck_config
from rnncore.config import FIELDS, TASK_TARGETS, Config


@pytest.fixture(scope="module")
def client():
    with TestClient(create_app(Settings())) as c:
        yield c


def _bad_values(spec):
    """Values just outside the contract for one field, with the reason (a test id)."""
    if spec.kind == "choice":
        yield "not-a-choice", "choice"
        yield 3, "type"
    else:
        step = 1 if spec.kind == "int" else abs(spec.maximum) * 0.01 + 1e-3
        yield spec.maximum + step, "above-max"
        yield spec.minimum - step, "below-min"
        yield "12", "string"
        if spec.kind == "int":
            yield 1.5, "fraction"
    if not spec.nullable:
        yield None, "null"


BAD = [pytest.param(spec.name, value, id=f"{spec.name}-{why}") for spec in FIELDS for value, why in _bad_values(spec)]


@pytest.mark.parametrize("field, value", BAD)
def test_out_of_range_field_is_a_422_naming_it(client, field, value):
    response = client.post("/api/runs", json={"lanes": [{"seq_len": 10, "steps": 2}, {field: value}]})
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["message"].startswith(f"lanes[1].{field}: "), body["message"]
    assert any(err["loc"][-1] == field for err in body["detail"])


@pytest.mark.parametrize("spec", [s for s in FIELDS if s.kind != "choice"], ids=lambda s: s.name)
def test_bound_message_says_the_allowed_range(client, spec):
    response = client.post("/api/runs", json={"lanes": [{spec.name: spec.maximum + 1}]})
    message = response.json()["message"]
    assert f"<= {spec.maximum:g}" in message or f"<= {spec.maximum}" in message, message


def test_unknown_field_and_lane_count_are_422(client):
    response = client.post("/api/runs", json={"lanes": [{"hidden": 8}]})
    assert response.status_code == 422 and "lanes[0].hidden: unknown field" in response.json()["message"]
    assert client.post("/api/runs", json={"lanes": []}).status_code == 422
    assert client.post("/api/runs", json={"lanes": [{}] * 5}).status_code == 422
    assert client.post("/api/runs", json={"lanes": [{}], "extra": 1}).status_code == 422


def test_cross_field_rules_are_422_naming_the_field(client):
    response = client.post("/api/runs", json={"lanes": [{"seq_len": 20, "truncate": 30}]})
    assert response.status_code == 422
    assert response.json()["message"].startswith("lanes[0].truncate: ")
    response = client.post("/api/runs", json={"lanes": [{"task": "copy", "target": "last"}]})
    assert response.status_code == 422
    assert response.json()["message"].startswith("lanes[0].target: ")


def test_total_work_cap_names_the_fields_to_reduce(client):
    lane = {"seq_len": 2000, "hidden_size": 512, "batch_size": 256, "steps": 1000}
    response = client.post("/api/runs", json={"lanes": [lane, lane]})
    assert response.status_code == 422
    message = response.json()["message"]
    for field in ("seq_len", "hidden_size", "batch_size", "steps", "lanes"):
        assert field in message, message


def test_work_cap_message_is_whole_per_error_and_known_before_run(client):
    # The default lane at batch 64 is 3.6e7 work per step against a 5e11 cap: 20000 steps is over it, 8000 is not.
    over = {"steps": 20000, "batch_size": 64}
    response = client.post("/api/runs", json={"lanes": [over]})
    body = response.json()
    assert response.status_code == 422 and body["detail"][0]["type"] == "work_limit"
    # the sentence contains "; " itself: each detail item carries its own, whole (the page shows it)
    assert body["detail"][0]["message"] == body["message"]
    assert "; lane A: " in body["message"]  # lanes named by letter, as on the page
    assert body["message"].endswith("reduce seq_len, hidden_size, batch_size, steps"), body["message"]
    assert "allowed:" not in body["message"]  # a limit on the total is not the lanes list's 1-4 items
    # /api/labels (which the page calls on every change) says the same before Run, without a 422
    labels = client.post("/api/labels", json={"lanes": [over]})
    assert labels.status_code == 200 and labels.json()["run_limit"] == body["detail"][0]["msg"]
    # and as data, as the 422's item has it (the page words it from ctx before Run as after)
    assert labels.json()["run_limit_error"] == {"type": "work_limit", "ctx": body["detail"][0]["ctx"]}
    within = {"steps": 8000, "batch_size": 64}
    assert client.post("/api/labels", json={"lanes": [within]}).json()["run_limit"] is None
    two = client.post("/api/labels", json={"lanes": [within, within]}).json()["run_limit"]
    assert two.startswith("too much work: ") and "> limit 5e+11" in two and two.endswith("or the number of lanes")
    memory = {"seq_len": 2000, "hidden_size": 256, "batch_size": 64, "steps": 1}
    refused = client.post("/api/labels", json={"lanes": [memory, memory]}).json()
    assert refused["run_limit"].startswith("too much memory") and refused["run_limit_error"]["type"] == "memory_limit"
    assert refused["run_limit_error"]["ctx"]["reduce"] == ["seq_len", "batch_size", "hidden_size"]
    assert refused["run_limit_error"]["ctx"]["values"] > refused["run_limit_error"]["ctx"]["limit"]
    # several errors: one message each, in order
    many = client.post("/api/runs", json={"lanes": [{"steps": 0, "seq_len": 1}]}).json()
    assert [item["message"] for item in many["detail"]] == many["message"].split("; ")
    assert many["detail"][0]["message"].startswith("lanes[0].seq_len: must be >= 2 (allowed: integer in [2, 2000])")


def test_memory_cap_names_the_fields_to_reduce(client):
    lane = {"seq_len": 2000, "hidden_size": 256, "batch_size": 64, "steps": 1}  # work 8e9 is fine, 3.3e7 values
    response = client.post("/api/runs", json={"lanes": [lane, lane]})
    assert response.status_code == 422
    message = response.json()["message"]
    assert message.startswith("lanes: too much memory: 6.55e+07 activations > limit 4e+07"), message
    for field in ("seq_len", "hidden_size", "batch_size", "lanes"):
        assert field in message.split("reduce")[1], message
    response = client.post("/api/profile", json={"seq_len": 2000, "hidden_size": 512, "batch_size": 64})
    assert response.status_code == 422 and "too much" in response.json()["message"]


def test_copy_task_limits_count_the_timesteps_it_unrolls(client):
    # copy unrolls seq_len + 20 timesteps (10 symbols in, 10 recalled): the caps count those, not seq_len
    lane = {"task": "copy", "cell": "lstm", "seq_len": 70, "hidden_size": 512, "batch_size": 256, "steps": 1}
    assert 70 * 256 * 512 * 4 <= 4e7 < 90 * 256 * 512 * 4  # under the cap by seq_len, over it by 90 timesteps
    response = client.post("/api/runs", json={"lanes": [lane]})
    assert response.status_code == 422, response.text
    message = response.json()["message"]
    assert message.startswith("lanes: too much memory: 4.72e+07 activations > limit 4e+07"), message
    assert "L = timesteps unrolled (seq_len, + 20 for copy)" in message
    # /api/labels says so before Run; the same sizes on recall (70 timesteps) are under the cap
    assert client.post("/api/labels", json={"lanes": [lane]}).json()["run_limit"] == response.json()["detail"][0]["msg"]
    assert client.post("/api/labels", json={"lanes": [{**lane, "task": "recall"}]}).json()["run_limit"] is None
    # work: the profile's cap 1e9 per pass; a copy lane at seq_len 10 unrolls 30 timesteps
    small = {"task": "copy", "cell": "gru", "seq_len": 10, "hidden_size": 512, "batch_size": 64}
    assert 10 * 3 * (512**2 * 64 + 1e5) <= 1e9 < 30 * 3 * (512**2 * 64 + 1e5)
    profile = client.post("/api/profile", json=small)
    assert profile.status_code == 422, profile.text
    assert profile.json()["message"].startswith("body: too much work: 1.52e+09 > limit 1e+09"), profile.text
    assert client.post("/api/profile", json={**small, "task": "adding"}).status_code == 200


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_gradcheck_accepts_the_default_lane_shrinks_it_and_says_what_it_checked(client, cell):
    response = client.post("/api/gradcheck", json={"cell": cell})  # batch 32, T 100, H 64, float32, clip norm
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["config"] == Config(cell=cell).to_dict()
    checked = body["checked_config"]
    assert checked == gradcheck_config(Config(cell=cell)).to_dict()
    assert {k: checked[k] for k in ("dtype", "clip", "batch_size", "seq_len", "hidden_size", "num_classes")} == {
        "dtype": "float64", "clip": "none", **GRADCHECK_CAPS}
    assert checked["cell"] == cell and checked["seed"] == 0 and checked["task"] == "adding"
    assert body["changed"] == {"batch_size": [32, 3], "seq_len": [100, 12], "hidden_size": [64, 6],
                               "clip": ["norm", "none"], "dtype": ["float32", "float64"]}
    assert body["sequence_length"] == 12 and body["eps"] == 1e-5 and body["tolerance"] == 1e-6
    names = {"W_x", "W_h", "b_x", "b_h", "W_o", "c"} if cell == "gru" else {"W_x", "W_h", "b", "W_o", "c"}
    assert set(body["max_rel_error"]) == names
    assert body["worst"] == max(body["max_rel_error"].values()) < 1e-6 and body["passed"] is True
    assert body["verdict"] == "passed" and body["reason"] == "every element matches within 1e-06"
    assert set(body["parameters"]) == names and body["steps"] == [1e-5, 4e-5, 1.6e-4]
    assert all(d["rechecked"] == 0 and d["verdict"] == "passed" and d["fd_disagreement"] is None
               for d in body["parameters"].values())
    # the errors are rnncore's own for the checked copy (same seed, same data: deterministic)
    assert body["max_rel_error"] == pytest.approx(gradcheck(Config(cell=cell)), rel=1e-2)  # BLAS rounding


def test_gradcheck_of_the_copy_task_unrolls_seq_len_plus_20(client):
    response = client.post("/api/gradcheck", json={"task": "copy", "seq_len": 300, "truncate": 50})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["checked_config"]["seq_len"] == 12 and body["checked_config"]["truncate"] == 12
    assert body["sequence_length"] == 32 and body["passed"], body


@pytest.mark.parametrize(("lane", "param", "cause"), [
    ({"activation": "relu", "init": "identity", "spectral_radius": 5, "seed": 1}, "W_h", "a ReLU kink"),
    ({"activation": "linear", "init": "identity", "spectral_radius": 5}, "c", "rounding at this loss scale"),
])
def test_gradcheck_that_cannot_decide_says_inconclusive_and_why(client, lane, param, cause):
    """The user audit: these backward passes are correct, the finite differences are not (a kink within
    eps; rounding of L = 1.6e15): not "failed", but "inconclusive" with the parameter and the cause."""
    response = client.post("/api/gradcheck", json=lane)
    assert response.status_code == 200, response.text
    assert "NaN" not in response.text and "Infinity" not in response.text
    body = response.json()
    assert body["verdict"] == "inconclusive" and body["passed"] is False
    assert body["worst"] > 1e-4 and body["max_rel_error"][param] == body["worst"]  # the plain check fails
    detail = body["parameters"][param]
    assert detail["verdict"] == "inconclusive" and detail["mismatched"] == 0 and detail["unresolved"] >= 1
    assert detail["fd_disagreement"] > 1e-5 and detail["worst_mismatch"] is None
    assert f"for {param}" in body["reason"] and cause in body["reason"] and "cannot decide" in body["reason"]
    assert body["loss"] > 1e14


def test_gradcheck_of_a_wrong_backward_pass_fails_with_a_reason(client, monkeypatch):
    """The router reports the engine's verdict: a W_h gradient 0.1% off fails (the check runs in a worker
    process, so the wrong gradient is passed in through a patched gradcheck_report)."""
    import app.routers.engine as engine
    import rnncore

    def wrong_gradient(config, eps, tolerance):
        rnn = rnncore.cells.CELLS["rnn"]
        original = rnn.backward

        def off(*args, **kwargs):
            grads, back = original(*args, **kwargs)
            grads["W_h"] = grads["W_h"] * 1.001
            return grads, back

        rnn.backward = off
        try:
            return rnncore.gradcheck_report(config, eps, tolerance)
        finally:
            rnn.backward = original

    async def in_process(fn, *args, request=None):
        return fn(*args)

    monkeypatch.setattr(engine, "gradcheck_report", wrong_gradient)
    monkeypatch.setattr(client.app.state.runs.engine, "call", in_process)
    body = client.post("/api/gradcheck", json={}).json()
    assert body["verdict"] == "failed" and body["passed"] is False
    assert body["parameters"]["W_h"]["mismatched"] == 36 and body["parameters"]["W_h"]["first_mismatch"] == [0, 0]
    assert body["reason"].startswith("the analytic gradient differs from the finite differences for W_h (36 of 36")
    assert body["parameters"]["W_x"]["verdict"] == "passed"


def test_gradcheck_verdict_is_documented_in_openapi(client):
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    result = schemas["GradcheckResult"]["properties"]
    assert result["verdict"]["enum"] == ["passed", "failed", "inconclusive"]
    assert "cannot decide" in result["verdict"]["description"] and "reason" in result and "parameters" in result
    assert "fd_disagreement" in schemas["GradcheckParameter"]["properties"]


def test_gradcheck_rejects_an_invalid_lane_naming_the_field(client):
    response = client.post("/api/gradcheck", json={"activation": "softplus"})
    assert response.status_code == 422
    assert response.json()["message"].startswith("activation: "), response.json()
    response = client.post("/api/gradcheck", json={"seq_len": 20, "truncate": 30})
    assert response.status_code == 422 and response.json()["message"].startswith("truncate: ")
    response = client.post("/api/gradcheck", json={"batch_size": 10_000})
    assert response.status_code == 422 and response.json()["message"].startswith("batch_size: must be <= 256")


def test_gradcheck_beyond_max_pending_is_a_429(client, monkeypatch):
    """Two at once with room for one: one is computed, the other is told to retry."""
    monkeypatch.setattr(client.app.state.settings, "gradcheck_max_pending", 1)
    lane = {"cell": "lstm", "task": "copy"}  # ~0.5 s: the second request arrives while the first computes
    with ThreadPoolExecutor(2) as pool:
        responses = list(pool.map(lambda _: client.post("/api/gradcheck", json=lane), range(2)))
    assert sorted(r.status_code for r in responses) == [200, 429]
    refused = next(r for r in responses if r.status_code == 429)
    assert refused.headers["retry-after"] == "1" and "the limit is 1" in refused.json()["message"]
    assert client.app.state.gradchecks_pending == 0
    assert client.get("/api/options").json()["limits"]["gradcheck"]["caps"] == GRADCHECK_CAPS


def test_profile_size_cap(client):
    response = client.post("/api/profile", json={"seq_len": 2000, "hidden_size": 512, "batch_size": 256})
    assert response.status_code == 422 and "too much work" in response.json()["message"]


def test_errors_are_json_with_a_message(client):
    for response in (client.get("/api/runs/nope"), client.get("/api/nowhere"),
                     client.post("/api/runs", content=b"{not json", headers={"content-type": "application/json"}),
                     client.delete("/api/options")):
        assert response.status_code in (404, 405, 422)
        assert isinstance(response.json()["message"], str) and response.json()["message"]


def test_options_follow_fields(client):
    body = client.get("/api/options").json()
    assert [f["name"] for f in body["fields"]] == [spec.name for spec in FIELDS]
    for field, spec in zip(body["fields"], FIELDS, strict=True):
        assert field["default"] == spec.default
        assert field["kind"] == spec.kind and field["description"] == spec.description
        if spec.kind == "choice":
            assert field["choices"] == list(spec.choices)
        else:
            assert (field["minimum"], field["maximum"]) == (spec.minimum, spec.maximum)
            if spec.kind == "int":  # as in /openapi.json: hidden_size [1, 512], not [1.0, 512.0]
                assert type(field["minimum"]) is int and type(field["maximum"]) is int, field
    assert body["task_targets"] == {k: list(v) for k, v in TASK_TARGETS.items()}
    assert body["limits"]["max_lanes"] == 4 and body["limits"]["max_work"] == Settings().max_work
    # the letters the page names lanes with, as the API's own labels do ("lane B (relu)" for a duplicate)
    assert body["limits"]["lane_names"] == ["A", "B", "C", "D"]


def test_openapi_schema_is_generated_from_fields(client):
    schema = client.get("/openapi.json").json()
    lane = schema["components"]["schemas"]["LaneConfig"]
    assert set(lane["properties"]) == {spec.name for spec in FIELDS}
    assert lane["properties"]["seq_len"]["maximum"] == 2000
    assert lane["additionalProperties"] is False


def test_presets_are_valid_and_fit_the_work_cap(client):
    presets = client.get("/api/presets").json()
    ids = {p["id"] for p in presets}
    for required in ("activations", "spectral-radius", "relu-clipping", "value-vs-norm-clipping",
                     "truncated-bptt", "sequence-length", "targets", "cells"):
        assert required in ids
    assert sum(p["default"] for p in presets) == 1
    for preset in presets:
        assert 2 <= len(preset["lanes"]) <= 4 and preset["title"] and preset["explanation"]
        configs = [Config(**lane).validate() for lane in preset["lanes"]]
        assert sum(work(cfg) for cfg in configs) <= Settings().max_work
        assert sum(state_values(cfg) for cfg in configs) <= Settings().max_state_values
        assert len(set(preset["labels"])) == len(configs)
    default = next(p for p in presets if p["default"])
    configs = [Config(**lane) for lane in default["lanes"]]
    assert len(configs) == 2
    assert all((c.seq_len, c.hidden_size, c.batch_size, c.steps) == (100, 64, 32, 500) for c in configs)
    assert presets == PRESETS


def _differing(preset: dict) -> dict:
    """field -> per-lane values, for the fields that differ between the preset's lanes."""
    configs = [Config(**lane).to_dict() for lane in preset["lanes"]]
    return {k: [c[k] for c in configs] for k in configs[0] if len({repr(c[k]) for c in configs}) > 1}


def test_presets_compare_what_issue_4_asks_for():
    by_id = {p["id"]: p for p in PRESETS}
    configs = {pid: [Config(**lane) for lane in p["lanes"]] for pid, p in by_id.items()}
    assert _differing(by_id["activations"]) == {"activation": ["sigmoid", "tanh", "relu"]}  # same radius
    assert _differing(by_id["spectral-radius"]) == {"spectral_radius": [0.9, 1.1]}
    assert all(c.activation == "tanh" for c in configs["spectral-radius"])
    assert _differing(by_id["relu-clipping"]) == {"clip": ["none", "norm"]}
    assert all(c.activation == "relu" and c.spectral_radius > 1 for c in configs["relu-clipping"])
    assert set(_differing(by_id["value-vs-norm-clipping"])) <= {"clip", "clip_threshold"}
    assert [c.clip for c in configs["value-vs-norm-clipping"]] == ["value", "norm"]
    assert _differing(by_id["truncated-bptt"]) == {"truncate": [None, 10]}
    assert all(c.seq_len >= 50 for c in configs["truncated-bptt"])  # long compared with k = 10
    assert _differing(by_id["sequence-length"])["seq_len"][0] < _differing(by_id["sequence-length"])["seq_len"][1]
    assert all(c.task == "recall" for c in configs["sequence-length"])
    assert _differing(by_id["targets"]) == {"target": ["last", "every"]}  # per-timestep vs final targets


def test_openapi_documents_examples_and_error_shapes(client):
    schema = client.get("/openapi.json").json()
    assert schema["components"]["schemas"]["RunRequest"]["examples"][0]["lanes"]
    post = schema["paths"]["/api/runs"]["post"]
    assert {"201", "400", "422", "429"} <= set(post["responses"])
    assert post["responses"]["429"]["content"]["application/json"]["schema"]["$ref"].endswith("/ErrorResponse")
    events = schema["paths"]["/api/runs/{run_id}/events"]["get"]["responses"]["200"]["content"]["text/event-stream"]
    assert events["schema"]["properties"]["event"]["enum"] == ["run", "step", "lane_done", "done"]
    assert "event: step" in events["example"]
    for path in ("/api/profile", "/api/gradcheck"):
        assert schema["components"]["schemas"][path.split("/")[-1].capitalize() + "Request"]["examples"]
    # the export documents both bodies: the JSON's schema, the CSV's header row (it showed {} for both)
    export = schema["paths"]["/api/runs/{run_id}/export"]["get"]["responses"]["200"]["content"]
    assert export["application/json"]["schema"]["$ref"].endswith("/RunSummary")
    header = export["text/csv"]["example"].splitlines()[0].split(",")
    assert header[:4] == ["lane", "label", "step", "t"] and "log10_grad_norm" in header and "arrays_from" in header
    # every 422 the service documents is the body it sends ({message, detail}), not FastAPI's default
    for path, methods in schema["paths"].items():
        for method, operation in methods.items():
            if "422" in operation["responses"]:
                body = operation["responses"]["422"]["content"]["application/json"]["schema"]
                assert body["$ref"].endswith("/ErrorResponse"), (method, path)


def test_an_unreadable_body_is_a_400_with_a_message(client):
    response = client.post("/api/runs", content=b"\xff\xfe{", headers={"content-type": "application/json"})
    assert response.status_code == 400
    assert response.json()["message"].startswith("body: the request body could not be read")


@pytest.mark.parametrize("lanes, labels", [
    ([{"activation": "sigmoid"}, {"activation": "relu"}], ["sigmoid", "relu"]),
    ([{"clip": "norm", "clip_threshold": 1.0}, {"clip": "none"}], ["clip 1.0", "no clip"]),
    ([{"seq_len": 50}, {"seq_len": 200}], ["T=50", "T=200"]),
    ([{"clip": "value", "clip_threshold": 0.1}, {"clip": "norm"}], ["value clip 0.1", "norm clip 1.0"]),
    # the target a lane runs with: null is the task's own (adding: last), named only where one was chosen
    ([{"task": "adding", "target": "last"}, {"task": "adding"}], ["lane A", "lane B"]),
    ([{"task": "adding", "target": "every"}, {"task": "adding"}], ["target every", "target last"]),
    ([{"task": "adding"}, {"task": "copy"}], ["adding", "copy"]),
    ([{"task": "copy"}, {"task": "adding", "target": "every"}], ["copy", "adding"]),
    # "clip 1.0" alone is norm clipping: another kind is named beside "no clip" too
    ([{"clip": "per_timestep"}, {"clip": "none"}], ["per-timestep clip 1.0", "no clip"]),
    ([{"clip": "none"}, {"clip": "value", "clip_threshold": 0.5}], ["no clip", "value clip 0.5"]),
    ([{"truncate": None}, {"truncate": 10}], ["full BPTT", "TBPTT k=10"]),
    # k >= the sequence's length cuts nothing: the label says so (copy's sequence is T + 20 long)
    ([{"truncate": None}, {"truncate": 100}], ["full BPTT", "TBPTT k=100 (= full BPTT)"]),
    ([{"task": "copy", "truncate": 100}, {"task": "copy", "truncate": 120}],
     ["TBPTT k=100", "TBPTT k=120 (= full BPTT)"]),
    ([{"activation": "relu", "seq_len": 20}, {"activation": "tanh", "seq_len": 40}], ["relu, T=20", "tanh, T=40"]),
    ([{}, {}], ["lane A", "lane B"]),
    # lane A names every differing field, the others only where they differ from A ("B = A but ...")
    ([{}, {"cell": "lstm"}, {"cell": "gru"}, {"activation": "relu", "clip": "none", "init": "identity"}],
     ["RNN, tanh, clip 1.0, orthogonal init", "LSTM", "GRU", "relu, no clip, identity init"]),
    ([{"clip": "norm"}, {"clip": "norm", "clip_threshold": 0.5}, {"clip": "none", "seq_len": 50}],
     ["T=100, clip 1.0", "clip 0.5", "T=50, no clip"]),
    ([{"activation": "relu"}, {"activation": "relu"}, {"activation": "tanh"}],
     ["lane A (relu)", "lane B (relu)", "lane C (tanh)"]),  # B = A: named by number and its settings
    # a setting without effect on a lane is not one of its settings (the LSTM has no `activation`)
    ([{"cell": "lstm", "activation": "sigmoid"}, {"cell": "lstm", "activation": "relu"}], ["lane A", "lane B"]),
    ([{"activation": "relu"}, {"cell": "lstm", "activation": "relu"}, {"cell": "gru"}], ["RNN", "LSTM", "GRU"]),
    ([{"cell": "lstm"}, {"activation": "tanh"}, {"activation": "relu"}], ["LSTM", "RNN, tanh", "RNN, relu"]),
    ([{"cell": "lstm", "forget_bias": 0.0}, {"cell": "lstm"}], ["forget bias 0", "forget bias 1"]),
    ([{"clip": "none", "clip_threshold": 2.0}, {"clip": "none"}], ["lane A", "lane B"]),
    ([{"steps": 1}, {"steps": 2}], ["1 step", "2 steps"]),
    # every field reads as words, in one style ("lr 0.001", not "optimizer=sgd")
    ([{"optimizer": "sgd", "learning_rate": 0.05}, {"optimizer": "adam"}], ["SGD, lr 0.05", "Adam, lr 0.001"]),
    ([{"optimizer": "momentum"}, {"task": "temporal_order"}, {"dtype": "float64"}],
     ["adding, SGD+momentum, float32", "temporal order, Adam", "Adam, float64"]),
])
def test_lane_labels_name_what_differs(lanes, labels):
    assert lane_labels(lanes) == labels


def test_every_field_has_a_label_format():
    from app.labels import _FORMAT

    assert set(_FORMAT) | {"clip", "clip_threshold"} == {spec.name for spec in FIELDS}
    assert all("=" not in label or label.startswith(("T=", "H=", "TBPTT k="))
               for spec in FIELDS if spec.kind == "choice"
               for label in lane_labels([{spec.name: choice} for choice in spec.choices[:2]]))


def test_labels_endpoint_gives_the_run_labels_and_validates_like_runs(client):
    lanes = [{"seq_len": 20, "steps": 2}, {"seq_len": 20, "steps": 2, "cell": "lstm"},
             {"seq_len": 20, "steps": 2, "activation": "relu", "clip": "none"}]
    response = client.post("/api/labels", json={"lanes": lanes})
    assert response.status_code == 200
    # what the labels leave out as every lane has it (an activation only for lanes that have one: not the LSTM)
    shared = ("adding, T=20, target last, full BPTT, orthogonal init, radius 1, H=64, Adam, lr 0.001, batch 32, "
              "2 steps, float32")
    assert response.json() == {"labels": ["RNN, tanh, clip 1.0", "LSTM", "relu, no clip"], "shared": shared,
                                "run_limit": None, "run_limit_error": None}
    created = client.post("/api/runs", json={"lanes": lanes}).json()
    assert created["labels"] == response.json()["labels"] and created["shared"] == shared
    summary = client.get(f"/api/runs/{created['id']}?history=false").json()
    assert summary["shared"] == shared
    client.delete(f"/api/runs/{created['id']}")
    bad = client.post("/api/labels", json={"lanes": [{}, {"seq_len": 10**9}]})
    assert bad.status_code == 422 and bad.json()["message"].startswith("lanes[1].seq_len: must be <= 2000")
    cross = client.post("/api/labels", json={"lanes": [{"seq_len": 20, "truncate": 50}]})
    assert cross.status_code == 422 and "truncate" in cross.json()["message"]
    assert client.post("/api/labels", json={"lanes": [{}] * 5}).status_code == 422


def test_shared_settings_name_what_the_labels_leave_out():
    """QA: norm clipping at 1.0 is on by default and the labels, naming only differences, never said so."""
    from app.labels import shared_settings
    assert "norm clip 1.0" in shared_settings([{"activation": "sigmoid"}, {"activation": "relu"}])
    assert "clip" not in shared_settings([{"clip": "none"}, {}])  # differs: in the labels instead
    assert shared_settings([{"clip": "none"}, {"clip": "none", "clip_threshold": 5.0}]).count("no clip") == 1
    assert "value clip 0.5" in shared_settings([{"clip": "value", "clip_threshold": 0.5}] * 2)
    gated = shared_settings([{"cell": "lstm", "activation": "relu"}, {"cell": "gru"}])
    assert "relu" not in gated and "tanh" not in gated and "forget bias" not in gated  # not every lane's setting
    assert shared_settings([{"cell": "lstm"}, {"cell": "lstm"}]).startswith("LSTM, adding, T=100")
    assert "target every" in shared_settings([{"task": "copy"}])  # the effective target
    assert "seed" not in shared_settings([{}, {}])


def test_the_work_cap_counts_what_a_timestep_costs_however_small(client):
    # 4 lanes of one unit over 2020 timesteps and 20000 steps: ~17 minutes of CPU each, which the cap let through
    # when it counted only the matrices' size (6e8 of 1e11); each timestep now counts 1e5 more per gate
    tiny = {"cell": "lstm", "task": "copy", "seq_len": 2000, "hidden_size": 1, "batch_size": 1, "steps": 20000}
    response = client.post("/api/runs", json={"lanes": [tiny] * 4})
    assert response.status_code == 422 and response.json()["detail"][0]["type"] == "work_limit"
    assert "work = L * steps * gates * (hidden_size^2 * batch_size + 1e5)" in response.json()["message"]
    assert client.post("/api/labels", json={"lanes": [{**tiny, "steps": 100}]}).json()["run_limit"] is None
