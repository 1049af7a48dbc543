"""When the server refuses a run's event stream for the moment (429: RNNLAB_MAX_STREAMS streams open), the page
says so under the progress bar and follows the run again once Retry-After has passed, from the last event it
saw, and the server keeps the run waiting meanwhile (each refusal restarts its grace period); the run then
finishes on the page as it would have. Only a stream that is gone for good (the run removed:
404) ends the page's run as "lost". Before, any refusal ended it at once with "the run may have been removed",
and the page's stream status was written in the footer, 5000 px below on a desktop."""
from __future__ import annotations

from app.settings import Settings
from tests.conftest import start_live_server, stop_live_server
from tests.e2e.conftest import snap

SMALL = "lanes=1&A.steps=6&A.hidden_size=4&A.seq_len=10"


def _run_status(page) -> str | None:
    return page.evaluate("() => document.body.dataset.runStatus || null")


def test_a_refused_stream_is_waited_out_and_a_removed_run_is_lost(page, page_log):
    live = start_live_server(Settings(max_streams=1, cancel_grace_seconds=3))
    slots = live.app.state.streams
    try:
        page.goto(f"{live.url}/?{SMALL}")
        page.wait_for_selector("body[data-ready='true']", timeout=20_000)
        slots.open = 1  # as if another user's stream held the only slot
        page.click("#run")
        status = page.locator("#stream-status")
        page.wait_for_function("() => !document.getElementById('stream-status').hidden", timeout=20_000)
        assert status.text_content() == ("The server is sending as many event streams as it allows; following the "
                                         "run again in 2 s…")
        assert status.is_visible() and status.bounding_box()["y"] < 960  # beside the Run button, on screen
        snap(page, "stream-refused", "#run-panel")
        page.wait_for_timeout(4500)  # more tries are refused: the page keeps waiting, and the server keeps the
        assert _run_status(page) is None and status.is_visible()  # run past its 3 s grace (each 429 knocks)
        assert live.app.state.runs.get(page.evaluate("() => document.body.dataset.runId")).status == "running"
        slots.open = 0  # the other stream ended
        page.wait_for_function("() => document.body.dataset.runStatus === 'done'", timeout=20_000)
        assert status.is_hidden()
        assert page.locator("#progress-steps").text_content() == "6 / 6 steps"
        assert page.locator("#run-error").text_content() == ""

        slots.open = 1
        page.click("#run")
        page.wait_for_function("() => !document.getElementById('stream-status').hidden", timeout=20_000)
        run_id = page.evaluate("() => document.body.dataset.runId")
        manager = live.app.state.runs
        with manager._lock:  # evicted while the page waits: its next try is a 404
            removed = manager._runs.pop(run_id)
        removed.cancel()
        page.wait_for_function("() => document.body.dataset.runStatus === 'lost'", timeout=20_000)
        assert "The event stream closed before the run finished" in page.locator("#run-error").text_content()
        assert status.is_hidden()
    finally:
        slots.open = 0
        stop_live_server(live)
    assert [p for p in page_log.problems() if "429" not in p and "404" not in p] == []


def test_an_export_refused_for_the_moment_is_waited_out_and_a_removed_runs_export_says_why(page, page_log):
    """A download shares the stream slots. A link followed while they were all taken got a 429 that the browser
    showed only as a failed download, and a removed run's link a 404 nobody read. The page now asks first, waits
    out a 429 (saying so beside the buttons) and then downloads; any other answer is said in words."""
    live = start_live_server(Settings(max_streams=1))
    slots = live.app.state.streams
    try:
        page.goto(f"{live.url}/?{SMALL}")
        page.wait_for_selector("body[data-ready='true']", timeout=20_000)
        page.click("#run")
        page.wait_for_function("() => document.body.dataset.runStatus === 'done'", timeout=20_000)
        run_id = page.evaluate("() => document.body.dataset.runId")
        status = page.locator("#export-status")
        downloads = []
        page.on("download", lambda download: downloads.append(download))

        slots.open = 1  # another client's stream holds the only slot
        page.click("#export-csv")
        page.wait_for_function("() => !document.getElementById('export-status').hidden", timeout=10_000)
        assert status.text_content() == ("The server is sending as many downloads and event streams as it allows; "
                                         "the CSV download starts in 2 s…")
        box = status.bounding_box()
        assert box["y"] < 60 and box["x"] + box["width"] <= page.viewport_size["width"]  # in the top bar, on screen
        snap(page, "export-refused", "header.topbar")
        page.click("#export-csv")  # a second click while it waits: still one download (review)
        page.click("#export-json")  # and the other format waits beside it (a shared timer dropped the first)
        page.wait_for_timeout(2500)
        assert downloads == [] and status.is_visible()  # refused again: still waiting, nothing failed
        slots.open = 0
        page.wait_for_function("() => document.getElementById('export-status').hidden", timeout=10_000)
        page.wait_for_timeout(800)
        assert sorted(d.suggested_filename for d in downloads) == [f"rnn-gradient-lab-run-{run_id}.{f}"
                                                                    for f in ("csv", "json")]
        assert [d.failure() for d in downloads] == [None, None]
        assert any(d.path().read_text().startswith("lane,") for d in downloads)  # the CSV's own bytes

        manager = live.app.state.runs
        with manager._lock:  # dropped from the store as the LRU does
            manager._runs.pop(run_id)
            manager._evicted[run_id] = None
        page.click("#export-json")
        page.wait_for_function("() => !document.getElementById('export-status').hidden", timeout=10_000)
        text = status.text_content()
        assert text.startswith("JSON download failed (HTTP 404): run ") and "was evicted from the store" in text
        assert len(downloads) == 2
    finally:
        slots.open = 0
        stop_live_server(live)
    assert [p for p in page_log.problems() if "429" not in p and "404" not in p] == []

