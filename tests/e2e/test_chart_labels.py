"""Text that names a mark stays off the data and beside what it names, measured on the rendered SVG:
chart 7's name of the line gamma * sigma_max = 1 lies on no curve (it sat on lane A's spectral radius at
1440 x 900), and on a phone chart 2 names both of temporal_order's informative spans (it named the first only).
Charts 3, 5 and 6 name their line styles in the legend, chart 5's clipping strip has a scale, chart 4 names its
loss in words and its accuracy in percent, and chart 1 says what its colours show in either mode."""
from __future__ import annotations

import re

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


# --- what the charts' line styles, units and quantities are called (a teacher's QA pass at 1440 x 900) ------
# Four lanes (RNN tanh, LSTM, GRU, ReLU RNN; all norm-clipped by default), small and short.
FOUR_LANES = "lanes=4&B.cell=lstm&C.cell=gru&D.activation=relu" + "".join(
    f"&{n}.task=recall&{n}.seq_len=30&{n}.hidden_size=8&{n}.batch_size=8&{n}.steps=6" for n in "ABCD")

# A chart's legend entries as drawn ({text, dash}: the stroke-dasharray of its line, "" for solid), the dash
# patterns of the curves drawn in its plot, and how many lanes it has.
LEGEND_AND_CURVES = """(id) => {
    const div = document.getElementById(id);
    const dash = (path) => { const d = path.style.strokeDasharray || '';
        return d === 'none' ? '' : d.replace(/\\s+/g, ''); };
    const entries = [...div.querySelectorAll('.legend .traces')].map((item) => {
        const line = item.querySelector('path.js-line');
        return {text: item.querySelector('.legendtext').textContent.replaceAll('\u200b', ''),
                dash: line ? dash(line) : null}; });
    const curves = [...div.querySelectorAll('.scatterlayer .trace path.js-line')]
        .filter((p) => p.getTotalLength() > 0).map(dash);
    return {entries, curves: [...new Set(curves)].sort()};
}"""


def _legend(page, chart: str) -> dict:
    return page.evaluate(LEGEND_AND_CURVES, f"chart-{chart}")


def test_every_line_style_is_named_once_in_its_charts_legend(dashboard, page, page_log):
    # Chart 3 draws a dashed bound per RNN lane and the LSTM's dotted ||dL/dc_t||, chart 5 a dotted ||g||
    # after clipping per lane, chart 6 a dashed W_x share per lane, chart 7 a dotted spectral radius: each
    # style is named by one grey legend entry (only the subtitles said so, and chart 3's legend had an entry
    # per LSTM lane for its dotted line).
    page.set_viewport_size({"width": 1440, "height": 900})
    page = dashboard(FOUR_LANES)
    assert run_and_wait(page) == "done"
    expected = {  # chart -> the style key's entries (text, solid or not), the lanes' own style first
        "profile": [("‖∂L/∂ht‖", False), ("upper bound (vanilla RNN)", True), ("‖∂L/∂ct‖ (LSTM cell state)", True)],
        "norm": [("‖g‖ before clipping", False), ("after clipping", True)],
        "weight": [("recurrent Wh", False), ("input Wx", True)],
        "spectral": [("σmax(Wh)", False), ("spectral radius ρ(Wh)", True)],  # chart 7: solid every step, dotted
    }
    for chart, key in expected.items():
        page.locator(f"#chart-{chart}").scroll_into_view_if_needed()
        page.wait_for_function("(id) => document.getElementById(id).querySelectorAll('.legend .traces').length >= 4",
                               arg=f"chart-{chart}", timeout=20_000)
        page.wait_for_timeout(300)  # a pending redraw (one chart per animation frame) settles
        drawn = _legend(page, chart)
        texts = [e["text"] for e in drawn["entries"]]
        lanes = [t for t in texts if re.match(r"^[ABCD] · ", t)]
        assert len(lanes) == 4, (chart, texts)  # one entry a lane: its colour
        assert texts[len(lanes):] == [text for text, _ in key], (chart, texts)  # then the key, once per style
        styles = {e["text"]: e["dash"] for e in drawn["entries"]}
        assert [bool(styles[text]) for text, _ in key] == [dashed for _, dashed in key], (chart, styles)
        # every pattern the plot draws is named in the legend, and the key's patterns differ from each other
        assert set(drawn["curves"]) <= set(styles.values()), (chart, drawn)
        assert len({styles[text] for text, _ in key}) == len(key), (chart, styles)
    # a key entry stands for no trace: clicking or double-clicking it hides nothing (a double-click isolated it,
    # hiding every lane)
    page.locator("#chart-profile").scroll_into_view_if_needed()
    bound = page.locator("#chart-profile .legend .traces").filter(has_text="upper bound")
    bound.locator(".legendtoggle").click()
    page.wait_for_timeout(600)
    bound.locator(".legendtoggle").dblclick()
    page.wait_for_timeout(600)
    assert page.evaluate("() => document.getElementById('chart-profile')._fullData"
                         ".every((t) => t.visible === true)")
    snap(page, "chart3-style-key", "#card-profile")
    snap(page, "chart6-style-key", "#card-weight")
    assert page_log.problems() == []


