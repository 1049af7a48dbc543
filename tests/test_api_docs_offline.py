"""/docs (Swagger UI) and /redoc work offline: their HTML references only this server, and the JS/CSS are
served from it (files of the fastapi-offline wheel)."""
from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from app.settings import Settings


@pytest.fixture(scope="module")
def client():
    with TestClient(create_app(Settings())) as c:
        yield c


def _page_urls(html: str) -> list[str]:
    return re.findall(r'(?:src|href)="([^"]+)"', html) + re.findall(r"url: '([^']+)'", html) + \
        re.findall(r'spec-url="([^"]+)"', html)


@pytest.mark.parametrize("path, assets", [
    ("/docs", {"swagger-ui-bundle.js": "SwaggerUIBundle", "swagger-ui.css": ".swagger-ui"}),
    ("/redoc", {"redoc.standalone.js": "Redoc"}),
])
def test_docs_pages_load_only_local_assets(client, path, assets):
    response = client.get(path)
    assert response.status_code == 200
    html = response.text
    urls = _page_urls(html)
    assert urls, html
    assert all(url.startswith("/") and not url.startswith("//") for url in urls), urls
    assert "http://" not in html and "https://" not in html
    for name, marker in assets.items():
        url = next(u for u in urls if u.split("?")[0].endswith("/" + name))
        asset = client.get(url)
        assert asset.status_code == 200, url
        kind = "text/css" if name.endswith(".css") else "text/javascript"
        assert asset.headers["content-type"].startswith(kind)
        assert len(asset.content) > 100_000 and marker in asset.text
    for url in urls:
        assert client.get(url).status_code == 200, url
    # the page itself may load nothing from another origin
    policy = response.headers["content-security-policy"]
    assert "default-src 'self'" in policy and "http" not in policy


def test_docs_ship_swagger_ui_5(client):
    html = client.get("/docs").text
    bundle = next(u for u in _page_urls(html) if "swagger-ui-bundle.js" in u)
    text = client.get(bundle).text
    assert re.search(r'"5\.\d+\.\d+"', text), "swagger-ui 5.x renders OpenAPI 3.1; 4.x does not"


def test_redoc_bundle_is_served_without_its_cdn_logo(client):
    bundle = next(u for u in _page_urls(client.get("/redoc").text) if "redoc.standalone.js" in u)
    response = client.get(bundle)
    assert response.status_code == 200 and "immutable" in response.headers["cache-control"]
    assert "cdn.redoc.ly" not in response.text and 'src:"data:image/svg+xml,' in response.text
    # the only change: the wheel's file with that one URL replaced
    from app.routers.docs import BLANK_IMAGE_URL, REDOC_LOGO_URL, asset_path
    original = asset_path("redoc.standalone.js").read_bytes()
    assert original.count(REDOC_LOGO_URL) == 1 and response.content == original.replace(REDOC_LOGO_URL, BLANK_IMAGE_URL)


def test_unknown_docs_asset_is_a_404(client):
    assert client.get("/vendor/docs/../../app/main.py").status_code == 404
    assert client.get("/vendor/docs/index.html").status_code == 404
