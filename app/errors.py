"""Every error is JSON with a top-level ``message`` a person can read, e.g.
``{"message": "lanes[0].seq_len: must be <= 2000 (allowed: integer in [2, 2000])", "detail": [{loc, msg, type}]}``.

The "(allowed: ...)" part is read from the route's own OpenAPI schema, so it states the bounds declared on
that very parameter or body field (``Field(ge=..., le=...)``, ``Query(...)``, a ``Literal``), the same ones
``/docs`` shows. User input echoed back (unknown keys, a Content-Type) is cut to :data:`MAX_ECHO` characters.

Each detail item's ``ctx`` carries the facts behind its sentence as JSON data, for a client to word them itself
without parsing the text (finite numbers as numbers, anything non-finite as null): pydantic's own (``ge``,
``le``, ...), what the schema allows where the sentence says "(allowed: ...)" (:func:`_facts`: ``minimum``,
``maximum``, ``exclusive_minimum``, ``exclusive_maximum``, ``integer``, ``allowed``, ``nullable``,
``min_items``, ``max_items``), and a hand-raised error's own (rnncore's cross-field rules: the ConfigError's
``data``, e.g. ``maximum_from``; the caps' ``work``/``values``, ``limit``, ``reduce``).
"""
from __future__ import annotations

import json
import logging
import math
import sys
from collections import Counter
from collections.abc import Iterator
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

log = logging.getLogger("rnnlab")

MAX_ECHO = 60  # characters of user input (a key, a header) echoed back in an error


def error_item(loc: tuple, msg: str, value: Any = None, kind: str = "value_error", ctx: dict | None = None) -> dict:
    """One error raised by hand (cross-field rules, limits), shaped like pydantic's own; ``ctx``: the figures
    behind the message (numbers, lists of names), sent with it as pydantic sends its bounds."""
    error = {"type": kind, "loc": loc, "msg": msg, "input": value}
    if ctx:
        error["ctx"] = ctx
    return error


def validation_error(loc: tuple, msg: str, value: Any = None, kind: str = "value_error",
                     ctx: dict | None = None) -> RequestValidationError:
    """A 422 of one :func:`error_item`."""
    return RequestValidationError([error_item(loc, msg, value, kind, ctx)])


def clip(text: str, limit: int = MAX_ECHO) -> str:
    """``text`` if it is short, else its first ``limit`` characters, an ellipsis and the full length."""
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text)} characters)"


def _where(loc: tuple | list) -> str:
    """("body", "lanes", 0, "seq_len") -> "lanes[0].seq_len"."""
    out = ""
    for part in loc:
        if part == "body" and not out:
            continue
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            part = clip(str(part))
            out += f".{part}" if out else part
    return out or "body"


