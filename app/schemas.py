"""Request and response schemas. ``LaneConfig`` is generated from :data:`rnncore.config.FIELDS`, so the
OpenAPI schema, the validation and ``GET /api/options`` can never disagree with the engine's contract.
"""
from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model

from rnncore.config import FIELDS, FieldSpec

_PYTHON_TYPE = {"int": int, "float": float}


def _annotation(spec: FieldSpec) -> Any:
    base = Literal[spec.choices] if spec.kind == "choice" else _PYTHON_TYPE[spec.kind]
    return base | None if spec.nullable else base


def _field(spec: FieldSpec) -> Any:
    extra = {"group": spec.group}
    if spec.log_scale:
        extra["log_scale"] = True
    if spec.applies_to:
        extra["applies_to"] = spec.applies_to
    numeric = spec.kind in _PYTHON_TYPE
    return Field(
        default=spec.default,
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

LANE_NAMES = ("A", "B", "C", "D")  # what the page, the labels and the errors call lanes 0..3
MAX_LANES = len(LANE_NAMES)


class LabelsRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"lanes": [{}, {"cell": "lstm"}, {"activation": "relu", "clip": "none"}]}]})
    lanes: list[LaneConfig] = Field(  # type: ignore[valid-type]
        min_length=1, max_length=MAX_LANES, description=f"1 to {MAX_LANES} lane configs, as for POST /api/runs.")


class Labels(BaseModel):
    labels: list[str] = Field(description="One short label per lane: lane A names every field in which "
                                          "lanes differ, each other lane those in which it differs from A.")
    run_limit: str | None = Field(None, description="Why POST /api/runs would refuse these lanes as one run "
                                                    "(the total work or memory cap), or null: the page says so "
                                                    "before Run.")


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
    ignored_settings: list[list[str]] = Field(
        description="Per lane, the fields the request set that have no effect on that lane (an LSTM's or GRU's "
                    "activation, Adam's momentum, clip_threshold without clipping, ...): accepted, but unused.")


class ErrorResponse(BaseModel):
    message: str = Field(description="What went wrong, for a person.")
    detail: Any = Field(None, description="Machine-readable details (for 422: a list of {loc, msg, type, message, "
                                          "ctx}, message being that error's part of the top-level message, ctx its "
                                          "facts as data: bounds, allowed values, the other field involved).")


UNREADABLE_BODY = {400: {"model": ErrorResponse, "description": "The body could not be read (not UTF-8 JSON)"}}
INVALID = {422: {"model": ErrorResponse, "description": "A value out of range or of the wrong type; the "
                                                         "message names the field and the allowed range"}}


class OptionField(BaseModel):
    name: str
    kind: Literal["choice", "int", "float"]
    default: Any
    description: str
    choices: list | None = None
    minimum: float | None = None
    maximum: float | None = None
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


class LastArrays(BaseModel):
    """A diverged lane's per-timestep arrays of its last step before the divergence."""

    step: int = Field(description="The lane's last step before the divergence (usually the explosion itself: "
                                  "its loss and gradient norm are in that step's `step` event).")
    arrays: dict[str, list[float | None] | int | float | None] = Field(
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


class RunSummary(BaseModel):
    id: str
    status: Literal["running", "done", "cancelled"] = Field(
        description="The run as a whole: 'done' once every lane has stopped, whether it trained all its steps "
                    "or diverged (each lane's own outcome: lane_status, lane_done).")
    paused: bool = Field(description="True while no client is connected (the run is cancelled after the grace period).")
    clients: int
    lanes: list[dict[str, Any]]
    labels: list[str]
    lane_status: list[str]
    steps_done: list[int] = Field(description="Training steps computed so far, per lane.")
    record_every: list[int]
    task_info: list[dict[str, Any]]
    events: int = Field(description="Events emitted so far (the next event id).")
    cancel_reason: str | None = Field(None, description="Why the run was cancelled (DELETE, no client, ...).")
    lane_done: list[LaneDone | None] = Field(
        description="Per lane, how it ended: its `lane_done` event's data as streamed (status, step, reason, "
                    "last_arrays); null while the lane is training.")
    history: list[list[dict[str, Any]]] | None = Field(
        None, description="Per lane, every `step` event's data as streamed (omitted with history=false).")
