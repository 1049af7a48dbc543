"""Text that names a mark stays off the data and beside what it names, measured on the rendered SVG:
chart 7's name of the line gamma * sigma_max = 1 lies on no curve (it sat on lane A's spectral radius at
1440 x 900), and on a phone chart 2 names both of temporal_order's informative spans (it named the first only)."""
from __future__ import annotations

import pytest

from tests.e2e.conftest import snap
from tests.e2e.test_dashboard import UNROLLED_DRAWN, run_and_wait

pytestmark = pytest.mark.browser

# Screen boxes {left, top, right, bottom} of chart 7's line names, the dashed lines, the modebar's buttons,
# and every point the curves pass through: their SVG paths sampled every 2 px, and their markers.
SPECTRAL_GEOMETRY = """() => {
    const div = document.getElementById('chart-spectral');
    const box = (e) => { const r = e.getBoundingClientRect();
        return {left: r.left, top: r.top, right: r.right, bottom: r.bottom}; };
    const points = [];
    for (const path of div.querySelectorAll('.scatterlayer .trace path.js-line')) {
        const m = path.getScreenCTM();
        const length = path.getTotalLength();
        for (let s = 0; s <= length; s += 2) {
            const p = path.getPointAtLength(s);
            points.push([m.a * p.x + m.c * p.y + m.e, m.b * p.x + m.d * p.y + m.f]);
        }
    }
    for (const marker of div.querySelectorAll('.scatterlayer .trace .points path')) {
        const r = marker.getBoundingClientRect();
        points.push([r.left, r.top], [r.right, r.bottom], [(r.left + r.right) / 2, (r.top + r.bottom) / 2]);
    }
    return {names: [...div.querySelectorAll('g.annotation')].filter((a) => a.textContent.includes('γσ')).map(box),
            lines: [...div.querySelectorAll('.shapelayer path')].map(box),
            buttons: [...div.querySelectorAll('.modebar-btn')].map(box),
            chart: box(div), points};
}"""


def _overlap(a: dict, b: dict) -> bool:
    return min(a["right"], b["right"]) - max(a["left"], b["left"]) > 0.5 and \
        min(a["bottom"], b["bottom"]) - max(a["top"], b["top"]) > 0.5


def test_chart_7_names_its_line_where_no_curve_runs(dashboard, page, page_log):
    # orthogonal W_h scaled to 1.03: sigma_max = rho = 1.03 for the whole run (learning rate 1e-6), a few px
    # above the dashed line at 1 along the whole step axis: any name drawn inside the plot at the line sits on it
    page.set_viewport_size({"width": 1440, "height": 900})
    page = dashboard("lanes=1&A.init=orthogonal&A.spectral_radius=1.03&A.learning_rate=0.000001&A.steps=12"
                     "&A.seq_len=20&A.hidden_size=8&A.batch_size=4")
    assert run_and_wait(page) == "done"
    page.locator("#chart-spectral").scroll_into_view_if_needed()
    page.wait_for_function("() => document.getElementById('chart-spectral')"
                           ".querySelectorAll('.scatterlayer .trace .points path').length >= 12", timeout=20_000)
    page.wait_for_timeout(600)  # a pending redraw (one chart per animation frame) settles
    drawn = page.evaluate(SPECTRAL_GEOMETRY)
    assert len(drawn["names"]) == 1 and len(drawn["lines"]) == 1, drawn
    name, line = drawn["names"][0], drawn["lines"][0]
    ys = [y for _, y in drawn["points"]]
    assert line["top"] - 12 < min(ys) < line["top"], (min(ys), line)  # the curves run within 12 px above the line
    on_name = [p for p in drawn["points"]
               if name["left"] - 1 <= p[0] <= name["right"] + 1 and name["top"] - 1 <= p[1] <= name["bottom"] + 1]
    assert on_name == [], (name, on_name[:5])
    # at the line's end: right of it, level with it, inside the chart and clear of the modebar
    assert name["left"] >= line["right"] and name["top"] < line["top"] < name["bottom"], (name, line)
    assert name["right"] <= drawn["chart"]["right"], (name, drawn["chart"])
    assert [b for b in drawn["buttons"] if _overlap(b, name)] == []
    snap(page, "chart7-line-name", "#card-spectral")
    assert page_log.problems() == []


SPAN_GEOMETRY = """() => {
    const div = document.getElementById('chart-unrolled');
    const box = (e) => { const r = e.getBoundingClientRect();
        return {text: e.textContent, left: r.left, top: r.top, right: r.right, bottom: r.bottom}; };
    const size = div._fullLayout._size;
    const plot = div.querySelector('.draglayer .nsewdrag') || div.querySelector('.bglayer rect');
    const texts = [...div.querySelectorAll('.textpoint text')];
    return {names: texts.filter((t) => / (symbol|value)$/.test(t.textContent)).map(box),
            ticks: texts.filter((t) => /^\\d+$/.test(t.textContent)).map(box),
            boxes: [...div.querySelectorAll('.shapelayer path')].map(box).sort((a, b) => a.left - b.left),
            plot: plot ? box(plot) : {left: div.getBoundingClientRect().left + size.l,
                                      right: div.getBoundingClientRect().left + size.l + size.w}};
}"""


@pytest.mark.parametrize(("task", "seq_len", "names"), [
    ("temporal_order", 100, ["first A/B symbol", "second A/B symbol"]),
    ("temporal_order", 12, ["first A/B symbol", "second A/B symbol"]),
    ("temporal_order", 2000, ["first A/B symbol", "second A/B symbol"]),
    ("adding", 100, ["first marked value", "second marked value"]),
], ids=["temporal-order-100", "temporal-order-12", "temporal-order-2000", "adding-100"])
def test_on_a_phone_chart_2_names_every_informative_span(dashboard, page, page_log, task, seq_len, names):
    # 390 px: the plot is ~208 px wide, the two names 80 and 95 px; centred under their shaded spans (about
    # 70 px apart at T = 100) they would collide, so the second was dropped. Both fit beside each other.
    page.set_viewport_size({"width": 390, "height": 844})
    page = dashboard(f"lanes=1&A.task={task}&A.seq_len={seq_len}&A.hidden_size=8&A.batch_size=4")
    page.locator("#chart-unrolled").scroll_into_view_if_needed()
    page.wait_for_function(UNROLLED_DRAWN, timeout=30_000)
    page.wait_for_timeout(300)
    drawn = page.evaluate(SPAN_GEOMETRY)
    assert [n["text"] for n in drawn["names"]] == names, drawn["names"]
    assert len(drawn["boxes"]) == 2, drawn["boxes"]
    first, second = drawn["names"]
    assert second["left"] - first["right"] >= 4, (first, second)  # apart
    for name, shaded in zip(drawn["names"], drawn["boxes"], strict=True):
        assert name["left"] >= drawn["plot"]["left"] - 1 and name["right"] <= drawn["plot"]["right"] + 1, name
        under = min(name["right"], shaded["right"]) - max(name["left"], shaded["left"])
        assert under >= 8, (name, shaded)  # under its own span
        assert [t for t in drawn["ticks"] if _overlap(t, name)] == [], name
    snap(page, f"unrolled-names-390-{task}-{seq_len}", "#chart-unrolled")
    assert page_log.problems() == []
