"""Training runs: start a comparison, stream it (SSE), inspect, export, cancel."""
from __future__ import annotations

import csv
import io
import itertools
import json
import math
import re
from collections.abc import Iterator
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from pydantic import BeforeValidator, Field

from app.errors import MAX_ECHO, ApiError, clip, validation_error
from app.runs import ARRAY_FIELDS, Run, RunManager, RunNotFound, TooManyRuns, frame_payload, to_plain
from app.schemas import (
    INVALID,
    TOO_LARGE,
    UNREADABLE_BODY,
    ErrorResponse,
    EventFrame,
    RunCancelled,
    RunCreated,
    RunRequest,
    RunSummary,
    too_many,
)
from app.streaming import (
    STREAMS_RETRY_SECONDS,
    RunEventStream,
    SlottedStreamingResponse,
    StreamSlot,
    TooManyStreams,
    batches,
)
from app.validation import PLAIN_INTEGER, check_run_limits, ignored_settings, plain_integer, to_configs

NO_STORE = "no-store"
"""A run changes while it trains and is evicted later: no browser cache may answer for it (a page brought
back with Back may otherwise be given its GET /api/runs/{id} from the HTTP cache)."""


def _no_store(response: Response) -> None:
    response.headers["Cache-Control"] = NO_STORE


router = APIRouter(prefix="/api/runs", tags=["runs"], responses=INVALID, dependencies=[Depends(_no_store)])
EVENTS_PATH = "/api/runs/{run_id}/events"

ERROR_JSON = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}}
NOT_FOUND = {404: {"description": "Unknown run, or finished and evicted from the store", "content": ERROR_JSON}}


def _as_json(responses: dict) -> dict:
    """Declarations with a ``model`` (ErrorResponse) given as explicit application/json content instead: FastAPI
    puts a model under the route's media type, text/event-stream on the events route."""
    return {status: {**{k: v for k, v in entry.items() if k != "model"}, "content": ERROR_JSON}
            for status, entry in responses.items()}


STREAMS_BUSY = too_many("As many event streams and downloads are open as the server allows (RNNLAB_MAX_STREAMS); "
                        "see Retry-After")


# One Server-Sent Event (the schema of each event in the stream, not of the whole body); its `oneOf` (from the
# EventFrame models) gives each event type's frame and, as `data`'s contentSchema, the schema of its data.
SSE_EVENT = {
    "type": "object", "required": ["id", "event", "data"],
    "properties": {
        "id": {"type": "string", "description": "0, 1, 2, ... per run; send it back as Last-Event-ID"},
        "event": {"type": "string", "enum": ["run", "step", "lane_done", "done"]},
        "data": {"type": "string", "contentMediaType": "application/json",
                 "description": "One line of JSON, by event type: run: RunEvent; step: StepEvent; lane_done: "
                                "LaneDone; done: DoneEvent. Non-finite numbers are null (a step names them in "
                                "its `nonfinite` list); gamma is null for LSTM/GRU (no Pascanu bound)."},
    },
}
SSE_EXAMPLE = (
    'retry: 2000\n\n'
    'id: 0\nevent: run\ndata: {"id":"3f9c0a1b2c4d","lanes":[{...},{...}],"labels":["radius 0.9","radius 1.1"],'
    '"task_info":[{...},{...}],"record_every":[3,3]}\n\n'
    'id: 1\nevent: step\ndata: {"lane":0,"step":0,"loss":1.2099401033483446,"metric":1.2099401033483446,'
    '"grad_norm":8.615377535761883,"grad_norm_clipped":0.9999999810350368,"sigma_max":0.9000000325149758,'
    '"spectral_radius":0.9000000051344113,"gamma":1.0,"clipped":true,'
    '"arrays":{"log10_grad_norm_per_step":[-6.098,-6.044,-5.983,...],"log10_weight_grad_per_step":[null,-5.505,'
    '-5.392,...],...},"nonfinite":["arrays.log10_weight_grad_per_step"]}\n\n'
    'id: 1001\nevent: lane_done\ndata: {"lane":0,"status":"done","step":499,"reason":null,"last_arrays":null}\n\n'
    'id: 1002\nevent: lane_done\ndata: {"lane":1,"status":"done","step":499,"reason":null,"last_arrays":null}\n\n'
    'id: 1003\nevent: done\ndata: {"status":"done","lanes":["done","done"]}\n\n')
