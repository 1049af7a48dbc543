"""What a reader could not tell from the charts (a QA pass at 1440 x 900 and 390 x 844), measured on the rendered SVG:

1. Exactly-zero gradients (dead ReLU units, truncated BPTT: log10 = -inf, sent as null) were white holes in chart 1
   with nothing saying so, and a lane whose inputs get no gradient at all had an empty saliency panel.
2. Chart 3 with lanes of very different sequence lengths (T = 1000 against 30 and 100) squeezed the short lanes
   into the leftmost sliver of one t axis; the gate strip under it had an x axis of its own, a single gated lane's
   strip had no legend, and the float32-underflow label read "(timesteps A: 942)".
3. Before a run, charts 4 and 5's placeholder ran past the plot on a phone, over the y axis' title, and chart 5's
   idle y axis printed "1.1" on top of "1".
4. The chance and threshold labels of charts 4 and 5 lay on the newest data, at the right end of their lines.
5. On a phone, chart 1's modebar sat on its colour bar and narrow heatmap panels dropped the lane's label."""
from __future__ import annotations

import re

import pytest

from tests.e2e.chart_boxes import SMALL, geometry, inside, overlap, within_x
from tests.e2e.conftest import snap
from tests.e2e.test_dashboard import run_and_wait

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1440, "height": 900}
SIZES = [PHONE, DESKTOP]
SIZE_IDS = ["phone", "desktop"]

# Screen boxes of a chart's parts: the chart, each subplot's plotting area, annotations (with their text), legend
# entries, axis titles, tick labels, the colour bars' parts, the modebar's buttons, and every point the line traces
# pass through (their SVG paths sampled every 2 px, tagged with the trace's name).
GEOMETRY = geometry("""
    const points = [];
    const traces = [...div.querySelectorAll('.scatterlayer .trace')];
    traces.forEach((trace) => {
        const name = trace.__data__?.[0]?.trace?.name ?? '';
        for (const path of trace.querySelectorAll('path.js-line')) {
            const m = path.getScreenCTM();
            const length = path.getTotalLength();
            for (let s = 0; s <= length; s += 2) {
                const p = path.getPointAtLength(s);
                points.push({name, x: m.a * p.x + m.c * p.y + m.e, y: m.b * p.x + m.d * p.y + m.f});
            }
        }
    });
    return {chart: box(div), plots: all('.draglayer .nsewdrag'), annotations: all('g.annotation'),
            legend: all('.legend .traces'), titles: all('.g-xtitle, .g-ytitle, [class^="g-x"][class$="title"]'),
            xticks: all('.xtick text'), yticks: all('.ytick text'),
            colorbar: all('.colorbar .cbfills, .colorbar .cbaxis text, .colorbar .cbtitle'),
            buttons: all('.modebar-btn'), points};""")


def _points_in(drawn: dict, box: dict, pad: float = 1.0) -> list[dict]:
    return [p for p in drawn["points"] if box["left"] - pad <= p["x"] <= box["right"] + pad
            and box["top"] - pad <= p["y"] <= box["bottom"] + pad]


def _measure(page, chart: str, ready: str = "true") -> dict:
    page.locator(f"#{chart}").scroll_into_view_if_needed()
    page.wait_for_function(f"() => {{ const d = document.getElementById('{chart}');"
                           f" return d.querySelector('.main-svg') && ({ready}); }}", timeout=30_000)
    page.wait_for_timeout(500)  # a pending redraw (one chart per animation frame) settles
    return page.evaluate(GEOMETRY, chart)


def _open_and_run(dashboard, page, size: dict, query: str):
    page.set_viewport_size(size)
    page = dashboard(query)
    assert run_and_wait(page) == "done"
    return page


# --- 1. exactly-zero gradients ----------------------------------------------------------------------------
# QA's repro: ReLU, identity W_h at radius 1.5, SGD lr 1, T = 50, 300 steps; lane B (norm clipping) kills its ReLU
# units from step ~85 on: most of its rows are exactly 0 before the last few timesteps, and its inputs get no
# gradient at all (every log10 ||dL/dx_t|| null). Lane A diverges at step 1.
DEAD_RELU = "lanes=2" + "".join(
    f"&{n}.cell=rnn&{n}.activation=relu&{n}.init=identity&{n}.spectral_radius=1.5&{n}.optimizer=sgd"
    f"&{n}.learning_rate=1&{n}.seq_len=50&{n}.steps=300" for n in "AB") + "&A.clip=none&B.clip=norm"
ZERO_KEY = "white:exactly0"


