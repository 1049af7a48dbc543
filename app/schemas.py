"""Request and response schemas. ``LaneConfig`` is generated from :data:`rnncore.config.FIELDS`, so the
OpenAPI schema, the validation and ``GET /api/options`` can never disagree with the engine's contract.
"""
from __future__ import annotations

from typing import Annotated, Any, Literal, NotRequired

from pydantic import BaseModel, ConfigDict, Field, Json, create_model, model_serializer
from typing_extensions import TypedDict

from rnncore.config import FIELDS, TASK_TARGETS, FieldSpec

_PYTHON_TYPE = {"int": int, "float": float}


def _annotation(spec: FieldSpec) -> Any:
    base = Literal[spec.choices] if spec.kind == "choice" else _PYTHON_TYPE[spec.kind]
    return base | None if spec.nullable else base


def _field(spec: FieldSpec, required: bool = False) -> Any:
    extra = {"group": spec.group}
    if spec.log_scale:
        extra["log_scale"] = True
    if spec.applies_to:
        extra["applies_to"] = spec.applies_to
    numeric = spec.kind in _PYTHON_TYPE
    return Field(
        default=... if required else spec.default,
        description=spec.description,
        ge=spec.minimum if numeric else None,
        le=spec.maximum if numeric else None,
        # strict: 5.5 or "5" or true is not an integer; floats still accept JSON integers
        strict=numeric or None,
        allow_inf_nan=False if spec.kind == "float" else None,
        json_schema_extra=extra,
    )


LaneConfig = create_model(
    "LaneConfig",
    __config__=ConfigDict(extra="forbid"),
    __doc__="One lane's configuration. Omitted fields take their defaults (see GET /api/options).",
    **{spec.name: (_annotation(spec), _field(spec)) for spec in FIELDS},
)

FullLaneConfig = create_model(
    "FullLaneConfig",
    __doc__="A lane's whole configuration as the engine ran it: every field, defaults filled in.",
    **{spec.name: (_annotation(spec), _field(spec, required=True)) for spec in FIELDS},
)

LANE_NAMES = ("A", "B", "C", "D")  # what the page, the labels and the errors call lanes 0..3
MAX_LANES = len(LANE_NAMES)


class LabelsRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"lanes": [{}, {"cell": "lstm"}, {"activation": "relu", "clip": "none"}]}]})
    lanes: list[LaneConfig] = Field(  # type: ignore[valid-type]
        min_length=1, max_length=MAX_LANES, description=f"1 to {MAX_LANES} lane configs, as for POST /api/runs.")


class RunLimitError(BaseModel):
    """The cap POST /api/runs would refuse a set of lanes for, as its 422's item has it (loc ["body", "lanes"])."""

    type: Literal["work_limit", "memory_limit"]
    ctx: dict[str, Any] = Field(description="work_limit {work, limit, reduce}, memory_limit {values, limit, "
                                            "reduce}: the lanes' total, the cap, the fields that shrink it.")


class Labels(BaseModel):
    labels: list[str] = Field(description="One short label per lane: lane A names every field in which "
                                          "lanes differ, each other lane those in which it differs from A.")
    shared: str = Field(description="The settings every lane has, which the labels leave out (e.g. \"norm clip "
                                    "1.0\", on by default): \"RNN, tanh, adding, T=100, ...\".")
    run_limit: str | None = Field(None, description="Why POST /api/runs would refuse these lanes as one run "
                                                    "(the total work or memory cap), or null: the page says so "
                                                    "before Run.")
    run_limit_error: RunLimitError | None = Field(None, description="The same as data: what POST /api/runs' 422 "
                                                                     "item would carry, or null.")


class RunRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [
            {"lanes": [{"activation": "sigmoid", "seq_len": 50, "steps": 200},
                       {"activation": "relu", "seq_len": 50, "steps": 200}]},
            {"lanes": [{"clip": "none"}, {"clip": "norm", "clip_threshold": 1.0}]},
        ]},
    )
    lanes: list[LaneConfig] = Field(  # type: ignore[valid-type]
        min_length=1, max_length=MAX_LANES,
        description=f"1 to {MAX_LANES} lane configs, trained in lockstep: each round, one step per lane, the lanes "
                    "in parallel worker processes, their events in lane order.")