def _number(value: Any, integer: bool = False) -> str:
    """Exact: 2147483647 (not 2.14748e+09), 1e-06, 0.999; an integer field's bound 2000.0 reads 2000."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if integer and float(value).is_integer():
        return str(int(value))
    return repr(value)


class _Schemas:
    """Looks up the OpenAPI schema of the value at an error's ``loc`` in the matched route's operation."""

    def __init__(self, request: Request):
        self.root: dict = {}
        self.operation: dict | None = None
        self._found: dict[tuple, tuple[dict | None, bool, list[str] | None]] = {}  # each error's sentence and ctx
        route = request.scope.get("route")
        path = getattr(route, "path_format", None)
        if path is None:
            return
        try:
            self.root = request.app.openapi()
        except Exception:  # never turn a 422 into a 500 because the schema could not be built
            log.exception("could not build the OpenAPI schema for an error message")
            return
        methods = self.root.get("paths", {}).get(path, {})
        self.operation = methods.get(request.method.lower()) or (methods.get("get") if request.method == "HEAD"
                                                                  else None)

    def _resolve(self, node: Any) -> dict | None:
        for _ in range(32):  # $ref chains are short; a cycle cannot hang us
            if not isinstance(node, dict) or "$ref" not in node:
                break
            node = self.root.get("components", {}).get("schemas", {}).get(str(node["$ref"]).rsplit("/", 1)[-1])
        return node if isinstance(node, dict) else None

    def _non_null(self, node: Any) -> tuple[dict | None, bool]:
        """``X | None`` (anyOf [X, null]) -> (X, True)."""
        node = self._resolve(node)
        if node is None or "anyOf" not in node:
            return node, False
        options = [self._resolve(option) for option in node["anyOf"]]
        nullable = any(option is not None and option.get("type") == "null" for option in options)
        rest = [option for option in options if option is not None and option.get("type") != "null"]
        return (rest[0] if len(rest) == 1 else None), nullable

    def lookup(self, loc: tuple) -> tuple[dict | None, bool, list[str] | None]:
        """(schema of the value at ``loc``, whether null is allowed, the names known beside it)."""
        if loc not in self._found:
            self._found[loc] = self._walk(loc)
        return self._found[loc]

    def _walk(self, loc: tuple) -> tuple[dict | None, bool, list[str] | None]:
        if self.operation is None or not loc:
            return None, False, None
        where, rest = loc[0], loc[1:]
        if where == "body":
            content = (self.operation.get("requestBody") or {}).get("content") or {}
            node: Any = (content.get("application/json") or next(iter(content.values()), {})).get("schema")
            names = None
            for part in rest:
                node, _ = self._non_null(node)
                if node is None:
                    return None, False, None
                if isinstance(part, int):
                    node, names = node.get("items"), None
                else:
                    properties = node.get("properties") or {}
                    node, names = properties.get(part), list(properties)
            target, nullable = self._non_null(node)
            return target, nullable, names
        if where in ("query", "path", "header", "cookie") and rest:
            params = [p for p in self.operation.get("parameters", []) if p.get("in") == where]
            match = next((p for p in params if str(p.get("name", "")).lower() == str(rest[0]).lower()), None)
            target, nullable = self._non_null(match.get("schema") if match else None)
            return (target if len(rest) == 1 else None), nullable, [p["name"] for p in params]
        return None, False, None


async def forbid_unknown_query(request: Request) -> None:
    """A router dependency: 422 for a query parameter the operation does not declare (its OpenAPI
    ``parameters``, which /docs shows), e.g. ``?histroy=false``, which would otherwise be ignored silently and
    return the whole history, and for a declared one sent more than once (``?after=1&after=2``). A HEAD twin is
    checked against its GET.

    ``async`` so that it runs on the event loop, as the error handlers do: FastAPI builds the OpenAPI schema on
    its first use and is not thread-safe doing so (as a plain ``def`` in the thread pool, the page's first
    concurrent requests built it twice at once and one failed with a KeyError, logged)."""
    operation = _Schemas(request).operation
    if operation is None:
        return
    known = {p.get("name") for p in operation.get("parameters", []) if p.get("in") == "query"}
    sent = Counter(name for name, _ in request.query_params.multi_items())
    errors = [{"type": "extra_forbidden", "loc": ("query", name), "msg": "Extra inputs are not permitted",
               "input": request.query_params[name]} for name in sent if name not in known]
    # Every declared parameter takes one value: FastAPI keeps the last of ?format=csv&format=json silently.
    errors += [{"type": "repeated_parameter", "loc": ("query", name), "msg": f"sent {count} times; send it once",
                "input": request.query_params.getlist(name)} for name, count in sent.items()
               if name in known and count > 1]
    if errors:
        raise RequestValidationError(errors)


# error types whose sentence says what is allowed itself (our own, the caps): no "(allowed: ...)", no schema ctx
OWN_WORDS = {"value_error", "work_limit", "memory_limit"}
# and those about no value of the schema (a key it does not declare, a body that is not JSON)
NO_BOUNDS = {"extra_forbidden", "json_invalid"}

_BOUND_KEYS = (("minimum", "minimum"), ("exclusiveMinimum", "exclusive_minimum"), ("maximum", "maximum"),
               ("exclusiveMaximum", "exclusive_maximum"))


def _facts(schema: dict | None, nullable: bool) -> dict[str, Any]:
    """What :func:`_describe` says, as ctx data: {"integer": true, "minimum": 1, "maximum": 500, "nullable":
    false}; {"integer": false, "exclusive_minimum": 0.0, "maximum": 100.0, ...}; {"allowed": ["a", "b"], ...};
    {"min_items": 1, "max_items": 4, ...}; {} where the schema states no bounds."""
    if not _describe(schema, nullable):
        return {}
    kind = schema.get("type")
    if "enum" in schema:
        facts: dict[str, Any] = {"allowed": list(schema["enum"])}
    elif "const" in schema:
        facts = {"allowed": [schema["const"]]}
    elif kind in ("integer", "number"):
        integer = kind == "integer"
        facts = {"integer": integer}
        for key, name in _BOUND_KEYS:
            if key in schema:
                value = schema[key]
                whole = integer and isinstance(value, float) and value.is_integer()
                facts[name] = int(value) if whole else value
    elif kind == "array":
        facts = {"min_items": schema.get("minItems", 0)}
        if "maxItems" in schema:
            facts["max_items"] = schema["maxItems"]
    else:  # boolean
        facts = {"allowed": [True, False]}
    facts["nullable"] = nullable
    return facts


def _describe(schema: dict | None, nullable: bool) -> str:
    """The allowed values of a schema: "integer in [1, 500]", "number in (0.0, 100.0]", "one of a, b"."""
    if not schema:
        return ""
    kind = schema.get("type")
    if "enum" in schema:
        text = "one of " + ", ".join(str(v) for v in schema["enum"])
    elif "const" in schema:
        text = f"exactly {schema['const']}"
    elif kind in ("integer", "number"):
        integer = kind == "integer"
        low_open, high_open = "exclusiveMinimum" in schema, "exclusiveMaximum" in schema
        low = schema.get("exclusiveMinimum", schema.get("minimum"))
        high = schema.get("exclusiveMaximum", schema.get("maximum"))
        text = kind
        if low is not None and high is not None:
            text += (f" in {'(' if low_open else '['}{_number(low, integer)}, "
                     f"{_number(high, integer)}{')' if high_open else ']'}")
        elif low is not None:
            text += f" {'>' if low_open else '>='} {_number(low, integer)}"
        elif high is not None:
            text += f" {'<' if high_open else '<='} {_number(high, integer)}"
    elif kind == "array" and ("minItems" in schema or "maxItems" in schema):
        text = f"a list of {schema.get('minItems', 0)} to {schema.get('maxItems', 'any number of')} items"
    elif kind == "boolean":
        text = "true or false"
    else:
        return ""
    return text + (" or null" if nullable else "")


def _is_json(content_type: str | None) -> bool:
    """application/json or application/<anything>+json, as FastAPI decides whether to parse the body."""
    media = (content_type or "").split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


# what pydantic says when the body is not an object, e.g. the raw bytes of a body FastAPI did not parse as JSON
NOT_AN_OBJECT = {"model_attributes_type", "model_type", "dict_type"}


def _json_kind(value: Any) -> str:
    """What a JSON value is, in JSON's words: "an array", "a number", "true"."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return "a number"
    return {list: "an array", str: "a string", dict: "an object"}.get(type(value), "another value")


