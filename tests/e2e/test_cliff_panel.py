"""The cliff panel in real headless Chromium: the loss surface and both SGD trajectories are drawn from
GET /api/loss-surface, and the plain run's jump is visibly longer than anything the clipped run does."""
from __future__ import annotations

import math
from urllib.parse import parse_qs, urlsplit

import pytest

from rnncore import cliff
from tests.e2e.conftest import snap

pytestmark = pytest.mark.browser


def _traces(page) -> list[dict]:
    return page.evaluate("""() => document.getElementById('chart-cliff').data.map((t) => ({
        type: t.type, name: t.name, x: Array.from(t.x || []), y: Array.from(t.y || []),
        rows: t.z ? t.z.length : 0}))""")


def _longest_step(trace: dict) -> float:
    xs, ys = trace["x"], trace["y"]
    return max(math.hypot(xs[k + 1] - xs[k], ys[k + 1] - ys[k]) for k in range(len(xs) - 1))


def test_cliff_panel_draws_surface_and_both_trajectories(dashboard, page_log):
    page = dashboard()
    page.locator("#cliff-panel").scroll_into_view_if_needed()
    page.wait_for_selector("#cliff-panel[data-loaded='true'] #chart-cliff .main-svg", timeout=20_000)
    # the panel keeps the page's numbering: cards 1, 2, ... in order, the cliff last
    numbers = page.locator(".chart-card .num").all_text_contents()
    assert numbers == [str(k) for k in range(1, len(numbers) + 1)]
    traces = _traces(page)
    heatmap, plain, clipped = traces[0], traces[1], traces[2]
    d = cliff.DEFAULTS
    assert heatmap["type"] == "heatmap" and heatmap["rows"] == d["resolution"]
    assert plain["name"] == "SGD" and clipped["name"] == f"SGD + norm clip {d['threshold']:g}"
    assert len(plain["x"]) == len(clipped["x"]) == d["steps"] + 1
    allowed = d["learning_rate"] * d["threshold"]
    assert _longest_step(plain) > 10 * allowed
    assert _longest_step(clipped) <= allowed * (1 + 1e-4)
    # both legends are on the page, and the summary states the jump in words
    legend = page.locator("#chart-cliff .legend").text_content()
    assert "SGD" in legend and f"norm clip {d['threshold']:g}" in legend
    assert "Longest step: plain SGD" in page.locator("#cliff-summary").inner_text()
    snap(page, "cliff-panel", "#cliff-panel")
    assert page_log.problems() == []


def test_cliff_panel_updates_and_reports_bad_input(dashboard, page_log):
    page = dashboard()
    page.locator("#cliff-panel").scroll_into_view_if_needed()
    page.wait_for_selector("#cliff-panel[data-loaded='true']", timeout=20_000)
    page.fill("#cliff-threshold", "1")
    page.click("#cliff-update")
    page.wait_for_function(
        "() => document.getElementById('chart-cliff').data[2].name === 'SGD + norm clip 1'", timeout=10_000)
    # a learning rate the API rejects: the panel says which field and keeps the last drawing
    page.fill("#cliff-learning_rate", "0")
    page.click("#cliff-update")
    page.wait_for_function("() => document.getElementById('cliff-error').textContent.includes('learning rate')",
                           timeout=10_000)
    # named by its label, marked where it is, with the allowed range from the API
    # in the lane fields' words, not the API's "must be > 0.0 (allowed: number in (0.0, 100.0])" (QA)
    assert page.text_content("#cliff-error") == ("Cannot draw the loss surface: learning rate: must be > 0 "
                                                 "(a number above 0, up to 100)")
    assert page.get_attribute("#cliff-learning_rate", "aria-invalid") == "true"
    assert page.get_attribute("#cliff-steps", "aria-invalid") == "false"
    assert _traces(page)[2]["name"] == "SGD + norm clip 1"
    page.fill("#cliff-learning_rate", "0.3")  # fixed: the mark and the message go
    page.press("#cliff-learning_rate", "Enter")
    page.wait_for_function("() => document.getElementById('cliff-error').textContent === ''", timeout=10_000)
    assert page.get_attribute("#cliff-learning_rate", "aria-invalid") == "false"
    # a 422 response is logged by Chromium as a failed resource load; nothing else may be
    assert [p for p in page_log.problems() if "422" not in p] == []


