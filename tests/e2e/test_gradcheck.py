"""The "Verify gradients" panel in headless Chromium: what it shows is what POST /api/gradcheck answered
(per-parameter errors, pass/fail/inconclusive, the shrunk float64 config), 422s land on the field, and the idle
gradient-norm chart keeps its placeholder off the threshold line."""
from __future__ import annotations

import json

import pytest

from app.settings import Settings
from rnncore import GRADCHECK_CAPS
from tests.conftest import start_live_server, stop_live_server
from tests.e2e.conftest import snap

pytestmark = pytest.mark.browser


def gradcheck_answers(page) -> list[dict]:
    """Collects the JSON of every /api/gradcheck response the page receives, in order."""
    answers: list[dict] = []

    def on_response(response):
        if response.url.endswith("/api/gradcheck") and response.ok:
            answers.append({"request": json.loads(response.request.post_data), "body": response.json()})

    page.on("response", on_response)
    return answers


def test_verify_gradients_shows_what_the_api_checked(dashboard, page_log):
    page = dashboard("lanes=2&B.cell=gru")  # lane A: every setting at its default (batch 32, T 100, H 64)
    answers = gradcheck_answers(page)
    page.click("#gradcheck")
    page.wait_for_selector("#gradcheck-result[data-status='done']", timeout=20_000)
    assert [a["request"]["cell"] for a in answers] == ["rnn", "gru"]
    assert answers[0]["request"]["batch_size"] == 32 and answers[0]["request"]["seq_len"] == 100

    for lane, answer in zip("AB", answers, strict=True):
        body = answer["body"]
        assert body["passed"] and max(body["max_rel_error"].values()) < 1e-6, body
        assert {k: body["checked_config"][k] for k in GRADCHECK_CAPS} == GRADCHECK_CAPS
        shown = page.locator(f"#gradcheck-result td[data-lane='{lane}'][data-param]")
        cells = {shown.nth(i).get_attribute("data-param"): shown.nth(i) for i in range(shown.count())}
        assert set(cells) == set(body["max_rel_error"])  # GRU: b_x, b_h instead of b
        for name, value in body["max_rel_error"].items():
            assert float(cells[name].get_attribute("data-error")) == value
            assert cells[name].text_content() == f"{value:.1e}".replace("e-0", "e-")  # JS toExponential(1)
        verdict = page.locator(f"#gradcheck-result td[data-verdict][data-lane='{lane}']")
        assert verdict.text_content() == "✓ pass"

    checked = page.locator("#gradcheck-result .gradcheck-checked").first.text_content()
    c = answers[0]["body"]["checked_config"]
    assert (f"checked in float64 on batch {c['batch_size']}, T {c['seq_len']}, hidden {c['hidden_size']} "
            "against central finite differences") in checked, checked
    assert "shrunk from batch 32, T 100, hidden 64" in checked and "clipping off" in checked
    assert "every error < 1e-6" in page.locator("#gradcheck-result").text_content()
    snap(page, "gradcheck")
    snap(page, "gradcheck-panel", "#gradcheck-panel")

    # a result for other settings is marked as outdated, not silently kept
    page.select_option("#lane0-activation", "sigmoid")
    page.wait_for_selector("#gradcheck-result.outdated .gradcheck-outdated:visible")
    assert page_log.problems() == []


def test_the_panel_says_what_per_timestep_clipping_and_truncation_leave_unchecked(dashboard, page_log):
    # per-timestep clipping rescales dL/dh_t inside BPTT: the panel said "clipping off (not part of the
    # gradient)" beside a pass. A truncation cutting the lane (k 20 of T 60) keeps a cut in the checked copy
    # (k 6 of T 12, where k 12 cut nothing), and k = T reads as the full BPTT it is.
    page = dashboard("lanes=3&A.clip=per_timestep&A.clip_threshold=0.001&A.activation=relu&A.spectral_radius=1.5"
                     "&B.seq_len=60&B.truncate=20&C.seq_len=12&C.truncate=12")
    answers = gradcheck_answers(page)
    page.click("#gradcheck")
    page.wait_for_selector("#gradcheck-result[data-status='done']", timeout=30_000)
    notes = {item.get_attribute("data-lanes"): item.text_content()
             for item in page.locator("#gradcheck-result .gradcheck-checked").all()}
    by_lane = {lane: text for lanes, text in notes.items() for lane in lanes.split(",")}
    assert "per-timestep clipping off: it rescales ∂L/∂hₜ inside BPTT" in by_lane["A"]
    assert "not part of the gradient" not in " ".join(notes.values())
    assert [a["body"]["checked_config"]["truncate"] for a in answers[1:]] == [6, 12]
    assert "truncated BPTT k = 6" in by_lane["B"] and "(= full BPTT)" not in by_lane["B"]
    assert "truncated BPTT k = 12 (= full BPTT)" in by_lane["C"]
    assert page_log.problems() == []


