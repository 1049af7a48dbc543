"""Fuzzing: schemathesis generates requests for every operation of /openapi.json, schema-valid ones and
schema-violating ones (wrong types, out-of-range numbers, garbage bodies, odd headers), and sends them to
a live uvicorn. No response may be a 5xx; each must be documented (status, content type, body schema);
schema-violating requests must be rejected with a 4xx. The run-specific operations are also fuzzed
against a real finished run (valid ``run_id``, fuzzed ``after`` / ``Last-Event-ID`` / ``format``).

Bounded: derandomized Hypothesis, ~20 examples per operation and mode, a few hundred requests in all.
Settings keep the expensive endpoints cheap (a tiny profile cap: the cap logic is what is fuzzed, not
the engine's speed; gradcheck always runs on a copy shrunk to rnncore.GRADCHECK_CAPS, < 1 s) and cancel
runs nobody listens to at once.
"""
from __future__ import annotations

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.generation.modes import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from app.main import create_app
from app.settings import Settings
from tests.conftest import module_live_server

FUZZ_SETTINGS = Settings(cancel_grace_seconds=0, profile_max_work=2e6)  # gradcheck shrinks every lane itself
SCHEMA = schemathesis.openapi.from_dict(create_app(FUZZ_SETTINGS).openapi())
OPERATIONS = {op.label: op for op in (result.ok() for result in SCHEMA.get_all_operations())}
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
MODES = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
EXAMPLES = 20


server = module_live_server(FUZZ_SETTINGS)


@pytest.fixture(scope="module")
def finished_run(server) -> str:
    """A small run read to its end, so its events/summary/export exist for the fuzzer."""
    lanes = [{"seq_len": 6, "hidden_size": 4, "batch_size": 2, "steps": 5}] * 2
    run_id = httpx.post(f"{server.url}/api/runs", json={"lanes": lanes}).json()["id"]
    with httpx.stream("GET", f"{server.url}/api/runs/{run_id}/events", timeout=30) as response:
        body = b"".join(response.iter_bytes())
    assert body.rstrip().split(b"\n")[-2] == b"event: done"
    return run_id


def fuzz(operation, base_url: str, mode: GenerationMode, **fixed) -> None:
    checks = CHECKS + ([negative_data_rejection] if mode is GenerationMode.NEGATIVE else [])

    @given(case=operation.as_strategy(generation_mode=mode, **fixed))
    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    def check(case) -> None:
        case.call_and_validate(base_url=base_url, checks=checks, timeout=30)

    try:
        check()
    except Unsatisfiable:  # nothing in this operation can be made invalid (e.g. no parameters)
        assert mode is GenerationMode.NEGATIVE, f"no valid request could be generated for {operation.label}"


def test_every_operation_is_fuzzed():
    assert {"POST /api/runs", "GET /api/runs/{run_id}/events", "GET /api/runs/{run_id}", "DELETE /api/runs/{run_id}",
            "GET /api/runs/{run_id}/export", "POST /api/profile", "POST /api/gradcheck", "GET /api/options",
            "GET /api/presets", "GET /api/health"} <= set(OPERATIONS)


@pytest.mark.parametrize("mode", MODES, ids=str)
@pytest.mark.parametrize("label", sorted(OPERATIONS))
def test_fuzz_finds_no_server_error(server, label, mode):
    fuzz(OPERATIONS[label], server.url, mode)


@pytest.mark.parametrize("mode", MODES, ids=str)
@pytest.mark.parametrize("label", ["GET /api/runs/{run_id}/events", "GET /api/runs/{run_id}",
                                   "GET /api/runs/{run_id}/export"])
def test_fuzz_an_existing_run(server, finished_run, label, mode):
    fuzz(OPERATIONS[label], server.url, mode, path_parameters={"run_id": finished_run})