def _human(error: dict, schemas: _Schemas, request: Request, document: Any) -> str:
    ctx = error.get("ctx") or {}
    kind = error.get("type", "")
    loc = tuple(error.get("loc", ()))
    where = _where(loc)
    schema, nullable, names = schemas.lookup(loc)
    integer = bool(schema) and schema.get("type") == "integer"
    if kind == "less_than_equal":
        msg = f"must be <= {_number(ctx.get('le'), integer)}"
    elif kind == "greater_than_equal":
        msg = f"must be >= {_number(ctx.get('ge'), integer)}"
    elif kind == "less_than":
        msg = f"must be < {_number(ctx.get('lt'), integer)}"
    elif kind == "greater_than":
        msg = f"must be > {_number(ctx.get('gt'), integer)}"
    elif kind == "extra_forbidden":
        what = "unknown query parameter" if loc[:1] == ("query",) else "unknown field"
        msg = what + (f"; known: {', '.join(names)}" if names else "; this endpoint takes none" if names == [] and
                      loc[:1] == ("query",) else "")
    elif kind == "missing":
        msg = "is required"
    elif kind == "int_parsing_size":  # pydantic's "Unable to parse input string as an integer, exceeded maximum size"
        digits = sum(c.isdigit() for c in str(error.get("input", ""))) if isinstance(error.get("input"), str) else 0
        msg = f"a number of {digits} digits is too long to read" if digits else "the number is too long to read"
    elif (kind.endswith("_type") or kind == "literal_error") and error.get("input", ...) is None and not nullable:
        # pydantic's "Input should be a valid integer" for null, e.g. a box left empty on the page
        msg = "must not be empty (null)"
    elif kind == "json_invalid":
        where, msg = "body", "the request body is not valid JSON"
        position = loc[1] if len(loc) > 1 and isinstance(loc[1], int) else None
        if position is not None and isinstance(document, str):
            line = document.count("\n", 0, position) + 1
            column = position - (document.rfind("\n", 0, position) + 1) + 1
            msg += f" at line {line} column {column}"
        msg += f" ({clip(str(ctx.get('error', 'parse error')))})"
    elif kind in NOT_AN_OBJECT and loc == ("body",) and not _is_json(request.headers.get("content-type")):
        received = request.headers.get("content-type")
        return (f"body: send the request body as JSON with Content-Type: application/json (received "
                f"{'Content-Type: ' + clip(received) if received else 'no Content-Type'})")
    elif kind in NOT_AN_OBJECT:  # pydantic: "Input should be a valid dictionary or object to extract fields from"
        msg = f"must be a JSON object {{...}}, got {_json_kind(error.get('input'))}"
    elif kind == "list_type":
        msg = f"must be a JSON array [...], got {_json_kind(error.get('input'))}"
    else:
        msg = str(error.get("msg", "invalid value"))
        if msg.startswith("Value error, "):
            msg = msg[len("Value error, "):]
    allowed = _describe(schema, nullable) if kind not in NO_BOUNDS else ""
    # our own messages say it already; a limit on the total work is not about the lanes list's length
    if allowed and allowed not in msg and kind not in OWN_WORDS:
        msg += f" (allowed: {allowed})"
    return f"{where}: {msg}"


