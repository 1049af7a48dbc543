// The unrolled network: the graph BPTT differentiates, drawn for each lane's latest snapshot (or the
// preview at initialisation). One column per timestep: the input x_t, the hidden state h_t (and the
// LSTM's cell state c_t) coloured by the gradient norm that reaches it, and the loss terms where the task
// puts its targets. Between two hidden states, the factor the gradient changes by going one step back
// (the product of Jacobians, one factor at a time); truncated BPTT's cuts in red; the inputs that carry
// the task's information shaded. Long sequences are sampled: a dotted edge skips timesteps.
//
// Pure functions of the data: charts.js calls unrolledFigure() and draws the result like its other charts.

import { divergedBeforeAnyStep, fittedLaneTitle, fittedLine, overflowText, textPx } from "./labels.js";

export const NODE_PX = 24; // least width per drawn timestep
export const ROW_PX = 34; // height of one row (loss, h, c, x) in pixels
const MAX_NODES = 60;
const LABEL_PX = 36; // least node spacing for the per-step factor labels between hidden states
const TICK_PX = 30; // least spacing between two timestep labels
const EDGE = "#9ca3af";
const CUT = "#dc2626";
const LOSS = "#ea580c";
const EMPTY = "#d1d5db";
// r: the colour bar, anchored to the chart's right edge (xref "container"): one anchored beside the plot
// pushed the margin out by 2-15 px with its tick labels' width ("−1.24", "−1000"), so the plot was narrower
// than the px arithmetic here (node spacing, where names go) assumed
const MARGIN = { l: 44, r: 80, t: 12, b: 8 };
// A lane's header lines (its title, then what reaches the start) begin at x = -0.5 and may run this far past the
// plot's right edge, net of the annotation's padding (its text starts ~1.5 px right of x): the colour bar's fill
// starts ~17 px past it, less with wider tick labels ("−1000"). Where they do not fit, their words are shortened
// before a number goes (labels.fittedLine), all measured: estimated at 5.8 px an 11 px character, a phone's
// header dropped the factor a step ("×0.86 a step") behind "…" even where a shorter wording kept it.
const HEADER_PAST_PLOT_PX = 4;

// Where the cuts of truncated BPTT fall: no gradient flows from h_t into h_{t-1} at t = L-k, L-2k, ... > 0
// (rnncore.cells.base.cuts_gradient, counted from the end of the sequence).
export function truncationCuts(L, k) {
  const cuts = [];
  if (!k) return cuts;
  for (let t = L - k; t > 0; t -= k) cuts.push(t);
  return cuts.reverse();
}

// Where boxes of `sizes` px go along one axis, in the order given, each as near its wanted start `want`
// as the others allow: at least `gap` apart and inside [lo, hi]. Returns the starts, or null where they do
// not fit (together longer than hi - lo). Pushed forward past the previous box, then back from `hi`.
export function spreadApart(want, sizes, lo, hi, gap) {
  const at = [];
  want.forEach((w, i) => at.push(Math.max(w, lo, i ? at[i - 1] + sizes[i - 1] + gap : lo)));
  for (let i = at.length - 1; i >= 0; i -= 1) {
    at[i] = Math.min(at[i], hi - sizes[i], i < at.length - 1 ? at[i + 1] - gap - sizes[i] : Infinity);
  }
  return at.length && at[0] < lo - 0.5 ? null : at;
}

// The timesteps drawn: all of them when they fit, else `maxNodes` spread evenly plus the ones that must
// be seen exactly (the ends of the informative spans, both sides of a few truncation cuts).
export function sampledTimesteps(L, maxNodes, forced = []) {
  if (L <= maxNodes) return Array.from({ length: L }, (_, t) => t);
  const picked = new Set([0, L - 1, ...forced.filter((t) => t >= 0 && t < L)]);
  const even = Math.max(2, maxNodes - picked.size);
  for (let k = 0; k < even; k += 1) picked.add(Math.round((k * (L - 1)) / (even - 1)));
  return [...picked].sort((a, b) => a - b);
}