def test_the_clipping_strip_has_a_scale_between_the_plot_and_the_strip(dashboard, page, page_log):
    page.set_viewport_size({"width": 1440, "height": 900})
    page = dashboard(FOUR_LANES)
    assert run_and_wait(page) == "done"
    page.locator("#chart-norm").scroll_into_view_if_needed()
    page.wait_for_function("() => document.querySelector('#chart-norm .heatmaplayer image')", timeout=20_000)
    page.wait_for_timeout(300)
    assert page.locator("#chart-norm .colorbar").count() == 1  # the strip's scale
    drawn = page.evaluate("""() => {
        const div = document.getElementById('chart-norm');
        const top = div.getBoundingClientRect().top;
        const box = (e) => { const r = e.getBoundingClientRect();
            return {left: r.left, top: r.top, right: r.right, bottom: r.bottom}; };
        const bar = div.querySelector('.colorbar');
        const title = [...div.querySelectorAll('g.annotation')].find((a) => a.textContent.includes('clipped'));
        const {yaxis, yaxis2} = div._fullLayout;
        return {bar: box(bar), ticks: [...bar.querySelectorAll('text')].map((t) => t.textContent),
                title: title ? {...box(title), text: title.textContent} : null, chart: box(div),
                plotBottom: top + yaxis._offset + yaxis._length, stripTop: top + yaxis2._offset};
    }""")
    assert {"0%", "50%", "100%"} <= set(drawn["ticks"]), drawn
    assert drawn["title"] and drawn["title"]["text"] == "share of steps clipped:", drawn
    for part in (drawn["bar"], drawn["title"]):  # in the gap: on neither the curves nor the strip
        assert drawn["plotBottom"] - 0.5 <= part["top"] and part["bottom"] <= drawn["stripTop"] + 0.5, (part, drawn)
        assert part["right"] <= drawn["chart"]["right"], part
    assert drawn["title"]["right"] <= drawn["bar"]["left"], drawn  # beside it, on its left
    snap(page, "chart5-clipping-scale", "#card-norm")
    assert page_log.problems() == []


def _hover_text(page, chart: str, curve: int, subplot: str) -> str:
    """The hover label Plotly draws on point 2 of a trace (Plotly throttles hovers: one at a time, waited for)."""
    page.evaluate("""([id, curve, subplot]) => window.Plotly.Fx.hover(document.getElementById(id),
        [{curveNumber: curve, pointNumber: 2}], subplot)""", [f"chart-{chart}", curve, subplot])
    page.wait_for_timeout(300)
    return page.evaluate("""(id) => [...document.getElementById(id).querySelectorAll('.hoverlayer .hovertext')]
        .map((h) => h.textContent).join(' | ')""", f"chart-{chart}")


def test_chart_4_says_losses_in_words_and_accuracy_in_percent(dashboard, page, page_log):
    page.set_viewport_size({"width": 1440, "height": 900})
    page = dashboard("lanes=1&A.task=recall&A.seq_len=20&A.hidden_size=8&A.batch_size=8&A.steps=6")
    assert run_and_wait(page) == "done"
    page.locator("#chart-loss").scroll_into_view_if_needed()
    page.wait_for_function("() => document.querySelectorAll('#chart-loss .yaxislayer-above .y2tick text').length",
                           timeout=20_000)
    page.wait_for_timeout(300)
    layout = page.evaluate("() => document.getElementById('chart-loss').layout")
    assert layout["yaxis"]["title"]["text"] == "loss (cross-entropy)"
    assert "_" not in page.locator("#chart-loss").text_content()  # no API identifier on screen
    ticks = page.eval_on_selector_all("#chart-loss .y2tick text", "(nodes) => nodes.map((n) => n.textContent)")
    assert ticks == ["0%", "50%", "100%"], ticks
    # the chance line stays where the curves' 0-1 values put it, and its label is in percent too
    chance = next(s["y0"] for s in layout["shapes"] if s["yref"] == "y2")
    info = page.request.post("/api/profile", data={"task": "recall", "seq_len": 20, "hidden_size": 8,
                                                   "batch_size": 8}).json()["task_info"]
    assert chance == pytest.approx(info["chance_metric"])
    label = next(a["text"] for a in layout["annotations"] if a["yref"] == "y2")
    assert label == f"chance {100 * info['chance_metric']:.3g}%", label
    names = page.evaluate("() => document.getElementById('chart-loss').data.map((t) => t.yaxis)")
    loss_hover = _hover_text(page, "loss", names.index("y"), "xy")
    assert "loss (cross-entropy) = " in loss_hover, loss_hover
    metric_hover = _hover_text(page, "loss", names.index("y2"), "xy2")
    assert re.search(r"accuracy = \d+(\.\d)?%", metric_hover), metric_hover
    snap(page, "chart4-words-and-percent", "#card-loss")
    # adding's loss is its metric: MSE, in capitals, on one axis
    page = dashboard("lanes=1&A.task=adding&A.seq_len=20&A.hidden_size=8&A.batch_size=8&A.steps=6")
    page.wait_for_function("() => (document.getElementById('chart-loss').layout?.yaxis?.title?.text || '')"
                           ".includes('MSE')", timeout=20_000)
    assert page.evaluate("() => document.getElementById('chart-loss').layout.yaxis.title.text") \
        == "loss = metric (MSE)"
    assert page_log.problems() == []


