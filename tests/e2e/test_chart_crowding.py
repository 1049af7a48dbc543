"""Four lanes with long names (QA): every chart keeps a readable plot area at 1600 x 1000 and 390 x 844.

Before, a horizontal legend of one row per lane pushed the plot down: chart 5's plot was ~150 px tall at 1600 px
(its y tick labels 10^13 ... 10^-1 overlapped into a smear), chart 7's legend got a scrollbar on a phone and its
plot ~100 px, and chart 1's four heatmaps were ~35 px wide each on a phone, titled "A · …". Measured here on the
rendered charts: each subplot's height (Plotly's laid-out axes), overlapping tick labels, the legend's place and
scrollbar, and chart 1's panel widths and lane titles."""
from __future__ import annotations

import re

import pytest

from tests.e2e.chart_boxes import geometry, overlap
from tests.e2e.test_dashboard import run_and_wait

pytestmark = pytest.mark.browser

# The QA's four lanes (copy RNN, copy LSTM, an exploding ReLU lane that diverges at step 2, a linear lane), with a
# short run (C still diverges at step 2, so its rows get a step axis of their own in chart 1): the legends, labels
# and the 13-decade norm axis are the same as with 300 steps.
FOUR = ("lanes=4&A.task=copy&A.seq_len=50&B.task=copy&B.cell=lstm&B.seq_len=50"
        "&C.activation=relu&C.spectral_radius=1.5&C.seq_len=30&C.optimizer=sgd&C.learning_rate=0.05&C.clip=per_timestep"
        "&D.activation=linear&D.init=identity&D.spectral_radius=1.05&D.seq_len=50&D.clip=none"
        + "".join(f"&{n}.steps=60&{n}.batch_size=8" for n in "ABCD"))
LINE_CHARTS = ["chart-profile", "chart-loss", "chart-norm", "chart-weight", "chart-spectral"]
MIN_PLOT_PX = 190  # a line chart's plotting area (all its subplots and the gaps between them) at least this tall

# Per chart: the plotting area (Plotly's _size), each y axis' laid-out length, tick label boxes per axis, the legend's
# box and whether its scrollbar shows, and the annotations (lane titles).
MEASURE = geometry("""
    const fl = div._fullLayout;
    const axes = Object.keys(fl).filter((k) => /^yaxis\\d*$/.test(k) && fl[k].visible !== false)
        .map((k) => ({name: k, length: fl[k]._length, type: fl[k].type}));
    const ticks = {};
    for (const g of div.querySelectorAll('g.xaxislayer-above, g.yaxislayer-above')) {
        const key = g.closest('.subplot')?.getAttribute('class')
            + (g.classList.contains('xaxislayer-above') ? ' x' : ' y');
        ticks[key] = [...g.querySelectorAll('.xtick text, .ytick text')].map(box)
            .filter((b) => b.right > b.left && b.bottom > b.top && b.text);
    }
    const scroll = div.querySelector('.legend .scrollbar');
    const scrollBox = scroll ? scroll.getBoundingClientRect() : null;
    return {size: fl._size, height: fl.height, axes, ticks, legend: all('.legend .bg'),
            scrollbar: scrollBox ? scrollBox.height > 0 && scrollBox.width > 0 : false,
            plots: all('.draglayer .nsewdrag'), annotations: all('g.annotation')};""")


def _measure(page, chart: str) -> dict:
    page.locator(f"#{chart}").scroll_into_view_if_needed()
    page.wait_for_timeout(300)
    return page.evaluate(MEASURE, chart)


def _overlapping(boxes: list[dict]) -> list[tuple[str, str]]:
    return [(a["text"], b["text"]) for i, a in enumerate(boxes) for b in boxes[i + 1:] if overlap(a, b, slack=1.0)]


@pytest.fixture
def four_lanes(dashboard, page):
    def run(size: dict):
        page.set_viewport_size(size)
        dashboard(FOUR)
        assert run_and_wait(page) == "done"
        page.wait_for_timeout(1500)  # the final redraws, one chart a frame
        return page
    return run


@pytest.mark.parametrize("size", [{"width": 1600, "height": 1000}, {"width": 390, "height": 844}],
                         ids=["desktop", "phone"])
def test_four_lanes_keep_every_chart_readable(four_lanes, page_log, size):
    page = four_lanes(size)
    problems = []
    for chart in LINE_CHARTS:
        drawn = _measure(page, chart)
        if drawn["size"]["h"] < MIN_PLOT_PX:
            problems.append(f"{chart}: plot {drawn['size']['h']:.0f} px tall (chart {drawn['height']} px)")
        if drawn["scrollbar"]:
            problems.append(f"{chart}: the legend scrolls")
        plot_top = min(p["top"] for p in drawn["plots"])
        for legend in drawn["legend"]:
            if legend["bottom"] > plot_top + 1:
                problems.append(f"{chart}: legend reaches {legend['bottom'] - plot_top:.0f} px into the plot")
        for axis, boxes in drawn["ticks"].items():
            if clash := _overlapping(boxes):
                problems.append(f"{chart}: tick labels overlap on {axis}: {clash[:3]}")
    flow = _measure(page, "chart-flow")
    heat = [p for p in flow["plots"] if p["right"] - p["left"] > 5]
    assert len(heat) == 4, heat
    for p in heat:
        if p["right"] - p["left"] < 75 or p["bottom"] - p["top"] < 150:
            problems.append(f"chart-flow: a heatmap panel of {p['right'] - p['left']:.0f}"
                            f" x {p['bottom'] - p['top']:.0f} px")
    titles = [a["text"] for a in flow["annotations"] if re.match(r"^[A-D] ·", a["text"])]
    assert len(titles) == 4, flow["annotations"]
    problems += [f"chart-flow: lane title cut to {t!r}" for t in titles if re.match(r"^[A-D] · …$", t)]
    for axis, boxes in flow["ticks"].items():
        if clash := _overlapping(boxes):
            problems.append(f"chart-flow: tick labels overlap on {axis}: {clash[:3]}")
    assert problems == [], "\n".join(problems)
    assert page_log.problems() == []
