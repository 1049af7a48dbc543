"""Every error is JSON with a top-level ``message`` a person can read, e.g.
``{"message": "lanes[0].seq_len: must be <= 2000 (integer in [2, 2000])", "detail": [{loc, msg, type}]}``.
"""
from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from rnncore.config import FIELD_BY_NAME

log = logging.getLogger("rnnlab")


def validation_error(loc: tuple, msg: str, value: Any = None, kind: str = "value_error") -> RequestValidationError:
    """A 422 raised by hand (cross-field rules, limits), shaped like pydantic's own errors."""
    return RequestValidationError([{"type": kind, "loc": loc, "msg": msg, "input": value}])


def _where(loc: tuple | list) -> str:
    """("body", "lanes", 0, "seq_len") -> "lanes[0].seq_len"."""
    out = ""
    for part in loc:
        if part == "body" and not out:
            continue
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "body"


def _allowed(field: str) -> str:
    spec = FIELD_BY_NAME.get(field)
    if spec is None:
        return ""
    if spec.kind == "choice":
        text = "one of " + ", ".join(spec.choices)
    else:
        text = f"{'integer' if spec.kind == 'int' else 'number'} in [{spec.minimum:g}, {spec.maximum:g}]"
    return text + (" or null" if spec.nullable else "")


def _human(error: dict) -> str:
    ctx = error.get("ctx") or {}
    kind = error.get("type", "")
    loc = tuple(error.get("loc", ()))
    field = loc[-1] if loc and isinstance(loc[-1], str) else None
    if kind == "less_than_equal":
        msg = f"must be <= {ctx.get('le')}"
    elif kind == "greater_than_equal":
        msg = f"must be >= {ctx.get('ge')}"
    elif kind == "extra_forbidden":
        msg = "unknown field" + (f"; known fields: {', '.join(FIELD_BY_NAME)}" if len(loc) > 2 else "")
    elif kind == "missing":
        msg = "is required"
    elif kind == "json_invalid":
        msg = f"the request body is not valid JSON ({ctx.get('error', 'parse error')})"
    else:
        msg = str(error.get("msg", "invalid value"))
        if msg.startswith("Value error, "):
            msg = msg[len("Value error, "):]
    allowed = _allowed(field) if field else ""
    if allowed and allowed not in msg and kind != "value_error":  # our own messages say it already
        msg += f" (allowed: {allowed})"
    return f"{_where(loc)}: {msg}"


def _clean(errors: list[dict]) -> list[dict]:
    """Drop values JSON cannot carry (exceptions in ctx, NaN inputs) but keep loc/msg/type."""
    out = []
    for error in errors:
        item = {"type": error.get("type"), "loc": list(error.get("loc", ())), "msg": error.get("msg")}
        ctx = error.get("ctx")
        if ctx:
            item["ctx"] = {k: v if isinstance(v, (int, str, bool)) or v is None else str(v) for k, v in ctx.items()}
        out.append(item)
    return out


async def on_validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    errors = list(exc.errors())
    messages = [_human(e) for e in errors]
    message = messages[0] if len(messages) == 1 else "; ".join(messages[:5]) + (
        f"; and {len(messages) - 5} more" if len(messages) > 5 else "")
    return JSONResponse(status_code=422, content=jsonable_encoder({"message": message, "detail": _clean(errors)}))


# FastAPI's own words when a body cannot even be decoded (e.g. bytes that are not UTF-8)
UNREADABLE_BODY = "There was an error parsing the body"


async def on_http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    detail = exc.detail
    message = detail if isinstance(detail, str) else str(detail)
    if exc.status_code == 400 and detail == UNREADABLE_BODY:
        message = ("body: the request body could not be read; send UTF-8 JSON with "
                   "Content-Type: application/json")
    return JSONResponse(status_code=exc.status_code, content={"message": message, "detail": detail},
                        headers=getattr(exc, "headers", None))


async def on_unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unexpected error on %s %s", request.method, request.url.path)
    return JSONResponse(status_code=500, content={
        "message": f"internal error ({type(exc).__name__}); this is a bug, please report it", "detail": None})


def install(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
    app.add_exception_handler(Exception, on_unexpected_error)