"""The "spectral-radius" preset's stream (its first step, its last events): a test holds it to a real run. Every
step with arrays names log10_weight_grad_per_step in ``nonfinite``: its t = 0 (h_{-1} = 0, log10 0 = -inf) is null."""


class EventStreamDeclared(Response):
    """The events route's response class, for its schema only (its 200 is text/event-stream): the route returns
    its own responses (a RunEventStream, a 204), which FastAPI sends as they are. Not EventSourceResponse:
    FastAPI would then run the route as an event generator."""

    media_type = "text/event-stream"


def _manager(request: Request) -> RunManager:
    return request.app.state.runs


def _stream_slot(request: Request, listening_to: Run | None = None) -> StreamSlot:
    """A slot among the server's open streams (app.streaming.StreamSlots), or a 429. A training run whose event
    stream (``listening_to``) is refused this way waits for the client's retry (Run.knock) rather than being
    cancelled for having no listener."""
    try:
        return request.app.state.streams.take()
    except TooManyStreams as exc:
        if listening_to is not None and not listening_to.finished:
            listening_to.knock()
        raise ApiError(429, str(exc), "too_many_streams", {"open": exc.open, "limit": exc.limit},
                       headers={"Retry-After": str(STREAMS_RETRY_SECONDS)}) from None


def _sent_in_chunks(request: Request, content, **kwargs) -> SlottedStreamingResponse:
    """``content`` streamed in one of the server's stream slots (or a 429), closed if its client stalls."""
    return SlottedStreamingResponse(content, _stream_slot(request), request.app.state.settings.stream_stall_seconds,
                                    **kwargs)


def _run(request: Request, run_id: str) -> Run:
    if len(run_id) > MAX_ECHO:  # ids are 12 characters: a longer one names no run, and is not echoed back whole
        raise ApiError(404, f"no run with id {clip(run_id)}", "run_not_found")
    try:
        return _manager(request).get(run_id)
    except RunNotFound as exc:
        raise ApiError(404, str(exc), "run_evicted" if exc.evicted else "run_not_found") from None


@router.post("", status_code=201, response_model=RunCreated, summary="Start a comparison of 1-4 lanes",
             responses={201: {"description": "The run is created; it trains while a client listens to events_url",
                              "headers": {"Location": {"description": "The run's URL: /api/runs/{id}",
                                                       "schema": {"type": "string"}}}},
                        **UNREADABLE_BODY, **TOO_LARGE,
                        422: {"model": ErrorResponse, "description": "A field out of range, or too much work"},
                        **too_many("Too many runs training; see Retry-After")})
def create_run(body: RunRequest, request: Request, response: Response) -> dict:
    """Validates every lane (bounds, cross-field rules, the total-work cap) before anything starts, then
    answers at once. The lanes train in lockstep, one step each in turn, while a client listens to
    ``events_url``; with nobody listening for ``cancel_grace_seconds`` the run is cancelled."""
    import rnncore

    settings = request.app.state.settings
    configs = to_configs(body.lanes, lambda i: ("body", "lanes", i))
    check_run_limits(configs, settings, ("body", "lanes"))
    task_infos = [to_plain(rnncore.task_info(cfg)) for cfg in configs]
    try:
        run = _manager(request).create(configs, task_infos)
    except TooManyRuns as exc:
        retry = max(1, math.ceil(settings.cancel_grace_seconds))
        raise ApiError(429, str(exc), "too_many_runs", {"running": exc.running, "limit": exc.limit},
                       headers={"Retry-After": str(retry)}) from None
    events_url = f"/api/runs/{run.id}/events"
    response.headers["Location"] = f"/api/runs/{run.id}"
    return {"id": run.id, "events_url": events_url, "status": run.status, "labels": run.labels, "shared": run.shared,
            "ignored_settings": [ignored_settings(lane, cfg) for lane, cfg in zip(body.lanes, configs, strict=True)]}