class ProfileRequest(LaneConfig):  # type: ignore[misc, valid-type]
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"activation": "sigmoid", "seq_len": 100}, {"activation": "relu", "spectral_radius": 1.2}]})


class GradcheckRequest(LaneConfig):  # type: ignore[misc, valid-type]
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {}, {"cell": "lstm", "task": "copy", "seq_len": 50}, {"activation": "relu", "truncate": 10}]})


class GradcheckParameter(BaseModel):
    """How one parameter array fared (rnncore.ParamCheck)."""

    elements: int
    max_rel_error: float | None = Field(description="As in max_rel_error: the central difference at eps.")
    rechecked: int = Field(description="Elements with max_rel_error >= tolerance, re-checked at the steps.")
    fd_disagreement: float | None = Field(
        description="Max over the re-checked elements of how much the four finite-difference estimates at eps "
                    "differ from each other (relative); null if no element needed a re-check, or the loss "
                    "overflowed within the step.")
    mismatched: int = Field(description="Re-checked elements whose analytic gradient lies >= tolerance (and 10x "
                                        "their spread) from finite differences that agree within tolerance.")
    unresolved: int = Field(description="Re-checked elements whose finite differences disagree with each other "
                                        "at every step: not counted as failures.")
    worst_mismatch: float | None = Field(description="Over the mismatched elements: analytic vs the nearest "
                                                     "estimate (relative); null if none.")
    verdict: Literal["passed", "failed", "inconclusive"]
    first_mismatch: list[int] | None = Field(None, description="Index of the first mismatched element.")
    first_unresolved: list[int] | None = Field(None, description="Index of the first unresolved element.")


class GradcheckResult(BaseModel):
    """What was verified and how well. Non-finite numbers are null."""

    config: dict[str, Any] = Field(description="The lane config as sent, defaults filled in.")
    checked_config: dict[str, Any] = Field(
        description="The config that was checked: the lane in float64, clip none, batch_size, seq_len, "
                    "hidden_size and num_classes capped by limits.gradcheck.caps; truncate capped at seq_len, and "
                    "where it cuts the lane's sequence at half the checked one, so the check keeps a cut.")
    changed: dict[str, list[Any]] = Field(
        description="Every field that differs between config and checked_config: [sent, checked].")
    sequence_length: int = Field(description="Timesteps unrolled in the check (the copy task: seq_len + 20).")
    method: str = Field(description="How the reference gradient was computed.")
    eps: float = Field(description="Finite-difference step: (L(p + eps) - L(p - eps)) / (2 eps) per element.")
    steps: list[float] = Field(description="Steps s at which an element off by >= tolerance is re-checked, "
                                           "each with L(p +- s) and L(p +- 2 s).")
    loss: float | None = Field(description="The loss of the checked copy (rounding of the finite differences "
                                           "grows with it: ~ 1e-16 |loss| / eps).")
    max_rel_error: dict[str, float | None] = Field(
        description="Per parameter: max over elements of |analytic - numeric| / max(|analytic|, |numeric|, "
                    "1e-3 max|analytic|), numeric the central difference at eps.")
    worst: float | None = Field(description="The largest of max_rel_error (null if any is non-finite).")
    tolerance: float = Field(description="An element matches when its relative error is below this.")
    verdict: Literal["passed", "failed", "inconclusive"] = Field(
        description="passed: every element matches (at eps, or at a larger step where the finite differences "
                    "agree with each other); failed: some element mismatches (see parameters); inconclusive: "
                    "none mismatches but for some the finite differences disagree between step sizes (a ReLU "
                    "kink within the step, or rounding at a huge loss), so the check cannot decide.")
    reason: str = Field(description="The verdict in words: which parameters, how many elements, the cause.")
    passed: bool = Field(description="verdict == passed.")
    parameters: dict[str, GradcheckParameter] = Field(description="Per parameter: the counts behind the verdict.")
    elapsed_ms: float = Field(description="Wall time of the check in the worker process.")