// The x (node index) of timestep t among the drawn timesteps `ts`: its node's, or between the two drawn around it.
function nodeX(ts, t) {
  const i = ts.findIndex((s) => s >= t);
  if (i <= 0) return Math.max(0, i);
  return ts[i] === t ? i : i - 1 + (t - ts[i - 1]) / (ts[i] - ts[i - 1]);
}

// The timestep labels' spacing: the smallest round number (1, 2 or 5 times a power of ten) whose multiples, placed
// at their timesteps among the drawn nodes (`unitPx` apart), are at least TICK_PX apart everywhere.
function tickStep(ts, unitPx) {
  const L = ts[ts.length - 1] + 1;
  for (let power = 1; ; power *= 10) {
    for (const d of [power, 2 * power, 5 * power]) {
      let previous = null;
      let apart = true;
      for (let t = 0; t < L && apart; t += d) {
        const x = nodeX(ts, t);
        if (previous !== null && (x - previous) * unitPx < TICK_PX) apart = false;
        previous = x;
      }
      if (apart || d >= L) return d;
    }
  }
}

// "×0.83", "×12", "×10⁻³·²": the factor 10^d by which the gradient norm changes over one edge.
export function factorText(d) {
  if (!Number.isFinite(d)) return "";
  const r = 10 ** d;
  if (r >= 0.01 && r < 100) return `×${r >= 9.95 ? r.toFixed(0) : r.toPrecision(2)}`;
  return `×10<sup>${d.toFixed(1).replace("-", "−")}</sup>`;
}

function finite(v) {
  return v !== null && v !== undefined && Number.isFinite(v);
}

// What a lane's band draws: its informative spans, the loss terms that score its answer where only some
// do (copy's recall steps), truncation cuts, and the timesteps it needs drawn exactly (`forced`: the spans' ends
// and both sides of up to 6 cuts among them).
function lanePlan({ lane, arrays }) {
  const L = arrays.log10_grad_norm_per_step.length;
  const spans = lane.taskInfo?.extra?.informative || [];
  const answer = lane.taskInfo?.extra?.answer || null;
  const cuts = truncationCuts(L, lane.config.truncate);
  const exactCuts = cuts.length <= 6 ? cuts.flatMap((t) => [t - 1, t]) : [];
  const ends = [...spans, ...(answer ? [answer] : [])].flatMap((s) => [s.start, s.stop - 1]);
  return { L, spans, answer, cuts, forced: [...ends, ...exactCuts] };
}

// The timesteps drawn (`ts`) of each plan: one set for all lanes of one length, sampled around the union of what
// each of them needs exactly, so that lanes stacked one above the other put a timestep at one x (QA: full vs
// truncated BPTT, T = 60: the truncated lane's nodes on both sides of its cuts moved t = 30 by 26 px).
// Unless the union crowds the row past what each lane would draw alone (truncations of different k: 35 nodes for
// k = 9-12 at T = 60, ~8 px apart on a phone): then each lane keeps its own.
function shareTimesteps(plans, maxNodes) {
  const byLength = new Map();
  for (const plan of plans) byLength.set(plan.L, [...(byLength.get(plan.L) || []), plan]);
  for (const [L, lanes] of byLength) {
    const shared = sampledTimesteps(L, maxNodes, lanes.flatMap((plan) => plan.forced));
    const own = lanes.map((plan) => sampledTimesteps(L, maxNodes, plan.forced));
    const fits = shared.length <= Math.max(maxNodes, ...own.map((ts) => ts.length));
    lanes.forEach((plan, i) => { plan.ts = fits ? shared : own[i]; });
  }
}

