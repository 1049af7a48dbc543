"""A teacher's QA pass over the charts, measured on the rendered page:

1. Chart 2: lanes of one length placed a timestep at different x (each lane sampled its own timesteps).
2. Chart 3's float32 note said a plain float32 pass "reads 0" below the smallest normal number (it goes subnormal).
3. Chart 4 drew only the raw per-batch loss: the presets' "mean of the last 50 steps" could not be seen.
4. A run whose lanes all ended early kept the planned 0-500 step axis; step axes ticked half-steps.
5. Chart 3's boxed formula broke mid-expression ("(γ" / "σmax)^T−1−t").
6. Chart 7's line names ("γσmax = 1" over "γ = 1") were cryptic.
7. The saliency strip of a lane beside one on its own step axis had no tick labels.
8. Chart 1's relative subtitle spoke of orders of magnitude "lost", also for an exploding lane.
9. Chance lines that differ between target = last and every were not explained."""
from __future__ import annotations

import re

import pytest

from tests.e2e.chart_boxes import overlap
from tests.e2e.conftest import snap
from tests.e2e.test_dashboard import run_and_wait, run_history

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1600, "height": 1000}

# chart 2: per lane, {t: px} of its hidden-state nodes, its timestep labels and its shaded spans' [left, right] px
UNROLLED_PLACES = """() => {
    const div = document.getElementById('chart-unrolled');
    const ax = div._fullLayout.xaxis;
    const px = (x) => ax.l2p(x);
    const nodes = {}, ticks = {};
    for (const t of div.data) {
        if (t.name === 'ht' || t.name === 'ht (no gradient)') {
            t.hovertext.forEach((h, i) => { const m = h.match(/· h(\\d+)</);
                (nodes[t.customdata[i]] ||= {})[m[1]] = px(t.x[i]); });
        }
        if (t.name === 'ticks') t.text.forEach((s, i) => { (ticks[t.customdata[i]] ||= {})[s] = px(t.x[i]); });
    }
    const spans = (div.layout.shapes || []).filter((s) => s.type === 'rect')
        .map((s) => ({y: s.y0, left: px(s.x0), right: px(s.x1)}));
    return {nodes, ticks, spans};
}"""

# every "(γ σ...)" / "(σ...)" expression in the notes, to the end of the exponent that follows it: how tall its
# boxes are together, against the paragraph's line height (a break puts them on two lines)
FORMULA_LINES = """() => {
    const out = [];
    for (const note of document.querySelectorAll('.note')) {
        const walker = document.createTreeWalker(note, NodeFilter.SHOW_TEXT);
        for (let node = walker.nextNode(); node; node = walker.nextNode()) {
            for (const m of node.data.matchAll(/\\((γ[\\s\\u00a0\\u2009\\u202f]*)?σ/g)) {
                const range = document.createRange();
                range.setStart(node, m.index);
                let sup = null;
                for (let n = node.nextSibling; n; n = n.nextSibling) {
                    if (n.nodeType === 1 && n.tagName === 'SUP') { sup = n; break; }
                    if (n.nodeType === 1) { const s = n.querySelector('sup'); if (s) { sup = s; break; } }
                }
                if (!sup) continue;
                range.setEndAfter(sup);
                const rects = [...range.getClientRects()].filter((r) => r.width > 0);
                if (!rects.length || !note.offsetParent) continue;
                const top = Math.min(...rects.map((r) => r.top)), bottom = Math.max(...rects.map((r) => r.bottom));
                out.push({text: range.toString(), tall: bottom - top,
                          line: parseFloat(getComputedStyle(node.parentElement).lineHeight)});
            }
        }
    }
    return out;
}"""