@router.get(EVENTS_PATH.removeprefix(router.prefix), summary="Live Server-Sent Events of a run (resumable)",
            response_class=EventStreamDeclared,
            responses={200: {"model": EventFrame,
                             "content": {"text/event-stream": {"schema": SSE_EVENT, "example": SSE_EXAMPLE}},
                             "description": "`run`, then `step` per lane and step, `lane_done` per lane, `done`"},
                       204: {"description": "The run is finished and the client has every event"},
                       **NOT_FOUND, **_as_json({**INVALID, **STREAMS_BUSY})})
async def run_events(request: Request, run_id: str,
                     last_event_id: str | None = Header(None, description="Resume after this event id (-1: "
                                                                          "from the first), in plain digits as the "
                                                                          "stream sent it (else a 422). Wins over "
                                                                          "?after when both are sent (a blank one "
                                                                          "is ignored)."),
                     after: Annotated[int, Field(ge=-1), BeforeValidator(plain_integer)] | None = Query(
                         None, description="Resume after this event id, for clients that cannot set headers (-1: "
                                           "from the first). Ignored when a Last-Event-ID header is sent too: the "
                                           "header wins.")):
    """Event ids are 0, 1, 2, ... per run. Reconnecting with ``Last-Event-ID: n`` (or ``?after=n``; with both,
    the header wins) replays exactly the events after n, then follows the run live. Keep-alive comments on
    idle streams."""
    run = _run(request, run_id)
    last, where = after, ("query", "after")
    if last_event_id is not None and last_event_id.strip():
        where = ("header", "last-event-id")
        # A browser sends back the id it was sent (0, 1, ...): anything else is a client's bug, named, not guessed at
        # (int() would read "1_0" as 10 and take "+5", " 5"); the length cap keeps int() off a huge string.
        if not PLAIN_INTEGER.fullmatch(last_event_id) or len(last_event_id) > 20:
            raise validation_error(where, "must be an event id written in plain digits (e.g. 41, or -1 for all "
                                          "events; at most 20 digits)", clip(last_event_id), kind="whole_number")
        last = int(last_event_id)
        if last < -1:
            raise validation_error(where, "must be >= -1 (-1: from the first event)", last)
    sent = run.events
    if last is not None and last >= sent:  # a client resumes after an event it received: one of 0 .. sent-1
        raise validation_error(where, f"no event {last} yet: this run has sent events 0 to {sent - 1}; resume "
                                      "after one of them (or -1 for all)", last)
    start = (last if last is not None else -1) + 1
    frames, complete = run.frames_from(start)
    if complete and not frames:
        return Response(status_code=204)  # tells a browser EventSource to stop reconnecting
    settings = request.app.state.settings
    slot = _stream_slot(request, listening_to=run)
    return RunEventStream(run, start, settings.sse_ping_seconds, slot, settings.stream_stall_seconds)


@router.get("", response_model=list[RunSummary], summary="The runs the server holds, oldest first")
def list_runs(request: Request) -> list[dict]:
    """Every run still in the store (training, or finished and not yet evicted), without histories: its
    id, status, lanes, labels and steps done. GET /api/runs/{id} has the history."""
    return [run.summary() for run in _manager(request).list()]


@router.get("/{run_id}", response_model=RunSummary, summary="Status, configs and the recorded history",
            responses={**NOT_FOUND, **STREAMS_BUSY})
def get_run(request: Request, run_id: str,
            history: bool = Query(True, description="Include every step event's data per lane")):
    run = _run(request, run_id)
    if not history:
        return run.summary()
    return _sent_in_chunks(request, summary_json(run), media_type="application/json",
                           headers={"Cache-Control": NO_STORE})


def summary_json(run: Run) -> Iterator[bytes]:
    """The run's RunSummary as JSON bytes, in chunks: ``history`` spliced from the stored `step` events' data,
    byte for byte as streamed, never parsed or held whole (a valid run can log 77 MB of events; parsed, that
    was ~0.5 GB of Python objects per request)."""
    head = RunSummary.model_validate(run.summary()).model_dump_json(exclude={"history"})
    history = run.step_frames()

    def pieces() -> Iterator[bytes]:
        yield head[:-1].encode() + b',"history":['
        for lane, frames in enumerate(history):
            yield b"[" if lane == 0 else b",["
            for index, frame in enumerate(frames):
                yield (b"," if index else b"") + frame_payload(frame)
            yield b"]"
        yield b"]}"

    return batches(pieces())


