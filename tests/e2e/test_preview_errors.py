"""What the page says when the instant preview (or the cliff panel) is refused, and Back after a preset change.

QA, at 1440x900: /?preset=spectral-radius, lane B seq len 2000 and hidden size 512, Tab. The error box said
"body: too much work: 1.68e+10 > limit 1e+09 … lane A: 1.7e+10" (POST /api/profile gets lane B's config alone,
and the API called a single config "lane A"), every chart said "No preview: fix the setting marked in red on
the left" while nothing was red, and lane A, which is valid, lost its preview too. Now the box names lane B in
the page's words, lane B's fields to reduce are marked, and lane A keeps its preview.

Also: messages in the API's or pydantic's words ("integer in [1, 2000] or null", "Input should be a valid
integer, unable to parse string as an integer", "body: ...") are said as the page says them; and a preset
picked in the selector is a new history entry, so Back returns to the previous preset instead of leaving.
"""
from __future__ import annotations

import pytest

from tests.e2e.conftest import snap
from tests.e2e.test_dashboard import choose_preset, set_field, traces

pytestmark = pytest.mark.browser

# the error box once the preview of the current settings has answered with at least one error
BOX_FROM_PREVIEW = ("() => { const box = document.getElementById('run-error');"
                    " return box.dataset.source === 'preview' && box.textContent.trim() !== ''; }")


def box_lines(page) -> list[str]:
    return page.locator("#run-error > div").all_text_contents()


def marked(page) -> set[tuple[int, str]]:
    """(lane, field) of every control marked invalid."""
    return {(int(lane), field) for lane, field in page.evaluate(
        "() => [...document.querySelectorAll('td.field-cell.invalid')].map((c) => [c.dataset.lane, c.dataset.field])")}


def profile_lanes(page) -> set[str]:
    """The lanes with a curve in chart 3 (the preview's ||dL/dh_t|| at initialisation)."""
    return {t["legendgroup"] for t in traces(page, "profile")
            if t["legendgroup"] in ("A", "B", "C", "D") and any(v is not None for v in t["y"])}


def wait_for_profile_lanes(page, lanes: list[str]) -> None:
    page.wait_for_function("(lanes) => { const d = document.getElementById('chart-profile');"
                           " const groups = new Set((d.data || []).filter((t) => /^[A-D]$/.test(t.legendgroup || '')"
                           " && Array.from(t.y || []).some((v) => v !== null)).map((t) => t.legendgroup));"
                           " return lanes.every((l) => groups.has(l)) && groups.size === lanes.length; }",
                           arg=lanes, timeout=20_000)


def test_too_much_work_in_lane_b_names_lane_b_marks_its_fields_and_keeps_lane_as_preview(dashboard, page_log):
    page = dashboard("preset=spectral-radius")
    page.set_viewport_size({"width": 1440, "height": 900})
    wait_for_profile_lanes(page, ["A", "B"])
    set_field(page, 1, "seq_len", "2000")
    set_field(page, 1, "hidden_size", "512")
    page.wait_for_function(BOX_FROM_PREVIEW, timeout=20_000)
    lines = box_lines(page)
    assert lines[0] == ("Lane B: too much work for the instant preview (1.7e10 > 1e9): reduce seq len, hidden size "
                        "or batch size"), lines
    assert all(line.startswith("Run would be refused: ") for line in lines[1:]), lines  # 500 steps of it, too
    # the fields to reduce, in lane B only
    assert marked(page) == {(1, "seq_len"), (1, "hidden_size"), (1, "batch_size")}
    assert page.locator("#lane1-hidden_size-error").text_content() == (
        "too much work for the preview: reduce this, seq len or batch size")
    assert page.locator("#lane1-hidden_size").get_attribute("aria-invalid") == "true"
    # lane A's preview stays; lane B has none
    wait_for_profile_lanes(page, ["A"])
    snap(page, "preview-errors-lane-b-work")
    # back under the caps: the marks and the messages go, and both lanes are previewed again
    set_field(page, 1, "seq_len", "100")
    set_field(page, 1, "hidden_size", "64")
    wait_for_profile_lanes(page, ["A", "B"])
    page.wait_for_function("() => !document.getElementById('run-error').textContent.trim()", timeout=20_000)
    assert marked(page) == set()
    assert [p for p in page_log.problems() if "422" not in p] == []  # Chromium logs the 422 response itself


def test_a_refused_lane_a_leaves_lane_b_previewed_under_its_own_name(dashboard, page_log):
    page = dashboard("preset=spectral-radius")
    wait_for_profile_lanes(page, ["A", "B"])
    set_field(page, 0, "seq_len", "2000")
    set_field(page, 0, "hidden_size", "512")
    page.wait_for_function(BOX_FROM_PREVIEW, timeout=20_000)
    assert box_lines(page)[0].startswith("Lane A: too much work for the instant preview"), box_lines(page)
    wait_for_profile_lanes(page, ["B"])  # lane B's curve, in its colour and under its name
    names = [t["name"] for t in traces(page, "profile") if t["legendgroup"] == "B"]
    assert names and names[0].startswith("B · "), names
    assert marked(page) == {(0, "seq_len"), (0, "hidden_size"), (0, "batch_size")}
    assert [p for p in page_log.problems() if "422" not in p] == []