def _zero_key(drawn: dict) -> list[dict]:
    return [a for a in drawn["annotations"] if ZERO_KEY in a["text"].replace(" ", "")]  # wrapped: lines run together


@pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
def test_exactly_zero_gradients_are_named_in_chart_1_and_the_saliency_strip(dashboard, page, page_log, size):
    page = _open_and_run(dashboard, page, size, DEAD_RELU)
    for scale in ("absolute", "relative"):
        page.select_option("#flow-scale", scale)
        drawn = _measure(page, "chart-flow", "d.querySelectorAll('.colorbar .cbfills').length > 0")
        keys = _zero_key(drawn)
        assert len(keys) == 1, (scale, [a["text"] for a in drawn["annotations"]])
        key = keys[0]
        text = key["text"].replace(" ", "")  # wrapped: its lines run together
        assert "nogradientreacheshₜ" in text and "deadReLUunits" in text, key
        # inside the chart, under the colour bar: on no bar, tick label, axis title, lane title or modebar button
        assert inside(key, drawn["chart"]), (key, drawn["chart"])
        others = [a for a in drawn["annotations"] if a is not key]
        covered = [b for b in drawn["colorbar"] + drawn["xticks"] + drawn["yticks"] + drawn["titles"]
                   + drawn["buttons"] + others if overlap(b, key)]
        assert covered == [], (scale, key, covered)
        assert all(key["left"] >= plot["right"] - 80 for plot in drawn["plots"]), (key, drawn["plots"])
    snap(page, f"chart1-zero-key-{size['width']}", "#card-flow")
    # the saliency strip: lane B's empty panel says why
    drawn = _measure(page, "chart-saliency", "d.querySelectorAll('.scatterlayer .trace').length >= 2")
    notes = [a for a in drawn["annotations"] if "nogradientreachestheinputs" in a["text"].replace(" ", "")]
    assert len(notes) == 1, [a["text"] for a in drawn["annotations"]]
    note = notes[0]
    assert note["text"].replace(" ", "").startswith("B:‖∂L/∂xₜ‖=0ateveryt"), note
    panel_b = sorted(drawn["plots"], key=lambda p: p["left"])[1]
    assert inside(note, panel_b), (note, panel_b)
    assert page_log.problems() == []


def test_chart_1_has_no_zero_key_when_every_gradient_is_nonzero(dashboard, page, page_log):
    page = _open_and_run(dashboard, page, DESKTOP, "lanes=1&A.seq_len=20&A.hidden_size=8&A.batch_size=4&A.steps=6")
    drawn = _measure(page, "chart-flow", "d.querySelectorAll('.colorbar .cbfills').length > 0")
    assert _zero_key(drawn) == [], drawn["annotations"]
    saliency = _measure(page, "chart-saliency", "d.querySelectorAll('.scatterlayer .trace').length >= 1")
    assert [a for a in saliency["annotations"] if "nogradient" in a["text"].replace(" ", "")] == []
    assert page_log.problems() == []


# --- 2. chart 3 with lanes of very different sequence lengths ---------------------------------------------
# QA's three lanes: a sigmoid RNN at T = 1000 (its gradient falls below float32's smallest normal number at most
# timesteps), an LSTM on copy at T = 30 (sequences of 50) and a tanh RNN at T = 100
LENGTHS = ("lanes=3&A.activation=sigmoid&A.seq_len=1000&B.cell=lstm&B.task=copy&B.seq_len=30"
           "&C.activation=tanh&C.seq_len=100" + "".join(SMALL.format(n=n) for n in "ABC"))


def _extent(drawn: dict, lane: str) -> tuple[float, float]:
    """Left and right ends on screen of a lane's solid curve (not its bound's or its cell state's)."""
    xs = [p["x"] for p in drawn["points"] if p["name"].startswith(f"{lane} · ") and "cell state" not in p["name"]]
    assert xs, (lane, {p["name"] for p in drawn["points"]})
    return min(xs), max(xs)


def _collisions(boxes: list[dict]) -> list[tuple[str, str]]:
    return [(a["text"], b["text"]) for i, a in enumerate(boxes) for b in boxes[:i] if overlap(a, b)]


@pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
def test_chart_3_gives_lanes_of_very_different_lengths_room_and_the_gate_strip_lines_up(dashboard, page, page_log,
                                                                                        size):
    page = _open_and_run(dashboard, page, size, LENGTHS)
    drawn = _measure(page, "chart-profile", "d.textContent.includes('smallest float32')")
    left = min(p["left"] for p in drawn["plots"])
    right = max(p["right"] for p in drawn["plots"])
    for lane in "ABC":  # each curve spans a good part of the chart's width (B and C had its first 5 and 10%)
        x0, x1 = _extent(drawn, lane)
        assert x1 - x0 >= 0.25 * (right - left), (lane, x0, x1, left, right)
    # what each x axis is: its title names the lanes on it; no tick label or title runs into another
    texts = drawn["xticks"] + drawn["yticks"] + drawn["titles"]
    assert _collisions(texts) == [], _collisions(texts)
    titles = " ".join(t["text"] for t in drawn["titles"])
    assert all(f"{lane}:" in titles for lane in "ABC"), titles
    # the underflow label says what it counts, in words
    label = next(a for a in drawn["annotations"] if a["text"].startswith("smallest"))
    assert re.search(r"A:\d+of1000timesteps", re.sub(r"\s", "", label["text"])), label
    assert [t for t in texts if overlap(t, label)] == [], label
    snap(page, f"chart3-lengths-{size['width']}", "#card-profile")
    # the gate strip: B's forget gate over the same x as B's curve above it, and named in a legend
    gates = _measure(page, "chart-gates", "d.querySelectorAll('.scatterlayer .trace').length >= 1")
    g0, g1 = _extent(gates, "B")
    b0, b1 = _extent(drawn, "B")
    assert g0 == pytest.approx(b0, abs=1.5) and g1 == pytest.approx(b1, abs=1.5), ((g0, g1), (b0, b1))
    names = [e["text"] for e in gates["legend"]]
    assert len(names) == 1 and names[0].startswith("B") and names[0].endswith("forget gate ft"), names
    strip_texts = gates["xticks"] + gates["yticks"] + gates["titles"] + gates["annotations"] + gates["legend"]
    assert _collisions(strip_texts) == [], _collisions(strip_texts)
    assert all(within_x(e, gates["chart"]) for e in strip_texts), strip_texts
    assert page_log.problems() == []


def test_chart_3_keeps_one_t_axis_for_lengths_within_a_factor_of_ten(dashboard, page, page_log):
    # the sequence-length preset's T = 20 against T = 200: one axis shows how much further back the long lane reaches
    page.set_viewport_size(DESKTOP)
    page = dashboard("lanes=2&A.task=recall&A.seq_len=20&B.task=recall&B.seq_len=200"
                     + "".join(SMALL.format(n=n) for n in "AB"))
    drawn = _measure(page, "chart-profile", "d.querySelectorAll('.legend .traces').length >= 2")
    assert len(drawn["plots"]) == 1, drawn["plots"]
    assert page_log.problems() == []


# --- 3. before a run -------------------------------------------------------------------------------------------
CHARTS = ["chart-flow", "chart-saliency", "chart-profile", "chart-loss", "chart-norm", "chart-weight", "chart-spectral"]


@pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
def test_before_a_run_the_placeholders_and_ticks_fit(dashboard, page, page_log, size):
    page.set_viewport_size(size)
    page = dashboard("preset=activations")
    problems = []
    for chart in CHARTS:
        drawn = _measure(page, chart, "d.querySelectorAll('g.annotation, .scatterlayer .trace').length > 0")
        titles = drawn["titles"] + drawn["yticks"] + drawn["xticks"]
        for note in drawn["annotations"]:
            if not within_x(note, drawn["chart"]):
                problems.append(("cut by the chart's edge", chart, note["text"], note, drawn["chart"]))
            if [t for t in titles if overlap(t, note)]:
                problems.append(("on an axis title or tick label", chart, note["text"]))
        for ticks in (drawn["yticks"], drawn["xticks"]):
            problems += [("tick labels on each other", chart, pair) for pair in _collisions(ticks)]
        if chart in ("chart-loss", "chart-norm"):  # the placeholder: whole, over the plot
            notes = [a for a in drawn["annotations"] if "appear" in a["text"]]
            assert len(notes) == 1, (chart, drawn["annotations"])
            if not within_x(notes[0], drawn["plots"][0]):
                problems.append(("placeholder beyond the plot", chart, notes[0], drawn["plots"][0]))
    snap(page, f"placeholders-{size['width']}", "#card-norm")
    assert problems == [], "\n".join(map(str, problems))
    assert page_log.problems() == []


# --- 4. the names of the chance and threshold lines ----------------------------------------------------------
LINES = """(id) => [...document.getElementById(id).querySelectorAll('.shapelayer path')].map((e) => {
    const r = e.getBoundingClientRect(); return {left: r.left, top: r.top, right: r.right, bottom: r.bottom}; })
    .filter((b) => b.bottom - b.top < 3 && b.right - b.left > 20)"""  # the horizontal ones


