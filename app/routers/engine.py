"""Instant, untrained diagnostics straight from rnncore: the forward/backward profile and gradcheck."""
from __future__ import annotations

from fastapi import APIRouter, Request

from app.errors import validation_error
from app.runs import to_plain
from app.schemas import INVALID, UNREADABLE_BODY, GradcheckRequest, ProfileRequest
from app.validation import check_memory, check_work, to_config
from app.worker import gradcheck_payload, profile_payload

router = APIRouter(prefix="/api", tags=["engine"], responses={**INVALID, **UNREADABLE_BODY})

GRADCHECK_TOLERANCE = 1e-5  # float64 central differences reach ~1e-8 on a correct backward pass


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


@router.post("/gradcheck", summary="Finite-difference check of the engine's gradients (small configs)")
async def gradcheck(body: GradcheckRequest, request: Request) -> dict:
    """Compares the analytic BPTT gradient with float64 central differences, per parameter, and
    reports the max relative error. Only small configs (see ``limits.gradcheck`` in /api/options)."""
    cfg = to_config(body, ("body",))
    s = request.app.state.settings
    for name, limit in (("seq_len", s.gradcheck_max_seq_len), ("hidden_size", s.gradcheck_max_hidden_size),
                        ("batch_size", s.gradcheck_max_batch_size)):
        if getattr(cfg, name) > limit:
            raise validation_error(("body", name), f"gradcheck allows {name} <= {limit}", getattr(cfg, name))
    errors = await request.app.state.runs.engine.call(gradcheck_payload, cfg.to_dict())
    finite = [v for v in errors.values() if v is not None]
    worst = max(finite) if len(finite) == len(errors) and finite else None
    return {"config": cfg.to_dict(), "max_rel_error": errors, "worst": worst, "tolerance": GRADCHECK_TOLERANCE,
            "passed": worst is not None and worst < GRADCHECK_TOLERANCE}
