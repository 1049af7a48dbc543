"""Chart 2's lane headers keep their numbers, measured on the rendered SVG at 390 x 844 (a phone) and 1600 x 1000.

Each lane of the unrolled network is headed by two lines: its title ("A · RNN · step 5") and how much of the gradient
reaches the start ("‖∂L/∂h0‖ / ‖∂L/∂h99‖ = 10^-8.1 · ×0.83 a step"). On a phone the second line dropped the factor
a step behind "…", since its width was estimated per character: the number is the information, the words around it
are not, so words shorten (and other parts go) before the factor does. Here every lane's header names its letter and
its factor a step (the LSTM's cell-state factor too) exactly as the run's last arrays give it, stays inside its lane
(right of the plot's left edge, left of the colour bar, on no node, label or modebar button), and keeps the whole
line for the hover where it is shortened; at 1600 px, where it fits, it is not shortened at all."""
from __future__ import annotations

import re

import pytest

from tests.e2e.chart_boxes import SMALL, geometry, overlap
from tests.e2e.conftest import snap
from tests.e2e.test_dashboard import run_and_wait, run_history

pytestmark = pytest.mark.browser

SIZES = [(390, 844), (1600, 1000)]
# RNN, LSTM and GRU on temporal_order at T = 100, small and short; the GRU with truncated BPTT (k = 20): its header
# has the most parts (ratio, factor, cuts), the LSTM's a cell-state factor besides
QUERY = "preset=cells" + "".join(SMALL.format(n=n) for n in "ABC") + "&C.truncate=20"
STEP = "step 5"  # the last of 6

GEOMETRY = geometry("""
    const annotations = [...div.querySelectorAll('g.annotation')].map((a) => ({
        ...box(a.querySelector('text')), index: +a.dataset.index}));
    return {chart: box(div), plot: box(div.querySelector('.draglayer .nsewdrag')), annotations,
            hovertexts: div.layout.annotations.map((a) => a.hovertext ?? null),
            colorbar: all('.colorbar .cbfills, .colorbar .cbaxis text, .colorbar .cbtitle'),
            marks: all('.scatterlayer .point, .scatterlayer .textpoint text'), buttons: all('.modebar-btn')};""")

# Per lane, the factors the header must show, from the arrays the chart draws (the run's last step): unrolled.js'
# factorText of the gradient norm's change a step, from the first finite timestep to the last, for h and c.
FACTORS = """async (lanes) => { const { factorText } = await import('/static/js/unrolled.js');
    const plain = (markup) => markup.replace(/<[^>]+>/g, '');
    const perStep = (norms) => { const first = norms.findIndex((v) => v !== null), last = norms.length - 1;
        return plain(factorText((norms[first] - norms[last]) / (last - first))); };
    return lanes.map((a) => ({h: perStep(a.log10_grad_norm_per_step),
                              c: a.log10_cell_grad_norm_per_step ? perStep(a.log10_cell_grad_norm_per_step) : null}));
}"""


@pytest.mark.parametrize("size", SIZES, ids=["phone", "desktop"])
def test_chart_2_lane_headers_keep_the_lane_letter_and_factor_inside_the_lane(dashboard, page, page_log, size):
    width, height = size
    page.set_viewport_size({"width": width, "height": height})
    page = dashboard(QUERY)
    assert run_and_wait(page) == "done"
    chart = page.locator("#chart-unrolled")
    chart.scroll_into_view_if_needed()
    page.wait_for_function(f"() => [...document.querySelectorAll('#chart-unrolled g.annotation')]"
                           f".filter((a) => a.textContent.includes('{STEP}')).length === 3", timeout=20_000)
    page.wait_for_timeout(300)
    drawn = page.evaluate(GEOMETRY, "chart-unrolled")
    expected = page.evaluate(FACTORS, [lane[-1]["arrays"] for lane in run_history(page)])
    notes = drawn["annotations"]
    titles = [k for k, a in enumerate(notes) if re.match(r"^[ABC]( ·|$)", a["text"])]
    assert [notes[k]["text"][0] for k in titles] == ["A", "B", "C"], notes
    headers = []
    problems = []
    for lane, k, factors in zip("ABC", titles, expected, strict=True):
        title, line = notes[k], notes[k + 1]  # the title, then the line under it
        headers += [title, line]
        assert STEP in title["text"], title
        # the factor a step, whole: its number and then its unit, not "…"
        for name, factor in (("h", factors["h"]), ("c", factors["c"])):
            if factor is None:
                continue
            if not re.search(re.escape(factor) + r"( a step|/step)", line["text"]):
                problems.append((f"{lane}: factor {name} {factor} not shown", line["text"]))
        # where the line was shortened, the hover has it whole; where it fits (1600 px), it is not shortened
        hover = drawn["hovertexts"][line["index"]]
        if "‖∂L/∂h" not in line["text"] and (hover is None or "‖∂L/∂h" not in hover):
            problems.append((f"{lane}: shortened without the whole line on hover", line["text"], hover))
        if width >= 1600 and (hover is not None or not line["text"].startswith("‖∂L/∂h")):
            problems.append((f"{lane}: shortened where the whole line fits", line["text"]))
    assert expected[1]["c"] is not None and expected[2]["c"] is None  # only B (the LSTM) has a cell state
    # inside the lane: from the plot's left edge to the colour bar's, on no node, label, button or other header
    bar = min(part["left"] for part in drawn["colorbar"])
    for header in headers:
        if header["left"] < drawn["plot"]["left"] - 1 or header["right"] > min(bar, drawn["chart"]["right"]):
            problems.append(("header beyond its lane", header["text"], header, drawn["plot"], bar))
        covered = [m for m in drawn["marks"] + drawn["buttons"] + drawn["colorbar"] if overlap(m, header)]
        covered += [h["text"] for h in headers if h is not header and overlap(h, header)]
        if covered:
            problems.append(("header on the chart's marks", header["text"], covered[:3]))
    snap(page, f"unrolled-lane-headers-{width}", "#card-unrolled")
    assert problems == [], "\n".join(map(str, problems))
    assert page_log.problems() == []
