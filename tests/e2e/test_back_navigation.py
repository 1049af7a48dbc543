"""Leaving the dashboard and coming back with the browser's Back (or Forward) button.

QA: open /?preset=value-vs-norm-clipping, Run, follow the header's API link (it opened /docs in the same
tab), press Back: the page started from scratch (progress "idle", chart 1 empty, CSV/JSON disabled)
although the run was still on the server, and a run still training was cancelled after the grace period
with nobody listening. Only a reload brought the run back (the navigation type "reload"; Back is
"back_forward"). Now Back/Forward bring the run back as a reload does, a run still going is followed on,
also from the back/forward cache, and the API link opens in a new tab. A link opened in the tab (a fresh
navigation) still starts afresh.

Also: after Back, now and then (about 1 page load in 5) chart 5 logged its axis lines as "<path> attribute d:
Expected number, "M63,NaNH666"" (and "M63.5,NaNVNaN"): its first draw came with the run's lanes attached and
none of its steps replayed yet, the clipping strip's heatmap all empty, so Plotly never set up the strip's axis
before laying out the axis lines for the margin the legend pushed. The strip's heatmap now waits for a cell.

And: a Plotly resize of a hidden chart (the LSTM gates strip, hidden once no lane is gated) was an
uncaught page error, "Resize must be passed a displayed plot div element".
"""
from __future__ import annotations

import pytest

from tests.e2e.conftest import REPORT_CSP_VIOLATIONS, VIEWPORT, snap
from tests.e2e.test_dashboard import RUN_TIMEOUT_MS, choose_preset, lane_statuses, run_history, set_field, traces

pytestmark = pytest.mark.browser

READY = "body[data-ready='true']"
PRESET = "value-vs-norm-clipping"
SMALL = ("lanes=2&A.steps=3000&A.hidden_size=8&A.batch_size=4&A.seq_len=30"
         "&B.steps=3000&B.hidden_size=8&B.batch_size=4&B.seq_len=30&B.activation=relu")
LONG = ("lanes=2&A.steps=20000&A.hidden_size=8&A.batch_size=4&A.seq_len=30"
        "&B.steps=20000&B.hidden_size=8&B.batch_size=4&B.seq_len=30&B.activation=relu")


def run_id(page) -> str | None:
    return page.evaluate("() => document.body.dataset.runId ?? null")


def run_status(page) -> str | None:
    return page.evaluate("() => document.body.dataset.runStatus ?? null")


def wait_for_steps(page, at_least: int) -> None:
    page.wait_for_function("(n) => parseInt(document.getElementById('progress-steps').textContent, 10) >= n",
                           arg=at_least, timeout=RUN_TIMEOUT_MS)


def wait_for_status(page, status: str, timeout: float = RUN_TIMEOUT_MS) -> None:
    page.wait_for_function("(s) => document.body.dataset.runStatus === s", arg=status, timeout=timeout)


def summary(page, rid: str) -> dict:
    return page.request.get(f"/api/runs/{rid}?history=false").json()


def exports_enabled(page, rid: str) -> bool:
    return page.evaluate("""(id) => ['csv', 'json'].every((f) => {
        const a = document.getElementById(`export-${f}`);
        return !a.classList.contains('disabled') && a.getAttribute('href') === `/api/runs/${id}/export?format=${f}`;
    })""", rid)


def assert_shows_whole_run(page, rid: str) -> None:
    """The charts are the run's, from its first step to the last (drawn from the replayed stream)."""
    assert run_id(page) == rid and exports_enabled(page, rid)
    assert page.locator("#progress-steps").text_content() != "idle"
    curves = {t["legendgroup"]: t for t in traces(page, "loss") if t["legendgroup"] in ("A", "B")}
    for lane_name, events in zip("AB", run_history(page), strict=True):
        loss = {e["step"]: e["loss"] for e in events}
        curve = curves[lane_name]
        assert curve["x"][0] == 0 and curve["x"][-1] == events[-1]["step"]
        assert curve["y"] == pytest.approx([loss[step] for step in curve["x"]])
    heat = [t for t in traces(page, "flow") if t["type"] == "heatmap"]
    assert heat and all(t["z"] and any(v is not None for row in t["z"] for v in row) for t in heat)  # chart 1 drawn