class RunCreated(BaseModel):
    id: str
    events_url: str = Field(description="Server-Sent Events stream of this run (supports Last-Event-ID).")
    status: Literal["running", "done", "cancelled"]
    labels: list[str] = Field(description="One short label per lane (as POST /api/labels gives them).")
    shared: str = Field(description="The settings every lane has (as POST /api/labels gives them).")
    ignored_settings: list[list[str]] = Field(
        description="Per lane, the fields the request set that have no effect on that lane (an LSTM's or GRU's "
                    "activation, Adam's momentum, clip_threshold without clipping, ...): accepted, but unused.")


ERROR_CODES = ("validation_error", "unreadable_body", "body_too_large", "not_found", "method_not_allowed",
               "run_not_found", "run_evicted", "too_many_runs", "too_many_streams", "too_many_pending",
               "engine_crashed", "internal_error")


class ErrorResponse(BaseModel):
    message: str = Field(description="What went wrong, for a person.")
    detail: Any = Field(description="Machine-readable details (for 422: a list of {loc, msg, type, message, "
                                          "ctx}, message being that error's part of the top-level message, ctx its "
                                          "facts as data: bounds, allowed values, the other field involved; "
                                          "other statuses: the message again).")
    code: str = Field(description="What kind of error, for a program: " + ", ".join(ERROR_CODES) + " (run_evicted: "
                                  "the run finished and was dropped from the store, start it again; run_not_found: "
                                  "never known). Another status would be http_<status>.",
                      examples=["too_many_streams"])
    ctx: dict[str, Any] | None = Field(None, description="The error's figures as data, where it has any: "
                                                           "too_many_runs {running, limit}, too_many_streams {open, "
                                                           "limit}, too_many_pending {kind, pending, limit}, "
                                                           "body_too_large {limit, size (when declared)}.")


UNREADABLE_BODY = {400: {"model": ErrorResponse, "description": "The body could not be read (not UTF-8 JSON)"}}
INVALID = {422: {"model": ErrorResponse, "description": "A value out of range or of the wrong type; the "
                                                         "message names the field and the allowed range"}}
TOO_LARGE = {413: {"model": ErrorResponse, "description": "The request body is over the limit "
                                                           "(RNNLAB_MAX_BODY_BYTES; a valid request is a few KB)"}}
UNKNOWN_QUERY = {422: {"model": ErrorResponse, "description": "A query parameter the operation does not have (e.g. "
                                                               "?histroy=false); the message names it"}}
RETRY_AFTER = {"Retry-After": {"description": "Seconds to wait before retrying",
                               "schema": {"type": "integer", "minimum": 1}}}


def too_many(description: str) -> dict:
    """A 429's declaration: the service's error body and its Retry-After header."""
    return {429: {"model": ErrorResponse, "description": description, "headers": RETRY_AFTER}}


def whole_integer_bounds(schema: Any) -> Any:
    """``schema`` (the OpenAPI document, in place) with the bounds of integer schemas as integers: FastAPI's
    OpenAPI model holds every minimum/maximum as a float, so ``hidden_size``'s [1, 512] read [1.0, 512.0]."""
    if isinstance(schema, dict):
        if schema.get("type") == "integer":
            for key in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf"):
                value = schema.get(key)
                if isinstance(value, float) and value.is_integer():
                    schema[key] = int(value)
        for value in schema.values():
            whole_integer_bounds(value)
    elif isinstance(schema, list):
        for value in schema:
            whole_integer_bounds(value)
    return schema


class OptionField(BaseModel):
    name: str
    kind: Literal["choice", "int", "float"]
    default: Any
    description: str
    choices: list | None = None
    minimum: int | float | None = None  # int first: an int field's bounds stay whole numbers
    maximum: int | float | None = None
    nullable: bool = False
    group: str
    log_scale: bool = False
    applies_to: dict | None = None


class Options(BaseModel):
    fields: list[OptionField]
    task_targets: dict[str, list[str]] = Field(description="Allowed target modes per task; the first is the default.")
    limits: dict[str, Any] = Field(description="Service limits: lanes, total work, gradcheck bounds, ...")


