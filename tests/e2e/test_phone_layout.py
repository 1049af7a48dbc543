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