def test_back_from_the_docs_brings_the_run_back_and_follows_it_on(dashboard, page_log):
    """QA's steps: the preset, Run, leave for /docs in the same tab mid-run, Back."""
    page = dashboard(f"preset={PRESET}")
    page.click("#run")
    wait_for_steps(page, 20)
    rid = run_id(page)
    assert summary(page, rid)["status"] == "running"

    page.goto("/docs")  # as the header's API link did (and as any link followed in the tab does)
    page.wait_for_load_state()
    page.go_back()
    page.wait_for_selector(READY, timeout=20_000)
    assert run_id(page) == rid, "Back started the page afresh instead of bringing the run back"
    assert page.evaluate("() => new URLSearchParams(location.search).get('preset')") == PRESET
    # followed on: not cancelled for want of a listener, and the page sees it to its end
    wait_for_status(page, "done")
    done = summary(page, rid)
    assert done["status"] == "done" and done["cancel_reason"] is None and "cancelled" not in done["lane_status"]
    assert set(lane_statuses(page).values()) <= {"done", "diverged"}
    assert_shows_whole_run(page, rid)
    assert page.locator("#run").is_enabled() and page.locator("#run-outdated").is_hidden()
    snap(page, "back-navigation-followed-on")

    # Forward to the docs and Back again: the finished run at once, as it ended, nothing runs again
    events = done["events"]
    page.go_forward()
    page.wait_for_url("**/docs", timeout=20_000)
    page.go_back()
    page.wait_for_selector(READY, timeout=20_000)
    wait_for_status(page, "done")
    assert_shows_whole_run(page, rid)
    assert summary(page, rid)["events"] == events

    # a link opened in the tab is a fresh page, as before
    page.goto(f"/?preset={PRESET}")
    page.wait_for_selector(READY, timeout=20_000)
    assert run_id(page) is None and page.locator("#progress-steps").text_content() == "idle"
    assert page_log.problems() == []


def test_back_and_forward_show_each_pages_own_run(dashboard, page_log):
    """Two dashboards in the tab's history, each with its run: Back shows the earlier page's run (its
    settings are that run's), Forward the later one's; a run stopped part-way comes back cancelled."""
    page = dashboard(SMALL)
    page.click("#run")
    wait_for_status(page, "done")
    first = run_id(page)

    page.goto(f"/?{LONG}")  # a link opened in the tab: afresh
    page.wait_for_selector(READY, timeout=20_000)
    assert run_id(page) is None
    page.click("#run")
    wait_for_steps(page, 20)
    second = run_id(page)
    page.click("#stop")
    wait_for_status(page, "cancelled")

    page.go_back()
    page.wait_for_selector(READY, timeout=20_000)
    assert run_id(page) == first, "Back did not bring the earlier page's run back"
    wait_for_status(page, "done")
    assert page.locator("#run-outdated").is_hidden()  # the settings are that run's
    assert_shows_whole_run(page, first)

    page.go_forward()
    page.wait_for_selector(READY, timeout=20_000)
    assert run_id(page) == second
    wait_for_status(page, "cancelled")
    assert set(lane_statuses(page).values()) == {"cancelled"}
    assert page.locator("#run-outdated").is_hidden()
    assert_shows_whole_run(page, second)
    assert page_log.problems() == []


def test_the_api_link_opens_the_docs_in_a_new_tab_and_the_run_goes_on(dashboard, page_log, context):
    page = dashboard(SMALL)
    link = page.locator(".topbar a", has_text="API")
    assert link.get_attribute("href") == "/docs"
    assert link.get_attribute("target") == "_blank" and "noopener" in link.get_attribute("rel").split()
    page.click("#run")
    wait_for_steps(page, 20)
    rid = run_id(page)
    url = page.url
    with context.expect_page(timeout=10_000) as opened:
        link.click()
    docs = opened.value
    docs.wait_for_load_state()
    assert docs.url.endswith("/docs")
    docs.close()
    assert page.url == url  # the dashboard never left
    wait_for_status(page, "done")
    assert summary(page, rid)["status"] == "done"
    # the other header links are downloads of the run: the page stays where it is
    for fmt in ("csv", "json"):
        export = page.locator(f"#export-{fmt}")
        assert export.get_attribute("download") is not None and export.get_attribute("target") is None
        with page.expect_download(timeout=20_000) as download:
            export.click()
        assert download.value.suggested_filename.endswith(f".{fmt}")
        assert page.url == url and run_id(page) == rid
    assert page_log.problems() == []