// The chart's marks, one trace per kind shared by all lanes, each styled as a whole: Plotly's redraw
// slows down with the number of traces and, more, with per-point styles (80 markers with an array of
// sizes took ~20 ms, as many as 4 lanes' traces with scalar ones). Each point's customdata is its lane's
// index; line traces join their segments with null breaks.
const KINDS = {
  edges: { mode: "lines", line: { color: EDGE, width: 1.2, dash: "solid" } },
  skips: { mode: "lines", line: { color: EDGE, width: 1.2, dash: "dot" } },
  cuts: { mode: "lines", line: { color: CUT, width: 2 } },
  ht: { mode: "markers", marker: { symbol: "circle", coloraxis: "coloraxis", line: { color: "#374151", width: 0.8 } } },
  "ht (no gradient)": { mode: "markers", marker: { symbol: "circle-open", color: EMPTY, line: { color: EMPTY, width: 1.5 } } },
  ct: { mode: "markers", marker: { symbol: "square", coloraxis: "coloraxis", line: { color: "#374151", width: 0.8 } } },
  "ct (no gradient)": { mode: "markers", marker: { symbol: "square-open", color: EMPTY, line: { color: EMPTY, width: 1.5 } } },
  xt: { mode: "markers", marker: { symbol: "square", coloraxis: "coloraxis", line: { color: "#374151", width: 0.8 } } },
  "xt (no gradient)": { mode: "markers", marker: { symbol: "square-open", color: EMPTY, line: { color: EMPTY, width: 1.5 } } },
  loss: { mode: "markers", marker: { symbol: "diamond", color: LOSS, line: { color: "#9a3412", width: 0.8 } } },
  "loss (blank target)": { mode: "markers", marker: { symbol: "diamond-open", color: LOSS, line: { color: LOSS, width: 1.5 } } },
  factors: { mode: "text", textfont: { size: 9.5, color: "#4b5563" } },
  // the last timestep's label may reach past the last node's column: not clipped at the plot's edge
  ticks: { mode: "text", hoverinfo: "skip", cliponaxis: false, textfont: { size: 10, color: "#6b7280" } },
  // names are placed from their measured width, which counts no padding: a name may end a pixel past the last node
  "span names": { mode: "text", hoverinfo: "skip", textposition: "middle right", cliponaxis: false,
    textfont: { size: 10, color: "#92400e" } },
  "answer names": { mode: "text", hoverinfo: "skip", textposition: "middle right", cliponaxis: false,
    textfont: { size: 10, color: "#9a3412" } },
  // in the left margin: not clipped (but a point outside the axis range is hidden even so: see laneBand)
  "row names": { mode: "text", hoverinfo: "skip", textposition: "middle left", cliponaxis: false,
    textfont: { size: 11, color: "#6b7280" } },
};

class Marks {
  constructor() {
    this.kinds = new Map();
    this.sizes = {}; // marker size per kind (one for all lanes: the node spacing is shared)
  }

  get(kind) {
    if (!this.kinds.has(kind)) this.kinds.set(kind, { x: [], y: [], customdata: [], hovertext: [], text: [], color: [] });
    return this.kinds.get(kind);
  }

  segment(kind, x0, y0, x1, y1) {
    const m = this.get(kind);
    m.x.push(x0, x1, null);
    m.y.push(y0, y1, null);
  }

  point(kind, lane, x, y, { hovertext = "", text = "", color = null } = {}) {
    const m = this.get(kind);
    m.x.push(x);
    m.y.push(y);
    m.customdata.push(lane);
    m.hovertext.push(hovertext);
    m.text.push(text);
    m.color.push(color);
  }

