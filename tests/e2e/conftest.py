"""Browser fixtures: pytest-playwright's `page`, in Debian's Chromium, pointed at the session's live uvicorn.

- ``base_url`` is the live server, so ``page.goto("/?preset=...")`` opens the dashboard.
- ``page_log`` collects console errors, uncaught page errors and every request that leaves 127.0.0.1.
- ``snap(page, name)`` saves a full-page screenshot to tests/artifacts/<name>.png.
- ``open_dashboard(page, query)`` loads the page and waits until its settings are built from the API.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
VIEWPORT = {"width": 1440, "height": 960}


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    args = {**browser_type_launch_args, "args": CHROMIUM_ARGS}
    if Path(CHROMIUM).is_file():
        args["executable_path"] = CHROMIUM
    return args


@pytest.fixture(scope="session")
def base_url(live_server) -> str:
    return live_server.url


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args):
    return {**browser_context_args, "viewport": VIEWPORT}


@dataclass
class PageLog:
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    offhost_requests: list[str] = field(default_factory=list)

    def problems(self) -> list[str]:
        return ([f"console: {m}" for m in self.console_errors] + [f"page error: {m}" for m in self.page_errors]
                + [f"off-host request: {u}" for u in self.offhost_requests])


def _is_local(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("data", "blob", "about") or parts.hostname in ("127.0.0.1",)


# Chromium does not always log a blocked eval (e.g. a library that catches it and degrades quietly):
# report every Content-Security-Policy violation as a console error, so page_log sees it.
REPORT_CSP_VIOLATIONS = """document.addEventListener('securitypolicyviolation', (e) => console.error(
    `CSP violation: ${e.violatedDirective} blocked ${e.blockedURI || 'inline code'}`));"""


@pytest.fixture
def page_log(page) -> PageLog:
    page.add_init_script(REPORT_CSP_VIOLATIONS)
    log = PageLog()
    page.on("console", lambda msg: log.console_errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: log.page_errors.append(str(exc)))
    page.on("request", lambda req: None if _is_local(req.url) else log.offhost_requests.append(req.url))
    return log


def snap(page, name: str, selector: str | None = None) -> Path:
    """Screenshot the whole page (scrolled to the top first: the sticky header and sidebar are drawn where
    the viewport is) or, with ``selector``, just that element."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    if selector:
        page.locator(selector).screenshot(path=str(path))
    else:
        page.evaluate("window.scrollTo(0, 0)")
        page.screenshot(path=str(path), full_page=True)
    return path


def open_dashboard(page, query: str = "") -> None:
    page.goto("/" + (f"?{query.lstrip('?')}" if query else ""))
    page.wait_for_selector("body[data-ready='true']", timeout=20_000)


@pytest.fixture
def dashboard(page, page_log):
    """A function ``dashboard(query)`` that opens the page and returns it (with ``page_log`` attached)."""
    def open_(query: str = ""):
        open_dashboard(page, query)
        return page
    return open_