@router.delete("/{run_id}", response_model=RunCancelled, summary="Cancel a run", responses=NOT_FOUND)
def cancel_run(request: Request, run_id: str) -> dict:
    """Stops the work within one training step; the stream ends with `lane_done` (cancelled) and `done`."""
    run = _run(request, run_id)
    if not run.finished:
        run.cancel()
        run.thread.join(timeout=2.0)  # usually milliseconds: one training step
    return {"id": run.id, "status": run.status, "lane_status": list(run.lane_status)}


CSV_SCALARS = ("loss", "metric", "grad_norm", "grad_norm_clipped", "clipped", "sigma_max", "spectral_radius",
               "gamma")
CSV_ARRAYS = [name for name in ARRAY_FIELDS if name != "dtype_underflow_steps"]
CSV_COLUMNS = ["lane", "label", "step", "t", *CSV_SCALARS, "dtype_underflow_steps",
               *[name.removesuffix("_per_step") for name in CSV_ARRAYS],
               "arrays_from", "lane_status", "lane_done_step", "lane_done_reason"]


def _csv_cell(value) -> object:
    """A scalar as the CSV writes it: empty for null, booleans as JSON writes them (true/false)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


def _csv_line(values: list) -> bytes:
    """One row's cells as csv.writer writes them (quoting a label or reason that holds a comma or quote)."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(values)
    return buffer.getvalue().encode()


ARRAYS_KEY = b',"arrays":'
UNDERFLOW = re.compile(rb'"dtype_underflow_steps":(-?[0-9]+)')


def _split_step(payload: bytes) -> tuple[dict, bytes | None]:
    """A step event's data without its arrays (parsed: the scalars), and the text of its ``arrays`` object
    (None where it is null). Parsing the ~16k numbers of a T = 2000 step took half of the export's time, and
    their text is what the CSV writes (:func:`_array_tokens`). The worker wrote the payload with json.dumps
    (app.runs.step_to_json): "arrays" follows the scalars, and its object holds arrays and numbers, no object.
    A payload not of that shape (a nested object or a string in ``arrays``) is parsed whole instead: its arrays
    are then in the dict, and the text None."""
    start = payload.find(ARRAYS_KEY)
    if start < 0 or payload.startswith(b"null", start + len(ARRAYS_KEY)):
        return json.loads(payload), None
    end = payload.find(b"}", start) + 1
    arrays = payload[start + len(ARRAYS_KEY):end]
    if not end or payload[end:end + 1] not in (b",", b"}") or b"{" in arrays[1:] or b':"' in arrays:
        return json.loads(payload), None  # not the shape it was written in (a nested object, a string): parsed
    return json.loads(payload[:start] + payload[end:]), arrays


def _array_tokens(arrays: bytes, name: str) -> list[bytes]:
    """The JSON number tokens of ``"name":[...]`` in an ``arrays`` object's text, as written (null -> empty); []
    where it is null. json.dumps writes a float as ``repr(float)``, which is what csv.writer writes for it."""
    key = b'"' + name.encode() + b'":['
    start = arrays.find(key)
    if start < 0:
        return []
    start += len(key)
    end = arrays.index(b"]", start)
    return arrays[start:end].replace(b"null", b"").split(b",") if end > start else []