  traces() {
    const data = [];
    for (const [kind, spec] of Object.entries(KINDS)) {
      const m = this.kinds.get(kind);
      if (!m || !m.x.length) continue;
      const trace = { type: "scatter", mode: spec.mode, name: kind, showlegend: false, x: m.x, y: m.y };
      if (spec.mode === "lines") Object.assign(trace, { hoverinfo: "skip", line: spec.line });
      else {
        Object.assign(trace, { customdata: m.customdata, hoverinfo: spec.hoverinfo || "text" });
        if (trace.hoverinfo !== "skip") trace.hovertext = m.hovertext;
      }
      if (spec.mode === "markers") {
        trace.marker = { ...spec.marker, size: this.sizes[kind.split(" ")[0]] };
        if (spec.marker.coloraxis) trace.marker.color = m.color;
      }
      if (spec.mode === "text") {
        Object.assign(trace, { text: m.text, textfont: spec.textfont });
        if (spec.textposition) trace.textposition = spec.textposition;
        if (spec.cliponaxis === false) trace.cliponaxis = false;
      }
      data.push(trace);
    }
    return data;
  }
}

// The input spans' names under their shaded boxes (`boxes`: {what, i0, i1}, left to right), as
// [{what, x}] in data units (the name starts at x): each centred under its box where the names fit so, else
// moved aside (temporal_order's "first A/B symbol" and "second A/B symbol" at 390 px: their boxes' centres
// are ~70 px apart, the names 80 and 95 px wide) as long as every name stays over its own box (>= 10 px of
// it) and the names inside the plot, 8 px apart. Where they cannot all fit, the later names are left to
// the inputs' hover ("may hold the ..."), the last first. `axis`: {px, left, width}: px per node index on
// the drawn x axis, the axis' first value (the plot's left edge) and the plot's width in px.
const NAME_PX = 10; // the span names' font size
const NAME_GAP = 8;
function spanNames(boxes, axis) {
  const px = (x) => (x - axis.left) * axis.px;
  for (let kept = boxes; kept.length; kept = kept.slice(0, -1)) {
    const sizes = kept.map((box) => textPx(box.what, NAME_PX));
    const want = kept.map((box, k) => px((box.i0 + box.i1) / 2) - sizes[k] / 2);
    const at = spreadApart(want, sizes, 0, axis.width, NAME_GAP);
    const overBox = (box, k) => {
      const [a, b] = [px(box.i0 - 0.42), px(box.i1 + 0.42)]; // the shaded box
      const m = Math.min(10, (b - a) / 2, sizes[k] / 2);
      return at[k] <= b - m && at[k] + sizes[k] >= a + m;
    };
    if (at && kept.every(overBox)) return kept.map((box, k) => ({ what: box.what, x: at[k] / axis.px + axis.left }));
  }
  return [];
}