def test_a_page_restored_from_the_back_forward_cache_follows_its_run_on(browser_type, browser_type_launch_args,
                                                                           base_url):
    """Playwright turns Chromium's back/forward cache off; this browser has it on. The page comes back
    frozen as it was left, its event stream possibly dead (the browser may close it, or the server end it;
    here the page's stream is closed before leaving): the page follows its run on from the last event."""
    browser = browser_type.launch(**browser_type_launch_args, ignore_default_args=["--disable-back-forward-cache"])
    try:
        context = browser.new_context(base_url=base_url, viewport=VIEWPORT)
        page = context.new_page()
        errors = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
        page.add_init_script(REPORT_CSP_VIOLATIONS)
        page.add_init_script("""(() => {
            const Native = window.EventSource;
            window.__streams = [];
            window.EventSource = class extends Native {
                constructor(...args) { super(...args); window.__streams.push(this); }
            };
            window.__restored = 0;
            addEventListener('pageshow', (event) => { if (event.persisted) window.__restored += 1; });
        })()""")
        page.goto(f"/?{SMALL}")
        page.wait_for_selector(READY, timeout=20_000)
        page.click("#run")
        wait_for_steps(page, 20)
        rid = run_id(page)
        page.evaluate("() => window.__streams.forEach((s) => s.close())")  # the connection dies
        page.goto("/docs")
        page.wait_for_timeout(500)
        page.go_back(wait_until="commit")  # a page from the cache fires no load event
        # from the cache, not reloaded (a reload would take the back_forward reattach path instead)
        page.wait_for_function("() => window.__restored === 1", timeout=10_000)
        assert run_id(page) == rid
        wait_for_status(page, "done", timeout=60_000)  # a dead stream never gets there
        assert summary(page, rid)["status"] == "done" and summary(page, rid)["steps_done"] == [3000, 3000]
        assert set(lane_statuses(page).values()) <= {"done", "diverged"}
        assert_shows_whole_run(page, rid)
        assert errors == []
    finally:
        browser.close()


def test_hiding_the_gates_strip_is_no_page_error(dashboard, page_log):
    """Four lanes, lane A an LSTM (the gates strip appears), then a preset without gated lanes: the strip
    is hidden, and the resize watcher must not ask Plotly to resize it."""
    page = dashboard(f"preset={PRESET}")
    while page.locator("#lane-table thead th.lane-head").count() < 4:
        page.click("#add-lane")
    set_field(page, 0, "cell", "lstm")
    page.wait_for_function("() => { const d = document.getElementById('chart-gates');"
                           " return !d.hidden && d.querySelector('.main-svg'); }", timeout=20_000)
    for _ in range(3):  # and back: each time the strip is hidden, then shown again
        choose_preset(page, PRESET)
        page.wait_for_function("() => document.getElementById('chart-gates').hidden", timeout=20_000)
        page.wait_for_timeout(400)  # a few frames: the resize observer's frame has run
        assert page_log.page_errors == []
        set_field(page, 0, "cell", "lstm")
        page.wait_for_function("() => !document.getElementById('chart-gates').hidden", timeout=20_000)
        page.wait_for_timeout(400)
    snap(page, "back-navigation-gates-shown")
    assert page_log.problems() == []