# a chart's annotations whose text matches `word`: text and screen box; and the plot area's box
ANNOTATIONS = """([id, word]) => {
    const div = document.getElementById(id);
    const box = (e) => { const r = e.getBoundingClientRect();
        return {left: r.left, top: r.top, right: r.right, bottom: r.bottom}; };
    const notes = [...div.querySelectorAll('g.annotation')].filter((a) => a.textContent.includes(word))
        .map((a) => ({text: a.textContent, ...box(a.querySelector('rect') || a)}));
    return {notes, plot: box(div.querySelector('.nsewdrag')), chart: box(div),
            buttons: [...div.querySelectorAll('.modebar-btn')].map(box)};
}"""


def _chart_ready(page, chart: str, ready: str = "true") -> None:
    page.locator(f"#chart-{chart}").scroll_into_view_if_needed()
    page.wait_for_function(f"() => {ready}", timeout=20_000)
    page.wait_for_timeout(700)  # a pending redraw (one chart per animation frame) settles


# --- 1, 2, 5, 6, 8: before a run (the preview), a sigmoid lane and a truncated one of one length ------------------
@pytest.mark.parametrize("size", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_preview_lanes_share_timesteps_and_notes_read_true(dashboard, page, page_log, size):
    page.set_viewport_size(size)
    # the preset's T = 60, k = 10 (5 cuts, each drawn with a node on both sides); A a sigmoid whose curve underflows
    page = dashboard("preset=truncated-bptt&lanes=2&A.activation=sigmoid&A.spectral_radius=0.5")
    where = "phone" if size is PHONE else "desktop"

    # 1. chart 2: one timestep, one x, in both lanes (within 1 px): nodes, labels and the shaded spans
    _chart_ready(page, "unrolled", "(document.getElementById('chart-unrolled').data || [])"
                 ".some((t) => t.name === 'ticks' && t.customdata.includes(1))")
    drawn = page.evaluate(UNROLLED_PLACES)
    a, b = drawn["nodes"]["0"], drawn["nodes"]["1"]
    assert set(a) == set(b), (sorted(map(int, a)), sorted(map(int, b)))
    assert all(abs(a[t] - b[t]) <= 1 for t in a), {t: (a[t], b[t]) for t in a if abs(a[t] - b[t]) > 1}
    ta, tb = drawn["ticks"]["0"], drawn["ticks"]["1"]
    assert ta.keys() == tb.keys() and all(abs(ta[t] - tb[t]) <= 1 for t in ta), (ta, tb)
    rows = sorted({s["y"] for s in drawn["spans"]}, reverse=True)
    by_row = [sorted((s["left"], s["right"]) for s in drawn["spans"] if s["y"] == y) for y in rows]
    assert len(by_row) == 2 and len(by_row[0]) == len(by_row[1]) == 2, drawn["spans"]
    assert all(abs(p - q) <= 1 for s, u in zip(*by_row, strict=True) for p, q in zip(s, u, strict=True)), by_row
    snap(page, f"teacher-qa-chart2-{where}", "#card-unrolled")

    # 2. chart 3: below the smallest normal float32 a plain pass goes subnormal; it reads 0 only below 10^-44.9
    _chart_ready(page, "profile", "[...document.querySelectorAll('#chart-profile g.annotation')]"
                 ".some((a) => a.textContent.includes('float32'))")
    drawn = page.evaluate(ANNOTATIONS, ["chart-profile", "float32"])
    assert len(drawn["notes"]) == 1, drawn
    note = drawn["notes"][0]
    text = note["text"].replace("\u00a0", " ").replace("\u200b", "").replace("-", "−")
    assert "subnormal" in text and "10−44.9" in text and "normal" in text, text
    assert not re.search(r"below it a plain float32 \w+ ?\w* pass reads 0", text), text
    assert re.search(r"A: \d+ of 60\s*timesteps", text), text  # what the count counts: A's timesteps below 10^-37.9
    plot = drawn["plot"]
    assert note["left"] >= plot["left"] - 1 and note["right"] <= plot["right"] + 1, (note, plot)
    snap(page, f"teacher-qa-chart3-{where}", "#card-profile")

    # 5. the notes' formulas are not broken mid-expression
    formulas = page.evaluate(FORMULA_LINES)
    assert len(formulas) >= 3, formulas
    broken = [f for f in formulas if f["tall"] > 1.5 * f["line"]]
    assert broken == [], broken

    # 6. chart 7: each dashed line named in words, the names apart, inside the chart and clear of the modebar
    _chart_ready(page, "spectral", "document.querySelectorAll('#chart-spectral .shapelayer path').length >= 2")
    drawn = page.evaluate(ANNOTATIONS, ["chart-spectral", "γσ"])
    names = drawn["notes"]
    assert len(names) == 2, names
    for name in names:
        assert "stability" in name["text"], name["text"]
        assert name["right"] <= drawn["chart"]["right"] + 0.5, (name, drawn["chart"])
        assert [btn for btn in drawn["buttons"] if overlap(btn, name)] == [], name
    assert any("sigmoid" in n["text"] for n in names), names
    assert not overlap(names[0], names[1]), names
    snap(page, f"teacher-qa-chart7-{where}", "#card-spectral")

    # 8. chart 1's relative subtitle: lost (vanishing) or gained (exploding)
    sub = page.locator("#flow-sub [data-scale='relative']").text_content()
    assert "gained" in sub, sub
    assert page_log.problems() == []


# --- 4. a run whose only lane diverged at step 2: its axes span the steps trained, ticked in whole steps ---------
STEP_TICKS = """() => {
    const ticks = (id, sel) => [...document.querySelectorAll(`#${id} ${sel}`)].map((t) => t.textContent);
    const range = (id) => document.getElementById(id)._fullLayout.xaxis.range;
    return {norm: ticks('chart-norm', '.xtick text'), loss: ticks('chart-loss', '.xtick text'),
            spectral: ticks('chart-spectral', '.xtick text'), flow: ticks('chart-flow', '.ytick text'),
            ranges: {norm: range('chart-norm'), loss: range('chart-loss'), spectral: range('chart-spectral')}};
}"""


def test_a_run_that_ended_early_spans_the_steps_it_trained(dashboard, page, page_log):
    page.set_viewport_size(DESKTOP)
    page = dashboard("lanes=1&A.activation=relu&A.spectral_radius=1.5&A.seq_len=30&A.optimizer=sgd"
                     "&A.learning_rate=0.05&A.clip=per_timestep")
    assert run_and_wait(page) == "done"
    for chart in ("flow", "loss", "norm", "spectral"):
        _chart_ready(page, chart)
    drawn = page.evaluate(STEP_TICKS)
    for chart in ("flow", "norm", "loss", "spectral"):
        labels = [t.replace("−", "-") for t in drawn[chart]]
        assert labels and all(re.fullmatch(r"-?\d+", t) for t in labels), (chart, labels)
        assert all(int(t) >= 0 for t in labels), (chart, labels)
    for chart, (low, high) in drawn["ranges"].items():
        assert low >= -1 and high <= 4, (chart, drawn["ranges"])  # steps 0-2, not 0-499
    snap(page, "teacher-qa-early-divergence-norm", "#card-norm")
    assert page_log.problems() == []


# --- 4 and 7. the exploding preset, lane B short: its saliency strip is labelled; the axes end at B's steps ------
SALIENCY_TICKS = """() => {
    const div = document.getElementById('chart-saliency');
    const fl = div._fullLayout;
    const panel = (xid) => { const ax = fl[xid.replace('x', 'xaxis')];
        return [ax._offset, ax._offset + ax._length]; };
    return {panels: {A: panel('x'), B: panel('x2')},
            ticks: [...div.querySelectorAll('.yaxislayer-above text')].map((t) => ({text: t.textContent,
                x: t.getBoundingClientRect().right - div.getBoundingClientRect().left}))};
}"""


def test_exploding_preset_labels_lane_bs_saliency_and_ends_the_axes_at_its_steps(dashboard, page, page_log):
    page.set_viewport_size(DESKTOP)
    page = dashboard("preset=relu-clipping&B.steps=40")
    assert run_and_wait(page) == "done"
    _chart_ready(page, "saliency")
    drawn = page.evaluate(SALIENCY_TICKS)
    b_left = drawn["panels"]["B"][0]  # px from the chart's left edge
    near_b = [t for t in drawn["ticks"] if b_left - 50 < t["x"] <= b_left + 1]
    assert len(near_b) >= 2, drawn  # B's strip has numbers of its own at its left edge
    _chart_ready(page, "norm")
    assert page.evaluate("() => document.getElementById('chart-norm')._fullLayout.xaxis.range[1]") <= 41
    snap(page, "teacher-qa-saliency-desktop", "#card-flow")
    assert page_log.problems() == []


# --- 3 and 9. chart 4: a mean of the last 50 steps over the faint raw loss; the chance lines explained -----------
def test_loss_chart_draws_the_mean_of_the_last_50_steps_and_explains_chance(dashboard, page, page_log):
    page.set_viewport_size(DESKTOP)
    page = dashboard("preset=targets" + "".join(f"&{n}.steps=60&{n}.hidden_size=8&{n}.batch_size=8" for n in "AB"))
    assert run_and_wait(page) == "done"
    _chart_ready(page, "loss")
    figure = page.evaluate("""() => { const div = document.getElementById('chart-loss');
        return {data: div.data.map((t) => ({name: t.name, yaxis: t.yaxis, group: t.legendgroup ?? null,
                    x: Array.from(t.x || []), y: Array.from(t.y || []), opacity: t.opacity ?? 1,
                    hover: t.hovertemplate || '',
                    width: t.line?.width ?? null, showlegend: t.showlegend !== false, key: !!t.meta?.styleKey})),
                annotations: (div.layout.annotations || []).map((a) => ({text: a.text, hover: a.hovertext || ''})),
                legend: [...div.querySelectorAll('.legend .traces .legendtext')].map((t) => t.textContent)}; }""")
    history = run_history(page)
    for lane, events in zip("AB", history, strict=True):
        losses = [e["loss"] for e in events]
        mean = [t for t in figure["data"] if t["group"] == lane and t["yaxis"] == "y" and "last 50" in t["hover"]]
        raw = [t for t in figure["data"] if t["group"] == lane and t["yaxis"] == "y" and "last 50" not in t["hover"]]
        assert len(mean) == 1 and len(raw) == 1, (lane, [t["name"] for t in figure["data"]])
        assert mean[0]["x"][-1] == 59
        assert mean[0]["y"][-1] == pytest.approx(sum(losses[-50:]) / 50, rel=1e-6)
        assert mean[0]["y"][4] == pytest.approx(sum(losses[:5]) / 5, rel=1e-6)  # fewer than 50 steps: all so far
        assert raw[0]["opacity"] <= 0.5 < mean[0]["opacity"] and mean[0]["width"] > raw[0]["width"], (raw, mean)
    keys = [t["name"] for t in figure["data"] if t["key"]]
    assert len(keys) == 2 and any("per batch" in k for k in keys) and any("last 50" in k for k in keys), keys
    legend = figure["legend"]
    assert sum("last 50" in e for e in legend) == 1 and sum("per batch" in e for e in legend) == 1, legend
    # 9. the two chance lines (B's with a target at every step) say why they differ
    chance = [a for a in figure["annotations"] if a["text"].startswith("chance")]
    assert len(chance) == 4, chance  # loss and accuracy, A's and B's
    b_lines = [a for a in chance if "(B)" in a["text"]]
    assert b_lines and all("t = 0" in a["hover"] for a in b_lines), b_lines
    assert "target at every step" in page.locator("#card-loss .chart-sub").text_content()
    snap(page, "teacher-qa-chart4-desktop", "#card-loss")
    assert page_log.problems() == []
