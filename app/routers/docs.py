"""``/docs`` (Swagger UI) and ``/redoc`` with their JS/CSS served from this server, not a CDN, so both work
offline. FastAPI's documented self-hosting recipe ("Custom Docs UI Static Assets"): the app is created
with ``docs_url=None, redoc_url=None`` and these routes render ``get_swagger_ui_html`` / ``get_redoc_html``
with local asset URLs. The files (swagger-ui 5 ``swagger-ui-bundle.js`` + ``swagger-ui.css``, ReDoc 2
``redoc.standalone.js``) ship inside the ``fastapi-offline`` wheel; only its files are used. The favicon is
the dashboard's own.

The two pages get their own Content-Security-Policy (the dashboard's strict one is not applied to them, see
app/security.py): everything from this origin only, plus the inline bootstrap script both pages need. So
nothing is fetched from elsewhere even where a bundle would. ReDoc 2 has no option to leave out its footer's
logo, which it loads from cdn.redoc.ly (Redocly/redoc#2108, open upstream): the bundle is served with that URL
replaced by a 1-pixel transparent SVG, so the page neither tries the CDN nor logs a CSP violation.
"""
from __future__ import annotations

from functools import lru_cache
from importlib import metadata, resources
from pathlib import Path

from fastapi import APIRouter, HTTPException, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, Response

router = APIRouter(include_in_schema=False)

ASSETS_URL = "/vendor/docs"
ASSET_PACKAGE = "fastapi_offline"  # its static/ folder holds the files below
ASSETS = {
    "swagger-ui-bundle.js": "text/javascript",
    "swagger-ui.css": "text/css",
    "redoc.standalone.js": "text/javascript",
}
FAVICON_URL = "/static/img/favicon.svg"
# The URLs carry the package version, so the files can be cached for a year and still refresh on upgrade.
ASSET_CACHE_CONTROL = "public, max-age=31536000, immutable"
DOCS_CSP = "; ".join([
    "default-src 'self'", "script-src 'self' 'unsafe-inline'", "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data: blob:", "font-src 'self' data:", "connect-src 'self'", "worker-src 'self' blob:",
    "object-src 'none'", "base-uri 'self'", "frame-ancestors 'none'"])


@lru_cache
def asset_path(name: str) -> Path:
    with resources.as_file(resources.files(ASSET_PACKAGE) / "static" / name) as path:
        return Path(path)


REDOC_LOGO_URL = b"https://cdn.redoc.ly/redoc/logo-mini.svg"
BLANK_IMAGE_URL = (b"data:image/svg+xml,%3Csvg%20xmlns%3D%27http%3A%2F%2Fwww.w3.org%2F2000%2Fsvg%27"
                   b"%20width%3D%271%27%20height%3D%271%27%2F%3E")  # <svg xmlns=... width='1' height='1'/>


@lru_cache
def redoc_bundle() -> bytes:
    """redoc.standalone.js without its one off-site URL (the footer logo); ~1.1 MB, read once."""
    return asset_path("redoc.standalone.js").read_bytes().replace(REDOC_LOGO_URL, BLANK_IMAGE_URL)


@lru_cache
def assets_version() -> str:
    return metadata.version("fastapi-offline")


def _urls(request: Request) -> tuple[str, dict[str, str]]:
    """(root path, asset name -> URL), under the app's root_path like FastAPI's own docs pages."""
    root = request.scope.get("root_path", "").rstrip("/")
    return root, {name: f"{root}{ASSETS_URL}/{name}?v={assets_version()}" for name in ASSETS}


@router.get("/docs", response_class=HTMLResponse)
def swagger_ui(request: Request) -> HTMLResponse:
    root, urls = _urls(request)
    app = request.app
    page = get_swagger_ui_html(
        openapi_url=root + app.openapi_url, title=f"{app.title} - Swagger UI",
        swagger_js_url=urls["swagger-ui-bundle.js"], swagger_css_url=urls["swagger-ui.css"],
        swagger_favicon_url=root + FAVICON_URL, swagger_ui_parameters=app.swagger_ui_parameters)
    page.headers["Content-Security-Policy"] = DOCS_CSP
    return page


@router.get("/redoc", response_class=HTMLResponse)
def redoc(request: Request) -> HTMLResponse:
    root, urls = _urls(request)
    app = request.app
    page = get_redoc_html(
        openapi_url=root + app.openapi_url, title=f"{app.title} - ReDoc", redoc_js_url=urls["redoc.standalone.js"],
        redoc_favicon_url=root + FAVICON_URL, with_google_fonts=False)
    page.headers["Content-Security-Policy"] = DOCS_CSP
    return page


@router.get(ASSETS_URL + "/{name}")
def docs_asset(name: str) -> Response:
    if name not in ASSETS:
        raise HTTPException(404, "Not Found")
    if name == "redoc.standalone.js":
        return Response(redoc_bundle(), media_type=ASSETS[name], headers={"Cache-Control": ASSET_CACHE_CONTROL})
    return FileResponse(asset_path(name), media_type=ASSETS[name], headers={"Cache-Control": ASSET_CACHE_CONTROL})
