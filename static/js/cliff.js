// The exploding-gradient cliff (Pascanu et al. 2013, Fig. 6): log10 E over (w, b) of a one-unit RNN, and
// two SGD runs from the same start, plain and norm-clipped. Data: GET /api/loss-surface. Click the map to
// move the start. Uses the global Plotly the page loads; exports mountCliffPanel(container[, api]).

import { plotConfig } from "./charts.js";
import { plainQueryMessage } from "./controls.js";

const FONT = { family: "Inter, system-ui, -apple-system, Segoe UI, Roboto, sans-serif", size: 12, color: "#1f2937" };
const PLAIN_COLOR = "#dc2626";
const CLIPPED_COLOR = "#2563eb";
const SURFACE_ATTEMPTS = 4; // tries of one surface while the service answers 429 (busy)
const INPUTS = [
  // [query name, label, step, title]
  ["start_w", "start w", "0.05", "w of the start point (or click the map)"],
  ["start_b", "start b", "0.05", "b of the start point (or click the map)"],
  ["learning_rate", "learning rate", "0.05", "SGD step size, the same for both runs"],
  ["threshold", "clip τ", "0.05", "Norm-clipping threshold: a step is at most learning rate × τ long"],
  ["steps", "steps", "1", "SGD steps, the same for both runs"],
];
const LABELS = Object.fromEntries(INPUTS.map(([name, label]) => [name, label]));

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "text") node.textContent = value;
    else if (value !== undefined && value !== null) node.setAttribute(key, value);
  }
  node.append(...children);
  return node;
}

async function fetchJson(url) {
  const response = await fetch(url, { headers: { Accept: "application/json" } });
  const data = await response.json().catch(() => null);
  if (!response.ok) {
    const detail = data && Array.isArray(data.detail) ? data.detail.map((d) => `${d.loc.at(-1)}: ${d.msg}`).join("; ") : "";
    throw new Error((data && data.message) || detail || `HTTP ${response.status}`);
  }
  return data;
}

const fmt = (v) => (v === null || v === undefined ? "–" : Math.abs(v) >= 1e4 || (v !== 0 && Math.abs(v) < 1e-3) ? v.toExponential(2) : (+v.toPrecision(3)).toString());

function trajectoryTrace(run, color, dash) {
  const text = run.w.map((_, k) => {
    const lines = [`step ${k}`, `E = ${fmt(run.loss[k])}`];
    if (k < run.grad_norm.length) {
      lines.push(`‖∇E‖ = ${fmt(run.grad_norm[k])}`, `next step length = ${fmt(run.step_length[k])}${run.clipped[k] ? " (clipped)" : ""}`);
    }
    return lines.join("<br>");
  });
  return {
    type: "scatter", mode: "lines+markers", name: run.label, x: run.w, y: run.b, text,
    hovertemplate: "%{text}<br>w = %{x:.4g}, b = %{y:.4g}<extra>" + run.label + "</extra>",
    line: { color, width: 2, dash }, marker: { color, size: 6, line: { color: "#ffffff", width: 1 } },
  };
}

// The colour bar's title: the quantity and what bright means. Bright is a large value, as in chart 1 (bright:
// a large gradient), for the loss too: the valley is dark, the plateaus and the wall bright.
function colourTitle(colour) {
  return colour === "grad" ? "log10 ‖∇E‖ (bright = steep)" : "log10 E (bright = high loss)";
}

