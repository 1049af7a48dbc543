"""Security headers: a Content-Security-Policy that lets the page load only from its own origin.

Written as a plain ASGI middleware (not ``BaseHTTPMiddleware``) so streamed responses such as the SSE
event stream pass through untouched, chunk by chunk.

Why each directive is what it is:

- ``script-src 'self'``: the page's ES modules and the bundled ``plotly.min.js`` are same-origin files;
  no inline scripts or ``on...=`` handlers anywhere, and no ``'unsafe-eval'`` (plotly.js 3+ does not
  compile code at runtime for the trace types the page uses: heatmap, scatter, scattergl).
- ``style-src 'self' 'unsafe-inline'``: plotly.js injects a ``<style>`` element and sets ``style=``
  attributes on the SVG it draws; nothing else on the page needs it.
- ``img-src 'self' data: blob:``: heatmaps are painted to a canvas and embedded as a ``data:`` PNG, and
  the modebar's "download as PNG" renders the SVG through a ``data:``/``blob:`` image.
- ``connect-src 'self'``: fetch and EventSource to the API on the same origin, nowhere else.
- ``worker-src 'self' blob:``: plotly's map traces spawn workers; unused here but harmless when scoped.

``/docs`` and ``/redoc`` are exempt from this policy: FastAPI's interactive docs start Swagger UI / ReDoc
with an inline bootstrap script, which it would block. They set their own (``app/routers/docs.py``): their
files are served from this origin (the fastapi-offline wheel's copies) and nothing else is loaded.
"""
from __future__ import annotations

from collections.abc import Iterable

CSP_DIRECTIVES = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self' 'unsafe-inline'",
    "img-src": "'self' data: blob:",
    "font-src": "'self'",
    "connect-src": "'self'",
    "worker-src": "'self' blob:",
    "object-src": "'none'",
    "base-uri": "'self'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
}
CONTENT_SECURITY_POLICY = "; ".join(f"{name} {value}" for name, value in CSP_DIRECTIVES.items())

SECURITY_HEADERS = (
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
)


class SecurityHeadersMiddleware:
    """Add the CSP and a few hardening headers to every HTTP response (except the exempt paths)."""

    def __init__(self, app, exempt_prefixes: Iterable[str] = ("/docs", "/redoc")):
        self.app = app
        self.exempt_prefixes = tuple(exempt_prefixes)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope.get("path", "").startswith(self.exempt_prefixes):
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                extra = [(name, value) for name, value in SECURITY_HEADERS if name not in present]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, send_with_headers)
