"""A teacher's QA of the page's state: history entries, presets after a run, links, keyboard focus.

QA found:
1. Back pressed while the cursor was still in an edited lane field (seq len 80 typed) wrote the edit into
   the entry Back returned to: the field's late `change` event came from the table the restored lanes had
   replaced, and the page applied it to them and replaced that entry's URL ("A · sigmoid, T=80", "modified").
2. After a run, a preset picked never showed its picture at initialisation (chart 3 kept "latest snapshot ·
   step 499"), which its explanation talks about; its new history entry carried the old run along.
3. A link with a preset and settings of lane A only (`?preset=relu-clipping&A.clip=per_timestep`) opened one
   lane: the lane count came from the link, not from the preset.
4. Enter or Space on Run disabled the button under the focus, which fell to the page's body (Stop's too when
   the run ended); the lane inputs were named "Lane A hidden_size" for screen readers, not as the table reads.
"""
from __future__ import annotations

import pytest

from tests.e2e.conftest import snap
from tests.e2e.test_back_navigation import run_id, run_status, wait_for_status
from tests.e2e.test_dashboard import choose_preset, lane_count, presets, run_and_wait, traces

pytestmark = pytest.mark.browser

SMALL = ("lanes=2&A.steps=50&A.hidden_size=8&A.batch_size=4&A.seq_len=20"
         "&B.steps=50&B.hidden_size=8&B.batch_size=4&B.seq_len=20&B.activation=relu")
LONG = SMALL.replace("steps=50", "steps=20000")


def query(page) -> dict[str, str]:
    return dict(page.evaluate("() => [...new URLSearchParams(location.search)]"))


def lane_values(page, field: str) -> list[str]:
    return page.eval_on_selector_all(f"#lane-table [data-field='{field}']:is(input, select)",
                                     "(els) => els.map((e) => e.value)")


def profile_captions(page) -> list[str]:
    """Chart 3's annotations: "at initialisation (preview of ...)" before a run, "latest snapshot · ..." after."""
    return page.evaluate("() => (document.getElementById('chart-profile').layout.annotations || [])"
                         ".map((a) => a.text || '')")


def legend_names(page, chart: str = "loss") -> set[str]:
    return {t["name"] for t in traces(page, chart) if t["legendgroup"] in ("A", "B", "C", "D")}


def test_back_with_an_edited_field_still_focused_leaves_the_earlier_entry_as_it_was(dashboard, page_log):
    page = dashboard()
    choose_preset(page, "activations")
    activations = page.url
    choose_preset(page, "truncated-bptt")
    page.click("#lane0-seq_len")
    page.keyboard.press("Control+A")
    page.keyboard.type("80")
    page.wait_for_function("() => new URLSearchParams(location.search).get('A.seq_len') === '80'")
    page.go_back()  # the cursor still in the field
    page.wait_for_function("() => new URLSearchParams(location.search).get('preset') === 'activations'")
    page.wait_for_timeout(500)  # a late change event, and the preview it would schedule, have come and gone
    assert page.url == activations
    assert lane_values(page, "seq_len") == ["100", "100", "100"]
    assert page.locator("#preset-explanation .tag").count() == 0  # not "modified"
    page.go_forward()  # the edit stays where it was made
    page.wait_for_function("() => new URLSearchParams(location.search).get('preset') === 'truncated-bptt'")
    assert query(page)["A.seq_len"] == "80" and lane_values(page, "seq_len") == ["80", "60"]
    page.go_back()
    page.wait_for_function("() => new URLSearchParams(location.search).get('preset') === 'activations'")
    page.wait_for_timeout(300)
    assert page.url == activations and lane_values(page, "seq_len") == ["100", "100", "100"]
    assert page_log.problems() == []


def test_a_preset_picked_after_a_run_shows_its_start_and_back_shows_the_run(dashboard, page_log):
    page = dashboard(SMALL)
    assert run_and_wait(page) == "done"
    rid = run_id(page)
    page.wait_for_function("() => (document.getElementById('chart-profile').layout.annotations || [])"
                           ".some((a) => (a.text || '').startsWith('latest snapshot'))", timeout=20_000)
    run_loss = [(t["name"], t["y"]) for t in traces(page, "loss")]

    choose_preset(page, "activations")  # a new history entry, as on a fresh page: the preset at initialisation
    page.wait_for_function("() => (document.getElementById('chart-profile').layout.annotations || [])"
                           ".some((a) => (a.text || '').startsWith('at initialisation'))", timeout=20_000)
    page.wait_for_function("() => new Set(document.getElementById('chart-loss').data.map((t) => t.legendgroup)"
                           ".filter((g) => ['A', 'B', 'C'].includes(g))).size === 3", timeout=20_000)
    assert run_id(page) is None and run_status(page) is None
    assert page.locator("#run-outdated").is_hidden() and page.locator("#progress-steps").text_content() == "idle"
    assert page.locator("#lane-status li").count() == 0 and page.locator("#export-csv.disabled").count() == 1
    assert page.evaluate("() => history.state && history.state.run") is None  # the entry holds no run
    assert any(name.startswith("A · ") and "sigmoid" in name for name in legend_names(page)), legend_names(page)
    snap(page, "preset-after-run-preview")

    page.go_back()  # the run's entry: its run again, as it ended
    page.wait_for_function("(id) => document.body.dataset.runId === id", arg=rid, timeout=20_000)
    wait_for_status(page, "done")
    assert page.locator("#run-outdated").is_hidden() and query(page).get("preset") is None
    assert [(t["name"], t["y"]) for t in traces(page, "loss")] == run_loss
    assert any(c.startswith("latest snapshot") for c in profile_captions(page))

    page.go_forward()  # and the preset's entry at initialisation again, also after a reload
    page.wait_for_function("() => !document.body.dataset.runId", timeout=20_000)
    page.reload()
    page.wait_for_selector("body[data-ready='true']", timeout=20_000)
    page.wait_for_function("() => (document.getElementById('chart-profile').layout.annotations || [])"
                           ".some((a) => (a.text || '').startsWith('at initialisation'))", timeout=20_000)
    assert run_id(page) is None and query(page)["preset"] == "activations"
    assert page_log.problems() == []


