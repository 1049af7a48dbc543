"""QA: on a phone a run scrolls the page to chart 1, two screens below the run panel, and there was no way to
see the progress or stop the run without scrolling back up. While a run trains and the run panel is out of
view, its progress and a Stop button are docked at the bottom of the window."""
from __future__ import annotations

import re

import pytest

from tests.e2e.conftest import ARTIFACTS

pytestmark = pytest.mark.browser

LONG = ("lanes=2&A.steps=20000&A.hidden_size=8&A.batch_size=4&A.seq_len=30"
        "&B.steps=20000&B.hidden_size=8&B.batch_size=4&B.seq_len=30&B.activation=relu")


def test_a_phone_gets_the_runs_progress_and_stop_docked_while_the_run_panel_is_away(dashboard, page_log):
    page = dashboard(LONG)
    dock = page.locator("#run-dock")
    page.click("#run")  # a desktop window: the run panel stays in view, nothing is docked
    page.wait_for_function("() => parseInt(document.getElementById('progress-steps').textContent, 10) >= 2")
    assert dock.is_hidden()
    page.click("#stop")
    page.wait_for_function("() => document.body.dataset.runStatus === 'cancelled'")

    page.set_viewport_size({"width": 390, "height": 844})
    page.click("#run")  # scrolls to chart 1
    page.wait_for_function("() => !document.getElementById('run-dock').hidden", timeout=10_000)
    page.wait_for_function("() => parseInt(document.getElementById('progress-steps').textContent, 10) >= 5")
    assert not page.locator("#run-panel").is_visible() or page.locator("#run-panel").bounding_box()["y"] < -100
    text = page.locator("#run-dock-text").text_content()
    assert re.match(r"^\d+ / 20000 steps", text), text
    box = dock.bounding_box()
    assert box["y"] + box["height"] == pytest.approx(844, abs=1) and box["width"] == pytest.approx(390, abs=1)
    assert page.evaluate("() => document.body.classList.contains('has-run-dock')")  # the page's end scrolls out
    page.screenshot(path=str(ARTIFACTS / "run-dock.png"))  # the window as seen (a full-page shot shows the panel)
    page.click("#run-dock-stop")
    page.wait_for_function("() => document.body.dataset.runStatus === 'cancelled'", timeout=30_000)
    assert dock.is_hidden() and not page.evaluate("() => document.body.classList.contains('has-run-dock')")
    run_id = page.evaluate("() => document.body.dataset.runId")
    assert page.request.get(f"/api/runs/{run_id}?history=false").json()["status"] == "cancelled"
    assert page_log.problems() == []
