// The run's event stream (Server-Sent Events). EventSource reconnects on its own after a network blip
// and sends Last-Event-ID, so the server resumes where we were; ids we have already seen are skipped.

const EVENTS = ["run", "step", "lane_done", "done"];

export function openRunStream(url, handlers) {
  const source = new EventSource(url);
  let lastId = -1;
  let finished = false;

  for (const name of EVENTS) {
    source.addEventListener(name, (event) => {
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
        source.close(); // otherwise EventSource would reconnect once the server ends the response
      }
      const handler = handlers[name];
      if (handler) handler(data);
    });
  }

  source.addEventListener("error", () => {
    if (finished) return;
    // CONNECTING: the browser is retrying by itself. CLOSED: it gave up (e.g. the run is gone, HTTP 404).
    if (source.readyState === EventSource.CLOSED && handlers.lost) handlers.lost();
    else if (handlers.reconnecting) handlers.reconnecting();
  });
  source.addEventListener("open", () => handlers.open && handlers.open());

  return {
    close() {
      finished = true;
      source.close();
    },
    get lastId() {
      return lastId;
    },
  };
}
