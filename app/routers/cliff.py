"""``GET /api/loss-surface``: the exploding-gradient cliff of Pascanu et al. (2013, Fig. 6).

The one-unit model x_t = w sigmoid(x_{t-1}) + b, x_0 = 0.5, E = (sigmoid(x_50) - 0.7)^2 (see
:mod:`rnncore.cliff`): E on a (w, b) grid, shown as log10 E, and two SGD runs from the same start with
the same learning rate and steps, one plain and one with norm clipping at ``threshold``.

Example: ``GET /api/loss-surface?resolution=81&start_w=4.25&start_b=-3&learning_rate=0.3&threshold=0.3``
"""
from __future__ import annotations

from typing import Annotated

import numpy as np
from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, Field

from app.errors import validation_error
from app.routers.engine import BUSY, CLIENT_GONE, CRASHED, admitted, crashed
from app.schemas import INVALID
from app.validation import PlainInt
from app.worker import ClientGone, EngineCrashed
from rnncore import cliff

router = APIRouter(prefix="/api", tags=["cliff"], responses=INVALID)  # the service's 422 body, not FastAPI's default

D = cliff.DEFAULTS
RANGE = 20.0  # |w|, |b| bound: beyond it the plateaus are flat to machine precision


class SurfaceQuery(BaseModel):
    """Query parameters, every one bounded; omitted ones take :data:`rnncore.cliff.DEFAULTS`."""

    model_config = {"extra": "forbid", "allow_inf_nan": False}

    w_min: float = Field(D["w_min"], ge=-RANGE, le=RANGE, description="Left edge of the w axis.")
    w_max: float = Field(D["w_max"], ge=-RANGE, le=RANGE, description="Right edge of the w axis.")
    b_min: float = Field(D["b_min"], ge=-RANGE, le=RANGE, description="Bottom edge of the b axis.")
    b_max: float = Field(D["b_max"], ge=-RANGE, le=RANGE, description="Top edge of the b axis.")
    resolution: PlainInt = Field(D["resolution"], ge=5, le=200, description="Grid points per axis (<= 200).")
    start_w: float = Field(D["start_w"], ge=-RANGE, le=RANGE, description="w of the SGD start.")
    start_b: float = Field(D["start_b"], ge=-RANGE, le=RANGE, description="b of the SGD start.")
    learning_rate: float = Field(D["learning_rate"], gt=0.0, le=100.0, description="SGD step size (both runs).")
    steps: PlainInt = Field(D["steps"], ge=1, le=500, description="SGD steps (both runs).")
    threshold: float = Field(D["threshold"], gt=0.0, le=1e6, description="Norm-clipping threshold tau.")

    def check_ranges(self) -> None:
        """Cross-field rule, as a 422 shaped like pydantic's own errors so the loc names the field; its ctx as the
        cross-field rules of the lanes': {"exclusive_minimum": w_min's value, "minimum_from": "w_min", "w_min": ...}."""
        for low, high in (("w_min", "w_max"), ("b_min", "b_max")):
            lo, hi = getattr(self, low), getattr(self, high)
            if not lo < hi:
                raise validation_error(("query", high), f"must be greater than {low} ({lo:g}), got {hi:g}", hi,
                                       ctx={"exclusive_minimum": lo, "minimum_from": low, low: lo, "integer": False})


class TrajectoryOut(BaseModel):
    label: str
    threshold: float | None = Field(description="Norm-clipping threshold, null for plain SGD.")
    w: list[float | None]
    b: list[float | None]
    loss: list[float | None] = Field(description="E at each iterate (steps + 1 values unless diverged).")
    grad_norm: list[float | None] = Field(description="||grad E|| before clipping, per step.")
    step_length: list[float | None] = Field(description="||theta_{k+1} - theta_k|| per step.")
    clipped: list[bool]
    max_step_length: float | None
    diverged_at: int | None


class SurfaceOut(BaseModel):
    w: list[float] = Field(description="w axis (columns of log10_loss).")
    b: list[float] = Field(description="b axis (rows of log10_loss).")
    log10_loss: list[list[float | None]] = Field(description="log10 E, rows b, columns w; null where E = 0.")
    log10_grad_norm: list[list[float | None]] = Field(description="log10 ||grad E|| on the same grid.")
    trajectories: list[TrajectoryOut] = Field(description="[plain SGD, SGD + norm clipping].")
    params: SurfaceQuery
    defaults: SurfaceQuery = Field(description="What each parameter is when omitted (the page keeps only the "
                                               "ones that differ in its shareable link).")
    seq_len: int
    note: str


EXACT_POWER = 22  # 10.0**k is exact for 0 <= k <= 22, so m / 10**k and m * 10**k round once, as float() does