def _line_label_problems(page, chart: str, word: str, count: int) -> list:
    drawn = _measure(page, chart, "d.querySelectorAll('.scatterlayer .trace').length >= 2")
    lines = page.evaluate(LINES, chart)
    labels = [a for a in drawn["annotations"] if a["text"].startswith(word)]
    assert len(labels) == count, (chart, [a["text"] for a in drawn["annotations"]])
    problems = []
    for label in labels:
        on = _points_in(drawn, label)
        if on:
            problems.append(("label on data", chart, label["text"], on[:3]))
        if not inside(label, drawn["chart"]):
            problems.append(("label cut by the chart's edge", chart, label))
        covered = [b for b in drawn["buttons"] + drawn["legend"] + drawn["yticks"] + drawn["xticks"] + drawn["titles"]
                   if overlap(b, label)]
        if covered:
            problems.append(("label on the modebar, legend or axes", chart, label["text"], covered))
        # at its line's right end, level with it (two lines a few px apart: their names one above the other)
        beside = [line for line in lines if abs(label["left"] - line["right"]) < 12
                  and label["top"] - 30 <= line["top"] <= label["bottom"] + 30]
        if not beside:
            problems.append(("label not beside a line's end", chart, label, lines))
    problems += [("labels on each other", chart, pair) for pair in _collisions(labels)]
    # the narrower plot leaves the chart's other notes inside it, off the axes (the clipping strip's scale title)
    problems += [("note beyond the plot, on the axes", chart, note["text"]) for note in drawn["annotations"]
                 if [t for t in drawn["yticks"] + drawn["titles"] if overlap(t, note)]]
    return problems


@pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
def test_chance_and_threshold_labels_hide_no_data(dashboard, page, page_log, size):
    page = _open_and_run(dashboard, page, size, "preset=relu-clipping")
    problems = _line_label_problems(page, "chart-norm", "threshold", 1)
    problems += _line_label_problems(page, "chart-loss", "chance", 1)
    snap(page, f"line-labels-relu-clipping-{size['width']}", "#card-norm")
    # recall with the target at the end and at every step: two chance lines on each of loss and accuracy
    page = _open_and_run(dashboard, page, size, "preset=targets")
    problems += _line_label_problems(page, "chart-loss", "chance", 4)
    snap(page, f"line-labels-targets-{size['width']}", "#card-loss")
    assert problems == [], "\n".join(map(str, problems))
    assert page_log.problems() == []


# --- 5. chart 1 on a phone ------------------------------------------------------------------------------------
def test_on_a_phone_chart_1_keeps_the_modebar_off_its_colour_bar_and_names_each_lane(dashboard, page, page_log):
    # 390 px, two lanes, the first on a step axis of its own: panels of ~60 px, where the titles were cut down to
    # "A" and "B" (the labels "no clip" and "clip 1.0" dropped), and the modebar's buttons touched the colour bar's
    # title (relative mode: "log10 ratio to t = T−1", the bar's full height)
    page = _open_and_run(dashboard, page, PHONE, DEAD_RELU)
    for scale in ("absolute", "relative"):
        page.select_option("#flow-scale", scale)
        drawn = _measure(page, "chart-flow", "d.querySelectorAll('.colorbar .cbfills').length > 0")
        assert drawn["buttons"] and drawn["colorbar"], drawn
        covered = [(part["text"], button) for part in drawn["colorbar"] + drawn["annotations"]
                   for button in drawn["buttons"] if overlap(part, button, slack=0)]
        assert covered == [], (scale, covered)
    titles = [a for a in drawn["annotations"] if re.match(r"^[AB]\b", a["text"]) and "diverged" not in a["text"]]
    assert [re.sub(r"\s+", " ", t["text"]) for t in titles] == ["A · no clip", "B · clip 1.0"], titles
    panels = sorted(drawn["plots"], key=lambda p: p["left"])
    for title, panel, next_panel in zip(titles, panels, [*panels[1:], None], strict=True):
        assert title["left"] >= panel["left"] - 1, (title, panel)
        limit = next_panel["left"] if next_panel else drawn["chart"]["right"]
        assert title["right"] <= limit, (title, panel, next_panel)
    assert _collisions(titles + drawn["colorbar"]) == []
    snap(page, "chart1-phone-titles-modebar", "#card-flow")
    assert page_log.problems() == []