def _csv_rows(run: Run, history: list[list[bytes]], lane_done: list[dict | None]) -> Iterator[bytes]:
    """Tidy: one row per lane, step and timestep t (steps without arrays: one row with empty t).

    ``arrays_from`` says where a row's arrays come from: "step" (its `step` event), "last_arrays" (a
    diverged lane's `lane_done`: the arrays of its last step before the divergence, re-measured because
    that step was not an array step) or "" (none). Every row of a lane repeats how the lane ended, its
    `lane_done` status, step and reason (empty while it trains; for a diverged lane, the step that has
    no row of its own). A lane without a step (diverged or cancelled at step 0, or not started) has one row
    with only its lane, label and ending.

    A step's timestep rows share everything but t and the arrays' cells, so those are joined from the
    payload's own number tokens (:func:`_array_tokens`) rather than written by csv.writer one row at a time
    (a 2-lane run of T = 2000 and 200 steps, 800k rows: 12.2 s before, see the README)."""
    yield _csv_line(CSV_COLUMNS)  # the header even when no lane has a step (every lane ended at step 0)
    for lane, frames in enumerate(history):
        label = run.labels[lane]
        done = lane_done[lane] or {}
        last = done.get("last_arrays")
        ending = [done.get("status", "running"), _csv_cell(done.get("step")), _csv_cell(done.get("reason"))]
        for frame in frames:
            data, arrays = _split_step(frame_payload(frame))  # one step at a time
            head = [lane, label, data["step"]]
            scalars = [_csv_cell(data[k]) for k in CSV_SCALARS]
            if arrays is not None:  # its tokens as streamed
                columns = [_array_tokens(arrays, name) for name in CSV_ARRAYS]
                underflow = UNDERFLOW.search(arrays)
                underflow = underflow[1].decode() if underflow else ""
                source = "step"
            elif data.get("arrays") is not None or (last is not None and last["step"] == data["step"]):
                # parsed: a step's arrays _split_step could not take as text, or a diverged lane's last_arrays
                parsed, source = (data["arrays"], "step") if data.get("arrays") is not None else (last["arrays"],
                                                                                                  "last_arrays")
                columns = [[b"" if v is None else repr(v).encode() for v in parsed.get(name) or []]
                           for name in CSV_ARRAYS]
                underflow = _csv_cell(parsed.get("dtype_underflow_steps"))
            else:
                yield _csv_line([*head, "", *scalars, "", *[""] * len(CSV_ARRAYS), "", *ending])
                continue
            # "lane,label,step," + t + ",scalars...,underflow," + cells + ",arrays_from,ending...\n"
            before = _csv_line(head)[:-1] + b","
            middle = b"," + _csv_line([*scalars, underflow])[:-1] + b","
            after = b"," + _csv_line([source, *ending])
            cells = map(b",".join, itertools.zip_longest(*columns, fillvalue=b""))
            yield b"".join([b"%s%d%s%s%s" % (before, t, middle, row, after) for t, row in enumerate(cells)])
        if not frames:  # one row saying how the lane ended (e.g. diverged at step 0), else it would be missing
            yield _csv_line([lane, label, *[""] * (len(CSV_COLUMNS) - 2 - len(ending)), *ending])


@router.get("/{run_id}/export", summary="Download the whole run as JSON or tidy CSV", responses={
    **NOT_FOUND, **STREAMS_BUSY,
    200: {"description": "JSON: the run summary; CSV: a header row, then one row per lane, step and timestep",
          "content": {"application/json": {"schema": {"$ref": "#/components/schemas/RunSummary"}},
                      "text/csv": {"schema": {"type": "string"}, "example": ",".join(CSV_COLUMNS) + "\n..."}}}})
def export_run(request: Request, run_id: str,
               format: Literal["json", "csv"] = Query("json", description="json: the run summary with the whole "
                                                      "history and each lane's lane_done; csv: one row per "
                                                      "lane, step and timestep")):
    """The exported numbers are the very bytes that were streamed (JSON: spliced in unparsed; CSV: parsed one
    step at a time), so they are equal; both go out in chunks, so a long run costs no copy of itself.

    JSON: as GET /api/runs/{id} (RunSummary): ``history`` and, per lane, ``lane_done`` (status, step,
    reason and a diverged lane's ``last_arrays``). CSV: columns lane, label, step, t, the step's scalars,
    its arrays (log10, 3 decimals; empty = null), then ``arrays_from`` ("step", "last_arrays": a diverged
    lane's last step before the divergence, re-measured, or "" without arrays) and how the lane ended,
    repeated on each of its rows: ``lane_status``, ``lane_done_step``, ``lane_done_reason``."""
    run = _run(request, run_id)
    filename = f"rnn-gradient-lab-run-{run.id}.{format}"  # the page's links download under this name too
    headers = {"Content-Disposition": f'attachment; filename="{filename}"', "Cache-Control": NO_STORE}
    if format == "csv":
        lane_done = run.lane_done()
        return _sent_in_chunks(request, _csv_rows(run, run.step_frames(), lane_done), media_type="text/csv",
                               headers=headers)
    return _sent_in_chunks(request, summary_json(run), media_type="application/json", headers=headers)