def test_a_check_that_cannot_decide_is_shown_as_inconclusive_not_fail(dashboard, page_log):
    """Lane B explodes (ReLU, identity init, radius 5): eps crosses ReLU kinks, the finite differences
    disagree between step sizes, and the server says "inconclusive": the page must not say "✗ fail"."""
    page = dashboard("lanes=2&B.activation=relu&B.init=identity&B.spectral_radius=5&B.seed=1")
    answers = gradcheck_answers(page)
    page.click("#gradcheck")
    page.wait_for_selector("#gradcheck-result[data-status='done']", timeout=20_000)
    body = answers[1]["body"]
    assert answers[0]["body"]["verdict"] == "passed" and body["verdict"] == "inconclusive", body["reason"]
    assert page.locator("td[data-verdict][data-lane='A']").text_content() == "✓ pass"
    verdict = page.locator("td[data-verdict][data-lane='B']")
    assert verdict.text_content() == "? inconclusive" and verdict.get_attribute("title") == body["reason"]
    assert "✗" not in page.locator("#gradcheck-result").text_content()
    W_h = page.locator("#gradcheck-result td[data-lane='B'][data-param='W_h']")
    assert W_h.get_attribute("data-status") == "inconclusive" and "unresolved" in W_h.get_attribute("title")
    note = page.locator("#gradcheck-result li.inconclusive[data-lane='B']").text_content()
    assert note.startswith("B inconclusive: finite differences disagree") and "ReLU kink" in note, note
    assert "not a failure of the backward pass" in note
    snap(page, "gradcheck-inconclusive", "#gradcheck-panel")
    assert page_log.problems() == []


def test_a_422_from_gradcheck_is_shown_on_the_field(dashboard, page_log):
    page = dashboard("lanes=1&A.seq_len=5000")
    page.click("#gradcheck")
    page.wait_for_selector("#gradcheck-result[data-status='done']", timeout=20_000)
    assert page.locator("td[data-verdict][data-lane='A']").text_content() == "not checked"
    assert "seq_len" in page.locator("#gradcheck-result li.error").text_content()
    assert "2000" in page.locator("#lane0-seq_len-error").text_content()
    assert "Lane A · seq_len" in page.locator("#run-error").text_content()
    # Chromium logs each 422 response as a failed resource load; nothing else may be logged
    assert [p for p in page_log.problems() if "422" not in p] == []


def test_idle_norm_chart_note_stays_off_the_threshold_label(dashboard, page_log):
    page = dashboard("lanes=1")  # clip norm, τ = 1
    chart = page.locator("#chart-norm")
    note = chart.locator("g.annotation", has_text="appear here")  # wrapped to the plot: "press<br>Run"
    label = chart.locator("g.annotation", has_text="threshold τ = 1")
    note.wait_for(timeout=20_000)
    note_box, label_box = note.bounding_box(), label.bounding_box()
    assert note_box["y"] + note_box["height"] < label_box["y"], (note_box, label_box)  # above, not across
    snap(page, "idle", "#card-norm")
    assert page_log.problems() == []


def test_a_429_from_gradcheck_is_shown_like_a_busy_run(page, page_log):
    live = start_live_server(Settings(gradcheck_max_pending=1))
    try:
        page.goto(f"{live.url}/?lanes=1")
        page.wait_for_selector("body[data-ready='true']", timeout=20_000)
        live.app.state.gradchecks_pending = 1  # as if another user's check were computing
        page.click("#gradcheck")
        page.wait_for_selector("#gradcheck-result[data-status='done']", timeout=20_000)
        assert page.locator("td[data-verdict][data-lane='A']").text_content() == "busy"
        text = page.locator("#run-error").text_content()
        assert "The server is busy" in text and "the limit is 1" in text and "Try again in 1 s" in text, text
        live.app.state.gradchecks_pending = 0
        page.click("#gradcheck")  # the user retries, and the check runs
        page.wait_for_function("() => document.querySelector(\"td[data-verdict][data-lane='A']\")"
                               ".textContent === '✓ pass'", timeout=20_000)
    finally:
        stop_live_server(live)
    assert [p for p in page_log.problems() if "429" not in p] == []
