"""Chart 3's text fits the chart it is on, on a phone (390 x 844) and a desktop (1440 x 900), measured on the
rendered SVG: the note on a lane with no curve (diverged or overflowed) lies inside the plotting area, clear of
the y axis' title and tick labels (one 700 px line ran past both ends of the chart); the "latest snapshot" caption
stays over the plot (three or four lanes' steps ran past the chart's left edge); the float32-underflow label stays
off the tick labels ("−40"); lane legends, chart 3's and the gate strip's ("A · LSTM, ...: forget gate f_t"), stay
within the plot's width, clear of the modebar. The cliff panel's colour-bar title lies along its bar, whole."""
from __future__ import annotations

import re

import pytest

from tests.e2e.chart_boxes import SMALL, geometry, inside, overlap, within_x
from tests.e2e.conftest import snap
from tests.e2e.test_dashboard import run_and_wait

pytestmark = pytest.mark.browser

SIZES = [(390, 844), (1440, 900)]
SIZE_IDS = ["phone", "desktop"]
# lane A: ReLU, identity W_h at radius 5, no clipping: its forward pass overflows at step 0, so it has no curve and
# chart 3 says why, in two sentences (QA's case at 50 steps; 6 are enough: it diverges before its first step).
# B's long label ("tanh, clip 1.0, orthogonal init, radius 1") fills a phone's legend row.
DIVERGED = ("lanes=2&A.activation=relu&A.init=identity&A.spectral_radius=5&A.clip=none"
            + "".join(SMALL.format(n=n) for n in "AB"))
# an LSTM with a long label and a GRU (the gate strip), a sigmoid lane whose gradient falls below float32's
# smallest normal number (the underflow line and its label), a ReLU on copy; all at one step: a 4-lane caption
MIXED = ("lanes=4&A.cell=lstm&A.task=adding&B.cell=gru&C.activation=sigmoid&D.activation=relu&D.task=copy&D.clip=none"
         + "".join(SMALL.format(n=n) for n in "ABCD"))

# Screen boxes of what a chart shows: its plotting area, annotations, legend entries, axis titles, tick labels,
# the modebar's buttons and the chart's own box.
GEOMETRY = geometry("""
    return {chart: box(div), plot: box(div.querySelector('.draglayer .nsewdrag')),
            annotations: all('g.annotation'), legend: all('.legend .traces'),
            titles: all('.g-xtitle, .g-ytitle'), ticks: all('.xtick text, .ytick text'),
            buttons: all('.modebar-btn')};""")


def _measure(page, chart: str, ready: str) -> dict:
    page.locator(f"#{chart}").scroll_into_view_if_needed()
    page.wait_for_function(f"() => {{ const d = document.getElementById('{chart}');"
                           f" return d.querySelector('.modebar-btn') && ({ready}); }}", timeout=20_000)
    page.wait_for_timeout(400)  # a pending redraw (one chart per animation frame) settles
    return page.evaluate(GEOMETRY, chart)


# Each check returns what is wrong ([] if nothing), so a failing test lists every defect of the chart at once.
def _legend_problems(drawn: dict, where: str) -> list:
    # each entry within the plot's width (Plotly shifts a legend with a wider entry left, over the y axis, and
    # draws the entry past the plot's right edge) and off the modebar's buttons
    problems = []
    for entry in drawn["legend"]:
        if not within_x(entry, drawn["plot"]):
            problems.append(("legend entry beyond the plot's width", where, entry, drawn["plot"]))
        if [b for b in drawn["buttons"] if overlap(b, entry)]:
            problems.append(("legend entry under the modebar", where, entry))
    return problems


def _caption(drawn: dict) -> dict:
    return next(a for a in drawn["annotations"] if a["text"].startswith(("latest snapshot", "snapshot", "steps")))


def _caption_problems(drawn: dict, where: str) -> list:
    caption = _caption(drawn)
    if within_x(caption, drawn["plot"]):
        return []
    return [("caption beyond the plot's width", where, caption, drawn["plot"])]


def _cut_problems(drawn: dict, where: str) -> list:
    return [("annotation cut by the chart's edge", where, a, drawn["chart"]) for a in drawn["annotations"]
            if not within_x(a, drawn["chart"])]


def _run_and_measure_chart_3(dashboard, page, size, query: str, ready: str):
    """The page at ``size`` with ``query``'s lanes, run to the end; chart 3 measured once ``ready`` holds."""
    width, height = size
    page.set_viewport_size({"width": width, "height": height})
    page = dashboard(query)
    assert run_and_wait(page) == "done"
    return page, _measure(page, "chart-profile", ready)


@pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
def test_chart_3_note_on_a_lane_without_a_curve_fits_its_plot(dashboard, page, page_log, size):
    width = size[0]
    page, drawn = _run_and_measure_chart_3(dashboard, page, size, DIVERGED,
                                           "[...d.querySelectorAll('g.annotation')].some((a) =>"
                                           " a.textContent.includes('diverged at step'))")
    notes = [a for a in drawn["annotations"] if "diverged at step" in a["text"]]
    assert len(notes) == 1, drawn["annotations"]
    note = notes[0]
    words = note["text"].replace(" ", "")  # its lines' text runs together
    assert words.startswith("A:divergedatstep0"), note  # the lane's name, first
    assert "keepsitfinite" in words, note  # and what would help
    snap(page, f"chart3-diverged-note-{width}", "#card-profile")
    # whole, inside the plotting area: on no axis title, tick label or modebar button
    problems = [] if inside(note, drawn["plot"]) else [("note beyond the plot", width, note, drawn["plot"])]
    covered = [t for t in drawn["titles"] + drawn["ticks"] + drawn["buttons"] if overlap(t, note)]
    if covered:
        problems.append(("note on the axis' title, ticks or modebar", width, covered))
    problems += _cut_problems(drawn, width) + _caption_problems(drawn, width)
    problems += _legend_problems(drawn, width)  # lane B's long label
    assert problems == [], "\n".join(map(str, problems))
    assert page_log.problems() == []


@pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
def test_chart_3_caption_labels_and_legends_fit_beside_the_modebar(dashboard, page, page_log, size):
    width = size[0]
    page, drawn = _run_and_measure_chart_3(dashboard, page, size, MIXED,
                                           "d.querySelectorAll('.legend .traces').length >= 7"
                                           " && d.textContent.includes('smallest float32')")
    assert "step 5" in _caption(drawn)["text"], drawn["annotations"]
    problems = _caption_problems(drawn, width) + _cut_problems(drawn, width)
    # the underflow line's label: inside the plot, on no tick label ("−40") or axis title
    label = next(a for a in drawn["annotations"] if a["text"].startswith("smallest float32"))
    # what it counts, in words (it read "(timesteps C: 41)"); its lines: no space between. Teacher QA: a plain pass
    # goes subnormal below the line and reads 0 only below 10^-44.9; the count is of the timesteps below the line
    assert re.search(r"reads0\(C:\d+of100timestepsbelowit", re.sub(r"\s", "", label["text"])), label
    if not within_x(label, drawn["plot"]):
        problems.append(("underflow label beyond the plot", width, label, drawn["plot"]))
    covered = [t for t in drawn["ticks"] + drawn["titles"] if overlap(t, label)]
    if covered:
        problems.append(("underflow label on tick labels or axis titles", width, covered))
    problems += _legend_problems(drawn, width)
    texts = [e["text"] for e in drawn["legend"]]
    assert [t[:4] for t in texts[:4]] == ["A · ", "B · ", "C · ", "D · "], texts
    # the gate strip under it: one entry per gated lane, each naming its gate, whole and clear of the modebar
    gates = _measure(page, "chart-gates", "d.querySelectorAll('.legend .traces').length >= 2")
    names = [e["text"] for e in gates["legend"]]
    assert names[0].startswith("A") and names[0].endswith(": forget gate ft"), names
    assert names[1].startswith("B") and names[1].endswith(": update gate zt"), names
    problems += _legend_problems(gates, f"gates {width}")
    snap(page, f"chart3-mixed-{width}", "#card-profile")
    # the cliff panel's colour-bar title lies along its bar, inside the chart, off the modebar
    page.locator("#chart-cliff").scroll_into_view_if_needed()
    page.wait_for_selector("#chart-cliff .colorbar .cbtitle", timeout=20_000)
    page.wait_for_timeout(300)
    cliff = page.evaluate("""() => { const d = document.getElementById('chart-cliff');
        const box = (e) => { const r = e.getBoundingClientRect();
            return {left: r.left, top: r.top, right: r.right, bottom: r.bottom}; };
        return {chart: box(d), title: box(d.querySelector('.colorbar .cbtitle')),
                bar: box(d.querySelector('.colorbar .cbfills')),
                buttons: [...d.querySelectorAll('.modebar-btn')].map(box),
                text: d.querySelector('.colorbar .cbtitle').textContent}; }""")
    title = cliff["title"]
    assert cliff["text"] == "log10 E (bright = high loss)", cliff
    assert inside(title, cliff["chart"]), cliff
    assert cliff["bar"]["top"] - 1 <= title["top"] and title["bottom"] <= cliff["bar"]["bottom"] + 1, cliff
    assert [b for b in cliff["buttons"] if overlap(b, title)] == [], cliff
    assert problems == [], "\n".join(map(str, problems))
    assert page_log.problems() == []
