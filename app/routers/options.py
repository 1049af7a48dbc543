"""What the page builds its controls from: the config fields, the task targets, limits and presets."""
from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.exceptions import RequestValidationError

from app.labels import lane_labels, shared_settings
from app.presets import PRESETS
from app.routers.engine import GRADCHECK_TOLERANCE
from app.runs import TIMESTEPS, work_formula
from app.schemas import (
    INVALID,
    LANE_NAMES,
    MAX_LANES,
    TOO_LARGE,
    UNKNOWN_QUERY,
    UNREADABLE_BODY,
    Labels,
    LabelsRequest,
    Options,
    Preset,
)
from app.validation import check_run_limits, to_configs
from rnncore import GRADCHECK_CAPS
from rnncore.config import FIELDS, TASK_TARGETS

router = APIRouter(prefix="/api", tags=["options"])


@router.get("/options", response_model=Options, summary="Every config field with its default, choices or range",
            responses=UNKNOWN_QUERY)
def options(request: Request) -> dict:
    """Each field of a lane config: kind, default, choices or [minimum, maximum], nullable, a one-line
    description, the control group, a log-scale hint and when it applies (``applies_to``). ``limits``
    carries the service's own bounds (lanes per run, total work cap, pending calls, the store of finished runs,
    open streams and their stall timeout, the body size) and what /api/gradcheck checks (any
    lane shrunk to ``gradcheck.caps``, in float64, without clipping, passed below ``gradcheck.tolerance``)."""
    s = request.app.state.settings
    return {
        "fields": [{**spec.as_dict(), "default": spec.default} for spec in FIELDS],  # keep null defaults
        "task_targets": {task: list(targets) for task, targets in TASK_TARGETS.items()},
        "limits": {
            "max_lanes": MAX_LANES,
            "lane_names": list(LANE_NAMES),
            "max_work": s.max_work,
            "max_state_values": s.max_state_values,
            "state_values_formula": f"sum over lanes of L * batch_size * hidden_size * gates ({TIMESTEPS})",
            "profile_max_work": s.profile_max_work,
            "profile_max_pending": s.profile_max_pending,
            "work_formula": f"sum over lanes of {work_formula()} (gates: rnn 1, lstm 4, gru 3; L as in "
                            "state_values_formula; 1e5: what a timestep costs however small)",
            "max_concurrent_runs": s.max_concurrent_runs,
            "max_arrays_per_lane": s.max_arrays_per_lane,
            "cancel_grace_seconds": s.cancel_grace_seconds,
            "loss_surface_max_pending": s.loss_surface_max_pending,
            # the store, the streams and the body (RNNLAB_* of the same names, the README's table)
            "store_max_runs": s.store_max_runs,
            "store_max_bytes": s.store_max_bytes,
            "max_streams": s.max_streams,
            "stream_stall_seconds": s.stream_stall_seconds,
            "sse_ping_seconds": s.sse_ping_seconds,
            "max_body_bytes": s.max_body_bytes,
            "gradcheck": {"caps": dict(GRADCHECK_CAPS), "dtype": "float64", "clip": "none",
                          "tolerance": GRADCHECK_TOLERANCE, "max_pending": s.gradcheck_max_pending},
        },
    }


@router.get("/presets", response_model=list[Preset], summary="Curated comparisons, ready to run",
            responses=UNKNOWN_QUERY)
def presets() -> list[dict]:
    """Each preset: an id, a title, a short explanation, 2-4 partial lane configs and their labels.
    Exactly one has ``default: true``. POST its ``lanes`` to /api/runs to run it."""
    return PRESETS


@router.post("/labels", response_model=Labels, responses={**UNREADABLE_BODY, **TOO_LARGE, **INVALID},
             summary="Short labels for a set of lanes")
def labels(body: LabelsRequest, request: Request) -> dict:
    """What the charts' legends call each lane: lane A names every field in which the lanes differ, each
    other lane only those in which it differs from A (``[{}, {"cell": "lstm"}]`` -> ``["RNN", "LSTM"]``).
    The same labels a run's ``run`` event carries; validated like POST /api/runs, except that the total
    work and memory caps are not a 422 here but ``run_limit``: what POST /api/runs would answer."""
    configs = to_configs(body.lanes, lambda i: ("body", "lanes", i))
    run_limit = run_limit_error = None
    try:
        check_run_limits(configs, request.app.state.settings, ("body", "lanes"))
    except RequestValidationError as exc:
        error = exc.errors()[0]
        run_limit, run_limit_error = error["msg"], {"type": error["type"], "ctx": error["ctx"]}
    lanes = [cfg.to_dict() for cfg in configs]
    return {"labels": lane_labels(lanes), "shared": shared_settings(lanes), "run_limit": run_limit,
            "run_limit_error": run_limit_error}