def _echo(value: Any) -> Any:
    return clip(value) if isinstance(value, str) else value


def _ctx_value(value: Any) -> Any:
    """A ctx value as JSON carries it: a number as a number (null if not finite), a string clipped, a list
    item by item; anything else (an exception) as its text, clipped."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, (int, str, bool)) or value is None:
        return _echo(value)
    if isinstance(value, (list, tuple)):
        return [_ctx_value(v) for v in value]
    return clip(str(value))


def _schema_ctx(error: dict, schemas: _Schemas) -> dict[str, Any]:
    """The facts of the schema at the error's ``loc``, where its sentence says "(allowed: ...)"."""
    if error.get("type", "") in OWN_WORDS | NO_BOUNDS:
        return {}
    schema, nullable, _ = schemas.lookup(tuple(error.get("loc", ())))
    return _facts(schema, nullable)


def _clean(errors: list[dict]) -> list[dict]:
    """Each error as {type, loc, msg[, ctx]}: its input left out, ctx values as JSON carries them (_ctx_value: an
    exception as its clipped text, a non-finite number as null), echoed keys in loc clipped."""
    out = []
    for error in errors:
        item = {"type": error.get("type"), "loc": [_echo(part) for part in error.get("loc", ())],
                "msg": error.get("msg")}
        ctx = error.get("ctx")
        if ctx:
            item["ctx"] = {k: _ctx_value(v) for k, v in ctx.items()}
        out.append(item)
    return out


async def on_validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    errors = list(exc.errors())
    schemas = _Schemas(request)
    document = getattr(exc, "body", None)
    messages = [_human(e, schemas, request, document) for e in errors]
    message = messages[0] if len(messages) == 1 else "; ".join(messages[:5]) + (
        f"; and {len(messages) - 5} more" if len(messages) > 5 else "")
    detail = _clean(errors)
    for item, error, text in zip(detail, errors, messages, strict=True):
        facts = _schema_ctx(error, schemas)
        if facts:  # beside pydantic's own ctx (ge, le, ...), which it keeps
            ctx = item.setdefault("ctx", {})
            for key, value in facts.items():
                ctx.setdefault(key, _ctx_value(value))
        item["message"] = text  # each error's own sentence, e.g. for a form's field
    return JSONResponse(status_code=422, content=jsonable_encoder(error_body(message, detail, "validation_error")))


# FastAPI's own words when a body cannot even be decoded (e.g. bytes that are not UTF-8)
UNREADABLE_BODY = "There was an error parsing the body"


class ApiError(StarletteHTTPException):
    """An HTTP error with a stable ``code`` (what kind of error, for a program: "run_evicted", "too_many_streams")
    and its figures as ``ctx`` data (e.g. {"open": 64, "limit": 64}), sent beside the human ``message``."""

    def __init__(self, status_code: int, message: str, code: str, ctx: dict | None = None,
                 headers: dict | None = None):
        super().__init__(status_code, message, headers=headers)
        self.code = code
        self.ctx = ctx


