"""Screen boxes of a rendered Plotly chart, for the browser tests that check what a chart's text covers or
leaves visible (test_chart_text_fits, test_chart_readability)."""
from __future__ import annotations

SMALL = "&{n}.hidden_size=8&{n}.batch_size=4&{n}.steps=6"  # a lane that trains in a moment (n: its letter)

# `box(e)`: an element's text and screen box; `all(selector)`: every visible match inside `div`, boxed
_BOXES = """
    const box = (e) => { const r = e.getBoundingClientRect();
        return {text: (e.textContent || '').replaceAll('\\u200b', '').trim(),
                left: r.left, top: r.top, right: r.right, bottom: r.bottom}; };
    const all = (selector) => [...div.querySelectorAll(selector)].map(box)
        .filter((b) => b.right > b.left && b.bottom > b.top);"""


def geometry(body: str) -> str:
    """A script for ``page.evaluate(script, chart_id)``: ``body`` runs with ``div`` (the chart), ``box`` and
    ``all`` defined and returns what the test measures."""
    return f"(id) => {{\n    const div = document.getElementById(id);{_BOXES}\n{body}\n}}"


def overlap(a: dict, b: dict, slack: float = 0.5) -> bool:
    return min(a["right"], b["right"]) - max(a["left"], b["left"]) > slack and \
        min(a["bottom"], b["bottom"]) - max(a["top"], b["top"]) > slack


def within_x(inner: dict, outer: dict, slack: float = 1.0) -> bool:
    return inner["left"] >= outer["left"] - slack and inner["right"] <= outer["right"] + slack


def inside(inner: dict, outer: dict, slack: float = 1.0) -> bool:
    return within_x(inner, outer, slack) and inner["top"] >= outer["top"] - slack \
        and inner["bottom"] <= outer["bottom"] + slack
