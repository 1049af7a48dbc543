"""Plotly's modebar (the chart toolbar: PNG camera, reset axes) covers nothing the user reads, on a phone
(390 x 844) or a desktop (1440 x 900): not the lane titles over chart 1, the saliency strip's lines, the
legends of charts 3 and 5, or the cliff panel's legend and colour bar; and its camera still saves a PNG."""
from __future__ import annotations

import pytest

from tests.e2e.conftest import snap

pytestmark = pytest.mark.browser

QUERY = ("lanes=2&A.seq_len=20&A.steps=6&A.hidden_size=8&A.batch_size=4"
         "&B.seq_len=20&B.steps=6&B.hidden_size=8&B.batch_size=4&B.activation=relu")
# what a reader needs: legend entries, annotations (lane titles, notes), plotting areas (the lines), tick
# labels, axis titles and colour bars (bar, labels, title)
CONTENT = (".legend .traces, g.annotation, .nsewdrag, .xtick text, .ytick text, .g-xtitle, .g-ytitle, "
           ".colorbar .cbfills, .colorbar .cbaxis text, .colorbar .cbtitle")
BOXES = """([id, content]) => {
    const box = (e) => { const r = e.getBoundingClientRect();
        return {what: e.getAttribute('data-title') || e.getAttribute('class') || e.tagName,
                text: (e.textContent || '').trim().slice(0, 40),
                left: r.left, top: r.top, right: r.right, bottom: r.bottom}; };
    const div = document.getElementById(id);
    return {buttons: [...div.querySelectorAll('.modebar-btn')].map(box),
            content: [...div.querySelectorAll(content)].map(box).filter((b) => b.right > b.left && b.bottom > b.top)};
}"""


def _overlap(a: dict, b: dict) -> bool:
    return min(a["right"], b["right"]) - max(a["left"], b["left"]) > 0.5 and \
        min(a["bottom"], b["bottom"]) - max(a["top"], b["top"]) > 0.5


def _drawn(page, chart: str, ready: str) -> None:
    page.locator(f"#{chart}").scroll_into_view_if_needed()
    page.wait_for_function(f"() => {{ const d = document.getElementById('{chart}');"
                           f" return d.querySelector('.modebar-btn') && ({ready}); }}", timeout=20_000)


@pytest.mark.parametrize("size", [(390, 844), (1440, 900)], ids=["phone", "desktop"])
def test_the_modebar_covers_no_title_legend_or_line(dashboard, page, page_log, size):
    width, height = size
    page.set_viewport_size({"width": width, "height": height})
    page = dashboard(QUERY)
    page.click("#run")
    page.wait_for_function("() => document.body.dataset.runStatus === 'done'", timeout=60_000)
    charts = {  # chart -> what must be on it before measuring
        "chart-flow": "d.querySelectorAll('g.annotation').length >= 2",  # the lane titles
        "chart-saliency": "d.querySelectorAll('.scatterlayer .trace').length >= 2",
        "chart-profile": "d.querySelectorAll('.legend .traces').length >= 2",
        "chart-norm": "d.querySelectorAll('.legend .traces').length >= 2",
        "chart-cliff": "d.querySelectorAll('.legend .traces').length >= 3 && d.querySelector('.colorbar')",
    }
    for chart, ready in charts.items():
        _drawn(page, chart, ready)
        page.wait_for_timeout(300)  # a pending redraw (one chart per animation frame) settles
        boxes = page.evaluate(BOXES, [chart, CONTENT])
        titles = [b["what"] for b in boxes["buttons"]]
        assert "Download plot as a PNG" in titles, (chart, titles)  # README: the camera saves a PNG
        covered = [(button["what"], item["what"], item["text"]) for button in boxes["buttons"]
                   for item in boxes["content"] if _overlap(button, item)]
        assert covered == [], (chart, width, covered)
        assert "Share chart..." not in titles  # Plotly Cloud upload: not from an offline page
    # the camera works: it downloads the chart as a PNG
    page.locator("#chart-profile").scroll_into_view_if_needed()
    page.locator("#chart-profile").hover()
    with page.expect_download(timeout=20_000) as download:
        page.locator("#chart-profile .modebar-btn[data-title='Download plot as a PNG']").click()
    assert download.value.suggested_filename == "rnn-gradient-lab-profile.png"
    snap(page, f"modebar-{width}", "#card-flow")
    assert page_log.problems() == []


# The lane table's scroller, whether it has more columns beyond each edge, and what the page shows there
# (the fade and arrow drawn by .lane-frame::before / ::after).
LANE_EDGES = """() => {
    const scroller = document.getElementById('lane-editor');
    const frame = scroller.parentElement;
    const edge = (which) => { const s = getComputedStyle(frame, which);
        return s.content !== 'none' && s.content !== 'normal' && s.display !== 'none' ? Number(s.opacity) : 0; };
    const heads = [...scroller.querySelectorAll('th.lane-head')].map((th) => th.getBoundingClientRect());
    const view = scroller.getBoundingClientRect();
    return {left: edge('::before'), right: edge('::after'),
            hiddenLeft: heads.filter((r) => r.left < view.left - 1).length,
            hiddenRight: heads.filter((r) => r.right > view.right + 1).length,
            scrollLeft: scroller.scrollLeft, end: scroller.scrollWidth - scroller.clientWidth};
}"""


def _edges_settle(page, left: int, right: int) -> dict:
    page.wait_for_function(f"() => ({LANE_EDGES})().left === {left} && ({LANE_EDGES})().right === {right}",
                           timeout=5_000)
    return page.evaluate(LANE_EDGES)


def test_on_a_phone_the_lane_table_shows_that_more_lanes_lie_sideways(dashboard, page, page_log):
    # 390 px: the table (setting names, then 112 px a lane) shows lane A and most of B; C lies beyond the
    # right edge. That edge fades under a shadow with an arrow while columns are hidden there, and the fade
    # moves to the left edge once the table is scrolled to its end.
    page.set_viewport_size({"width": 390, "height": 844})
    page = dashboard("lanes=3&B.activation=relu&C.activation=sigmoid")
    start = _edges_settle(page, 0, 1)
    assert start["hiddenRight"] >= 1 and start["scrollLeft"] == 0 and start["end"] > 0, start
    snap(page, "lanes-phone-start", "#lanes-panel")
    page.evaluate("() => { const s = document.getElementById('lane-editor'); s.scrollLeft = s.scrollWidth; }")
    end = _edges_settle(page, 1, 0)
    assert end["hiddenRight"] == 0 and end["scrollLeft"] >= end["end"] - 1, end
    snap(page, "lanes-phone-end", "#lanes-panel")
    # a lane fewer still overflows (its own fade); the page itself never scrolls sideways
    page.locator("#lane-table [data-remove='2']").click()
    page.evaluate("() => { document.getElementById('lane-editor').scrollLeft = 0; }")
    assert _edges_settle(page, 0, 1)["hiddenRight"] >= 1
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 390
    # on a desktop four lanes fit: no fade on either side
    page.set_viewport_size({"width": 1440, "height": 900})
    page = dashboard("lanes=4")
    fits = _edges_settle(page, 0, 0)
    assert fits["end"] <= 0 and fits["hiddenRight"] == 0, fits
    assert page_log.problems() == []
