"""A chart whose width changes (a window resized, a phone turned) is drawn again for its new width, not only
stretched by Plotly: before, a finished run's unrolled chart (chart 2) resized from 1600 to 390 px kept its
desktop layout, all 100 timesteps squeezed and its lane headers running under the colour bar, until new data
came; the same run loaded at 390 px shows a few timesteps and headers that fit."""
from __future__ import annotations

from tests.e2e.test_dashboard import run_and_wait

QUERY = "lanes=1&A.steps=3&A.hidden_size=8&A.seq_len=100"
NODES = """() => {  // the timesteps chart 2 draws: the distinct x of its hidden-state markers
  const div = document.getElementById('chart-unrolled');
  const xs = new Set();
  for (const trace of div.data) {
    if (trace.mode && trace.mode.includes('markers')) (trace.x || []).forEach((x) => xs.add(x));
  }
  return xs.size;
}"""


def _nodes_after_settling(page) -> int:
    page.locator("#card-unrolled").scroll_into_view_if_needed()
    page.wait_for_timeout(1500)  # a redraw per frame, each chart at most every ~1 s
    return page.evaluate(NODES)


def test_a_resized_chart_is_drawn_for_its_new_width(dashboard, page_log):
    page = dashboard(QUERY)
    page.set_viewport_size({"width": 1600, "height": 1000})
    assert run_and_wait(page) == "done"
    wide = _nodes_after_settling(page)
    page.set_viewport_size({"width": 390, "height": 844})
    narrow = _nodes_after_settling(page)
    page.set_viewport_size({"width": 1600, "height": 1000})
    wide_again = _nodes_after_settling(page)
    assert narrow < wide == wide_again, (wide, narrow, wide_again)
    assert page_log.problems() == []