def _loaded_panel(page):
    page.locator("#cliff-panel").scroll_into_view_if_needed()
    page.wait_for_selector("#cliff-panel[data-loaded='true'] #chart-cliff .main-svg", timeout=20_000)


SURFACE = lambda response: "/api/loss-surface" in response.url  # noqa: E731


def test_cliff_panel_sends_what_the_boxes_show_after_an_error(dashboard, page_log):
    # QA: start w = 50 (a 422), then both start boxes cleared: the request still carried start_w=50 and the
    # error stayed under empty boxes. Empty means the API's default, as on a fresh page.
    page = dashboard()
    _loaded_panel(page)
    page.fill("#cliff-start_w", "50")
    with page.expect_response(SURFACE) as bad:
        page.click("#cliff-update")
    assert bad.value.status == 422 and parse_qs(urlsplit(bad.value.url).query)["start_w"] == ["50"]
    page.wait_for_function("() => document.getElementById('cliff-error').textContent.includes('start w')",
                           timeout=10_000)
    page.fill("#cliff-start_w", "")
    page.fill("#cliff-start_b", "")
    with page.expect_response(SURFACE) as good:
        page.click("#cliff-update")
    query = parse_qs(urlsplit(good.value.url).query)
    assert "start_w" not in query and "start_b" not in query, good.value.url  # the API's defaults
    assert good.value.status == 200
    page.wait_for_function("() => document.getElementById('cliff-error').textContent === ''", timeout=10_000)
    d = cliff.DEFAULTS
    assert float(page.input_value("#cliff-start_w")) == d["start_w"]  # the boxes now show the defaults
    assert float(page.input_value("#cliff-start_b")) == d["start_b"]
    assert page.get_attribute("#cliff-start_w", "aria-invalid") == "false"
    # text that is not a number ("1e") is said as such, not sent as an empty box (the API's default)
    requests = []
    page.on("request", lambda request: requests.append(request.url) if "/api/loss-surface" in request.url else None)
    page.fill("#cliff-start_w", "")
    page.locator("#cliff-start_w").press_sequentially("1e")
    page.click("#cliff-update")
    page.wait_for_function("() => document.getElementById('cliff-error').textContent.includes('not a number')",
                           timeout=10_000)
    assert page.text_content("#cliff-error") == "Cannot draw the loss surface: start w: not a number"
    assert page.get_attribute("#cliff-start_w", "aria-invalid") == "true" and requests == []
    assert [p for p in page_log.problems() if "422" not in p] == []


def test_cliff_panel_error_replaces_the_stale_caption(dashboard, page_log):
    # After an error the map still shows the last surface, drawn for other settings than the boxes': the
    # caption must not go on describing it ("Longest step ... 7.67") under the error.
    page = dashboard()
    _loaded_panel(page)
    assert page.inner_text("#cliff-summary").startswith("Longest step: plain SGD")
    page.fill("#cliff-steps", "100000")
    page.click("#cliff-update")
    page.wait_for_function("() => document.getElementById('cliff-error').textContent.includes('steps')",
                           timeout=10_000)
    caption = page.inner_text("#cliff-summary")
    assert "Longest step" not in caption and "7.67" not in caption
    assert caption == ("The map still shows the last surface drawn: start w 4.25, start b -3, learning rate 0.3, "
                       "clip τ 0.3, steps 40.")
    assert "outdated" in page.get_attribute("#chart-cliff", "class")  # dimmed
    page.fill("#cliff-steps", "30")  # fixed: a caption for the new surface, not dimmed
    page.click("#cliff-update")
    page.wait_for_function("() => document.getElementById('cliff-error').textContent === ''", timeout=10_000)
    assert page.inner_text("#cliff-summary").startswith("Longest step: plain SGD")
    assert "outdated" not in page.get_attribute("#chart-cliff", "class")
    snap(page, "cliff-panel-error", "#cliff-panel")
    assert [p for p in page_log.problems() if "422" not in p] == []


def test_cliff_note_writes_subscripts_as_markup(dashboard):
    page = dashboard()
    _loaded_panel(page)
    first = page.locator("#cliff-panel .note p").first
    assert first.locator("sub").all_text_contents() == ["t", "t−1", "50"]
    text = page.locator("#cliff-panel .note").inner_text()
    assert "_" not in text and "{" not in text
    assert first.inner_text().startswith("A recurrent network with a single unit, xt = w·σ(xt−1) + b")