COLOUR_BAR_TITLE = "() => document.querySelector('#chart-flow .colorbar .cbtitle')?.textContent"


def test_chart_1_says_what_its_colours_show_in_each_mode(dashboard, page, page_log):
    page.set_viewport_size({"width": 1440, "height": 900})
    page = dashboard("lanes=2&B.activation=sigmoid" + "".join(
        f"&{n}.seq_len=20&{n}.hidden_size=8&{n}.batch_size=8&{n}.steps=4" for n in "AB"))
    assert run_and_wait(page) == "done"
    subtitle = page.locator("#card-flow .chart-sub")
    page.wait_for_function(f"() => ({COLOUR_BAR_TITLE})() === 'log10 ‖∂L/∂hₜ‖'", timeout=20_000)
    assert subtitle.inner_text().startswith("log10 ‖∂L/∂ht‖ per timestep (columns)"), subtitle.inner_text()
    page.select_option("#flow-scale", "relative")
    page.wait_for_function(f"() => ({COLOUR_BAR_TITLE})() === 'log10 ratio to t = T−1'", timeout=20_000)
    text = subtitle.inner_text()  # the visible text: the absolute phrase is hidden
    assert text.startswith("log10 ‖∂L/∂ht‖ − log10 ‖∂L/∂hT−1‖ (the orders of magnitude lost going back"), text
    assert text.count("log10 ‖∂L/∂ht‖") == 1, text
    snap(page, "chart1-relative", "#card-flow")
    page.select_option("#flow-scale", "absolute")
    page.wait_for_function(f"() => ({COLOUR_BAR_TITLE})() === 'log10 ‖∂L/∂hₜ‖'", timeout=20_000)
    assert subtitle.inner_text().startswith("log10 ‖∂L/∂ht‖ per timestep (columns)"), subtitle.inner_text()
    # a link in relative mode opens with the relative subtitle
    page = dashboard("colour=relative&lanes=1&A.seq_len=20&A.hidden_size=8")
    assert subtitle.inner_text().startswith("log10 ‖∂L/∂ht‖ − log10 ‖∂L/∂hT−1‖"), subtitle.inner_text()
    assert page_log.problems() == []


def test_chart_1_note_says_what_the_colours_mean_in_each_mode(dashboard, page, page_log):
    # The note said "a bright left edge means the signal is blowing up (exploding)" in either mode; in the
    # relative mode bright means large against the row's own last timestep, e.g. a target-every lane's left
    # edge, a few tenths of an order above t = T-1, with nothing exploding.
    page.set_viewport_size({"width": 1440, "height": 900})
    page = dashboard("lanes=1&A.seq_len=20&A.hidden_size=8")
    note = page.locator("#card-flow .note")
    page.select_option("#flow-scale", "relative")
    text = " ".join(note.inner_text().split())  # the visible text: the other mode's phrase is hidden
    assert "bright left edge means" not in text, text
    assert "Colour: each row minus its value at t = T−1 (the last column is 0)" in text, text
    assert "not a large gradient" in text and "itself, bright = large" not in text, text
    # with a target at every step, in either mode: a slightly brighter left edge is no explosion
    assert "terms adding up, not an explosion" in text, text
    page.select_option("#flow-scale", "absolute")
    text = " ".join(note.inner_text().split())
    assert "Colour: log10 ‖∂L/∂ht‖ itself, bright = large" in text, text
    assert "minus its value at t = T−1" not in text and "not a large gradient" not in text, text
    assert "terms adding up, not an explosion" in text, text
    # a link in relative mode opens with the relative note
    page = dashboard("colour=relative&lanes=1&A.seq_len=20&A.hidden_size=8")
    text = " ".join(note.inner_text().split())
    assert "minus its value at t = T−1" in text and "itself, bright = large" not in text, text
    snap(page, "chart1-note-relative", "#card-flow")
    assert page_log.problems() == []
