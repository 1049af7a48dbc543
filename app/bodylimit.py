"""A cap on request bodies: a valid request is a few KB (four lanes of settings), so anything far larger is
a 413 before it is read into memory or parsed. Without it, a 120 MB JSON body was read and parsed whole
(800 MB of memory; /api/health took 2.1 s meanwhile) only to be refused for an unknown field.

A plain ASGI middleware: a declared Content-Length over the cap is refused at once; a body sent without one
(chunked) is counted as it arrives and refused when it passes the cap."""
from __future__ import annotations

import json

from app.errors import ApiError, error_body


def too_large(limit: int, size: int | None = None) -> str:
    size_text = f" is {size} bytes," if size is not None else " is"
    return (f"body: the request body{size_text} over the limit of {limit} bytes (RNNLAB_MAX_BODY_BYTES); "
            "a valid request is a few KB")


class BodyLimitMiddleware:
    def __init__(self, app, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            message = too_large(self.max_bytes, int(declared))
            body = json.dumps(error_body(message, message, "body_too_large",  # as app.errors shapes a 413 raised later
                                         {"limit": self.max_bytes, "size": int(declared)}))
            await send({"type": "http.response.start", "status": 413,
                        "headers": [(b"content-type", b"application/json"), (b"connection", b"close")]})
            await send({"type": "http.response.body", "body": body.encode()})
            return
        received = 0

        async def counting_receive():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:  # FastAPI re-raises an HTTPException met while reading the body
                    raise ApiError(413, too_large(self.max_bytes), "body_too_large", {"limit": self.max_bytes})
            return message

        await self.app(scope, counting_receive, send)
