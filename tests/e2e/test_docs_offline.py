"""The API reference pages render in Chromium with every other origin unreachable (offline use, no CDN)."""
from __future__ import annotations

from urllib.parse import urlsplit

import httpx
import pytest

from tests.e2e.conftest import snap

pytestmark = pytest.mark.browser


@pytest.fixture
def offline(page):
    """Abort every request that leaves 127.0.0.1 and return the list of them."""
    aborted: list[str] = []

    def route(r):
        if urlsplit(r.request.url).hostname == "127.0.0.1":
            r.continue_()
        else:
            aborted.append(r.request.url)
            r.abort()

    page.route("**/*", route)
    return aborted


def test_swagger_ui_lists_every_operation_offline(page, page_log, offline, base_url):
    operations = sum(len(methods) for methods in httpx.get(f"{base_url}/openapi.json").json()["paths"].values())
    page.goto("/docs")
    page.wait_for_selector(".opblock", timeout=20_000)
    assert page.locator(".opblock").count() == operations
    assert "/api/loss-surface" in page.locator(".opblock-summary-path").all_inner_texts()
    snap(page, "docs-swagger-ui")
    assert offline == [] and page_log.problems() == []


def test_redoc_renders_offline(page, page_log, offline):
    page.goto("/redoc")
    page.wait_for_selector("[data-section-id^='tag/']", timeout=20_000)
    assert page.locator("h2", has_text="The exploding-gradient cliff (Pascanu 2013)").is_visible()
    snap(page, "docs-redoc")
    # ReDoc's footer logo, which its bundle loads from its CDN, is served as a blank image: no CSP violation
    assert offline == [] and page_log.problems() == []
