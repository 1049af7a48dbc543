"""Each lane-editor setting's help (its meaning and allowed range, from the API's config schema) reaches
everyone, not only a mouse hovering a tooltip: the "?" beside a setting's name is a real button (focusable,
aria-expanded, aria-controls) that shows the help inline under the setting, on a desktop by click or keyboard
and on a phone (390 x 844, touch) by a tap, readable inside the sideways-scrolling table; Escape or a second
press hides it. The inputs carry the help as their accessible description, and the hint says to tap."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import open_dashboard, snap

pytestmark = pytest.mark.browser


def _fields(page) -> dict[str, dict]:
    """The API's config schema (GET /api/options), the one source of the help's text."""
    return {f["name"]: f for f in page.request.get("/api/options").json()["fields"]}


def _label(name: str) -> str:
    return name.replace("_", " ")


def _toggle(page, name: str):
    return page.locator(f"#lane-table tr[data-row='{name}']").get_by_role("button", name=f"About {_label(name)}")


def _help(page, toggle):
    """The element a "?" button controls (its aria-controls)."""
    controls = toggle.get_attribute("aria-controls")
    assert controls, "the ? button names the help it shows (aria-controls)"
    return page.locator(f"#{controls}")


def test_each_settings_help_is_a_button_that_shows_the_schema_text_by_keyboard(dashboard, page, page_log):
    page = dashboard()
    fields = _fields(page)
    assert {"seq_len", "learning_rate", "clip", "momentum"} <= set(fields)
    for name, spec in fields.items():
        toggle = _toggle(page, name)
        # a real button per setting, not an aria-hidden span: collapsed, naming the help it controls
        assert toggle.count() == 1, f"no focusable 'About {_label(name)}' button for {name}"
        assert toggle.get_attribute("aria-expanded") == "false"
        assert toggle.is_enabled() and toggle.get_attribute("tabindex") in (None, "0")
        help_ = _help(page, toggle)
        expect(help_).to_be_hidden()
        # its text is the API's: the description and the range (nothing hard-coded in the page)
        text = help_.text_content()
        assert spec["description"] in text, (name, text)
        if spec["kind"] == "choice":
            assert all(choice in text for choice in spec["choices"]), (name, text)
        else:
            bounds = page.evaluate("([a, b]) => `[${a}, ${b}]`", [spec["minimum"], spec["maximum"]])  # as JS prints
            assert bounds in text, (name, bounds, text)
        # every lane's control of the setting has the help as its accessible description
        for lane in range(2):
            control = page.locator(f"#lane{lane}-{name}")
            assert toggle.get_attribute("aria-controls") in (control.get_attribute("aria-describedby") or "").split()
            expect(control).to_have_accessible_description(re.compile(re.escape(spec["description"][:40])))
    # reached with Tab: from lane B's cell control the next stop is activation's "?"
    page.locator("#lane1-cell").focus()
    page.keyboard.press("Tab")
    expect(_toggle(page, "activation")).to_be_focused()
    # Enter shows seq len's help under its row; Escape hides it and leaves the focus on its "?"
    toggle = _toggle(page, "seq_len")
    help_ = _help(page, toggle)
    toggle.focus()
    page.keyboard.press("Enter")
    expect(toggle).to_have_attribute("aria-expanded", "true")
    expect(help_).to_be_visible()
    expect(help_).to_contain_text(fields["seq_len"]["description"])
    expect(help_).to_contain_text("[2, 2000]")
    row, help_box = page.locator("#lane-table tr[data-row='seq_len']").bounding_box(), help_.bounding_box()
    assert row["y"] + row["height"] - 1 <= help_box["y"] <= row["y"] + row["height"] + 12, (row, help_box)
    page.keyboard.press("Escape")
    expect(help_).to_be_hidden()
    expect(toggle).to_have_attribute("aria-expanded", "false")
    expect(toggle).to_be_focused()
    # Space, then a second press; a dimmed setting's help says when it has an effect
    page.keyboard.press("Space")
    expect(help_).to_be_visible()
    page.keyboard.press("Space")
    expect(help_).to_be_hidden()
    momentum = _toggle(page, "momentum")
    momentum.click()
    expect(_help(page, momentum)).to_contain_text("optimizer = momentum")
    # an open help stays open when the table is rebuilt (a lane added), across all the lanes
    page.click("#add-lane")
    expect(page.locator("#lane-table thead th.lane-head")).to_have_count(3)
    expect(_toggle(page, "momentum")).to_have_attribute("aria-expanded", "true")
    expect(_help(page, _toggle(page, "momentum"))).to_be_visible()
    # the mouse's tooltip is still there
    assert fields["seq_len"]["description"] in page.get_attribute("#lane-table tr[data-row='seq_len'] th", "title")
    snap(page, "setting-help-desktop", "#lanes-panel")
    assert page_log.problems() == []


def test_an_invalid_value_is_described_by_its_error_and_the_settings_help(dashboard, page, page_log):
    page = dashboard()
    control = page.locator("#lane0-seq_len")
    control.fill("1")
    control.press("Tab")
    expect(control).to_have_attribute("aria-invalid", "true", timeout=10_000)
    assert control.get_attribute("aria-describedby").split() == ["lane0-seq_len-error", "help-seq_len"]
    expect(control).to_have_accessible_description(
        re.compile(r"^must be >= 2.*Sequence length T, which sets the dependency length", re.S))
    control.fill("20")
    control.press("Tab")
    expect(control).to_have_attribute("aria-invalid", "false", timeout=10_000)
    assert control.get_attribute("aria-describedby").split() == ["help-seq_len"]
    assert page_log.page_errors == []  # (the console logs the preview's 422s)


def test_on_a_phone_a_tap_shows_the_help_readably_and_a_second_tap_hides_it(browser, base_url):
    context = browser.new_context(base_url=base_url, viewport={"width": 390, "height": 844},
                                  has_touch=True, is_mobile=True)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        open_dashboard(page, "lanes=3&B.activation=relu&C.activation=sigmoid")
        # the hint is true on a touch screen
        hint = page.locator("#lanes-panel .hint").text_content()
        assert "Tap" in hint and not hint.startswith("Hover"), hint
        fields = _fields(page)
        toggle = _toggle(page, "clip")
        assert toggle.count() == 1, "no 'About clip' button to tap"
        box = toggle.bounding_box()
        assert box["width"] >= 18 and box["height"] >= 18, box  # a finger can hit it
        help_ = _help(page, toggle)
        expect(help_).to_be_hidden()
        toggle.tap()
        expect(toggle).to_have_attribute("aria-expanded", "true")
        expect(help_).to_be_visible()
        expect(help_).to_contain_text(fields["clip"]["description"])
        # readable: inside the lane table's visible width (the table scrolls sideways, the help does not
        # run off with it), in a legible size, wrapped; the page itself does not scroll sideways
        scroller = page.locator("#lane-editor")

        def inside() -> tuple[dict, dict]:
            view, text = scroller.bounding_box(), help_.bounding_box()
            assert text["x"] >= view["x"] - 0.5 and text["x"] + text["width"] <= view["x"] + view["width"] + 0.5, \
                (view, text)
            return view, text

        view, text = inside()
        assert text["width"] >= 0.8 * view["width"] - 50, (view, text)
        assert float(help_.evaluate("(e) => getComputedStyle(e).fontSize").rstrip("px")) >= 11.5
        assert page.evaluate("() => document.documentElement.scrollWidth") <= 390
        snap(page, "setting-help-phone", "#lanes-panel")
        page.evaluate("() => { const s = document.getElementById('lane-editor'); s.scrollLeft = s.scrollWidth; }")
        page.wait_for_timeout(100)
        inside()
        snap(page, "setting-help-phone-scrolled", "#lanes-panel")
        page.evaluate("() => { document.getElementById('lane-editor').scrollLeft = 0; }")
        # a second tap hides it; so does Escape
        toggle.tap()
        expect(help_).to_be_hidden()
        expect(toggle).to_have_attribute("aria-expanded", "false")
        toggle.tap()
        expect(help_).to_be_visible()
        page.keyboard.press("Escape")
        expect(help_).to_be_hidden()
        assert errors == []
    finally:
        context.close()