def test_no_preview_at_all_says_why_in_the_charts(dashboard, page_log):
    page = dashboard("lanes=1")
    set_field(page, 0, "seq_len", "2000")
    set_field(page, 0, "hidden_size", "512")
    page.wait_for_function(BOX_FROM_PREVIEW, timeout=20_000)
    page.wait_for_function("() => (document.getElementById('chart-profile')._fullLayout?.annotations || [])"
                           ".some((a) => a.text.startsWith('No preview'))", timeout=20_000)
    notes = page.evaluate("() => document.getElementById('chart-profile')._fullLayout.annotations.map((a) => a.text)")
    note = next(n for n in notes if n.startswith("No preview"))
    assert "lane A" in note and "too much work" in note and "marked in red" in note, note
    assert [p for p in page_log.problems() if "422" not in p] == []


@pytest.mark.parametrize(("field", "value", "expected"), [
    ("truncate", "0", "must be >= 1 (a whole number from 1 to 2000, or empty for full BPTT)"),
    ("truncate", "500", "must be a whole number from 1 to seq len (100), or empty for full BPTT"),
    ("seq_len", "abc", "must be a whole number from 2 to 2000"),
    ("seq_len", "2.5", "must be a whole number from 2 to 2000"),
    ("learning_rate", "20", "must be <= 10 (a number from 0.000001 to 10)"),
])
def test_field_errors_are_said_in_the_pages_words(dashboard, page_log, field, value, expected):
    page = dashboard("preset=spectral-radius")
    set_field(page, 1, field, value)
    page.wait_for_function(BOX_FROM_PREVIEW, timeout=20_000)
    assert page.locator(f"#lane1-{field}-error").text_content() == expected
    assert box_lines(page) == [f"Lane B · {field}: {expected}"]
    assert [p for p in page_log.problems() if "422" not in p] == []


def test_cliff_panel_says_a_step_count_that_is_not_whole_in_words(dashboard, page_log):
    page = dashboard("preset=spectral-radius")
    page.locator("#cliff-panel").scroll_into_view_if_needed()
    page.wait_for_selector("#cliff-panel[data-loaded='true']", state="attached", timeout=30_000)
    page.fill("#cliff-steps", "2.5")
    page.press("#cliff-steps", "Enter")
    page.wait_for_function("() => document.getElementById('cliff-error').textContent !== ''", timeout=20_000)
    assert page.locator("#cliff-error").text_content() == (
        "Cannot draw the loss surface: steps: must be a whole number from 1 to 500")
    assert page.locator("#cliff-steps").get_attribute("aria-invalid") == "true"
    assert [p for p in page_log.problems() if "422" not in p] == []


def lane_values(page, field: str) -> list[str]:
    return page.eval_on_selector_all(f"#lane-table [data-field='{field}']:is(input, select)",
                                     "(els) => els.map((e) => e.value)")


def test_back_after_a_preset_change_returns_to_the_previous_preset(dashboard, page_log):
    page = dashboard("preset=cells")
    start = page.url
    assert lane_values(page, "cell") == ["rnn", "lstm", "gru"]
    choose_preset(page, "truncated-bptt")
    assert lane_values(page, "truncate") == ["", "10"]
    page.go_back()
    page.wait_for_function("() => new URLSearchParams(location.search).get('preset') === 'cells'", timeout=10_000)
    assert page.url.startswith(start.split("?")[0])  # still the dashboard, not the page before it
    page.wait_for_function("() => document.getElementById('preset').value === 'cells'", timeout=10_000)
    assert lane_values(page, "cell") == ["rnn", "lstm", "gru"]  # its lanes restored
    assert page.locator("#preset-explanation .tag").count() == 0  # the preset as it was, not "modified"
    page.go_forward()
    page.wait_for_function("() => document.getElementById('preset').value === 'truncated-bptt'", timeout=10_000)
    assert lane_values(page, "truncate") == ["", "10"]
    assert new_query(page)["preset"] == "truncated-bptt"
    # an edit to the lanes is no new entry: Back from an edited preset goes to the preset before it
    set_field(page, 1, "truncate", "20")
    page.wait_for_function("() => new URLSearchParams(location.search).get('B.truncate') === '20'")
    page.go_back()
    page.wait_for_function("() => document.getElementById('preset').value === 'cells'", timeout=10_000)
    assert page_log.problems() == []


def new_query(page) -> dict[str, str]:
    return dict(page.evaluate("() => [...new URLSearchParams(location.search)]"))