class Preset(BaseModel):
    id: str
    title: str
    explanation: str
    default: bool = False
    lanes: list[dict[str, Any]] = Field(description="Partial configs; omitted fields take the defaults.")
    labels: list[str] = Field(description="What differs between the lanes, one short label per lane.")


# --- what a run streams (the data of its events) and what GET /api/runs/{id} and POST /api/profile answer --------
# These models declare the data; they do not make it. A `step` event's data is serialized in the worker process
# (app.runs.step_to_json) and spliced into GET /api/runs/{id} unparsed; `run` and `done` are app.runs' dicts.
# What goes out through a model (a `lane_done` event, built as LaneDone; the summaries; the profile) keeps the
# bytes it had when these fields were dicts. tests/test_api_declared_schemas.py holds real streams and
# responses to the declared schemas.

LaneStatus = Literal["running", "done", "diverged", "cancelled"]
Series = list[float | None]


class TimestepArrays(BaseModel):
    """The per-timestep diagnostics of one forward and backward pass (rnncore.TimestepArrays). Every key is always
    present. Each list has one value per timestep t = 0 .. L-1 (L = task_info.extra.sequence_length: seq_len, +
    20 for copy), rounded to 3 decimals; a value that is not finite is null (the log10 of an exact zero, e.g.
    timesteps that truncated BPTT does not reach), and the list is then named in the step's ``nonfinite``.
    A list that does not apply to the lane's cell is null."""

    log10_grad_norm_per_step: Series = Field(
        description="log10 ||dL/dh_t||_F over batch and units: the total gradient reaching hidden state t "
                    "(null where it is exactly zero: timesteps truncated BPTT does not reach).")
    log10_weight_grad_per_step: Series = Field(
        description="log10 ||h_{t-1}^T delta_t||_F: timestep t's contribution to the recurrent weight gradient. "
                    "Always null at t = 0: h_{-1} = 0, so the contribution is exactly zero (log10 0 = -inf).")
    log10_input_weight_grad_per_step: Series = Field(
        description="log10 ||x_t^T delta_t||_F: timestep t's contribution to the input weight gradient dL/dW_x.")
    log10_input_grad_per_step: Series = Field(
        description="log10 ||dL/dx_t||_F over the batch: how much input position t matters (saliency).")
    log10_bound_per_step: Series | None = Field(
        description="Upper bound on log10 ||dL/dh_t|| from gamma sigma_max (Pascanu et al. 2013). Vanilla RNN "
                    "only: null for LSTM and GRU.")
    dtype_underflow_steps: int = Field(
        ge=0, description="How many leading timesteps have a true ||dL/dh_t|| below the run dtype's smallest "
                          "normal number (where a plain backward pass in that dtype would flush to zero).")
    log10_cell_grad_norm_per_step: Series | None = Field(
        description="LSTM only: log10 ||dL/dc_t||; null for RNN and GRU.")
    gate_mean_per_step: Series | None = Field(
        description="LSTM: the mean forget gate f_t; GRU: the mean update gate z_t (in [0, 1], not log10); null "
                    "for the vanilla RNN.")
    input_saliency: Series = Field(
        description="log10 ||dL/dx_t|| for the first example of the batch only: what one sequence uses.")


STEP_SCALARS = ("loss", "metric", "grad_norm", "grad_norm_clipped", "sigma_max", "spectral_radius", "gamma")
NonFinite = Literal[(*STEP_SCALARS, *(f"arrays.{name}" for name, info in TimestepArrays.model_fields.items()
                                      if info.annotation is not int))]