def test_a_preset_link_with_lane_a_settings_keeps_the_presets_lanes_and_inputs_are_named_as_shown(dashboard,
                                                                                                    page_log):
    page = dashboard("preset=relu-clipping&A.clip=per_timestep&A.clip_threshold=1")
    preset = next(p for p in presets(page) if p["id"] == "relu-clipping")
    assert lane_count(page) == len(preset["lanes"]) == 2
    assert lane_values(page, "clip") == ["per_timestep", "norm"]  # lane A changed, lane B the preset's
    assert lane_values(page, "seq_len") == ["30", "30"]
    assert page.locator("#preset").input_value() == "relu-clipping"
    assert page.locator("#preset-explanation .tag").count() == 1  # "modified": lane A is not the preset's
    # screen readers hear the name the table shows
    assert page.locator("#lane0-hidden_size").get_attribute("aria-label") == "Lane A hidden size"
    assert page.locator("#lane1-clip_threshold").get_attribute("aria-label") == "Lane B clip threshold"
    assert page_log.problems() == []


FOCUS_LOG = """() => { window.__focus = [];
    document.addEventListener('focusin', (e) => window.__focus.push(e.target.id || e.target.tagName)); }"""


def focused(page) -> str:
    return page.evaluate("() => document.activeElement ? (document.activeElement.id || document.activeElement.tagName)"
                         " : null")


def test_run_and_stop_from_the_keyboard_keep_the_focus_on_a_button(dashboard, page_log):
    page = dashboard(SMALL)
    page.evaluate(FOCUS_LOG)
    page.focus("#run")
    page.keyboard.press("Enter")  # a short run: Stop gets the focus, and Run again once it ends
    wait_for_status(page, "done")
    page.wait_for_function("() => document.activeElement.id === 'run'")
    assert page.evaluate("() => window.__focus") == ["run", "stop", "run"]

    page.goto(f"/?{LONG}")  # a long run, stopped with Space on the focused Stop
    page.wait_for_selector("body[data-ready='true']", timeout=20_000)
    page.focus("#run")
    page.keyboard.press(" ")
    page.wait_for_function("() => document.body.dataset.runId")
    assert focused(page) == "stop"
    page.keyboard.press(" ")
    wait_for_status(page, "cancelled")
    assert focused(page) == "run"

    # a phone: a run scrolls to the charts, the run panel out of view, and the dock's Stop takes the focus
    page.set_viewport_size({"width": 390, "height": 800})
    page.focus("#run")
    page.keyboard.press("Enter")
    page.wait_for_function("() => !document.getElementById('run-dock').hidden", timeout=20_000)
    page.wait_for_function("() => document.activeElement.id === 'run-dock-stop'", timeout=5_000)
    snap(page, "keyboard-dock-stop-focused", "#run-dock")
    page.keyboard.press("Enter")
    wait_for_status(page, "cancelled")
    assert focused(page) == "run" and page.locator("#run-dock").is_hidden()
    assert page_log.problems() == []


def test_entries_without_a_run_stay_so_a_late_run_is_not_drawn_and_a_stopped_runs_rows_fit(dashboard, page_log):
    """Review of the fixes above: (a) the entry a page loads into had no state, which Back read as "no run" and a
    reload as "unknown" (the tab's last run came back); (b) a preset picked while Back/Forward was still fetching an
    entry's run got that run drawn over it; (c) chart 1's rows kept a 0-499 axis after Stop at step ~30."""
    page = dashboard(SMALL)  # entry 0
    choose_preset(page, "activations")  # entry 1
    page.click("#run")
    page.wait_for_function("() => parseInt(document.getElementById('progress-steps').textContent, 10) >= 20",
                           timeout=60_000)
    page.click("#stop")
    wait_for_status(page, "cancelled")
    rid = run_id(page)
    trained = int(page.locator("#progress-steps").text_content().split()[0])
    flow_top = page.evaluate("() => document.getElementById('chart-flow').layout.yaxis.range[1]")
    assert trained < 200 and flow_top <= trained + 1, (trained, flow_top)  # (c): not the planned 499.5

    held = []
    page.route("**/api/runs/*?history=false", lambda route: held.append(route))
    page.go_back()  # entry 0: its preview
    page.wait_for_function("() => !document.body.dataset.runId", timeout=20_000)
    page.go_forward()  # entry 1: its run, fetched (held here) ...
    while not held:
        page.wait_for_timeout(50)
    choose_preset(page, "spectral-radius")  # ... while a preset is picked: entry 2, without a run
    held[0].continue_()
    page.unroute("**/api/runs/*?history=false")
    page.wait_for_timeout(1500)
    assert run_id(page) is None and page.evaluate("() => history.state.run") is None  # (b)

    page.go_back()  # entry 1 shows its run again
    page.wait_for_function("(id) => document.body.dataset.runId === id", arg=rid, timeout=20_000)
    wait_for_status(page, "cancelled")  # replayed to its end
    page.go_back()  # entry 0, then reloaded: still without a run (a)
    page.wait_for_function("() => !document.body.dataset.runId", timeout=20_000)
    page.reload()
    page.wait_for_selector("body[data-ready='true']", timeout=20_000)
    page.wait_for_timeout(500)
    assert run_id(page) is None and page.evaluate("() => history.state.run") is None
    assert page_log.problems() == []
