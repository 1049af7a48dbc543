"""Instant, untrained diagnostics straight from rnncore: the forward/backward profile and gradcheck."""
from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request

from app.runs import to_plain
from app.schemas import INVALID, UNREADABLE_BODY, ErrorResponse, GradcheckRequest, GradcheckResult, ProfileRequest
from app.validation import check_memory, check_work, to_config
from app.worker import gradcheck_payload, profile_payload

router = APIRouter(prefix="/api", tags=["engine"], responses={**INVALID, **UNREADABLE_BODY})

GRADCHECK_TOLERANCE = 1e-6  # as the engine's tests: float64 central differences reach ~1e-8 to 1e-7
GRADCHECK_EPS = 1e-5  # rnncore.gradcheck's default step
GRADCHECK_METHOD = "central finite differences in float64, one element at a time, vs analytic BPTT"


@router.post("/profile", summary="Forward/backward profile of one config at initialisation")
async def profile(body: ProfileRequest, request: Request) -> dict:
    """One forward and backward pass of an untrained model, no update: ``record`` has the same shape
    as a ``step`` event's data (scalars plus per-timestep ``arrays``, -inf/NaN as null).
    The size is capped: seq_len * hidden_size^2 * batch_size * gates <= ``profile_max_work``."""
    import rnncore

    cfg = to_config(body, ("body",))
    check_work([cfg], request.app.state.settings.profile_max_work, ("body",), steps=1)
    check_memory([cfg], request.app.state.settings.max_state_values, ("body",))
    record = await request.app.state.runs.engine.call(profile_payload, cfg.to_dict())  # a worker process
    return {"config": cfg.to_dict(), "task_info": to_plain(rnncore.task_info(cfg)), "record": record}


@router.post("/gradcheck", response_model=GradcheckResult,
             summary="Finite-difference check of the engine's gradients on a small copy of a lane",
             responses={429: {"model": ErrorResponse, "description": "Too many gradchecks queued; see Retry-After"}})
async def gradcheck(body: GradcheckRequest, request: Request) -> dict:
    """Compares the analytic BPTT gradient with float64 central differences, per parameter, and reports
    the max relative error. Any valid lane config is accepted: the check runs on ``checked_config``, the
    lane in float64 without clipping, its sizes capped by ``rnncore.GRADCHECK_CAPS`` (also in
    ``limits.gradcheck`` of /api/options), so it takes well under a second."""
    import rnncore
    from rnncore.tasks import sequence_length

    cfg = to_config(body, ("body",))
    checked = rnncore.gradcheck_config(cfg)
    state, limit = request.app.state, request.app.state.settings.gradcheck_max_pending
    pending = getattr(state, "gradchecks_pending", 0)
    if pending >= limit:
        raise HTTPException(429, f"{pending} gradchecks are queued or computing, the limit is {limit}; retry "
                                 "in a second", headers={"Retry-After": "1"})
    state.gradchecks_pending = pending + 1
    try:
        result = await state.runs.engine.call(gradcheck_payload, cfg.to_dict(), GRADCHECK_EPS)
    finally:
        state.gradchecks_pending -= 1
    errors = result["max_rel_error"]
    finite = [v for v in errors.values() if v is not None]
    worst = max(finite) if finite and len(finite) == len(errors) else None
    sent, checked_dict = cfg.to_dict(), checked.to_dict()
    return {"config": sent, "checked_config": checked_dict,
            "changed": {k: [sent[k], v] for k, v in checked_dict.items() if sent[k] != v},
            "sequence_length": sequence_length(checked), "method": GRADCHECK_METHOD, "eps": GRADCHECK_EPS,
            "max_rel_error": errors, "worst": worst, "tolerance": GRADCHECK_TOLERANCE,
            "passed": worst is not None and worst < GRADCHECK_TOLERANCE, "elapsed_ms": result["elapsed_ms"]}