// One lane's band: rows from the top (loss, h, c for the LSTM, x), marks in data coordinates where
// x = node index and y = row; `top` is the band's first row, `plan` from lanePlan(), `laneIndex` the lane's place among the sources.
function laneBand(source, laneIndex, top, { spans, cuts, ts, answer, tickStep }, unitPx, linePx, marks, axis) {
  const { lane, arrays } = source;
  const hNorms = arrays.log10_grad_norm_per_step;
  const L = hNorms.length;
  const cNorms = arrays.log10_cell_grad_norm_per_step || null;
  const xNorms = arrays.log10_input_grad_per_step || null;
  const losses = lane.taskInfo?.target_mode === "every" ? null : [L - 1]; // null: a loss term at every timestep
  const rows = { loss: top, h: top - 1 };
  if (cNorms) rows.c = top - 2;
  rows.x = top - (cNorms ? 3 : 2);
  const annotations = [];
  const shapes = [];
  const idx = ts.map((_, i) => i);

  // forward edges: solid between adjacent timesteps, dotted where sampling skipped some
  ts.forEach((t, i) => {
    marks.segment("edges", i, rows.x, i, rows.h);
    if (rows.c !== undefined) marks.segment("edges", i, rows.c, i, rows.h);
    if (losses === null || losses.includes(t)) marks.segment("edges", i, rows.h, i, rows.loss);
    if (i === 0) return;
    const kind = t - ts[i - 1] > 1 ? "skips" : "edges";
    marks.segment(kind, i - 1, rows.h, i, rows.h);
    if (rows.c !== undefined) marks.segment(kind, i - 1, rows.c, i, rows.c);
  });

  // truncation cuts: a red bar across the recurrent edge(s), placed by timestep between the drawn nodes
  if (cuts.length) {
    const low = (rows.c ?? rows.h) - 0.32;
    // at most 3 bars between two drawn nodes (k = 1 at T = 2000 has 1999 cuts: each bar is SVG to redraw,
    // and 3 already read as "many")
    const perGap = new Map();
    for (const t of cuts) {
      const i = ts.findIndex((s) => s >= t); // first drawn node at or after the cut
      if (i > 0) perGap.set(i, [...(perGap.get(i) || []), t]);
    }
    for (const [i, inGap] of perGap) {
      const keep = inGap.length <= 3 ? inGap : [inGap[0], inGap[inGap.length >> 1], inGap[inGap.length - 1]];
      for (const t of keep) {
        const x = i - 1 + (t - 0.5 - ts[i - 1]) / (ts[i] - ts[i - 1]);
        marks.segment("cuts", x, rows.h + 0.32, x, low);
      }
    }
  }

  // informative inputs: a shaded box behind the x nodes that carry what the target depends on, named
  // below (spanNames: beside each other where there is room, else the inputs' hover names it); the loss
  // terms that score the task's answer (copy: the recall steps) named above them, centred
  // a span's drawn nodes [i0, i1] (null if none is drawn), and where the answer's name starts, centred under
  // them and kept inside the chart: px from the plot's left edge (x = -0.5) and the name's width
  const drawnNodes = (span) => {
    const inside = ts.map((t, i) => (t >= span.start && t < span.stop ? i : null)).filter((i) => i !== null);
    return inside.length ? [inside[0], inside[inside.length - 1]] : null;
  };
  const namePlace = (what, [i0, i1]) => {
    const width = textPx(what, NAME_PX);
    const left = ((i0 + i1) / 2 + 0.5) * unitPx - width / 2;
    return { left: Math.max(0, Math.min(left, ts.length * unitPx - width)), width };
  };
  const boxes = []; // the shaded spans, left to right: {what, i0, i1}
  for (const span of spans) {
    const nodesDrawn = drawnNodes(span);
    if (!nodesDrawn) continue;
    const [i0, i1] = nodesDrawn;
    shapes.push({
      type: "rect", layer: "below", x0: i0 - 0.42, x1: i1 + 0.42, y0: rows.x - 0.36, y1: rows.x + 0.36,
      fillcolor: "rgba(250, 204, 21, 0.35)", line: { width: 0 },
    });
    boxes.push({ what: span.what, i0, i1 });
  }
  for (const { what, x } of spanNames(boxes.sort((a, b) => a.i0 - b.i0), axis)) {
    marks.point("span names", laneIndex, x, rows.x - 0.95, { text: what });
  }
  const answerNodes = answer && drawnNodes(answer);
  if (answerNodes) {
    const { left } = namePlace(answer.what, answerNodes);
    marks.point("answer names", laneIndex, left / unitPx - 0.5, rows.loss + 0.42, { text: answer.what });
  }
  const holds = (t) => spans.filter((span) => t >= span.start && t < span.stop)
    .map((span) => `<br>may hold the ${span.what.replace(/^the /, "")} (t in ${span.start}..${span.stop - 1})`).join("");

  // nodes: coloured by log10 of the gradient norm (one colour axis for all lanes); none reaches a node
  // (truncation, an exact zero) or nothing finite (overflow): hollow grey
  const nodes = (row, values, what, sub) => {
    const last = finite(values[L - 1]) ? values[L - 1] : null;
    ts.forEach((t, i) => {
      const v = values[t];
      let hovertext = `${lane.name} · ${sub}${t}<br>no gradient reaches it`;
      if (finite(v)) {
        const relative = last !== null && t !== L - 1 ? `<br>${(v - last).toFixed(2)} orders vs t = ${L - 1}` : "";
        hovertext = `${lane.name} · ${sub}${t}<br>log10 ‖${what}‖ = ${v.toFixed(2)}${relative}${sub === "x" ? holds(t) : ""}`;
      }
      marks.point(finite(v) ? `${sub}t` : `${sub}t (no gradient)`, laneIndex, i, row, { hovertext, color: v });
    });
  };
  nodes(rows.h, hNorms, "∂L/∂h_t", "h");
  if (cNorms) nodes(rows.c, cNorms, "∂L/∂c_t", "c");
  if (xNorms) nodes(rows.x, xNorms, "∂L/∂x_t", "x");

  // loss terms; where the task scores its answer at some of them only (copy), the others, whose target is
  // the blank symbol, hollow
  for (const i of losses === null ? idx : idx.filter((j) => losses.includes(ts[j]))) {
    const scores = !answer || (ts[i] >= answer.start && ts[i] < answer.stop);
    marks.point(scores ? "loss" : "loss (blank target)", laneIndex, i, rows.loss, {
      hovertext: `${lane.name} · loss term at t = ${ts[i]}${scores ? "" : "<br>target: the blank symbol"}`,
    });
  }

  // the factor by which the gradient norm changes from h_t back to the previous drawn node; none on an edge that
  // crosses a truncation cut (no gradient flows there: its red bar says so). With a loss term at every step,
  // ||dL/dh_{t-1}|| also holds h_{t-1}'s own term, so the factor is not the Jacobian's alone (x1.1 is no explosion).
  if (unitPx >= LABEL_PX) {
    const ownLoss = losses === null;
    ts.forEach((t, i) => {
      if (i === 0 || !finite(hNorms[t]) || !finite(hNorms[ts[i - 1]])) return;
      if (cuts.some((c) => c > ts[i - 1] && c <= t)) return;
      const d = hNorms[ts[i - 1]] - hNorms[t];
      const steps = t - ts[i - 1];
      marks.point("factors", laneIndex, i - 0.5, rows.h + 0.4, {
        text: factorText(d),
        hovertext: `‖∂L/∂h_${ts[i - 1]}‖ / ‖∂L/∂h_${t}‖ = 10^${d.toFixed(2)}${steps > 1 ? ` over ${steps} steps` : ""}`
          + (ownLoss ? `<br>includes h_${ts[i - 1]}'s own loss term, not the Jacobian alone` : ""),
      });
    });
  }

  // timestep labels under the inputs: 0, d, 2d, ... (tickStep, the same for lanes of one length), each under its
  // timestep's place (between two drawn nodes where sampling skipped it), and the last timestep where it fits
  const ticks = [];
  for (let t = 0; t < L; t += tickStep) ticks.push(t);
  if (ticks[ticks.length - 1] !== L - 1 && (nodeX(ts, L - 1) - nodeX(ts, ticks[ticks.length - 1])) * unitPx >= TICK_PX) {
    ticks.push(L - 1);
  }
  for (const t of ticks) marks.point("ticks", laneIndex, nodeX(ts, t), rows.x - 0.62, { text: String(t) });

  // the lane's title, and how much of the gradient at the end survives to the start: the factor a step is the
  // line's one part that stays; the others shorten their words first (the ratio as "h₉₉→h₀ ×10⁻⁸·¹", "×0.86/step"),
  // then go, the truncation's (its red bars show the cuts) before the ratio, the ratio before the cell state's
  const first = hNorms.findIndex(finite);
  const lastT = L - 1;
  let summary = [];
  if (first >= 0 && first < lastT && finite(hNorms[lastT])) {
    const d = hNorms[first] - hNorms[lastT];
    const ratio = factorText(d);
    const perStep = factorText(d / (lastT - first));
    summary.push(
      { forms: [`‖∂L/∂h<sub>${first}</sub>‖ / ‖∂L/∂h<sub>${lastT}</sub>‖ = ${ratio.replace("×", "")}`,
        `h<sub>${lastT}</sub>→h<sub>${first}</sub> ${ratio}`], drop: 1 },
      { forms: [`${perStep} a step`, `${perStep} a step`, `${perStep}/step`] },
    );
    if (cNorms && finite(cNorms[first]) && finite(cNorms[lastT])) {
      const cellStep = factorText((cNorms[first] - cNorms[lastT]) / (lastT - first));
      summary.push({ forms: [`cell state ${cellStep} a step`, `cell state ${cellStep} a step`, `cell ${cellStep}/step`],
        drop: 2 });
    }
  }
  if (losses === null && summary.length) { // the factors above: not one Jacobian each (see their hover)
    summary.push({ forms: ["factors include each step's own loss", "incl. own loss terms"], drop: 0.5 });
  }
  if (cuts.length) {
    const truncate = lane.config.truncate;
    const count = `${cuts.length} cut${cuts.length > 1 ? "s" : ""}`;
    const red = (text) => `<span style="color:${CUT}">${text}</span>`;
    const words = red(`✂ truncated BPTT, k = ${truncate}: ${count}`);
    summary.push({ forms: [words, words, red(`✂ k = ${truncate}: ${count}`)], drop: summary.length ? 0 : undefined });
  }
  if (first < 0) {
    const dtype = lane.config.dtype;
    summary = [{ forms: [overflowText(lane), `nothing finite: the ${dtype} forward pass overflows`,
      `nothing finite: ${dtype} overflows`] }];
  }
  const step = source.preview ? "at initialisation" : source.step === null ? "" : `step ${source.step}`;
  const title = fittedLaneTitle(lane, linePx, { tail: step ? ` · ${step}` : "", sizes: [12] });
  annotations.push({
    text: title.text, hovertext: title.hovertext, x: -0.5, y: top + 0.95, xanchor: "left", yanchor: "bottom", showarrow: false, font: { size: 12, color: lane.color },
  });
  if (summary.length) {
    const line = fittedLine(summary, linePx, { sizes: [11] });
    annotations.push({
      text: line.text, hovertext: line.hovertext, x: -0.5, y: top + 0.45, xanchor: "left", yanchor: "bottom",
      showarrow: false, font: { size: 11, color: "#374151" },
    });
  }
  // row names in the left margin, right-aligned at the axis' start (x = -0.7): a text point outside the
  // axis range is hidden even with cliponaxis off, so the point sits just inside it
  const rowNames = { loss: "loss", h: "h<sub>t</sub>", c: "c<sub>t</sub>", x: "x<sub>t</sub>" };
  for (const [key, y] of Object.entries(rows)) marks.point("row names", laneIndex, -0.69, y, { text: rowNames[key] });
  let low = Infinity;
  let high = -Infinity;
  for (const series of [hNorms, cNorms || [], xNorms || []]) {
    for (const v of series) {
      if (!finite(v)) continue;
      if (v < low) low = v;
      if (v > high) high = v;
    }
  }
  return { annotations, shapes, bottom: rows.x - (spans.length ? 1.2 : 0.85), low, high };
}