def _finite(values, digits: int = 6) -> list[float | None]:
    """JSON has no inf/NaN: non-finite -> null; rounded to ``digits`` significant digits (keeps it small), the
    very floats ``float(format(v, ".{digits}g"))`` gives, computed in NumPy: per value in Python that took
    34 of the 41 ms of a 200 x 200 grid's two arrays. A value is m * 10**-k with m an integer of ``digits``
    digits; where the scaled value is within 1e-6 of a tie, or k is beyond :data:`EXACT_POWER`, it is
    formatted one by one as before (rare: log10 values and w, b are within range)."""
    x = np.asarray(values, dtype=float).ravel()
    finite = np.isfinite(x)
    magnitude = np.abs(np.where(finite, x, 0.0))
    nonzero = magnitude > 0
    with np.errstate(all="ignore"):
        exponent = np.floor(np.log10(magnitude, where=nonzero, out=np.zeros_like(x)))
        k = digits - 1 - exponent
        power = 10.0 ** np.clip(np.abs(k), 0, EXACT_POWER)
        up = k >= 0
        scaled = np.where(up, x * power, x / power)
        m = np.rint(scaled)
        rounded = np.where(up, m / power, m * power)
        alone = nonzero & finite & (
            (np.abs(k) > EXACT_POWER) | (np.abs(np.abs(scaled - np.trunc(scaled)) - 0.5) < 1e-6)
            | (np.abs(m) >= 10.0 ** digits) | (np.abs(m) < 10.0 ** (digits - 1)))  # the exponent was off by one
    rounded = np.where(nonzero, rounded, x)  # 0.0 and -0.0 as they are
    out = rounded.tolist()
    fmt = f".{digits}g"
    for i in np.flatnonzero(alone).tolist():
        out[i] = float(format(x[i].item(), fmt))
    for i in np.flatnonzero(~finite).tolist():
        out[i] = None
    return out


def _log10(values) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log10(values)


def _grid(values: np.ndarray) -> list[list[float | None]]:
    """A 2-D array as rows of :func:`_finite` values (4 digits), rounded in one pass over the whole grid."""
    flat, width = _finite(values, 4), values.shape[1]
    return [flat[i:i + width] for i in range(0, len(flat), width)]


def _trajectory(label: str, threshold: float | None, run: cliff.Trajectory) -> TrajectoryOut:
    return TrajectoryOut(
        label=label, threshold=threshold, w=_finite(run.w), b=_finite(run.b), loss=_finite(run.loss),
        grad_norm=_finite(run.grad_norm), step_length=_finite(run.step_length), clipped=run.clipped.tolist(),
        max_step_length=float(run.step_length.max()) if run.step_length.size else None,
        diverged_at=run.diverged_at)


@router.get("/loss-surface", response_model=SurfaceOut, summary="The exploding-gradient cliff (Pascanu 2013)",
            responses={**BUSY, **CRASHED})
async def loss_surface(query: Annotated[SurfaceQuery, Query()], request: Request):
    """Computed by the engine's processes (~50 ms of CPU at resolution 200 and 500 steps; in the server process,
    30 calls at once held the event loop for seconds), at most ``loss_surface_max_pending`` at once (beyond: 429)."""
    query.check_ranges()
    state = request.app.state
    try:
        with admitted(request, "loss_surfaces", state.settings.loss_surface_max_pending):
            body = await state.runs.engine.call(surface_json, query.model_dump(), request=request)
    except ClientGone:
        return Response(status_code=CLIENT_GONE)
    except EngineCrashed as exc:
        raise crashed("loss surface") from exc
    return Response(body, media_type="application/json")  # validated as SurfaceOut where it was made


def surface_json(params: dict) -> bytes:
    """The response body (computed in a pool process): SurfaceOut as JSON bytes, so the server neither builds
    nor validates its ~80k numbers again."""
    query = SurfaceQuery(**params)
    ws, bs, energy, grad_norm = cliff.grid(query.w_min, query.w_max, query.b_min, query.b_max,
                                           query.resolution, query.resolution)
    plain = cliff.sgd(query.start_w, query.start_b, query.learning_rate, query.steps)
    clipped = cliff.sgd(query.start_w, query.start_b, query.learning_rate, query.steps, query.threshold)
    return SurfaceOut(
        w=_finite(ws), b=_finite(bs), log10_loss=_grid(_log10(energy)), log10_grad_norm=_grid(_log10(grad_norm)),
        trajectories=[_trajectory("SGD", None, plain),
                      _trajectory(f"SGD + norm clip {query.threshold:g}", query.threshold, clipped)],
        params=query, defaults=SurfaceQuery(), seq_len=cliff.T,
        note=("One hidden unit, x_t = w sigmoid(x_{t-1}) + b for 50 steps, loss E = (sigmoid(x_50) - 0.7)^2. "
              "Across the thin wall E jumps between two plateaus, so the gradient there is huge. Plain SGD that "
              "lands on the wall takes a huge step and is thrown far away; with norm clipping every step is at "
              f"most learning_rate x threshold = {query.learning_rate * query.threshold:g} long.")
    ).model_dump_json().encode()