# The surface's colours at its lowest and highest value (Plotly's resolved colour scale) and its colour bar title.
CLIFF_COLOURS = """() => { const t = document.getElementById('chart-cliff')._fullData[0];
    const ends = [t.colorscale[0][1], t.colorscale[t.colorscale.length - 1][1]];
    const [low, high] = t.reversescale ? ends.reverse() : ends;
    return {low, high, title: document.querySelector('#chart-cliff .colorbar .cbtitle').textContent}; }"""


def _luminance(colour: str) -> float:
    if colour.startswith("#"):
        rgb = [int(colour[k:k + 2], 16) for k in (1, 3, 5)]
    else:
        rgb = [float(v) for v in colour[colour.index("(") + 1:colour.index(")")].split(",")[:3]]
    return 0.2126 * rgb[0] + 0.7152 * rgb[1] + 0.0722 * rgb[2]


@pytest.mark.parametrize("colour, title", [("loss", "log10 E (bright = high loss)"),
                                           ("grad", "log10 ‖∇E‖ (bright = steep)")])
def test_cliff_panel_is_bright_where_the_value_is_large_as_chart_1(dashboard, page_log, colour, title):
    # Chart 1 is bright where the gradient is large; the cliff panel's loss map was bright where the loss is
    # LOW (a reversed scale). Now bright = large in both of its colourings, and the colour bar says so.
    page = dashboard()
    _loaded_panel(page)
    page.select_option("#cliff-colour", colour)
    quantity = title.split(" (")[0]
    page.wait_for_function(f"() => ({CLIFF_COLOURS})().title.startsWith({quantity!r})", timeout=10_000)
    colours = page.evaluate(CLIFF_COLOURS)
    assert _luminance(colours["high"]) > _luminance(colours["low"]) + 100, colours
    assert colours["title"] == title, colours
    assert "bright is high, dark is low" in page.locator("#cliff-panel .note").inner_text()
    assert page_log.problems() == []


def test_a_busy_service_is_waited_out_not_shown_as_an_error(dashboard, page, page_log):
    # the service computes a few loss surfaces at once and answers 429 (Retry-After) beyond them: the panel
    # asks again after the wait instead of saying "Cannot draw the loss surface"
    refused = []

    def busy_once(route):
        if not refused:
            refused.append(route.request.url)
            route.fulfill(status=429, headers={"Retry-After": "1"}, content_type="application/json",
                          body='{"detail": "busy", "message": "busy", "code": "too_many_pending"}')
        else:
            route.continue_()

    page.route("**/api/loss-surface*", busy_once)
    page = dashboard()
    page.locator("#cliff-panel").scroll_into_view_if_needed()
    page.wait_for_selector("#cliff-panel[data-loaded='true'] #chart-cliff .main-svg", timeout=20_000)
    assert len(refused) == 1
    assert page.locator("#cliff-panel").inner_text().count("Cannot draw") == 0
    assert [p for p in page_log.problems() if "429" not in p] == []  # Chromium logs the 429 response itself


def test_a_superseded_surface_is_not_asked_again_while_busy(dashboard, page, page_log):
    # every answer a 429: the first surface, superseded by Update, stops asking; the newer one tries 4 times
    asked = []

    def busy(route):
        asked.append(route.request.url)
        route.fulfill(status=429, headers={"Retry-After": "1"}, content_type="application/json",
                      body='{"detail": "busy", "message": "busy", "code": "too_many_pending"}')

    page.route("**/api/loss-surface*", busy)
    page = dashboard()
    page.locator("#cliff-panel").scroll_into_view_if_needed()
    while not asked:
        page.wait_for_timeout(50)
    page.fill("#cliff-threshold", "1")
    page.click("#cliff-update")
    page.wait_for_function("() => document.getElementById('cliff-panel').innerText.includes('Cannot draw')",
                           timeout=20_000)
    page.wait_for_timeout(1200)  # a superseded request's retry would be due by now
    newer = [url for url in asked if "threshold=1" in url]
    assert len(newer) == 4 and len(asked) - len(newer) == 1, asked