class StepEvent(BaseModel):
    """The data of a `step` event: one training step of one lane. The scalars come every step, ``arrays`` on
    the lane's array steps (every record_every-th and the last), else null. Non-finite numbers are null."""

    lane: int = Field(ge=0, le=MAX_LANES - 1, description="The lane's index in the run (0 = lane A).")
    step: int = Field(ge=0, description="The training step, from 0.")
    loss: float | None = Field(description="The loss on this step's batch, before the update.")
    metric: float | None = Field(description="The task metric (task_info.metric_name) on this step's batch.")
    grad_norm: float | None = Field(description="Global ||g|| over all parameters, before clipping.")
    grad_norm_clipped: float | None = Field(description="||g|| after clipping (== grad_norm when it did not clip).")
    sigma_max: float | None = Field(description="The largest singular value of W_h (of its recurrent block for "
                                                "LSTM/GRU).")
    spectral_radius: float | None = Field(
        description="max |eigenvalue| of W_h, on the array steps where it was computed (always step 0 and the "
                    "last; between them as often as it costs under ~1% of the training time); null on the others.")
    gamma: float | None = Field(description="max |f'| of the activation (0.25 sigmoid, else 1); null for LSTM "
                                            "and GRU (no Pascanu bound).")
    clipped: bool = Field(description="Whether clipping fired on this step.")
    arrays: TimestepArrays | None = Field(description="The per-timestep arrays on an array step, else null.")
    nonfinite: list[NonFinite] = Field(
        default_factory=list,
        description="Present only when some value of this step is not finite (sent as null): the scalars by "
                    "name, the arrays as 'arrays.<name>'. Every array step has "
                    "'arrays.log10_weight_grad_per_step' (its t = 0 is always null).")

    @model_serializer(mode="wrap")
    def _nonfinite_only_when_any(self, handler):
        """As step_to_json sends it: no ``nonfinite`` key when nothing is non-finite."""
        data = handler(self)
        if not data.get("nonfinite"):
            data.pop("nonfinite", None)
        return data


class TimestepSpan(TypedDict):
    """Timesteps [start, stop) and what they hold."""

    start: int
    stop: int
    what: str


class TaskExtra(TypedDict):
    """Where the task's information is (the copy task's keys: copy only)."""

    sequence_length: Annotated[int, Field(description="L: the timesteps unrolled (seq_len, + 20 for copy).")]
    informative: Annotated[list[TimestepSpan], Field(description="The timesteps that may hold what the target "
                                                                 "depends on.")]
    recall_steps: NotRequired[Annotated[int, Field(description="copy: the symbols to recall.")]]
    alphabet: NotRequired[Annotated[int, Field(description="copy: the number of symbols.")]]
    metric_note: NotRequired[Annotated[str, Field(description="copy: what the metric measures.")]]
    answer: NotRequired[Annotated[TimestepSpan, Field(description="copy: the timesteps whose loss terms score "
                                                                  "the recalled symbols.")]]


class TaskInfo(BaseModel):
    """Facts about a lane's task (rnncore.task_info): the chance baseline and where its information is."""

    name: Literal[tuple(TASK_TARGETS)]
    input_size: int
    output_size: int
    loss_name: Literal["mse", "cross_entropy"]
    metric_name: Literal["mse", "accuracy"]
    chance_loss: float = Field(description="The loss of the best memoryless predictor.")
    chance_metric: float = Field(description="The metric of chance (or of the best memoryless predictor).")
    target_mode: Literal["last", "every"]
    extra: TaskExtra


class RunEvent(BaseModel):
    """The data of the `run` event, the stream's first (id 0)."""

    id: str
    lanes: list[FullLaneConfig] = Field(description="Each lane's whole config, defaults filled in.")  # type: ignore[valid-type]
    labels: list[str] = Field(description="One short label per lane (as POST /api/labels gives them).")
    shared: str = Field(description="The settings every lane has (as POST /api/labels gives them).")
    task_info: list[TaskInfo]
    record_every: list[int] = Field(description="Per lane: arrays every k steps (and on the last).")


class LastArrays(BaseModel):
    """A diverged lane's per-timestep arrays of its last step before the divergence."""

    step: int = Field(description="The lane's last step before the divergence (usually the explosion itself: "
                                  "its loss and gradient norm are in that step's `step` event).")
    arrays: TimestepArrays = Field(
        description="That step's per-timestep arrays, as a `step` event's `arrays` (log10 values, 3 decimals, "
                    "null for non-finite), re-measured on that step's weights and batch when it was not an "
                    "array step.")


