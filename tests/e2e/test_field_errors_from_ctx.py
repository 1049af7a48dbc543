"""The page words a 422 from its ``ctx`` (bounds, allowed values, the other field of a cross-field rule) and
the lane settings of GET /api/options, never by matching the API's English: here every 422 the page receives
has its ``msg`` and ``message`` reworded on the way (the location prefix kept), and the page's sentences stay
as they were. Before, it found "seq_len=100" and "{every}" in the text with regular expressions, so any
rewording of the API's messages showed the page's users the raw API text instead."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import open_dashboard, snap
from tests.e2e.test_dashboard import set_field
from tests.e2e.test_preview_errors import box_lines

pytestmark = pytest.mark.browser

REWORDED = "reworded by the API"


def reword_every_422(page) -> list[str]:
    """Route the page's API calls (not an event stream) through a rewording of each 422's sentences; returns
    the list of the URLs reworded so far."""
    reworded: list[str] = []

    def handle(route):
        response = route.fetch()
        if response.status != 422:
            route.fulfill(response=response)
            return
        body = response.json()
        for item in body.get("detail") or []:
            where = str(item.get("message", "")).split(": ", 1)[0]  # the location, e.g. "lanes[1].truncate"
            item["msg"], item["message"] = REWORDED, f"{where}: {REWORDED}"
        body["message"] = REWORDED
        reworded.append(route.request.url)
        route.fulfill(response=response, json=body)

    page.route(lambda url: "/api/" in url and "/events" not in url, handle)
    return reworded


def test_field_errors_are_worded_from_ctx_not_from_the_apis_text(page, page_log):
    reworded = reword_every_422(page)
    # a link with a target the copy task does not allow (the page's own select disables it)
    open_dashboard(page, "lanes=2&B.task=copy&B.target=last")
    error = {field: page.locator(f"#lane1-{field}-error") for field in ("target", "truncate")}
    expect(error["target"]).to_have_text("the copy task allows only every", timeout=20_000)
    assert box_lines(page) == ["Lane B · target: the copy task allows only every"]
    set_field(page, 1, "target", "")  # the task's default
    expect(error["target"]).to_have_text("", timeout=20_000)
    # truncate beyond seq_len (a cross-field rule), then below its own minimum (the schema's)
    set_field(page, 1, "truncate", "500")
    expected = "must be a whole number from 1 to seq len (100), or empty for full BPTT"
    expect(error["truncate"]).to_have_text(expected, timeout=20_000)
    assert box_lines(page) == [f"Lane B · truncate: {expected}"]
    snap(page, "field-errors-from-ctx", "#lane-table")
    set_field(page, 1, "truncate", "0")
    expect(error["truncate"]).to_have_text("must be >= 1 (a whole number from 1 to 2000, or empty for full BPTT)",
                                           timeout=20_000)
    # the cliff panel's query parameters: the allowed range from ctx, not from "(allowed: ...)"
    page.locator("#cliff-panel").scroll_into_view_if_needed()
    page.wait_for_selector("#cliff-panel[data-loaded='true']", state="attached", timeout=30_000)
    page.fill("#cliff-steps", "2.5")
    page.press("#cliff-steps", "Enter")
    expect(page.locator("#cliff-error")).to_have_text(
        "Cannot draw the loss surface: steps: must be a whole number from 1 to 500", timeout=20_000)
    assert any("/api/profile" in url for url in reworded) and any("/api/loss-surface" in url for url in reworded)
    assert REWORDED not in page.locator("body").inner_text()
    assert [p for p in page_log.problems() if "422" not in p] == []
