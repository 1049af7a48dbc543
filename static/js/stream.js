// The run's event stream (Server-Sent Events). EventSource reconnects on its own after a network blip
// and sends Last-Event-ID, so the server resumes where we were; ids we have already seen are skipped.

const EVENTS = ["run", "step", "lane_done", "done"];

export function openRunStream(url, handlers) {
  let source = null;
  let lastId = -1;
  let finished = false;

  function connect(from) {
    const current = new EventSource(from);
    source = current;
    for (const name of EVENTS) {
      current.addEventListener(name, (event) => {
        if (current !== source) return; // a stream replaced by resume(): its late events are not ours
        const id = Number(event.lastEventId);
        if (Number.isFinite(id) && event.lastEventId !== "") {
          if (id <= lastId) return; // a replay after reconnecting
          lastId = id;
        }
        let data;
        try {
          data = JSON.parse(event.data);
        } catch {
          return;
        }
        if (name === "done") {
          finished = true;
          current.close(); // otherwise EventSource would reconnect once the server ends the response
        }
        const handler = handlers[name];
        if (handler) handler(data);
      });
    }

    current.addEventListener("error", () => {
      if (finished || current !== source) return;
      // CONNECTING: the browser is retrying by itself. CLOSED: it gave up (e.g. the run is gone, HTTP 404).
      if (current.readyState === EventSource.CLOSED && handlers.lost) handlers.lost();
      else if (handlers.reconnecting) handlers.reconnecting();
    });
    current.addEventListener("open", () => current === source && handlers.open && handlers.open());
  }

  connect(url);
  // the connection resume() opens: on after the last event seen (?after=n, as Last-Event-ID would)
  const resumeUrl = () => `${url}${url.includes("?") ? "&" : "?"}after=${lastId}`;

  return {
    close() {
      finished = true;
      source.close();
    },
    // A new connection that goes on after the last event seen (?after=n, as Last-Event-ID would): for a
    // page restored from the back/forward cache, whose connection may have died while it was frozen.
    resume() {
      if (finished) return;
      source.close();
      connect(resumeUrl());
    },
    get resumeUrl() {
      return resumeUrl();
    },
  };
}