class LaneDone(BaseModel):
    """How a lane ended: the data of its `lane_done` event, as streamed."""

    lane: int
    status: Literal["done", "diverged", "cancelled"]
    step: int | None = Field(description="diverged: the step whose loss, gradient or update was non-finite (it has "
                                         "no `step` event); otherwise the lane's last step (null if none).")
    reason: str | None = Field(description="diverged: why, e.g. 'loss is nan at step 2 (the float32 "
                                           "forward pass overflowed: h_t is not finite from t = 3 on)'; cancelled: "
                                           "why (DELETE, no client, shutdown); done: null.")
    last_arrays: LastArrays | None = Field(description="diverged: the arrays of the last step before the "
                                                       "divergence (null if it diverged at step 0); else null.")


class DoneEvent(BaseModel):
    """The data of the `done` event, the stream's last."""

    status: Literal["done", "cancelled"] = Field(description="done: every lane stopped by itself (trained all "
                                                             "its steps, or diverged); cancelled: the run was.")
    lanes: list[Literal["done", "diverged", "cancelled"]] = Field(description="How each lane ended.")


class _JsonText:
    """Annotates ``Json[Model]``: in the schema, a string holding that model's JSON (an event's ``data``)."""

    def __get_pydantic_json_schema__(self, core_schema, handler):
        schema = handler(core_schema)  # serialization: the model's schema; validation: already the string's
        if handler.mode == "validation":
            return schema
        return {"type": "string", "contentMediaType": "application/json", "contentSchema": schema}


class _Frame(BaseModel):
    id: str = Field(description="0, 1, 2, ... per run; send it back as Last-Event-ID (or ?after).")


class RunFrame(_Frame):
    """The `run` event."""

    event: Literal["run"]
    data: Annotated[Json[RunEvent], _JsonText()]


class StepFrame(_Frame):
    """A `step` event."""

    event: Literal["step"]
    data: Annotated[Json[StepEvent], _JsonText()]


class LaneDoneFrame(_Frame):
    """A `lane_done` event."""

    event: Literal["lane_done"]
    data: Annotated[Json[LaneDone], _JsonText()]


class DoneFrame(_Frame):
    """The `done` event."""

    event: Literal["done"]
    data: Annotated[Json[DoneEvent], _JsonText()]


EventFrame = Annotated[RunFrame | StepFrame | LaneDoneFrame | DoneFrame, Field(discriminator="event")]
"""One Server-Sent Event of a run's stream, by its ``event`` type (the schema of each event, not of the body)."""


class ProfileResult(BaseModel):
    """POST /api/profile: one forward and backward pass of the untrained model, no update."""

    config: FullLaneConfig = Field(description="The config as sent, defaults filled in.")  # type: ignore[valid-type]
    task_info: TaskInfo
    record: StepEvent = Field(description="As a `step` event's data (lane 0, step 0), with its arrays.")


class RunCancelled(BaseModel):
    id: str
    status: Literal["running", "done", "cancelled"] = Field(
        description="cancelled; done if the run had finished before; running if its last step had not stopped "
                    "within 2 s (it stops within one training step).")
    lane_status: list[LaneStatus]


class RunSummary(BaseModel):
    id: str
    status: Literal["running", "done", "cancelled"] = Field(
        description="The run as a whole: 'done' once every lane has stopped, whether it trained all its steps "
                    "or diverged (each lane's own outcome: lane_status, lane_done).")
    paused: bool = Field(description="True while no client is connected (the run is cancelled after the grace period).")
    clients: int
    lanes: list[FullLaneConfig] = Field(description="Each lane's whole config, defaults filled in.")  # type: ignore[valid-type]
    labels: list[str]
    shared: str = Field(description="The settings every lane has (as POST /api/labels gives them).")
    lane_status: list[LaneStatus]
    steps_done: list[int] = Field(description="Training steps computed so far, per lane.")
    record_every: list[int]
    task_info: list[TaskInfo]
    events: int = Field(description="Events emitted so far (the next event id).")
    cancel_reason: str | None = Field(None, description="Why the run was cancelled (DELETE, no client, ...).")
    lane_done: list[LaneDone | None] = Field(
        description="Per lane, how it ended: its `lane_done` event's data as streamed (status, step, reason, "
                    "last_arrays); null while the lane is training.")
    history: list[list[StepEvent]] | None = Field(
        None, description="Per lane, every `step` event's data as streamed; null with history=false (and in GET "
                          "/api/runs).")