# Chart 5 drawn for the first time into a div of its own, as after Back: the run's clipping lanes attached, none
# of their steps there yet (the replayed stream's first events still on their way); then again with steps.
FIRST_NORM_DRAW = """async (steps) => {
    const { Charts, newLane } = await import('/static/js/charts.js');
    const div = document.createElement('div');
    div.className = 'chart chart-tall';
    div.dataset.chart = 'norm';
    document.getElementById('chart-norm').before(div);
    const charts = new Charts({ norm: div });
    const config = (clip, tau) => ({ activation: 'relu', seq_len: 30, steps: 500, clip, clip_threshold: tau });
    charts.lanes = [newLane(0, config('value', 0.1), 'ReLU, clip value 0.1'),
                    newLane(1, config('norm', 1.0), 'ReLU, clip norm 1.0')];
    const frames = () => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
    const look = () => {
        const fl = div._fullLayout;
        return {
            nanPaths: [...div.querySelectorAll('path')].map((p) => p.getAttribute('d') || '')
                .filter((d) => d.includes('NaN')),
            heatmaps: div.data.filter((t) => t.type === 'heatmap').length,
            y2: fl.yaxis2 ? [fl.yaxis2._offset, fl.yaxis2._length] : null,
            plotBottom: fl._size.t + fl._size.h,
        };
    };
    charts.draw('norm');
    await frames();
    const first = look();
    for (const lane of charts.lanes) {
        for (let step = 0; step < steps; step++) {
            lane.steps.push(step); lane.gradNorm.push(2 + (step % 3)); lane.gradNormClipped.push(1);
            if (step % 2) lane.clippedSteps.push(step);
        }
    }
    charts.draw('norm');
    await frames();
    const then = look();
    div.remove();
    return { first, then };
}"""


def test_chart_5_drawn_first_before_the_runs_first_step_has_no_nan_axis_lines(dashboard, page_log):
    """Deterministic: chart 5's first draw with clipping lanes and no step yet (the state Back's reattach could
    draw it in) logged its axis lines with NaN (its strip all empty); now the strip comes with its first steps."""
    page = dashboard(f"preset={PRESET}")
    drawn = page.evaluate(FIRST_NORM_DRAW, 10)
    first, then = drawn["first"], drawn["then"]
    # the browser's "<path> attribute d: Expected number, "M63,NaNH666"" (Plotly rewrote the path right after)
    assert page_log.problems() == []
    assert first["nanPaths"] == [] and then["nanPaths"] == []
    assert first["heatmaps"] == 0 and first["y2"] is None  # nothing to shade yet: no strip
    assert then["heatmaps"] == 1  # the strip, with the first steps: its axis at the bottom of the plot
    offset, length = then["y2"]
    assert length > 10 and offset + length == pytest.approx(then["plotBottom"], abs=1)


def test_back_between_presets_during_a_run_says_the_settings_are_not_the_runs(dashboard, page_log):
    """QA: pick a preset, Run, press Back while it trains: the preset box and lane editor showed the earlier
    entry's settings beside the charts of the run still training, and nothing said so (the "settings have
    changed" note was kept hidden during a run). Now the note says it, and what to do."""
    page = dashboard(SMALL)
    choose_preset(page, "cells")  # a new history entry
    page.click("#run")
    wait_for_steps(page, 3)
    rid = run_id(page)
    note = page.locator("#run-outdated")
    assert note.is_hidden()

    page.go_back()  # the same document: popstate, the earlier entry's settings
    page.wait_for_function("() => !new URLSearchParams(location.search).has('preset')")
    assert run_id(page) == rid and run_status(page) is None  # still this run, still training
    assert note.is_visible()
    assert note.text_content() == ("The charts show the run still training; the settings shown are another history "
                                   "entry's (Back/Forward). Stop the run, then press Run to train them.")
    assert page.locator("#lane0-hidden_size").is_disabled()  # the editor stays locked during the run
    snap(page, "back-during-run", "#run-panel")

    page.click("#stop")
    wait_for_status(page, "cancelled")
    assert note.text_content().startswith("The charts show the last run; the settings have changed since.")
    page.go_forward()  # the run's own settings again
    page.wait_for_function("() => new URLSearchParams(location.search).get('preset') === 'cells'")
    assert note.is_hidden()

    # review: edited after a run, then Run: the note was left on for the whole of the new run
    set_field(page, 0, "hidden_size", "16")
    assert note.is_visible()
    page.click("#run")
    wait_for_steps(page, 2)
    assert note.is_hidden()
    page.click("#stop")
    wait_for_status(page, "cancelled")
    assert page_log.problems() == []