function figure(data, colour) {
  const [plain, clipped] = data.trajectories;
  const z = colour === "grad" ? data.log10_grad_norm : data.log10_loss;
  const jump = plain.step_length.indexOf(Math.max(...plain.step_length.filter((v) => v !== null)));
  const annotations = [];
  if (jump >= 0 && plain.step_length[jump] > data.params.learning_rate * data.params.threshold) {
    annotations.push({
      x: plain.w[jump + 1], y: plain.b[jump + 1], ax: plain.w[jump], ay: plain.b[jump], xref: "x", yref: "y",
      axref: "x", ayref: "y", showarrow: true, arrowhead: 2, arrowcolor: PLAIN_COLOR, arrowwidth: 1.5, text: "",
    }, {
      x: plain.w[jump + 1], y: plain.b[jump + 1], xref: "x", yref: "y", showarrow: false, yshift: 14,
      text: `one step of length ${fmt(plain.step_length[jump])}`, font: { color: PLAIN_COLOR, size: 11 },
      bgcolor: "rgba(255,255,255,0.8)",
    });
  }
  return {
    data: [
      {
        type: "heatmap", x: data.w, y: data.b, z, colorscale: "Viridis", // low = dark, high = bright, either colour
        zsmooth: false, hoverongaps: false, name: colour === "grad" ? "log10 ‖∇E‖" : "log10 E",
        hovertemplate: `w = %{x:.3g}, b = %{y:.3g}<br>${colour === "grad" ? "log10 ‖∇E‖" : "log10 E"} = %{z:.2f}<extra></extra>`,
        // its top a little below the plot's: the modebar stands above it, at the top of the right margin
        colorbar: { title: { text: colourTitle(colour), side: "right" }, thickness: 12, outlinewidth: 0,
          len: 0.86, y: 0, yanchor: "bottom" },
        showscale: true,
      },
      trajectoryTrace(plain, PLAIN_COLOR, "solid"),
      trajectoryTrace(clipped, CLIPPED_COLOR, "dot"),
      {
        type: "scatter", mode: "markers", name: "start", x: [plain.w[0]], y: [plain.b[0]], hoverinfo: "skip",
        // dark with a white rim, as the caption's ★: it stands out on the bright plateaus and on the dark valley
        marker: { symbol: "star", size: 15, color: "#111827", line: { color: "#ffffff", width: 1.5 } },
      },
    ],
    layout: {
      font: FONT, paper_bgcolor: "#ffffff", plot_bgcolor: "#ffffff", margin: { l: 56, r: 10, t: 34, b: 46 },
      legend: { orientation: "h", x: 0, y: 1.02, yanchor: "bottom", font: { size: 11 } },
      modebar: { orientation: "v" },
      xaxis: { title: { text: "w (recurrent weight)" }, range: [data.w[0], data.w.at(-1)], constrain: "domain" },
      yaxis: { title: { text: "b (bias)" }, range: [data.b[0], data.b.at(-1)] },
      annotations, uirevision: "cliff",
    },
  };
}

function summary(data) {
  const [plain, clipped] = data.trajectories;
  const allowed = data.params.learning_rate * data.params.threshold;
  const last = (run) => run.loss.filter((v) => v !== null).at(-1);
  return `Longest step: plain SGD ${fmt(plain.max_step_length)} (${fmt(plain.max_step_length / allowed)}× the clipped limit ${fmt(allowed)}), `
    + `clipped ${fmt(clipped.max_step_length)}. Final E: plain ${fmt(last(plain))}, clipped ${fmt(last(clipped))}.`
    + (plain.diverged_at !== null ? ` Plain SGD diverged at step ${plain.diverged_at}.` : "");
}