// {data, layout, height}: every lane with arrays as a band, top to bottom. `widthPx`: the chart's width.
export function unrolledFigure(sources, widthPx, baseLayout, emptyText) {
  const plotPx = Math.max(120, widthPx - MARGIN.l - MARGIN.r);
  const maxNodes = Math.max(8, Math.min(MAX_NODES, Math.floor(plotPx / NODE_PX)));
  const drawn = sources.filter((s) => s.arrays && s.arrays.log10_grad_norm_per_step);
  const plans = drawn.map((source) => lanePlan(source));
  shareTimesteps(plans, maxNodes);
  const widest = Math.max(2, ...plans.map((plan) => plan.ts.length));
  const unitPx = plotPx / widest;
  // lanes of one length get one label spacing: the widest any of them needs
  for (const plan of plans) plan.tickStep = tickStep(plan.ts, unitPx);
  for (const plan of plans) {
    const L = plan.ts[plan.ts.length - 1];
    plan.tickStep = Math.max(...plans.filter((p) => p.ts[p.ts.length - 1] === L).map((p) => p.tickStep));
  }
  const xRange = [-0.7, widest - 0.3];
  const axis = { px: plotPx / (xRange[1] - xRange[0]), left: xRange[0], width: plotPx }; // the x axis as drawn
  const headerPx = (xRange[1] + 0.5) * axis.px + HEADER_PAST_PLOT_PX; // from x = -0.5 to the colour bar
  const marks = new Marks();
  const scale = Math.min(1, unitPx / 26); // narrow charts: smaller nodes that do not overlap
  Object.assign(marks.sizes, { ht: Math.max(6, 17 * scale), ct: Math.max(5, 14 * scale), xt: Math.max(5, 12 * scale),
    loss: Math.max(6, 11 * scale) });
  const annotations = [];
  const shapes = [];
  let top = 0;
  let low = Infinity;
  let high = -Infinity;
  // a lane that diverged before its first finite step has no arrays: one line says so, in lane order
  const missing = sources.filter(divergedBeforeAnyStep);
  for (const [laneIndex, source] of sources.entries()) {
    const k = drawn.indexOf(source);
    if (k >= 0) {
      const band = laneBand(source, laneIndex, top, plans[k], unitPx, headerPx, marks, axis);
      annotations.push(...band.annotations);
      shapes.push(...band.shapes);
      low = Math.min(low, band.low);
      high = Math.max(high, band.high);
      top = band.bottom - 1.45; // room for the next lane's title and summary lines
    } else if (missing.includes(source)) {
      const { lane } = source;
      const diverged = ` · diverged at step ${lane.divergedAt}`;
      const title = fittedLaneTitle(lane, headerPx, { tail: [`${diverged}, before any finite step`, diverged], sizes: [12] });
      annotations.push({
        text: title.text, hovertext: title.hovertext,
        x: -0.5, y: top + 0.95, xanchor: "left", yanchor: "bottom", showarrow: false, font: { size: 12, color: lane.color },
      });
      top -= 0.8;
    }
  }
  const bottom = top + 1.45;
  const rowsTall = -bottom + 1.45;
  const height = drawn.length || missing.length ? Math.round(rowsTall * ROW_PX + 20) : 200; // + the margins
  const layout = baseLayout({
    margin: MARGIN,
    showlegend: false,
    height,
    hovermode: "closest",
    xaxis: { visible: false, range: xRange, fixedrange: true },
    yaxis: { visible: false, range: [bottom, 1.45], fixedrange: true },
    annotations,
    shapes,
    coloraxis: {
      colorscale: "Viridis",
      colorbar: {
        title: { text: "log10 ‖gradient‖", side: "right" }, thickness: 12, len: Math.min(1, 260 / height),
        y: 1, yanchor: "top", xref: "container", x: 1, xanchor: "right", xpad: 8, outlinewidth: 0, tickfont: { size: 11 },
      },
    },
  });
  if (low <= high) {
    if (low === high) { low -= 0.5; high += 0.5; }
    Object.assign(layout.coloraxis, { cmin: low, cmax: high });
  }
  if (!drawn.length && !missing.length) {
    layout.annotations = [{ text: emptyText, xref: "paper", yref: "paper", x: 0.5, y: 0.5, showarrow: false,
      font: { size: 13, color: "#6b7280" } }];
  }
  return { data: marks.traces(), layout, height };
}