# the code of an error raised without one (Starlette's own: an unknown path, a method a route does not take)
STATUS_CODES = {400: "unreadable_body", 404: "not_found", 405: "method_not_allowed", 413: "body_too_large"}


def error_body(message: str, detail: Any, code: str, ctx: dict | None = None) -> dict:
    """Every error's JSON: {message, detail, code[, ctx]} (422s: detail is the list of items, code
    "validation_error"; the others: detail repeats the message)."""
    body = {"message": message, "detail": detail, "code": code}
    if ctx:
        body["ctx"] = {key: _ctx_value(value) for key, value in ctx.items()}
    return body


async def on_http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    detail = exc.detail
    message = detail if isinstance(detail, str) else str(detail)
    if exc.status_code == 400 and detail == UNREADABLE_BODY:
        if isinstance(exc.__cause__, RecursionError):  # json.loads gave up on arrays/objects nested too deep
            return await on_validation_error(request, validation_error(
                ("body",), "the request body nests JSON arrays/objects too deeply to parse (a valid request "
                           "nests them only a few levels deep)", kind="json_too_deep"))
        if isinstance(exc.__cause__, ValueError) and "integer string conversion" in str(exc.__cause__):
            return await on_validation_error(request, await _too_long_numbers(request))
        message = ("body: the request body could not be read; send UTF-8 JSON with "
                   "Content-Type: application/json")
    if exc.status_code == 404 and detail == "Not Found":  # Starlette's: no route has this path
        message = detail = _without_slash(request) or detail
    code = getattr(exc, "code", None) or STATUS_CODES.get(exc.status_code, f"http_{exc.status_code}")
    body = error_body(message, detail, code, getattr(exc, "ctx", None))
    return JSONResponse(status_code=exc.status_code, content=body, headers=getattr(exc, "headers", None))


def _without_slash(request: Request) -> str | None:
    """For a path with a trailing slash that a route has without it (the app does not redirect: redirect_slashes is
    off), the 404's message naming that route."""
    path = request.url.path
    if not path.endswith("/") or path == "/":
        return None
    bare = path.rstrip("/") or "/"
    scope = {**request.scope, "path": bare}
    if any(route.matches(scope)[0] != Match.NONE for route in request.app.router.routes):
        return f"no route {clip(path)}; did you mean {clip(bare)} (without the trailing slash)?"
    return None


class _LongInteger:
    """Stands in for an integer literal too long for int() (Python's limit: sys.get_int_max_str_digits())."""

    def __init__(self, digits: int):
        self.digits = digits


def _long_integers(node: Any, path: tuple = ()) -> Iterator[tuple[tuple, int]]:
    """(path, digits) of every :class:`_LongInteger` in a parsed document."""
    if isinstance(node, _LongInteger):
        yield path, node.digits
    elif isinstance(node, dict):
        for key, value in node.items():
            yield from _long_integers(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _long_integers(value, (*path, index))


async def _too_long_numbers(request: Request) -> RequestValidationError:
    """The 422 of a body whose JSON has an integer of more than 4300 digits, which json.loads cannot read (it was
    a 400 "could not be read"): each such number named by where it is, with the range its field allows. FastAPI
    has read the body already (the request caches it)."""
    limit = sys.get_int_max_str_digits()

    def integer(text: str):
        digits = len(text.lstrip("-"))
        return _LongInteger(digits) if limit and digits > limit else int(text)

    try:
        found = list(_long_integers(json.loads(await request.body(), parse_int=integer)))
    except (ValueError, RecursionError):  # still say what is wrong, without a field
        found = []
    if not found:
        return validation_error(("body",), f"a number in the request body has more than {limit} digits, too long "
                                           "to read", kind="number_too_long")
    return RequestValidationError([error_item(("body", *path), f"a number of {digits} digits is too long to read",
                                              kind="number_too_long") for path, digits in found[:5]])


async def on_unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unexpected error on %s %s", request.method, request.url.path)
    return JSONResponse(status_code=500, content=error_body(
        f"internal error ({type(exc).__name__}); this is a bug, please report it", None, "internal_error"))


def install(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
    app.add_exception_handler(Exception, on_unexpected_error)
