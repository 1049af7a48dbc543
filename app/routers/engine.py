"""Instant, untrained diagnostics straight from rnncore: the forward/backward profile and gradcheck."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from fastapi import APIRouter, Request, Response

from app.errors import ApiError
from app.runs import to_plain
from app.schemas import (
    INVALID,
    RETRY_AFTER,
    TOO_LARGE,
    UNREADABLE_BODY,
    ErrorResponse,
    GradcheckRequest,
    GradcheckResult,
    ProfileRequest,
    ProfileResult,
    too_many,
)
from app.validation import check_memory, check_work, to_config
from app.worker import ClientGone, EngineCrashed, profile_payload
from rnncore.fdcheck import GRADCHECK_TOLERANCE, gradcheck_report  # GRADCHECK_TOLERANCE: also /api/options

router = APIRouter(prefix="/api", tags=["engine"], responses={**INVALID, **UNREADABLE_BODY, **TOO_LARGE})

GRADCHECK_EPS = 1e-5  # rnncore.gradcheck's default step
GRADCHECK_METHOD = ("central finite differences in float64, one element at a time, vs analytic BPTT; an element "
                    "off by >= tolerance is re-checked with four stencils (central at s and 2s, two one-sided "
                    "second-order) at s = eps, 4 eps, 16 eps")


CLIENT_GONE = 499  # nginx's "client closed request": logged, never received


@contextmanager
def admitted(request: Request, kind: str, limit: int) -> Iterator[None]:
    """At most ``limit`` calls of ``kind`` ("profiles", "gradchecks") queued or computing at once, counted in
    ``app.state.<kind>_pending``; beyond, a 429 with Retry-After."""
    state, counter = request.app.state, f"{kind}_pending"
    pending = getattr(state, counter, 0)
    if pending >= limit:
        raise ApiError(429, f"{pending} {kind} are queued or computing, the limit is {limit}; retry in a second",
                       "too_many_pending", {"kind": kind, "pending": pending, "limit": limit},
                       headers={"Retry-After": "1"})
    setattr(state, counter, pending + 1)
    try:
        yield
    finally:
        setattr(state, counter, getattr(state, counter) - 1)


def crashed(what: str) -> ApiError:
    """The 503 of a call whose pool process died under it twice (the call and its one retry); the pool has been
    restarted, so the next call computes (unless it kills its process too)."""
    return ApiError(503, f"a process of the engine exited while computing this {what}, and again on its retry "
                         "(killed, e.g. out of memory, or crashed); the engine was restarted, retry in a second",
                    "engine_crashed", headers={"Retry-After": "1"})


BUSY = too_many("Too many calls queued or computing; see Retry-After")
CRASHED = {503: {"model": ErrorResponse, "headers": RETRY_AFTER, "description": "The engine's process exited "
                 "computing the call and its one retry (killed, e.g. out of memory); see Retry-After"}}


@router.post("/profile", response_model=ProfileResult,
             summary="Forward/backward profile of one config at initialisation",
             responses={**BUSY, **CRASHED})
async def profile(body: ProfileRequest, request: Request):
    """One forward and backward pass of an untrained model, no update: ``record`` has the same shape
    as a ``step`` event's data (scalars plus per-timestep ``arrays``, -inf/NaN as null).
    The size is capped: L * gates * (hidden_size^2 * batch_size + 1e5) <= ``profile_max_work`` (L: timesteps unrolled),
    and so is the number of profiles queued or computing (``profile_max_pending``; beyond: 429). A profile
    still queued when its client goes away (the page aborts outdated previews) is dropped."""
    import rnncore

    settings = request.app.state.settings
    cfg = to_config(body, ("body",))
    check_work([cfg], settings.profile_max_work, ("body",), steps=1)
    check_memory([cfg], settings.max_state_values, ("body",))
    try:
        with admitted(request, "profiles", settings.profile_max_pending):  # a worker process computes it
            record = await request.app.state.runs.engine.call(profile_payload, cfg.to_dict(), request=request)
    except ClientGone:
        return Response(status_code=CLIENT_GONE)
    except EngineCrashed as exc:
        raise crashed("profile") from exc
    return {"config": cfg.to_dict(), "task_info": to_plain(rnncore.task_info(cfg)), "record": record}


@router.post("/gradcheck", response_model=GradcheckResult,
             summary="Finite-difference check of the engine's gradients on a small copy of a lane",
             responses={**BUSY, **CRASHED})
async def gradcheck(body: GradcheckRequest, request: Request):
    """Compares the analytic BPTT gradient with float64 central differences, per parameter, and reports
    the max relative error and a verdict: ``passed``, ``failed`` (finite differences that agree with each
    other across step sizes disagree with the analytic gradient) or ``inconclusive`` (for some elements the
    finite differences disagree with each other: a ReLU kink within the step, or rounding of a huge loss;
    ``reason`` says where). Any valid lane config is accepted: the check runs on ``checked_config``, the
    lane in float64 without clipping, its sizes capped by ``rnncore.GRADCHECK_CAPS`` (also in
    ``limits.gradcheck`` of /api/options): 25 ms (RNN) to 1.3 s (LSTM/GRU on the copy task)."""
    import rnncore
    from rnncore.tasks import sequence_length

    cfg = to_config(body, ("body",))
    checked = rnncore.gradcheck_config(cfg)
    state = request.app.state
    try:
        with admitted(request, "gradchecks", state.settings.gradcheck_max_pending):
            # a worker process: rnncore.gradcheck_report(cfg), which checks ``checked``
            report = to_plain(await state.runs.engine.call(gradcheck_report, cfg, GRADCHECK_EPS, GRADCHECK_TOLERANCE,
                                                           request=request))
    except ClientGone:
        return Response(status_code=CLIENT_GONE)
    except EngineCrashed as exc:
        raise crashed("gradcheck") from exc
    details = report["params"]
    errors = {name: d["max_rel_error"] for name, d in details.items()}
    finite = [v for v in errors.values() if v is not None]
    worst = max(finite) if finite and len(finite) == len(errors) else None
    sent, checked_dict = cfg.to_dict(), checked.to_dict()
    return {"config": sent, "checked_config": checked_dict,
            "changed": {k: [sent[k], v] for k, v in checked_dict.items() if sent[k] != v},
            "sequence_length": sequence_length(checked), "method": GRADCHECK_METHOD, "eps": GRADCHECK_EPS,
            "steps": report["steps"], "loss": report["loss"], "max_rel_error": errors, "worst": worst,
            "tolerance": GRADCHECK_TOLERANCE, "verdict": report["verdict"], "reason": report["reason"],
            "passed": report["verdict"] == "passed", "parameters": details, "elapsed_ms": report["elapsed_ms"]}