// `initial`: settings to start from ({start_w, ..., colour}, from a shared link); `onChange(settings)`:
// called with the panel's settings whenever the user changes them (Update, Enter, a click on the map,
// the colour select), so the page can keep them in its link.
export async function mountCliffPanel(container, api = null, { initial = {}, onChange = null } = {}) {
  const get = api && api.get ? (url) => api.get(url) : fetchJson;
  const inputs = {};
  const controls = el("div", { class: "cliff-controls", style: "display:flex;flex-wrap:wrap;gap:8px 12px;align-items:end;margin:6px 0" });
  for (const [name, label, step, title] of INPUTS) {
    inputs[name] = el("input", { type: "number", step, id: `cliff-${name}`, name, title, style: "width:82px" });
    controls.append(el("label", { style: "display:flex;flex-direction:column;font-size:11.5px;color:#4b5563", title },
      label, inputs[name]));
  }
  const colour = el("select", { id: "cliff-colour", title: "What the colour shows", style: "width:auto" },
    el("option", { value: "loss", text: "colour: log10 E" }), el("option", { value: "grad", text: "colour: log10 ‖∇E‖" }));
  const update = el("button", { type: "button", id: "cliff-update", class: "ghost small", text: "Update" });
  controls.append(colour, update);
  for (const [name] of INPUTS) if (initial[name] !== undefined) inputs[name].value = initial[name];
  if ([...colour.options].some((option) => option.value === initial.colour)) colour.value = initial.colour;
  const changed = () => {
    if (!onChange || !latest) return;
    // only what differs from the API's defaults: an untouched panel adds nothing to the link
    const settings = Object.fromEntries(INPUTS.map(([name]) => [name, inputs[name].value])
      .filter(([name, value]) => Number(value) !== Number(latest.defaults?.[name])));
    if (colour.value !== colour.options[0].value) settings.colour = colour.value;
    onChange(settings);
  };
  const error = el("div", { class: "form-error", id: "cliff-error", role: "alert" });
  const stats = el("p", { class: "chart-sub", id: "cliff-summary", "aria-live": "polite" });
  const chart = el("div", { class: "chart chart-tall", id: "chart-cliff", "data-chart": "cliff" });
  const note = el("aside", { class: "note" },
    el("h3", { text: "What you are looking at" }),
    el("p", {}, "A recurrent network with a single unit, x", el("sub", { text: "t" }), " = w·σ(x", el("sub", { text: "t−1" }),
      ") + b, run for 50 steps; the loss is how far σ(x", el("sub", { text: "50" }),
      ") lands from 0.7. Each pixel is the loss (or, coloured by log10 ‖∇E‖, the gradient's size) for one choice of (w, b): "
      + "bright is high, dark is low, as in chart 1, so the low-loss valley is the dark line."),
    el("p", { text: "For w above about 4.3 the unit has two stable states, and a tiny change of b decides which one it ends in. There the loss jumps from one plateau to the other: a thin wall where the gradient is enormous." }),
    el("p", { text: "Red: plain gradient descent. When a step lands on the wall, the huge gradient throws the weights far away, onto a flat plateau where the gradient is almost zero and learning stalls." }),
    el("p", { text: "Blue (dotted): the same descent with norm clipping. Each step keeps its direction but is at most learning rate × τ long, so it bounces off the wall and stays in the low-loss valley." }),
  );
  const number = container.querySelector(".num")?.textContent || ""; // the page's numbering (templates/index.html)
  container.replaceChildren(
    el("header", { class: "chart-head" },
      el("h2", {}, el("span", { class: "num", text: number }), "The cliff: why clipping helps"),
      el("p", { class: "chart-sub", text: "Loss surface of Pascanu et al. (2013, Fig. 6) with two SGD runs from the same start (★). Click the map to move the start." })),
    controls, error,
    el("div", { class: "chart-body" }, el("div", {}, chart, stats), note),
  );

  let latest = null;
  let pending = null;
  let clickable = false;
  const draw = () => {
    if (!latest) return;
    const fig = figure(latest, colour.value);
    // the modebar as on the other charts: the PNG camera and "reset axes", stacked vertically (fig.layout) at
    // the top of the right margin, where it covers neither the legend nor the plot
    window.Plotly.react(chart, fig.data, fig.layout, plotConfig("cliff"));
    if (!clickable) { // chart.on exists once Plotly has drawn into the div
      clickable = true;
      chart.on("plotly_click", (event) => {
        const point = event.points && event.points[0];
        if (!point || point.curveNumber !== 0) return;
        inputs.start_w.value = (+point.x).toPrecision(4);
        inputs.start_b.value = (+point.y).toPrecision(4);
        load(true);
      });
    }
  };
  // After an error the map still shows the last surface drawn, for other settings than the boxes': dimmed,
  // and the caption says which settings it was drawn for instead of describing it as current.
  const showError = (message) => {
    error.textContent = `Cannot draw the loss surface: ${message}`;
    chart.classList.toggle("outdated", latest !== null);
    stats.classList.toggle("outdated-note", latest !== null);
    stats.textContent = latest === null ? "" : `The map still shows the last surface drawn: ${INPUTS.map(([name, label]) =>
      `${label} ${fmt(latest.params[name])}`).join(", ")}.`;
  };
  // The service computes at most a few surfaces at once and answers 429 beyond them (other tabs, other users):
  // wait as its Retry-After says and ask again, a few times, before saying so; not once a newer request has
  // superseded this one (`current()` false), whose retries would take the service's slots from it.
  const fetchSurface = async (url, current) => {
    for (let attempt = 1; ; attempt += 1) {
      try {
        return await get(url);
      } catch (err) {
        if (err?.status !== 429 || attempt >= SURFACE_ATTEMPTS || !current()) throw err;
        await new Promise((resolve) => setTimeout(resolve, 1000 * (Number(err.retryAfter) || 1)));
        if (!current()) throw err;
      }
    }
  };
  const load = async (byUser = false) => {
    // exactly what the boxes show: an empty box is left out, so the API uses its documented default (and
    // the box then shows it); text that is not a number is said here, not replaced by a default
    const unreadable = Object.entries(inputs).filter(([, input]) => input.validity.badInput).map(([name]) => name);
    if (unreadable.length) {
      pending = null; // an answer still on its way is for other settings
      showError(markInvalid({ detail: unreadable.map((name) => ({ loc: ["query", name], message: "not a number" })) }));
      return;
    }
    const params = Object.entries(inputs).filter(([, input]) => input.value !== "").map(([name, input]) => [name, input.value]);
    const query = new URLSearchParams(params).toString();
    const request = fetchSurface(`/api/loss-surface${query ? `?${query}` : ""}`, () => pending === request);
    pending = request;
    try {
      const data = await request;
      if (pending !== request) return; // a newer request superseded this one
      latest = data;
      error.textContent = "";
      markInvalid(null);
      for (const [name, input] of Object.entries(inputs)) input.value = data.params[name];
      chart.classList.remove("outdated");
      stats.classList.remove("outdated-note");
      stats.textContent = summary(data);
      container.dataset.loaded = "true";
      draw();
      if (byUser) changed();
    } catch (err) {
      if (pending === request) showError(markInvalid(err) || err.message);
    }
  };
  // A 422 names its fields (loc ["query", "steps"]): mark those inputs and say it with their labels
  // ("steps: must be a whole number from 1 to 500"); returns the sentence, or "" when no input is named.
  const markInvalid = (err) => {
    const messages = {};
    for (const item of Array.isArray(err?.detail) ? err.detail : []) {
      const name = Array.isArray(item.loc) ? item.loc.at(-1) : null;
      if (!inputs[name]) continue;
      const own = typeof item.message === "string" ? item.message : item.msg || "";
      const prefix = `query.${name}: `;
      // in the panel's words: "steps: must be a whole number from 1 to 500", not pydantic's "Input should be ..."
      messages[name] = `${LABELS[name]}: ${plainQueryMessage(item, own.startsWith(prefix) ? own.slice(prefix.length) : own)}`;
    }
    for (const [name, input] of Object.entries(inputs)) {
      input.setAttribute("aria-invalid", name in messages ? "true" : "false");
      input.classList.toggle("invalid", name in messages);
    }
    return Object.values(messages).join("; ");
  };
  update.addEventListener("click", () => load(true));
  colour.addEventListener("change", () => { draw(); changed(); });
  for (const input of Object.values(inputs)) input.addEventListener("keydown", (e) => { if (e.key === "Enter") load(true); });
  await load();
  return chart;
}
