// The charts, drawn with Plotly from the run model. Events only mark charts dirty; one
// requestAnimationFrame callback redraws the dirty ones with Plotly.react on the accumulated data, each
// chart at most every `minInterval` ms, so a fast stream costs a few redraws a second, not one per event.

import { LANE_COLORS, LANE_NAMES } from "./controls.js";
import {
  divergedBeforeAnyStep, finiteAdvice, fittedLaneTitle, laneLegendName, lineCount, overflowText, quantityName, textPx,
  wrapText, zeroGradientCause,
} from "./labels.js";
import { spreadApart, unrolledFigure as buildUnrolled } from "./unrolled.js";

const Plotly = window.Plotly;
const COLORBAR_PX = 78; // the flow chart's colorbar: bar, tick labels and title, inside the plot area
// The modebar's two buttons, stacked at the chart's top right, reach 62 px down: 32 px into the flow chart's plot
// (30 px top margin), over the top of the colour bar's column; the bar starts below them.
const MODEBAR_CLEAR_PX = 36;
// The flow chart's tick labels: ~7 px a digit at 12 px, at least 8 px apart.
const TICK_DIGIT_PX = 7;
const TICK_GAP_PX = 8;
const MAX_HEAT_ROWS = 64; // heatmap rows kept per lane: rows are thinned 2:1 when it fills up (4 px a row)
const FONT = { family: "Inter, system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif", size: 12, color: "#1f2937" };
const AXIS_TITLE_SIZE = Math.round(FONT.size * 1.2); // Plotly's axis titles: 14 px ("timestep t" is 72 px wide)
const GRID = "#e5e7eb";
const AXIS = { gridcolor: GRID, zerolinecolor: "#d1d5db", linecolor: "#9ca3af", ticks: "outside", tickcolor: "#9ca3af",
  // fixed margins and no tick-label overflow checks: both measure text (getBBox) on every redraw
  automargin: false, ticklabeloverflow: "allow" };
// Least time between two redraws of one chart while a run streams (ms): a few updates a second look live
// and leave the main thread mostly idle (each redraw is a full Plotly layout of that chart).
const MIN_INTERVAL = { flow: 1000, saliency: 900, unrolled: 1500, profile: 700, gates: 900, loss: 450, norm: 450, weight: 900, spectral: 450 };

// Line charts are SVG `scatter`, not WebGL `scattergl`: in headless Chromium without a GPU (the browser
// tests, many servers' kiosks) scattergl charts came up as "WebGL is not supported", and SVG lines of a few
// thousand points redraw in tens of milliseconds (Plotly simplifies the path to the pixel grid).
// Where clipping fired: a strip under the norm chart, one row per clipping lane, one column per bucket
// of training steps, shaded by the fraction of the bucket's steps that were clipped. A heatmap is one
// image whatever the run's length; one Plotly marker per clipped step was one DOM element each (~0.16 ms
// per redraw here: 480 of them made 75 of a norm-chart redraw's 107 ms; ticks as one line trace with null
// breaks cost as much).
const CLIP_COLUMNS = 200;
const CLIP_SCALE_PX = 90; // the strip's colour bar

function clipRates(lanes, totalSteps) {
  const columns = Math.max(1, Math.min(CLIP_COLUMNS, totalSteps));
  const width = totalSteps / columns;
  const x = Array.from({ length: columns }, (_, c) => (c + 0.5) * width - 0.5);
  const z = [];
  const text = [];
  for (const lane of lanes) {
    const steps = new Array(columns).fill(0);
    const clipped = new Array(columns).fill(0);
    for (const step of lane.steps) steps[Math.min(columns - 1, Math.floor(step / width))] += 1;
    for (const step of lane.clippedSteps) clipped[Math.min(columns - 1, Math.floor(step / width))] += 1;
    z.push(steps.map((n, c) => (n ? clipped[c] / n : null)));
    text.push(steps.map((n, c) => {
      const first = Math.ceil(c * width);
      const last = Math.max(first, Math.ceil((c + 1) * width) - 1);
      return `steps ${first}-${last}: ${clipped[c]} of ${n} clipped`;
    }));
  }
  return { x, z, text };
}

// Step-axis lines (loss, metric, ||g||) are drawn from at most two points per bucket of consecutive
// steps, about one bucket per two pixels of the chart's width: each bucket keeps its lowest and its highest
// point (real records, in step order) and a null where the data has a gap (a diverged step); the first
// and last buckets also keep the first and the latest step. Spikes, such as an exploding step, and the
// band of a noisy curve look as with every point, while a redraw stops growing with the run's length:
// Plotly's SVG lines cost about linear in points (4 lanes x 20000 steps: 160 ms per loss-chart redraw
// with every point, 51 ms with the envelope).
function envelope(xs, ys, buckets) {
  const n = xs.length;
  if (n <= 2 * buckets) return [xs, ys];
  const outX = [];
  const outY = [];
  for (let b = 0; b < buckets; b++) {
    const start = Math.floor((b * n) / buckets);
    const end = Math.floor(((b + 1) * n) / buckets);
    let low = -1;
    let high = -1;
    let gap = -1;
    for (let i = start; i < end; i++) {
      const y = ys[i];
      if (y === null || !Number.isFinite(y)) {
        if (gap < 0) gap = i;
      } else {
        if (low < 0 || y < ys[low]) low = i;
        if (high < 0 || y > ys[high]) high = i;
      }
    }
    const ends = b === 0 ? [0] : b === buckets - 1 ? [n - 1] : []; // the line spans the first to the latest step
    const keep = [low, high, gap, ...ends].filter((i, k, all) => i >= 0 && all.indexOf(i) === k).sort((a, c) => a - c);
    for (const i of keep) {
      outX.push(xs[i]);
      outY.push(i === gap ? null : ys[i]); // ys[i] of an end point may be null too: then a gap as in the data
    }
  }
  return [outX, outY];
}

// Upright x ticks for a flow-chart panel of `panelPx` pixels over timesteps 0..T-1: 0, d, 2d, ... with d
// the smallest round number (1, 2 or 5 times a power of ten) that keeps labels of T's digits apart;
// where that leaves only 0, the largest round number below T as a second tick if its label clears 0's
// (by 2 px: two labels close together read better than an axis with a single tick).
function flowTicks(T, panelPx) {
  const labelPx = (digits) => TICK_DIGIT_PX * digits;
  const roundAtLeast = (x) => {
    const power = 10 ** Math.floor(Math.log10(Math.max(1, x)));
    return [1, 2, 5, 10].map((m) => m * power).find((d) => d >= x);
  };
  const step = roundAtLeast((T * (labelPx(String(T - 1).length) + TICK_GAP_PX)) / panelPx);
  const ticks = [];
  for (let t = 0; t < T; t += step) ticks.push(t);
  if (ticks.length === 1 && T > 1) {
    const power = 10 ** Math.floor(Math.log10(T - 1));
    const last = [5, 2, 1].map((m) => m * power).find((d) => d <= T - 1);
    const apart = (last / T) * panelPx;
    if (apart >= (labelPx(1) + labelPx(String(last).length)) / 2 + 2) ticks.push(last);
  }
  return ticks;
}

// A flow-chart panel's timestep axis (the saliency strip's panels under it use the same): 0 .. T-1 over
// `domain`, upright ticks from flowTicks(), titled "timestep t" where that fits the panel (measured), else "t".
function timestepAxis(T, panelPx, domain, anchor) {
  const wide = "timestep t";
  return {
    ...AXIS, domain, anchor, range: [-0.5, T - 0.5], tickangle: 0,
    tickmode: "array", tickvals: flowTicks(T, panelPx),
    title: { text: textPx(wide, AXIS_TITLE_SIZE) <= panelPx ? wide : "t", standoff: 4 },
  };
}

// Chart 1's key to its white cells, under the colour bar (which it shortens to make room), in the colour bar's
// column: a gradient that is exactly 0 (log10 = -inf, sent as null) has no colour, so the heatmap leaves it white;
// drawn only when some lane's rows have such cells (`lanes`) beside finite ones. `plotHeight`: the plot's px.
const KEY_SIZE = 10;
function zeroKey(layout, lanes, plotHeight) {
  const cause = zeroGradientCause(lanes.map((lane) => lane.config));
  const text = wrapText(`□ white: exactly 0, no gradient reaches hₜ${cause ? ` (${cause})` : ""}`, COLORBAR_PX - 6, KEY_SIZE);
  const keyPx = lineCount(text) * KEY_SIZE * NOTE_LINE + 14; // its lines, its padding and a gap above it
  const bar = layout.coloraxis.colorbar;
  bar.len = Math.min(bar.len, Math.max(0.35, (bar.y * plotHeight - keyPx) / plotHeight));
  layout.annotations.push({
    text, align: "left", xref: "paper", x: 1, xanchor: "right", yref: "paper", y: bar.y - bar.len, yanchor: "top",
    yshift: -8, showarrow: false, font: { size: KEY_SIZE, color: "#374151" },
    hovertext: `white cells: ‖∂L/∂h_t‖ is exactly 0 (log10 = −∞): no gradient reaches h_t there${cause ? `<br>${cause}` : ""}`,
  });
}

// The saliency strip's note on a lane whose every log10 ||dL/dx_t|| is null while its h_t get finite gradients:
// each input's gradient is exactly 0 (its panel was empty, without a word). Wrapped to the panel (`panelPx`), the
// likely cause dropped where the note would not fit the strip's height `plotHeight`.
function zeroSaliencyNote(lane, xaxis, panelPx, plotHeight, yaxis = "y") {
  const cause = zeroGradientCause([lane.config]);
  const words = `${lane.name}: ‖∂L/∂xₜ‖ = 0 at every t, no gradient reaches the inputs`;
  const fit = (line) => wrapText(line, Math.max(40, panelPx - 8), KEY_SIZE);
  let text = fit(cause ? `${words} (${cause})` : words);
  if (lineCount(text) * KEY_SIZE * NOTE_LINE + 4 > plotHeight) text = fit(words);
  return { text, xref: `${xaxis} domain`, x: 0.5, yref: `${yaxis} domain`, y: 0.5, showarrow: false,
    font: { size: KEY_SIZE, color: "#374151" }, bgcolor: "rgba(255,255,255,0.85)" };
}

// Plotly's layout key of an axis id: "x" -> "xaxis", "x2" -> "xaxis2".
function axisKey(id) {
  return id.replace(/^x/, "xaxis").replace(/axis1$/, "axis");
}

// A heatmap row relative to its last timestep: log10 ||dL/dh_t|| - log10 ||dL/dh_{T-1}|| (all null
// when the last one is not finite).
function relativeRow(row) {
  const last = row[row.length - 1];
  return row.map((v) => (v === null || last === null ? null : v - last));
}

// Heatmap columns for a lane whose T exceeds its width in pixels: each drawn column is the mean log10
// over `span` consecutive timesteps (nulls, i.e. exact zeros, skipped), at the centre of those timesteps.
// Plotly's heatmap costs about linear in cells: 4 lanes x T=2000 x 64 rows took 132 ms per idle redraw of
// the flow chart with every column, 53 ms binned (longest task while such a run streams: 418 -> 273 ms).
function binnedColumns(rows, T, span) {
  if (span <= 1) return { x: timesteps(T), z: rows.slice() };
  const columns = Math.ceil(T / span);
  const x = Array.from({ length: columns }, (_, c) => c * span + (span - 1) / 2);
  const z = rows.map((row) => {
    const out = new Array(columns);
    for (let c = 0; c < columns; c++) {
      let sum = 0;
      let count = 0;
      for (let t = c * span; t < Math.min(T, (c + 1) * span); t++) {
        if (row[t] !== null) { sum += row[t]; count += 1; }
      }
      out[c] = count ? sum / count : null;
    }
    return out;
  });
  return { x, z };
}

// The modebar (Plotly's toolbar) is two buttons, the PNG camera and "reset axes" (dragging still zooms, double-click
// resets), stacked vertically (layout.modebar.orientation "v") at the top of the right margin: laid out along the
// top (Plotly's default, seven buttons) it covered legends, lane titles and the saliency strip's lines on a
// phone. Legends and titles stay within the plotting area's width, so that corner is the modebar's alone.
const MODEBAR_REMOVE = ["lasso2d", "select2d", "autoScale2d", "zoom2d", "pan2d", "zoomIn2d", "zoomOut2d"];
const MODEBAR_PX = 30; // right margin for it: the vertical modebar is 24 px wide, 2 px from the edge
// A legend entry's line sample and gaps beside its text (Plotly: 42.5 px), so entry = text + this at most.
const LEGEND_ITEM_PX = 46;
// The charts whose legend above the plot makes them taller rather than their plot shorter (Charts.fitLegend).
const LEGEND_GROWS = new Set(["profile", "gates", "loss", "norm", "weight", "spectral"]);

// Plotly's config for every chart of the page (the cliff panel's too): `name` names its PNG download.
export function plotConfig(name) {
  return {
    displaylogo: false,
    responsive: true,
    modeBarButtonsToRemove: MODEBAR_REMOVE,
    showSendToCloud: false, // Plotly 3's "Share chart..." uploads to Plotly Cloud: not from this offline page
    toImageButtonOptions: { format: "png", filename: `rnn-gradient-lab-${name}`, scale: 2 },
  };
}

function baseLayout(extra = {}) {
  return {
    font: FONT,
    paper_bgcolor: "#ffffff",
    plot_bgcolor: "#ffffff",
    margin: { l: 64, r: MODEBAR_PX, t: 34, b: 52 },
    legend: { orientation: "h", x: 0, y: 1.02, yanchor: "bottom", font: { size: 11 } },
    modebar: { orientation: "v" },
    hoverlabel: { font: { family: FONT.family, size: 12 } },
    uirevision: "keep",
    ...extra,
  };
}

function timesteps(T) {
  return Array.from({ length: T }, (_, i) => i); // t = 0 is the first input, t = T-1 the last (as in the API)
}

// An empty chart shows one line of text instead of bare axes.
function hideAxes(layout) {
  for (const key of Object.keys(layout)) if (/^[xy]axis\d*$/.test(key)) layout[key] = { ...layout[key], visible: false };
  for (const key of ["xaxis", "yaxis"]) if (!layout[key]) layout[key] = { visible: false };
  return layout;
}

// Wrapped to the plotting area's width `plotPx` (as one line it ran past a phone's chart on both sides, over the
// y axis' title).
function emptyNote(text, plotPx) {
  return [{ text: wrapText(text, Math.max(60, plotPx - 16), 13), xref: "paper", yref: "paper", x: 0.5, y: 0.5,
    showarrow: false, font: { size: 13, color: "#6b7280" } }];
}

// What a chart's line styles mean, said once in its legend: one neutral grey entry per style, after the
// lanes' entries (which name the colours; their default legendrank is 1000), not one entry per lane and style
// (4 lanes x 3 styles crowd a legend into rows). The entries draw nothing, and clicks on them do nothing (see
// draw()). `entries`: [{name, dash}] of the styles drawn, the lanes' own (solid) first; none when only that one.
const KEY_COLOR = "#6b7280";
const KEY_GROUP = "line style"; // each entry a group of its own: a horizontal legend stacks a group's entries
function styleKey(entries) {
  if (entries.length < 2) return [];
  return entries.map(({ name, dash = "solid", width = 1.6, opacity = 1 }, k) => ({
    type: "scatter", mode: "lines", x: [null], y: [null], name, legendgroup: `${KEY_GROUP} ${k + 1}`, legendrank: 2000 + k,
    line: { color: KEY_COLOR, width, dash }, opacity, hoverinfo: "skip", meta: { styleKey: true },
  }));
}

// Chart 4's smoothed curves: at each step the mean of the last MEAN_STEPS steps' values (of all steps so far
// before that), as the presets quote losses and accuracies ("0.154 against 0.173, mean of the last 50 steps");
// null where the step's own value is not finite (a diverged step). Appended one step at a time (addStep): a
// sum over the window, not a running sum, which a huge value passing through (an exploding step) would spoil.
const MEAN_STEPS = 50;
function pushWindowMean(values, means) {
  const n = values.length;
  if (!Number.isFinite(values[n - 1])) {
    means.push(null);
    return;
  }
  let sum = 0;
  let count = 0;
  for (let i = Math.max(0, n - MEAN_STEPS); i < n; i++) {
    const v = values[i];
    if (v !== null && Number.isFinite(v)) { sum += v; count += 1; }
  }
  means.push(sum / count);
}
const RAW_OPACITY = 0.3; // chart 4's per-batch curves, faint behind their means

// A chance line's hover: what chance means, and why a target at every step moves it (QA: recall's 26.5% / 1.36 with
// target every beside 25% / 1.39 with target last, unexplained). `lanes`: the lanes on the line (one task, one
// target mode: lanes that differ in either have lines of their own), `what` the quantity's words, `value` as labelled.
function chanceHover(lanes, what, value) {
  const names = lanes.map((lane) => lane.name).join(", ");
  const info = lanes[0]?.taskInfo;
  let why = "";
  if (info?.target_mode === "every" && info.name === "recall") {
    const T = lanes[0].config.seq_len;
    const K = lanes[0].config.num_classes;
    why = `<br>a target at every step: at t = 0 the input is the token itself, so that step is free;<br>`
      + `chance is averaged over the T = ${T} steps: accuracy (1 + (T−1)/K)/T, loss ln K·(T−1)/T (K = ${K})`;
  } else if (info?.target_mode === "every" && info.name === "adding") {
    why = "<br>a target at every step: the best guess of the running sum that ignores the inputs is its mean at each t;<br>"
      + "chance is that guess's MSE averaged over the timesteps";
  } else if (info?.name === "copy") {
    why = "<br>copy: the blank steps are free (loss 0), the 10 recall steps guess among 8 symbols";
  }
  return `chance ${what} ${value} (lane${lanes.length > 1 ? "s" : ""} ${names}):<br>`
    + `what the best predictor that ignores the distant input scores${why}`;
}

// [lowest, highest] of the positive finite values ([Infinity, -Infinity] if none).
function positiveRange(values) {
  let low = Infinity;
  let high = -Infinity;
  for (const v of values) {
    if (!(v > 0) || !Number.isFinite(v)) continue;
    if (v < low) low = v;
    if (v > high) high = v;
  }
  return [low, high];
}

// Decades spanned by the positive finite values (0 if fewer than two distinct ones).
function logSpan(values) {
  const [low, high] = positiveRange(values);
  return high > low ? Math.log10(high / low) : 0;
}

// Log axes: label only powers of ten when the data spans more than a decade (Plotly's default also
// labels 2, 5 between them, which crowds a short axis), else 1-2-5; every k-th power of ten where one a
// decade would put labels closer than LOG_TICK_PX on an axis of `axisPx` pixels (an exploding lane spans
// 13 decades on the loss chart's 110 px subplot).
const LOG_TICK_PX = 18;
function logTicks(values, axisPx = Infinity) {
  const span = logSpan(values);
  if (span <= 1.5) return oneTwoFiveTicks(values);
  return { exponentformat: "power", dtick: Math.max(1, Math.ceil(span / Math.max(1, axisPx / LOG_TICK_PX))) };
}

// 1-2-5 ticks labelled with their whole value: Plotly's "D2" labels 0.5 and 0.2 as "5" and "2" beside
// "10^-1", which reads as 1, 5, 2, 0.1 down the axis. Plain numbers from 0.001 to 1000, m×10^k beyond.
function oneTwoFiveTicks(values) {
  const [low, high] = positiveRange(values);
  if (!(high >= low)) return { exponentformat: "power", dtick: "D2" };
  // exact decimals from strings, not m * 10 ** k (5 * 10 ** -3 = 0.005000000000000001)
  const decimal = (mantissa, k) => Number(`${mantissa}e${k}`);
  let tickvals = [];
  for (let k = Math.floor(Math.log10(low)) - 1; k <= Math.ceil(Math.log10(high)); k++) {
    for (const m of [1, 2, 5]) {
      const v = decimal(m, k);
      if (v >= low / 2.5 && v <= high * 2.5) tickvals.push(v); // the axis pads the data a little: a tick beyond
    }
  }
  if (tickvals.filter((v) => v >= low && v <= high).length < 2) {
    // a narrow range between 1, 2 and 5 (recall's loss near chance: 1.2-1.6) had no label at all: steps of
    // 1, 2 or 5 tenths of its decade, the first that gives at most 7 ticks across it
    const k = Math.floor(Math.log10(low)) - 1;
    for (const step of [1, 2, 5]) {
      tickvals = [];
      for (let j = Math.floor(low / decimal(step, k)) * step; decimal(j - step, k) <= high; j += step) {
        tickvals.push(decimal(j, k));
      }
      if (tickvals.length <= 7) break;
    }
  }
  return { tickmode: "array", tickvals, ticktext: tickvals.map(tickLabel) };
}

// A log tick's whole value: plain from 0.001 to 1000, m×10^k beyond (2×10^−5, 10^6).
function tickLabel(v) {
  const k = Math.floor(Math.log10(v) + 1e-9);
  if (k >= -3 && k <= 3) return String(v);
  const m = Number((v / 10 ** k).toPrecision(3));
  return `${m === 1 ? "" : `${m}×`}10<sup>${String(k).replace("-", "−")}</sup>`;
}

// A diverged lane's last losses (1e11 and beyond) stretch a log axis over a dozen decades and flatten every
// other lane's curve at its bottom. When some lanes diverged and some did not, the axis tops out at the
// curves of those that did not (and at `extra`, the chance lines), padded 5%, and reaches down to every
// curve's lowest point; a diverged lane's curve runs off the top. Returns null otherwise (autorange), else
// {range (log10 units), values ([lowest, top]: what the ticks span), offTop: [{name, step, value}] of each diverged lane
// whose highest point is above the top}.
function focusedLogRange(traces, lanes, extra = []) {
  const diverged = new Set(lanes.filter((lane) => lane.divergedAt !== null).map((lane) => lane.name));
  if (!diverged.size || diverged.size === lanes.length) return null;
  let low = Infinity;
  let high = -Infinity;
  const visit = (v, ceiling) => {
    if (!(v > 0) || !Number.isFinite(v)) return;
    if (v < low) low = v;
    if (ceiling && v > high) high = v;
  };
  for (const t of traces) for (const v of t.y) visit(v, !diverged.has(t.legendgroup));
  for (const v of extra) visit(v, true);
  if (!(high >= low)) return null;
  const [lo, hi] = [Math.log10(low), Math.log10(high)];
  const pad = Math.max(0.05 * (hi - lo), 0.1);
  const range = [lo - pad, hi + pad];
  const highest = new Map(); // per diverged lane, its highest point over its traces (chart 4: raw and mean)
  for (const t of traces) {
    if (!diverged.has(t.legendgroup)) continue;
    const best = highest.get(t.legendgroup) || { name: t.legendgroup, step: null, value: -Infinity };
    t.y.forEach((v, i) => { if (Number.isFinite(v) && v > best.value) Object.assign(best, { value: v, step: t.x[i] }); });
    highest.set(t.legendgroup, best);
  }
  const offTop = [...highest.values()].filter(({ value }) => value > 0 && Math.log10(value) > range[1]);
  return { range, values: [low, high], offTop };
}

// A chart div's height as its stylesheet sets it: a chart grown for its legend (Charts.fitLegend) keeps its
// plotting area that tall, so the figures lay out their plot from this height, not the grown one.
function baseHeight(div, fallback) {
  return Number(div?.dataset.baseHeight) || div?.clientHeight || fallback;
}

// The same, remembered on the div before the chart first grows (it then carries the grown height inline).
function keepBaseHeight(div, fallback) {
  if (div && !div.dataset.baseHeight) div.dataset.baseHeight = String(div.clientHeight || fallback);
  return baseHeight(div, fallback);
}

// Pixels of a y axis with `domain` on a chart div (the layouts' top and bottom margins: ~90 px).
function axisPixels(div, domain) {
  return Math.max(40, (baseHeight(div, 300) - 90) * (domain[1] - domain[0]));
}

const DIVERGED_COLOR = "#dc2626";

// Names of horizontal lines (chance baselines, clipping thresholds) in the right margin, at the line's end, between
// the plot and the modebar's column, moved apart where two would overlap: inside the plot, over the line's right
// end, a name lay on the newest data (QA: "threshold τ = 1" over lane B's last 40 steps, "chance 26.5% (B)" on its
// accuracy curve), and no place inside the plot is sure to be free of data. lineLabelRoom() is their width and the
// right margin it takes (the modebar's column included); placeLineLabels() adds them, `labels` [{text, hovertext,
// color, yref, y: in the axis' units (log10 on a log axis), px: estimated px from the plot's top}], `plotHeight`
// the plot's px.
const LINE_LABEL_SIZE = 10;
const ACTIVATION_NAMES = { sigmoid: "sigmoid", tanh: "tanh", relu: "ReLU", linear: "linear" }; // chart 7's line names
const LINE_LABEL_GAP = 4;
// The names' room: one line up to 80 px ("threshold τ = 1", "chance 0.167") where the chart is wide, 50 px on a
// phone ("chance" over "0.167"); wider names are wrapped. It depends on the chart's width alone, not on the names:
// a right margin that changed in the same redraw as the loss chart's second y axis appeared (the first draw with
// the lanes' task info) made Plotly draw the step axis' line from that axis' unset offset ("M63,NaNH666").
function lineLabelRoom(chartPx) {
  const px = chartPx >= 560 ? 80 : 50;
  return { px, margin: MODEBAR_PX + LINE_LABEL_GAP + px + 4 };
}

function placeLineLabels(labels, annotations, plotHeight) {
  const heights = labels.map(({ text }) => lineCount(text) * LINE_LABEL_SIZE * NOTE_LINE + 2);
  const order = labels.map((_, i) => i).sort((a, b) => labels[a].px - labels[b].px);
  const want = order.map((i) => labels[i].px - heights[i] / 2); // px from the top, each centred on its line
  const at = spreadApart(want, order.map((i) => heights[i]), -10, plotHeight + 10, 2) || want;
  order.forEach((i, k) => {
    const { text, hovertext, color, yref, y } = labels[i];
    annotations.push({ text, hovertext, xref: "paper", x: 1, xanchor: "left", xshift: LINE_LABEL_GAP, align: "left",
      yref, y, yanchor: "middle", yshift: want[k] - at[k], showarrow: false, font: { size: LINE_LABEL_SIZE, color } });
  });
}

// The range Plotly's autorange gives a log axis over `values`, in log10 units (lines are padded by about 5% of
// the span on each side), or null without a positive finite value: to estimate where a line is drawn.
function logAutorange(values) {
  const [low, high] = positiveRange(values);
  if (!(high >= low)) return null;
  const [lo, hi] = [Math.log10(low), Math.log10(high)];
  const pad = hi > lo ? 0.055 * (hi - lo) : 1;
  return [lo - pad, hi + pad];
}

// Px from the plot's top of `y` (axis units) on an axis over `range` and `domain` of a plot `plotHeight` px tall.
function axisPx(y, range, domain, plotHeight) {
  const f = range ? (y - range[0]) / (range[1] - range[0] || 1) : 0.5;
  return plotHeight * (1 - (domain[0] + f * (domain[1] - domain[0])));
}

// Steps between two of a lane's heatmap rows (its arrays' cadence, doubled each time the rows are thinned).
function heatSpacing(lane) {
  return lane.recordEvery * lane.heatStride;
}

// Running extremes of heatmap rows, absolute and relative to each row's last timestep, into `into`; and
// `zeros`, whether a row has a null beside finite values: a gradient that is exactly 0 there (log10 = -inf, sent
// as null: dead ReLU units, truncated BPTT's cuts), which the heatmap leaves white. A row with nothing finite
// (an overflowing forward pass) is no sign of zeros.
function rowExtremes(rows, into = { heatMin: Infinity, heatMax: -Infinity, relMin: Infinity, relMax: -Infinity, zeros: false }) {
  for (const drawn of rows) {
    const last = drawn[drawn.length - 1];
    let blank = false;
    let finite = false;
    for (const v of drawn) {
      if (v === null) { blank = true; continue; }
      finite = true;
      if (v < into.heatMin) into.heatMin = v;
      if (v > into.heatMax) into.heatMax = v;
      if (last === null) continue;
      if (v - last < into.relMin) into.relMin = v - last;
      if (v - last > into.relMax) into.relMax = v - last;
    }
    if (blank && finite) into.zeros = true;
  }
  return into;
}

// Where a lane's heatmap rows lie on its step axis. Plotly centres each grid row on its step, `cell` steps
// tall (the grid's spacing; a lone row 1 step). The tail (the latest row, off the grid) is drawn on top,
// from the midpoint between it and the last grid row (Plotly's own rule for uneven rows), or half a cell
// below it if that is higher, to half a cell above it: `tail` = those [bottom, top] edges, or null.
// `steps`: every row's step, in order; `bottom`, `top`: the edges of all the rows.
function heatRows(lane) {
  const n = lane.heatY.length;
  const cell = n > 1 ? heatSpacing(lane) : 1;
  const last = lane.heatY[n - 1];
  const u = lane.heatTail?.step;
  const tail = lane.heatTail ? [n ? Math.max(u - cell / 2, (last + u) / 2) : u - cell / 2, u + cell / 2] : null;
  return {
    cell, tail,
    steps: tail ? [...lane.heatY, u] : lane.heatY.slice(),
    bottom: n ? lane.heatY[0] - cell / 2 : tail?.[0],
    top: tail ? tail[1] : last + cell / 2,
  };
}
const MIN_ROWS_PX = 24; // a diverged lane's heatmap rows shorter than this on the shared step axis get their own
// Chart 1 (and the saliency strip under it) puts its lanes in two rows where one row leaves a panel narrower than
// GRID_PANEL_PX: each row GRID_ROW_PX tall at least, GRID_ROW_GAP_PX between them for the upper row's t axis
// and the lower row's lane titles.
const GRID_PANEL_PX = 70;
const GRID_ROW_PX = 190;
const GRID_ROW_GAP_PX = 66;
const STRIP_ROW_GAP_PX = 44;
const SHARED_AXIS_PX = 44; // room for the shared step axis' tick labels and title between two panels

// Lines and markers for a trace of few points (a lane that diverged at step 1 or 2 has a single point, which a
// line alone does not draw), lines only once there are enough points to see the curve.
function lineMode(points, color, size = 5) {
  return points <= 30 ? { mode: "lines+markers", marker: { size, color } } : { mode: "lines" };
}

// An annotation's horizontal placement beside step `x` on the side with room: right of it in the left
// half of the step axis `range`, else left of it.
function besideStep(x, range, gap) {
  const leftHalf = x - range[0] < (range[1] - range[0]) / 2;
  return { xref: "x", x, xanchor: leftHalf ? "left" : "right", xshift: leftHalf ? gap : -gap };
}

// A red dotted line at each diverged lane's step; with `labels`, "A diverged at step 2" beside it, on
// the side with room (right of a line in the left half of the step axis), one row per lane.
function divergenceMarks(lanes, range, shapes, annotations, { labels = false } = {}) {
  const diverged = lanes.filter((lane) => lane.divergedAt !== null);
  diverged.forEach((lane, k) => {
    shapes.push({ type: "line", xref: "x", x0: lane.divergedAt, x1: lane.divergedAt, yref: "paper", y0: 0, y1: 1,
      line: { color: DIVERGED_COLOR, width: 1.5, dash: "dot" } });
    if (!labels) return;
    annotations.push({ text: `${lane.name} diverged at step ${lane.divergedAt}`, ...besideStep(lane.divergedAt, range, 3),
      yref: "paper", y: 1, yanchor: "top",
      yshift: -14 * k, showarrow: false, font: { size: 10, color: DIVERGED_COLOR }, bgcolor: "rgba(255,255,255,0.85)" });
  });
}

// log10 of the smallest normal float32 / float64 (IEEE 754): below it a plain backward pass in that dtype works
// on subnormal numbers, which lose precision, and below the smallest subnormal (LOG10_SUBNORMAL) it reads 0; the
// engine's log scale (rnncore.logscale) does neither. (QA: the note said a float32 pass "reads 0" below 10^-37.9.)
const LOG10_TINY = { float32: Math.log10(1.1754943508222875e-38), float64: Math.log10(2.2250738585072014e-308) };
const LOG10_SUBNORMAL = { float32: Math.log10(1.401298464324817e-45), float64: Math.log10(5e-324) };

// "10<sup>−37.9</sup>"
function powerOfTen(log10) {
  return `10<sup>${log10.toFixed(1).replace("-", "−")}</sup>`;
}

// A dotted line at a dtype's smallest normal number, for each dtype whose lanes' curves go below it. Its
// label is wrapped to the plotting area's width `plotPx` (at most UNDERFLOW_LABEL_PX a line): drawn as two fixed
// lines (~270 px) it ran left past a 240 px phone plot, onto the y axis' tick labels ("−40"). Its counts: per lane,
// the timesteps below the line (the API's dtype_underflow_steps) and, of those, the ones below the smallest subnormal.
const UNDERFLOW_LABEL_PX = 280;
function underflowLines(sources, layout, plotPx, panels) {
  const below = new Map();
  for (const { lane, arrays } of sources) {
    const floor = LOG10_TINY[lane.config.dtype];
    if (!arrays || floor === undefined || !(arrays.dtype_underflow_steps > 0)) continue;
    const zero = LOG10_SUBNORMAL[lane.config.dtype];
    const zeros = arrays.log10_grad_norm_per_step.filter((v) => v !== null && v < zero).length;
    // "A: 40 of 100 timesteps below it, 12 below 10^-44.9", its number words kept together
    const count = `${lane.name}:\u00a0${arrays.dtype_underflow_steps}\u00a0of\u00a0${arrays.log10_grad_norm_per_step.length} timesteps`
      + ` below\u00a0it${zeros ? `, ${zeros}\u00a0below\u00a0${powerOfTen(zero)}` : ""}`;
    below.set(lane.config.dtype, [...(below.get(lane.config.dtype) || []), count]);
  }
  for (const [dtype, counts] of below) {
    const y = LOG10_TINY[dtype];
    for (const panel of panels.panels) { // across each panel (not the gaps between them)
      layout.shapes.push({ type: "line", xref: `${panel.id} domain`, x0: 0, x1: 1, yref: "y", y0: y, y1: y,
        line: { color: "#6b7280", width: 1, dash: "dot" } });
    }
    // short lines at the right, under the line (curves end near 0 at t = T-1, those below it lie on the
    // left), on a half-transparent background: a curve passing under it stays visible
    const text = `smallest ${dtype} normal number, ${powerOfTen(y)}: below it a plain ${dtype} backward pass loses precision `
      + `(subnormal numbers), below\u00a0${powerOfTen(LOG10_SUBNORMAL[dtype])} it reads 0 (${counts.join("; ")})`;
    layout.annotations.push({ text: wrapText(text, Math.min(UNDERFLOW_LABEL_PX, plotPx - 8), 10),
      hovertext: `${dtype}: normal numbers reach down to ${powerOfTen(y)}; below that, subnormal numbers keep fewer and `
        + `fewer significant digits,<br>down to ${powerOfTen(LOG10_SUBNORMAL[dtype])}; a gradient below that reads 0 in a `
        + "plain backward pass. This chart's curves are exact (computed on a log scale).",
      xref: "paper", x: 1, xanchor: "right", align: "right", yref: "y", y, yanchor: "top", showarrow: false,
      font: { size: 10, color: "#6b7280" }, bgcolor: "rgba(255,255,255,0.5)" });
  }
}

// Chart 3's caption over the plot's top right, within the plotting area's width `plotPx`: "latest snapshot ·
// step 299" when every lane's snapshot is of one step (three lanes' "A: step 299 · B: step 299 · C: step 299"
// ran past a phone's chart on the left), the lanes' steps when they differ, shorter forms where that is too wide.
const CAPTION_SIZE = 11;
function snapshotCaption(sources, preview, plotPx) {
  const fits = (text) => textPx(text, CAPTION_SIZE) <= plotPx - 4;
  if (preview) {
    const whole = "at initialisation (preview of the current settings)";
    return fits(whole) ? whole : "at initialisation (preview)";
  }
  const shown = sources.filter((s) => s.step !== null);
  const steps = new Set(shown.map((s) => s.step));
  if (steps.size <= 1) return shown.length ? `latest snapshot · step ${shown[0].step}` : "latest snapshot";
  const each = shown.map((s) => `${s.lane.name}: step ${s.step}`).join(" · ");
  const short = shown.map((s) => `${s.lane.name}: ${s.step}`).join(" · ");
  return [`latest snapshot · ${each}`, `snapshot · ${each}`, `steps ${short}`].find(fits) || short;
}

// Chart 3's notes on lanes with no curve (an overflowing forward pass, or diverged before any finite step):
// `notes` [[what happened, what would help], ...], one annotation a lane, each wrapped to the plotting area's
// width `plotPx` (drawn as single centred lines they ran past both ends of the chart, over the y axis' title),
// stacked one under the other around the plot's middle; in smaller type if they would not fit its height.
const NOTE_LINE = 1.3; // Plotly's line height, in font sizes
const NOTE_GAP = 6;
function profileNotes(notes, plotPx, plotHeight) {
  let size = 12;
  let texts = [];
  const height = (text) => lineCount(text) * size * NOTE_LINE + 4; // + its background's padding
  for (; ; size -= 1) {
    texts = notes.map((lines) => lines.map((line) => wrapText(line, plotPx - 12, size)).join("<br>"));
    const total = texts.reduce((sum, text) => sum + height(text), NOTE_GAP * (texts.length - 1));
    if (total <= plotHeight - 4 || size <= 9) break;
  }
  let top = (texts.reduce((sum, text) => sum + height(text), NOTE_GAP * (texts.length - 1))) / 2; // px above the middle
  return texts.map((text) => {
    const note = { text, xref: "paper", yref: "paper", x: 0.5, y: 0.5, xanchor: "center", yanchor: "top", yshift: top,
      showarrow: false, font: { size, color: DIVERGED_COLOR }, bgcolor: "rgba(255,255,255,0.85)" };
    top -= height(text) + NOTE_GAP;
    return note;
  });
}

// Chart 3's x axes, which the gate strip under it repeats so that a timestep is at one x in both: one "timestep t"
// axis from 0 to the longest lane's L-1 (its arrays' length); or, where the longest lane is more than PANEL_RATIO
// times the shortest (QA: T = 1000 beside sequences of 50 and 100, which were squeezed into the leftmost 5 and 10% of
// one axis), side-by-side panels on the shared log10 ||dL/dh_t|| axis, one per distinct length, each from 0 to its
// own L-1. t means the same everywhere (the timestep, 0 = the first input; nothing is rescaled or realigned): only
// the pixels per timestep differ between panels, as their tick labels show, and each axis' title names its lanes.
// Up to 10x (the sequence-length preset's 20 against 200) the lanes keep one axis, which shows how much further
// back the longer one reaches. `plotPx`: the plotting area's width. Returns {panels: [{id, L, names, domain, px}],
// axisOf: {lane name: x axis id}, split}.
const PANEL_RATIO = 10;
const PANEL_GAP_PX = 24; // between two panels: the tick labels at their ends overhang them by half a label
function profilePanels(sources, plotPx) {
  const lengths = sources.filter(({ arrays }) => arrays?.log10_grad_norm_per_step)
    .map(({ lane, arrays }) => [lane.name, arrays.log10_grad_norm_per_step.length]);
  if (!lengths.length) return { panels: [], axisOf: {}, split: false };
  const all = lengths.map(([, L]) => L);
  const longest = Math.max(...all);
  const split = longest > PANEL_RATIO * Math.min(...all);
  const groups = split ? [...new Set(all)] : [longest];
  const gap = groups.length > 1 ? PANEL_GAP_PX / plotPx : 0;
  const width = (1 - gap * (groups.length - 1)) / groups.length;
  const panels = groups.map((L, k) => ({
    id: k ? `x${k + 1}` : "x", L, domain: [k * (width + gap), k * (width + gap) + width], px: width * plotPx,
    names: lengths.filter(([, length]) => !split || length === L).map(([name]) => name),
  }));
  const axisOf = Object.fromEntries(lengths.map(([name, L]) => [name, split ? panels.find((p) => p.L === L).id : "x"]));
  return { panels, axisOf, split };
}

// A chart-3 (or gate strip) panel's x axis: 0 .. L-1 exactly (Plotly's autorange of the gate strip followed its
// gated lanes only); split into panels, upright ticks that fit the panel and a title naming its lanes.
function panelAxes(layout, { panels, split }, title = {}) {
  for (const panel of panels) {
    const axis = { ...AXIS, domain: panel.domain, anchor: "y", range: [0, Math.max(1, panel.L - 1)] };
    if (split) {
      const names = panel.names.join(", ");
      const wide = `${names}: timestep t`;
      Object.assign(axis, { tickmode: "array", tickvals: flowTicks(panel.L, panel.px), tickangle: 0 });
      axis.title = { ...title, text: textPx(wide, AXIS_TITLE_SIZE) <= panel.px ? wide : `${names}: t` };
    } else axis.title = { ...title, text: "timestep t" };
    layout[axisKey(panel.id)] = axis;
  }
}

// The step axis spans the whole run from the start, so curves grow left to right as training goes; once every lane
// has ended, the steps trained (QA: a lane that diverged at step 2 was a hairline on a 0-499 axis).
function stepRange(lanes) {
  const steps = allEnded(lanes) ? Math.max(1, ...lanes.map((lane) => Math.max(lane.lastStep, lane.divergedAt ?? -1) + 1))
    : Math.max(1, ...lanes.map((lane) => lane.totalSteps || 1));
  return [0, Math.max(steps - 1, 1)];
}

// Whether every lane has ended (done, diverged or cancelled): the step axes then span the steps trained.
function allEnded(lanes) {
  return lanes.length > 0 && lanes.every((lane) => lane.status !== "waiting" && lane.status !== "running");
}

// Ticks in whole steps on a step axis over `range` (`axisPx` long): Plotly's own ticks on a short range fall on
// half steps (-0.5, 0.5, 1.5 on chart 1's axis of 3 rows). 1, 2, 5, 10 ... steps apart, at least 40 px; a long
// range keeps Plotly's ticks (whole numbers there).
function wholeStepTicks(range, axisPx) {
  const span = range[1] - range[0];
  const most = Math.max(1, Math.floor(axisPx / 40));
  if (span > 10 * most) return {};
  const dtick = [1, 2, 5, 10, 20, 50, 100, 200, 500].find((d) => span / d <= most) || 1000;
  return { tickmode: "linear", tick0: 0, dtick };
}

// L, the number of timesteps of a lane's sequences (its arrays' length): seq_len T for every task but
// copy, whose sequences are T + 20 long (the task's info says so; before it arrives, a row does).
function sequenceLength(lane) {
  return lane.taskInfo?.extra?.sequence_length ?? lane.heatZ[0]?.length ?? lane.config.seq_len;
}

export function newLane(index, config, label) {
  return {
    index,
    name: LANE_NAMES[index],
    color: LANE_COLORS[index],
    label,
    config,
    taskInfo: null,
    recordEvery: 1,
    totalSteps: config.steps,
    steps: [], loss: [], metric: [], gradNorm: [], gradNormClipped: [],
    lossMean: [], metricMean: [], // the mean of the last MEAN_STEPS steps' loss and metric, at every step
    clippedSteps: [], // steps where clipping fired (the norm chart's strip)
    sigmaMax: [], rhoSteps: [], rho: [], gamma: null, // W_h's sigma_max every step, its spectral radius when measured
    initial: null, // {sigmaMax, rho, gamma} of the instant preview, shown before a run
    heatY: [], heatZ: [], heatStride: 1, heatMin: Infinity, heatMax: -Infinity, zeros: false,
    heatTail: null, // the latest row when it is off the grid: {step, row, heatMin, heatMax, relMin, relMax}
    relMin: Infinity, relMax: -Infinity, // extremes of the rows relative to their last timestep
    latest: null, latestStep: null,
    lastStep: -1,
    status: "waiting", divergedAt: null, reason: null,
  };
}

export class Charts {
  constructor(divs) {
    this.divs = divs; // {flow, saliency, unrolled, profile, gates, loss, norm, weight, spectral}
    this.lanes = [];
    this.preview = null; // [{label, config, arrays}] from POST /api/profile, shown before a run
    this.dirty = new Set();
    this.lastDraw = {};
    this.frame = null;
    this.revision = 0;
    this.drawn = new Set();
    this.settling = null; // resolve function of settle(), while a final redraw is pending
    // Charts scrolled out of view are not redrawn while a run streams (they catch up when they come
    // into view, and every chart is drawn with the final data at the end): on a 2-core machine the
    // redraws of charts nobody sees took CPU time from the visible ones.
    this.onScreen = new Set();
    this.streaming = false; // from reset() (a run starts) to settle() (it ended): only then are charts deferred
    const observer = new IntersectionObserver((entries) => {
      for (const entry of entries) {
        const name = entry.target.dataset.chart;
        if (entry.isIntersecting) this.onScreen.add(name);
        else this.onScreen.delete(name);
      }
      if (this.dirty.size) this.schedule();
    }, { rootMargin: "200px" });
    for (const div of Object.values(divs)) if (div) observer.observe(div);
  }

  get titleOf() {
    return (lane) => `${lane.name} · ${lane.label}`;
  }

  reset(lanes, key) {
    this.lanes = lanes;
    this.uirevision = key; // a new run resets zoom; live updates within a run keep it
    this.streaming = true;
    this.markAll();
  }

  setPreview(preview) {
    this.preview = preview;
    // Empty lanes for the current settings: before a run the charts already have their final axes,
    // and legends (drawn while the page is idle), so Run only adds data to them.
    this.planned = preview.map((p, i) => Object.assign(newLane(i, p.config, p.label),
      { taskInfo: p.taskInfo || null, initial: p.weights || null }));
    this.markAll();
  }

  // Why there is no preview (e.g. a setting the API rejects); cleared by the next good preview.
  setPreviewNote(text) {
    if (this.previewNote === text) return;
    this.previewNote = text;
    if (!text) return;
    // The last good preview's lanes and labels belong to other settings: drop them, not just the curves.
    this.preview = null;
    this.planned = null;
    this.markAll();
  }

  // Chart 1's colours: "absolute" log10 ||dL/dh_t||, or "relative" to the row's last timestep (orders of
  // magnitude lost, or for an exploding lane gained, going back from t = T-1), which compares lanes whose
  // gradients differ in scale.
  setFlowScale(scale) {
    this.flowScale = scale === "relative" ? "relative" : "absolute";
    this.markDirty("flow");
  }

  // The lanes the charts show: the run's, or before any run the planned (empty) ones.
  get shown() {
    return this.lanes.length ? this.lanes : this.planned || [];
  }

  // --- events ---------------------------------------------------------------------------------
  addStep(data) {
    const lane = this.lanes[data.lane];
    if (!lane) return;
    lane.status = "running";
    lane.lastStep = data.step;
    lane.steps.push(data.step);
    lane.loss.push(data.loss);
    lane.metric.push(data.metric);
    pushWindowMean(lane.loss, lane.lossMean);
    pushWindowMean(lane.metric, lane.metricMean);
    lane.gradNorm.push(data.grad_norm);
    lane.gradNormClipped.push(data.grad_norm_clipped);
    lane.sigmaMax.push(data.sigma_max);
    lane.gamma = data.gamma;
    if (data.spectral_radius !== null && data.spectral_radius !== undefined) {
      lane.rhoSteps.push(data.step);
      lane.rho.push(data.spectral_radius);
    }
    if (data.clipped) {
      lane.clippedSteps.push(data.step);
    }
    if (data.arrays) {
      this.addHeatRow(lane, data.step, data.arrays.log10_grad_norm_per_step);
      this.showArrays(lane, data.step, data.arrays);
    }
    this.markDirty("loss", "norm", "spectral");
  }

  // Rows sit on a uniform grid of training steps (0, s, 2s, ...), so Plotly paints each heatmap as one
  // small image that the browser scales (its fast "pixelated" path) instead of one rectangle per cell.
  // When a lane has MAX_HEAT_ROWS rows, every other row goes and the grid spacing doubles. The latest row,
  // when it is off the grid (a step since the last grid row, a run's last step, a diverged lane's last
  // arrays: the explosion), is the lane's `heatTail`, drawn as a one-row heatmap of its own at its step
  // until a newer row replaces it: chart 1 always reaches the latest recorded step, at one row's cost.
  addHeatRow(lane, step, row) {
    if (!row) return;
    const latest = lane.heatTail ? lane.heatTail.step : (lane.heatY[lane.heatY.length - 1] ?? -1);
    if (step <= latest) return; // e.g. lane_done's copy of an array step's arrays: that row is there already
    const spacing = heatSpacing(lane);
    if (step % spacing !== 0) { // off the grid: the tail, replacing the previous one (and its colour range)
      lane.heatTail = { step, row, ...rowExtremes([row]) };
      return;
    }
    lane.heatTail = null;
    lane.heatY.push(step);
    lane.heatZ.push(row);
    let rows = [row]; // the colour range covers the rows drawn, no others
    if (lane.heatY.length > MAX_HEAT_ROWS) {
      const keep = lane.heatY.map((y) => y % (2 * spacing) === 0);
      lane.heatY = lane.heatY.filter((_, i) => keep[i]);
      lane.heatZ = lane.heatZ.filter((_, i) => keep[i]);
      lane.heatStride *= 2;
      rows = lane.heatZ; // thinned: the range anew from the rows kept
      Object.assign(lane, { heatMin: Infinity, heatMax: -Infinity, relMin: Infinity, relMax: -Infinity, zeros: false });
    }
    rowExtremes(rows, lane);
  }

  laneDone(data) {
    const lane = this.lanes[data.lane];
    if (!lane) return;
    lane.status = data.status;
    lane.reason = data.reason;
    if (data.status === "diverged") lane.divergedAt = data.step;
    // a diverged lane's arrays of its last step, the explosion: every chart shows them, the heatmap as its
    // last row (unless that step was an array step, whose row is there already)
    if (data.last_arrays) {
      this.addHeatRow(lane, data.last_arrays.step, data.last_arrays.arrays.log10_grad_norm_per_step);
      this.showArrays(lane, data.last_arrays.step, data.last_arrays.arrays);
    }
    this.markDirty("norm", "loss");
  }

  // The per-timestep arrays the profile, saliency, gate and weight charts draw for a lane.
  showArrays(lane, step, arrays) {
    lane.latest = arrays;
    lane.latestStep = step;
    this.markDirty("flow", "saliency", "unrolled", "profile", "gates", "weight");
  }

  // --- scheduling -------------------------------------------------------------------------------
  markAll() {
    this.markDirty(...Object.keys(MIN_INTERVAL));
  }

  markDirty(...names) {
    for (const name of names) this.dirty.add(name);
    this.schedule();
  }

  schedule() {
    if (this.frame === null) this.frame = requestAnimationFrame(() => this.flush());
  }

  // One chart per animation frame: a Plotly redraw is the unit of main-thread work, so no single task
  // grows with the number of charts. Among the charts whose interval has elapsed, the one that has waited
  // longest goes first; the rest wait for the next frames.
  flush() {
    this.frame = null;
    const now = performance.now();
    let next = null;
    for (const name of this.dirty) {
      // idle, every chart follows the settings; a hidden strip may have to appear
      const seen = !this.streaming || this.onScreen.has(name) || this.divs[name]?.hidden;
      const due = !this.drawn.has(name) || this.settling
        || (seen && now - (this.lastDraw[name] || 0) >= MIN_INTERVAL[name]);
      if (due && (next === null || (this.lastDraw[name] || 0) < (this.lastDraw[next] || 0))) next = name;
    }
    if (next !== null) {
      this.dirty.delete(next);
      this.lastDraw[next] = now;
      try {
        this.draw(next);
      } catch (err) {
        console.error(`chart ${next} failed to draw`, err); // reported, and the other charts go on
      }
      this.drawn.add(next);
    }
    if (this.dirty.size) this.schedule();
    else if (this.settling) {
      const resolve = this.settling;
      this.settling = null;
      resolve();
    }
  }

  // Draw every chart once more with the final data (after `done`), still one per frame; resolves when
  // the figures on the page are final.
  settle() {
    return new Promise((resolve) => {
      const previous = this.settling;
      this.settling = () => { if (previous) previous(); resolve(); };
      this.streaming = false;
      this.markAll();
    });
  }

  draw(name) {
    this.revision += 1;
    const figure = this[`${name}Figure`]();
    const div = this.divs[name];
    if (!div) return;
    if (figure.visible === false) { // e.g. no gated lane: the strip is hidden, not drawn empty
      div.hidden = true;
      return;
    }
    div.hidden = false;
    if (figure.height && div.style.height !== `${figure.height}px`) div.style.height = `${figure.height}px`;
    figure.layout.datarevision = this.revision;
    figure.layout.uirevision = this.uirevision || "preview";
    if (LEGEND_GROWS.has(name) && !figure.height) this.fitLegend(name, div, figure);
    else Plotly.react(div, figure.data, figure.layout, plotConfig(name));
    if (!div.dataset.keyClicks) { // a line-style key entry hides nothing (a double-click would hide every lane)
      div.dataset.keyClicks = "inert";
      const notKey = (event) => !event.data[event.curveNumber]?.meta?.styleKey; // false: Plotly does nothing
      div.on("plotly_legendclick", notKey);
      div.on("plotly_legenddoubleclick", notKey);
    }
  }

  // A line chart's legend sits above its plot, in the top margin, and pushes that margin when it has more rows than
  // the margin holds: 4 lanes with long names, a row each, took chart 5's plot from 360 to ~150 px (its 14 decades'
  // tick labels piled up) and gave chart 7's legend a scrollbar on a phone. The chart grows by what the legend
  // pushes instead, so its plotting area keeps the height the figure was laid out for (baseHeight); and the legend
  // may take the height it needs (Plotly's default caps a horizontal legend at half the chart, then scrolls it).
  // The grown height is kept for the next redraws: a second layout only where the legend's rows change.
  fitLegend(name, div, figure) {
    const base = keepBaseHeight(div, 340);
    const { layout } = figure;
    layout.legend = { ...layout.legend, maxheight: 4000 };
    const asked = (layout.margin?.t ?? 34) + (layout.margin?.b ?? 52);
    let height = Math.max(base, div.clientHeight);
    for (let pass = 0; pass < 3; pass += 1) {
      layout.height = height;
      div.style.height = `${height}px`;
      Plotly.react(div, figure.data, layout, plotConfig(name));
      const size = div._fullLayout?._size;
      if (!size) return;
      const want = Math.max(base, Math.ceil(base + size.t + size.b - asked));
      if (Math.abs(want - height) <= 2) return;
      height = want;
    }
  }

  // --- figures ----------------------------------------------------------------------------------
  // Buckets for envelope(): one per two pixels of the chart's width (a hidden chart: a 1200 px guess).
  lineBuckets(name) {
    return Math.max(100, Math.round((this.divs[name]?.clientWidth || 1200) / 2));
  }

  // Pixels of a chart's plotting area across (the base layout's margins: 64 px left, the modebar's right).
  // A hidden chart (the gate strip before its first lane with gates) measures 0: its column's width instead.
  plotWidth(name, marginR = MODEBAR_PX) {
    const div = this.divs[name];
    return Math.max(120, (div?.clientWidth || div?.parentElement?.clientWidth || 1200) - 64 - marginR);
  }

  // A lane's legend entry fitted to the plotting area's width: Plotly wraps a horizontal legend's rows at that
  // width but draws a wider entry whole, past the plot's right edge and under the modebar (390 px: "B · tanh,
  // clip 1.0, orthogonal init, radius 1"), and shifts the whole legend left over the y axis.
  legendName(chart, lane, tail = "", marginR = MODEBAR_PX) {
    return laneLegendName(lane, this.plotWidth(chart, marginR) - LEGEND_ITEM_PX, tail);
  }

  sources() {
    // Latest per-timestep arrays per lane: the run's if it has any, else the instant preview.
    if (this.lanes.some((lane) => lane.latest)) {
      return this.lanes.map((lane) => ({ lane, arrays: lane.latest, step: lane.latestStep, preview: false }));
    }
    if (this.preview) {
      return this.preview.map((p, i) => ({
        lane: { name: LANE_NAMES[i], color: LANE_COLORS[i], label: p.label, config: p.config, taskInfo: p.taskInfo || null },
        arrays: p.arrays, step: null, preview: true,
      }));
    }
    return [];
  }

  // Chart 1's panels, one per lane, as fractions of its plot area: `x0[i]` and `width` (the saliency strip
  // under it lays its panels out the same, so a timestep has one x in both), and the step axes' extents. Where
  // one row would leave a panel under GRID_PANEL_PX (4 lanes on a phone: ~37 px each, titled "A · …"), the lanes
  // go in two rows (`rows` 2, lane i in row `row[i]`, `yDomain[r]` the rows' domains), and the chart grows.
  flowGeometry(lanes) {
    const n = Math.max(lanes.length, 1);
    const gap = 0.035;
    // The colorbar sits inside the plotting area, in the last COLORBAR_PX of its width: placed in the
    // right margin (Plotly's default) it pushes that margin, and Plotly's redraw for the new margin
    // sometimes ran on a figure whose new subplots were not laid out yet (the page logged an axis line
    // "MNaN,312.5HNaN"; 1 run in 3 of the 3-lane preset test, 0 in 8 without the push, 0 in 8 as now).
    const plotWidth = Math.max(120, (this.divs.flow?.clientWidth || 1200) - 64 - 16); // the real width: titles and ticks are sized from it
    const reserve = Math.min(0.4, COLORBAR_PX / plotWidth); // the full 78 px down to a 195 px plot (1024 px windows: 245)
    const rowsEnd = (lane) => Math.max(lane.heatY.length ? lane.heatY[lane.heatY.length - 1] + heatSpacing(lane) : 0,
      lane.heatTail ? lane.heatTail.step + 1 : 0);
    // a lane's rows span its planned steps while it trains; once every lane has ended, the steps trained (Stop at
    // step 100 of 500 left the rows in the bottom fifth), as the step axes of charts 4, 5 and 7
    const ended = allEnded(lanes);
    const extent = (lane) => Math.max(1, lane.divergedAt !== null ? rowsEnd(lane)
      : ended ? lane.lastStep + 1 : lane.totalSteps || 1);
    const longest = Math.max(...lanes.map(extent), 1);
    const oneRow = ((1 - reserve - gap * (n - 1)) / n) * plotWidth;
    const rows = n >= 3 && oneRow < GRID_PANEL_PX ? 2 : 1;
    const cols = Math.ceil(n / rows);
    const row = lanes.map((_, i) => Math.floor(i / cols));
    const col = lanes.map((_, i) => i % cols);
    const flowPx = baseHeight(this.divs.flow, 360);
    const rowPx = rows > 1 ? Math.max(GRID_ROW_PX, Math.round((flowPx - 30 - 48) * 0.7)) : flowPx - 30 - 48;
    const plotHeight = Math.max(60, rows * rowPx + (rows - 1) * GRID_ROW_GAP_PX);
    const height = rows > 1 ? plotHeight + 30 + 48 : null; // the chart's px where it grows; null: its stylesheet's
    const rowGap = GRID_ROW_GAP_PX / plotHeight;
    const rowFrac = rowPx / plotHeight;
    const yDomain = Array.from({ length: rows }, (_, r) => [1 - r * (rowFrac + rowGap) - rowFrac, 1 - r * (rowFrac + rowGap)]
      .map((v) => Math.min(1, Math.max(0, v))));
    const ownAxis = lanes.map((lane) => lane.divergedAt !== null && (lane.heatY.length > 0 || lane.heatTail !== null)
      && (extent(lane) / longest) * rowPx < MIN_ROWS_PX);
    // per row, the first lane on the shared step axis: that axis' ticks and title sit left of its panel, in a gap
    // widened for them where an own-axis lane comes first
    const firstShared = Array.from({ length: rows }, (_, r) => {
      const inRow = lanes.map((_, i) => i).filter((i) => row[i] === r);
      return inRow.find((i) => !ownAxis[i]) ?? inRow[0] ?? 0;
    });
    // (in two rows, before the same column in both, so the rows' panels stay one above the other). In two rows where
    // one row's shared axis starts at its first column, the other row's (over the same steps) has no tick labels:
    // no gap, so wider panels (the QA's 4 lanes on a phone, C on its own axis: 61 -> 83 px)
    const labelled = firstShared.map((i) => rows === 1 || (col[i] ?? 0) === 0 || firstShared.every((j) => (col[j] ?? 0) > 0));
    const gapCol = Math.max(0, ...firstShared.filter((_, r) => labelled[r]).map((i) => col[i] ?? 0));
    const axisGap = gapCol > 0 ? SHARED_AXIS_PX / plotWidth : 0;
    const width = (1 - reserve - gap * (cols - 1) - axisGap) / cols;
    const x0 = lanes.map((_, i) => col[i] * (width + gap) + (gapCol > 0 && col[i] >= gapCol ? axisGap : 0));
    return { gap, plotWidth, width, x0, extent, ownAxis, firstShared, labelled, rows, row, yDomain, plotHeight, height };
  }

  // The height of chart 1 or its saliency strip: `grid` px where its lanes are in two rows, else its stylesheet's
  // (remembered, as the div then carries the grown height inline); set on `layout` too, as the unrolled chart's.
  gridHeight(name, grid, layout) {
    const div = this.divs[name];
    const base = div ? keepBaseHeight(div, name === "flow" ? 360 : 170) : null;
    const height = grid || base;
    if (height) layout.height = height;
    return height;
  }

  flowFigure() {
    const lanes = this.shown;
    const geometry = this.flowGeometry(lanes);
    const { gap, plotWidth, width, x0: panelX, extent, ownAxis, firstShared, labelled, row, yDomain, plotHeight } = geometry;
    // the colour bar starts below the modebar's buttons, which stand over the top of its column (on a phone they
    // covered the bar's title and tick labels); its bottom stays at 28% of the plot's height
    const barTop = 1 - Math.min(0.3, MODEBAR_CLEAR_PX / plotHeight);
    const layout = baseLayout({
      margin: { l: 64, r: 16, t: 30, b: 48 },
      showlegend: false,
      annotations: [],
      coloraxis: {
        colorscale: "Viridis",
        colorbar: {
          // plain text (a Unicode subscript), not Plotly's <sub> markup: that is laid out anew on every redraw
          title: { text: "log10 ‖∂L/∂hₜ‖", side: "right" }, thickness: 12, len: barTop - 0.28, y: barTop, yanchor: "top",
          x: 1, xanchor: "right", xpad: 0, outlinewidth: 0, tickfont: { size: 11 },
        },
      },
    });
    const data = [];
    const relative = this.flowScale === "relative";
    if (relative) layout.coloraxis.colorbar.title.text = "log10 ratio to t = T−1";
    let zmin = Infinity;
    let zmax = -Infinity;
    for (const lane of lanes) { // running extremes, kept per lane as rows arrive (the tail's: its own)
      for (const rows of lane.heatTail ? [lane, lane.heatTail] : [lane]) {
        zmin = Math.min(zmin, relative ? rows.relMin : rows.heatMin);
        zmax = Math.max(zmax, relative ? rows.relMax : rows.heatMax);
      }
    }
    if (zmin <= zmax) {
      if (zmin === zmax) { zmin -= 0.5; zmax += 0.5; }
      layout.coloraxis.cmin = zmin;
      layout.coloraxis.cmax = zmax;
    }
    // One shared y axis (training step) for all lanes: fewer axes to draw on every update, and the rows
    // of different lanes line up. It spans the longest run, so the picture fills up as training goes; a
    // lane that diverged spans only its rows. One that diverged so early that its rows would be under
    // MIN_ROWS_PX there (the exploding lane of a clipping comparison: 1 row against 500 steps) gets a step
    // axis of its own, on the left of its panel.
    // In two rows, the lower row's shared step axis is y6 (y2-y5 are the own axes of lanes A-D), over the same steps.
    const sharedAxis = (r) => (r ? "y6" : "y");
    yDomain.forEach((domain, r) => {
      layout[sharedAxis(r).replace("y", "yaxis")] = {
        ...AXIS, domain, anchor: `x${firstShared[r] + 1}`,
        title: { text: labelled[r] ? "training step" : "", standoff: 6 }, showticklabels: labelled[r],
        range: [-0.5, Math.max(1, ...lanes.filter((_, i) => !ownAxis[i]).map(extent)) - 0.5],
      };
      const axis = layout[sharedAxis(r).replace("y", "yaxis")];
      Object.assign(axis, wholeStepTicks(axis.range, plotHeight * (domain[1] - domain[0])));
    });
    lanes.forEach((lane, i) => {
      const x0 = panelX[i];
      const heatX = `x${i + 1}`;
      const heatY = ownAxis[i] ? `y${i + 2}` : sharedAxis(row[i]);
      const rowsAt = heatRows(lane);
      if (ownAxis[i]) { // its rows fill the panel: one row is a cell of height 1, more are the grid's spacing apart
        layout[`yaxis${i + 2}`] = {
          ...AXIS, domain: yDomain[row[i]], anchor: heatX, range: [rowsAt.bottom, rowsAt.top],
          ...(rowsAt.steps.length <= 4 ? { tickmode: "array", tickvals: rowsAt.steps.slice() }
            : { nticks: 4, ...wholeStepTicks([rowsAt.bottom, rowsAt.top], 160) }), // at most 4 labels
          ...(i === firstShared[row[i]] ? { title: { text: "training step", standoff: 6 } } : {}),
        };
      }
      const T = sequenceLength(lane); // copy: T + 20 timesteps, all of them columns
      const panelPx = plotWidth * width;
      // Upright tick labels, as many as fit (4 lanes leave 40-110 px a panel: Plotly's automatic ticks turned
      // them 90 degrees there, into the axis title), and a lane title cut to its panel (full text on hover).
      layout[axisKey(heatX)] = timestepAxis(T, panelPx, [x0, x0 + width], heatY);
      const title = fittedLaneTitle(lane, panelPx + plotWidth * gap / 2); // up to mid-gap
      layout.annotations.push({
        text: title.text,
        hovertext: title.hovertext,
        xref: "paper", yref: "paper", x: x0, y: yDomain[row[i]][1], xanchor: "left",
        yanchor: "bottom", showarrow: false, font: { size: title.size, color: lane.color },
      });
      if (geometry.rows > 1) { // a point-less trace: Plotly lays out the lower row's step axis (y6) before any row
        // arrives (without, an empty preview's first draw in two rows logged "<path> attribute d: ... MNaN,312.5HNaN")
        data.push({ type: "scatter", mode: "lines", x: [null], y: [null], xaxis: heatX, yaxis: heatY, showlegend: false,
          hoverinfo: "skip" });
      }
      const span = Math.ceil(T / Math.max(50, Math.floor(plotWidth * width))); // timesteps per drawn column
      const rows = relative ? lane.heatZ.map((row) => relativeRow(row)) : lane.heatZ;
      const heat = binnedColumns(rows, T, span);
      const what = relative ? "log10 ‖∂L/∂h_t‖ / ‖∂L/∂h_T−1‖" : "log10 ‖∂L/∂h_t‖";
      data.push({
        type: "heatmap", name: `${lane.name} · ${lane.label}`, x: heat.x, y: lane.heatY.slice(), z: heat.z,
        coloraxis: "coloraxis", xaxis: heatX, yaxis: heatY, xgap: 0, ygap: 0,
        hovertemplate: span === 1
          ? `lane ${lane.name}<br>t = %{x}<br>step %{y}<br>${what} = %{z:.2f}<extra></extra>`
          : `lane ${lane.name}<br>t ≈ %{x:.0f} (${span} timesteps)<br>step %{y}<br>mean ${what} = %{z:.2f}<extra></extra>`,
      });
      if (lane.heatTail) { // the latest row, off the grid: a one-row heatmap on top, at its step (y: its cell's edges)
        const { step } = lane.heatTail;
        const tail = binnedColumns([relative ? relativeRow(lane.heatTail.row) : lane.heatTail.row], T, span);
        data.push({
          type: "heatmap", name: `${lane.name} · ${lane.label} · step ${step}`, x: tail.x, y: rowsAt.tail, z: tail.z,
          coloraxis: "coloraxis", xaxis: heatX, yaxis: heatY, xgap: 0, ygap: 0,
          hovertemplate: span === 1
            ? `lane ${lane.name}<br>t = %{x}<br>step ${step}<br>${what} = %{z:.2f}<extra></extra>`
            : `lane ${lane.name}<br>t ≈ %{x:.0f} (${span} timesteps)<br>step ${step}<br>mean ${what} = %{z:.2f}<extra></extra>`,
        });
      }
      if (!lane.heatY.length && !lane.heatTail && lane.divergedAt === null) { // 4 lanes leave 40-110 px a panel: one word a line there
        layout.annotations.push({
          text: panelPx >= 120 ? "rows appear here<br>as training runs" : "rows<br>appear<br>here",
          xref: `${heatX} domain`, yref: `${heatY} domain`, x: 0.5, y: 0.5,
          showarrow: false, font: { size: panelPx >= 60 ? 12 : 10, color: "#6b7280" },
        });
      }
      if (lane.divergedAt !== null) { // its rows stop there: said above them, or over them on its own axis
        const own = ownAxis[i] ? (panelPx >= 120 ? "<br>(its own step axis)" : "<br>own axis") : "";
        layout.annotations.push({
          text: (panelPx >= 120 ? `diverged at step ${lane.divergedAt}` : `diverged<br>at ${lane.divergedAt}`) + own,
          xref: `${heatX} domain`, x: 0.5, showarrow: false,
          ...(ownAxis[i] ? { yref: `${heatY} domain`, y: 1, yanchor: "top" } : { yref: heatY, y: lane.divergedAt, yanchor: "bottom" }),
          font: { size: panelPx >= 60 ? 11 : 9, color: DIVERGED_COLOR }, bgcolor: "rgba(255,255,255,0.85)",
        });
      }
    });
    const zeroLanes = lanes.filter((lane) => lane.zeros || lane.heatTail?.zeros);
    if (zeroLanes.length) zeroKey(layout, zeroLanes, plotHeight);
    if (!lanes.length) {
      layout.annotations = emptyNote("Press Run: each row will be one training step, each column one timestep.", plotWidth);
      hideAxes(layout);
    }
    return { data, layout, height: this.gridHeight("flow", geometry.height, layout) };
  }

  // Input saliency of one sequence: log10 ||dL/dx_t|| for the batch's first example (which inputs the
  // network actually listens to), one panel per lane under its heatmap: the panels, margins and timestep
  // axes are chart 1's, so t = 80 here is under t = 80 there. One saliency axis for all lanes.
  saliencyFigure() {
    const data = [];
    const sources = this.sources();
    // the heatmaps' lanes (before a run's first arrays, the preview's sources may be other settings)
    const lanes = this.shown.length === sources.length ? this.shown
      : sources.map(({ lane }, i) => Object.assign(newLane(i, lane.config, lane.label), { taskInfo: lane.taskInfo }));
    const { plotWidth, width, x0, rows, row, firstShared, labelled } = this.flowGeometry(lanes);
    // in two rows as chart 1's panels (rowPx each, STRIP_ROW_GAP_PX between them), the lower on y2, which matches y
    const stripBase = Math.max(40, baseHeight(this.divs.saliency, 170) - 10 - 40);
    const grid = rows > 1 ? rows * stripBase + (rows - 1) * STRIP_ROW_GAP_PX + 10 + 40 : null;
    const plotHeight = stripBase; // one row's
    const rowFrac = grid ? stripBase / (grid - 50) : 1;
    const yDomain = Array.from({ length: rows }, (_, r) => [Math.max(0, 1 - r * (1 - rowFrac) - rowFrac), 1 - r * (1 - rowFrac)]);
    const layout = baseLayout({
      margin: { l: 64, r: 16, t: 10, b: 40 },
      showlegend: false,
      yaxis: { ...AXIS, anchor: "x", domain: yDomain[0],
        title: { text: "saliency<br>log10 ‖∂L/∂x<sub>t</sub>‖", font: { size: 11 } }, nticks: 4 },
      annotations: [],
    });
    if (rows > 1) {
      layout.yaxis2 = { ...layout.yaxis, anchor: `x${row.indexOf(1) + 1}`, domain: yDomain[1], matches: "y" };
    }
    // Where chart 1 labels a row's shared step axis left of a later panel (a lane before it on a step axis of its
    // own: the exploding preset's A), that panel's strip repeats the saliency axis' numbers on its left too: read
    // against lane A's axis, far off, B's curve had no numbers (QA). Same scale (matches), axes y3 ... y6.
    const ownNumbers = new Map();
    firstShared.forEach((i, r) => {
      if (!labelled[r] || (i % Math.ceil(lanes.length / rows)) === 0 || i >= sources.length) return;
      const id = `y${3 + ownNumbers.size}`;
      ownNumbers.set(i, id);
      layout[id.replace("y", "yaxis")] = { ...layout.yaxis, anchor: `x${i + 1}`, domain: yDomain[r], matches: "y",
        title: { text: "" } };
    });
    sources.forEach(({ lane, arrays, step }, i) => {
      const saliency = arrays && (arrays.input_saliency || arrays.log10_input_grad_per_step);
      const xaxis = `x${i + 1}`;
      const yaxis = ownNumbers.get(i) || (row[i] ? "y2" : "y");
      layout[axisKey(xaxis)] = timestepAxis(sequenceLength(lanes[i]), plotWidth * width, [x0[i], x0[i] + width], yaxis);
      if (!saliency) return;
      if (saliency.every((v) => v === null) && arrays.log10_grad_norm_per_step?.some((v) => v !== null)) {
        // nothing to draw, and not for want of finite numbers: every input's gradient is exactly 0
        layout.annotations.push(zeroSaliencyNote(lane, xaxis, plotWidth * width, plotHeight, yaxis));
      }
      const name = `${lane.name} · ${lane.label}`;
      data.push({
        type: "scatter", mode: "lines", name, x: timesteps(saliency.length), y: saliency, xaxis, yaxis,
        line: { color: lane.color, width: 1.5 }, connectgaps: false,
        hovertemplate: `${name}${step === null ? "" : `, step ${step}`}<br>t = %{x}<br>log10 ‖∂L/∂x_t‖ = %{y:.2f}<extra></extra>`,
      });
    });
    if (!data.length) layout.annotations = emptyNote(this.previewNote || "Loading the preview…", plotWidth);
    if (!data.length) hideAxes(layout);
    return { data, layout, height: this.gridHeight("saliency", grid, layout) };
  }

  // The unrolled network of each lane's latest snapshot (unrolled.js).
  unrolledFigure() {
    return buildUnrolled(this.sources(), this.divs.unrolled?.clientWidth || 1200, baseLayout,
      this.previewNote || "Loading the preview…");
  }

  // Gated cells: the mean forget gate f_t (LSTM) or update gate z_t (GRU) per timestep. Values near 1
  // keep the cell's additive path open, which is why ||dL/dc_t|| decays slowly. Hidden for RNN-only runs.
  gatesFigure() {
    const data = [];
    const sources = this.sources();
    const panels = profilePanels(sources, this.plotWidth("gates"));
    const gated = new Set();
    for (const { lane, arrays } of sources) {
      if (!arrays || !arrays.gate_mean_per_step) continue;
      gated.add(lane.name);
      const gate = lane.config.cell === "gru" ? "update gate z<sub>t</sub>" : "forget gate f<sub>t</sub>";
      // the lane's label cut to the plot's width, the gate kept: "A · LSTM, adding…: forget gate f_t" at 390 px
      const name = this.legendName("gates", lane, `: ${gate}`);
      data.push({
        type: "scatter", mode: "lines", name, x: timesteps(arrays.gate_mean_per_step.length), y: arrays.gate_mean_per_step,
        xaxis: panels.axisOf[lane.name] || "x", line: { color: lane.color, width: 1.6 },
        hovertemplate: `${lane.name} mean ${gate.replace(/<[^>]+>/g, "")}<br>t = %{x}<br>%{y:.3f}<extra></extra>`,
      });
    }
    // chart 3's x axes, so the strip lines up with the curves above it; a panel without a gated lane says why it is empty
    const layout = baseLayout({
      margin: { l: 64, r: MODEBAR_PX, t: 28, b: 40 },
      yaxis: { ...AXIS, title: { text: "mean gate" }, range: [0, 1.02], nticks: 5 },
      showlegend: true, // also for one gated lane: the legend says which gate the curve is
      annotations: [],
    });
    panelAxes(layout, panels, { standoff: 4 });
    if (panels.split && gated.size) {
      layout.yaxis.anchor = "x";
      for (const panel of panels.panels) {
        if (panel.names.some((name) => gated.has(name))) continue;
        // a point-less trace, so Plotly lays out the panel (it drops axes no trace uses), and a note in it
        data.push({ type: "scatter", mode: "lines", x: [null], y: [null], xaxis: panel.id, showlegend: false, hoverinfo: "skip" });
        layout.annotations.push({ text: wrapText(`${panel.names.join(", ")}: no gates (vanilla RNN)`, panel.px - 8, KEY_SIZE),
          xref: `${panel.id} domain`, x: 0.5, yref: "paper", y: 0.5, showarrow: false, font: { size: KEY_SIZE, color: "#6b7280" } });
      }
    }
    return { data, layout, visible: gated.size > 0 };
  }

  profileFigure() {
    const sources = this.sources();
    const data = [];
    const plotPx = this.plotWidth("profile");
    const panels = profilePanels(sources, plotPx);
    for (const { lane, arrays } of sources) {
      if (!arrays) continue;
      const T = arrays.log10_grad_norm_per_step.length;
      const x = timesteps(T);
      const xaxis = panels.axisOf[lane.name] || "x";
      const name = `${lane.name} · ${lane.label}`;
      data.push({
        type: "scatter", mode: "lines", name: this.legendName("profile", lane), legendgroup: lane.name, x, xaxis,
        y: arrays.log10_grad_norm_per_step,
        line: { color: lane.color, width: 2.2 },
        hovertemplate: `${name}<br>t = %{x}<br>log10 ‖∂L/∂h_t‖ = %{y:.2f}<extra></extra>`,
      });
      if (arrays.log10_bound_per_step) {
        data.push({
          type: "scatter", mode: "lines", name: `${lane.name} bound (γσ<sub>max</sub>)<sup>k−t</sup>`, legendgroup: lane.name,
          showlegend: false, xaxis,
          x, y: arrays.log10_bound_per_step, line: { color: lane.color, width: 1.4, dash: "dash" }, opacity: 0.8,
          hovertemplate: `${lane.name} Pascanu bound<br>t = %{x}<br>log10 = %{y:.2f}<extra></extra>`,
        });
      }
      if (arrays.log10_cell_grad_norm_per_step) {
        data.push({
          type: "scatter", mode: "lines", name: `${lane.name} · ‖∂L/∂c<sub>t</sub>‖ (cell state)`, legendgroup: lane.name,
          showlegend: false, xaxis, x, y: arrays.log10_cell_grad_norm_per_step, line: { color: lane.color, width: 1.4, dash: "dot" },
          hovertemplate: `${lane.name} cell state<br>t = %{x}<br>log10 ‖∂L/∂c_t‖ = %{y:.2f}<extra></extra>`,
        });
      }
    }
    const drawsDash = (dash) => data.some((t) => t.line.dash === dash);
    data.push(...styleKey([
      { name: "‖∂L/∂h<sub>t</sub>‖" },
      ...(drawsDash("dash") ? [{ name: "upper bound (vanilla RNN)", dash: "dash" }] : []),
      ...(drawsDash("dot") ? [{ name: "‖∂L/∂c<sub>t</sub>‖ (LSTM cell state)", dash: "dot" }] : []),
    ]));
    const preview = sources.length && sources[0].preview;
    const layout = baseLayout({
      xaxis: { ...AXIS, title: { text: "timestep t" } },
      yaxis: { ...AXIS, title: { text: "log10 ‖∂L/∂h<sub>t</sub>‖" } },
      annotations: data.length ? [{
        text: snapshotCaption(sources, preview, plotPx),
        xref: "paper", yref: "paper", x: 1, y: 1, xanchor: "right", yanchor: "bottom", showarrow: false,
        font: { size: 11, color: "#6b7280" },
      }] : emptyNote(this.previewNote || "Loading the preview…", plotPx),
      shapes: [],
    });
    panelAxes(layout, panels);
    underflowLines(sources, layout, plotPx, panels);
    // a float32 forward pass that overflows (e.g. identity init, radius 5, linear) leaves nothing finite
    const overflowed = sources.filter(({ arrays }) => arrays && arrays.log10_grad_norm_per_step.every((v) => v === null));
    // and a lane that diverged before its first finite step has no curve at all after the run
    const unrecorded = sources.filter(divergedBeforeAnyStep);
    const notes = [
      ...overflowed.map(({ lane }) => [`${lane.name}: ${overflowText(lane)}${preview ? " at initialisation" : ""}.`,
        finiteAdvice(lane)]),
      ...unrecorded.map(({ lane }) => [`${lane.name}: diverged at step ${lane.divergedAt}, before any finite step: `
        + `${lane.reason || "non-finite numbers"}.`, finiteAdvice(lane)]),
    ];
    if (notes.length) {
      const plotHeight = Math.max(60, baseHeight(this.divs.profile, 400) - 58 - 52);
      layout.annotations.push(...profileNotes(notes, plotPx, plotHeight));
    }
    if (!data.length) hideAxes(layout);
    // a lane's entries stay together without the default 10 px between groups (4 lanes wrap to 3 rows)
    if (data.length) layout.legend = { ...layout.legend, y: 1.1, tracegroupgap: 0 };
    layout.margin = { ...layout.margin, t: 58 };
    return { data, layout };
  }

  lossFigure() {
    const data = [];
    const shapes = [];
    const annotations = [];
    const infos = this.shown.map((lane) => lane.taskInfo).filter(Boolean);
    const metricName = infos.length ? infos[0].metric_name : "metric";
    const metricIsAccuracy = metricName === "accuracy";
    // adding's metric is its loss (MSE): one subplot, not the same curve twice
    const metricIsLoss = infos.length > 0 && infos.every((info) => info.metric_name === info.loss_name);
    // what the axes and hovers call them: "loss (cross-entropy)", "accuracy" (the API's names, in words)
    const lossText = infos.length ? `loss (${quantityName(infos[0].loss_name)})` : "loss";
    const metricText = quantityName(metricName);
    // accuracy is a share of the batch, shown in percent (as the presets quote it); the data stay 0-1
    const metricFormat = metricIsAccuracy ? ".1~%" : ".4g";
    const chanceText = (value, axis) => (axis === "y2" && metricIsAccuracy
      ? `${Number((100 * value).toPrecision(3))}%` : Number(value).toPrecision(3));
    // chance baselines: one line per distinct value (lanes on the same task share it); where lanes have
    // different ones (recall with target last vs every), their names say which lanes'
    const baselines = { y: new Map(), y2: new Map() };
    for (const lane of this.shown) {
      if (!lane.taskInfo) continue;
      for (const [key, axis] of metricIsLoss ? [["chance_loss", "y"]] : [["chance_loss", "y"], ["chance_metric", "y2"]]) {
        const value = lane.taskInfo[key];
        if (value === null || value === undefined) continue;
        baselines[axis].set(value, [...(baselines[axis].get(value) || []), lane.name]);
      }
    }
    const chanceLabels = Object.entries(baselines).flatMap(([axis, values]) => [...values].map(([value, names]) => ({
      axis, value, text: `chance ${chanceText(value, axis)}${values.size > 1 ? ` (${names.join(", ")})` : ""}`,
      hovertext: chanceHover(this.shown.filter((lane) => names.includes(lane.name)), axis === "y" ? lossText : metricText,
        chanceText(value, axis)) })));
    const room = lineLabelRoom(this.divs.loss?.clientWidth || 1200);
    const marginR = room.margin; // also before the task info is there (see lineLabelRoom)
    for (const label of chanceLabels) label.text = wrapText(label.text, room.px, LINE_LABEL_SIZE);
    const buckets = this.lineBuckets("loss");
    // Per lane and subplot: the raw per-batch curve, faint, and over it the mean of the last MEAN_STEPS steps (QA: the
    // raw loss is too noisy to see the presets' "ReLU 0.154 vs tanh 0.173"); the lane's legend entry is its mean's.
    // Each mean comes before its raw curve in the data (a lane's last loss trace is its raw loss, and its last trace
    // the raw metric, as before the means) and is drawn over it by zorder.
    const meanWords = `mean of the last ${MEAN_STEPS} steps`;
    // a mean moves little from step to step: half the buckets (one per ~4 px of width, not ~2) keep it as drawn and
    // the redraw's extra cost down
    const meanBuckets = Math.max(50, Math.round(buckets / 2));
    for (const lane of this.shown) {
      const name = `${lane.name} · ${lane.label}`;
      const [lossX, lossY] = envelope(lane.steps, lane.loss, buckets);
      const [lossMeanX, lossMeanY] = envelope(lane.steps, lane.lossMean, meanBuckets);
      data.push({
        type: "scatter", ...lineMode(lane.steps.length, lane.color), name: this.legendName("loss", lane, "", marginR),
        legendgroup: lane.name, x: lossMeanX, y: lossMeanY, zorder: 1,
        line: { color: lane.color, width: 2 }, xaxis: "x", yaxis: "y",
        hovertemplate: `${name}<br>step %{x}<br>${lossText} = %{y:.4g}<extra>${meanWords}</extra>`,
      }, {
        type: "scatter", ...lineMode(lane.steps.length, lane.color, 4), name: `${lane.name} ${lossText} per batch`,
        legendgroup: lane.name, showlegend: false, x: lossX, y: lossY, opacity: RAW_OPACITY,
        line: { color: lane.color, width: 1 }, xaxis: "x", yaxis: "y",
        hovertemplate: `${name}<br>step %{x}<br>${lossText} = %{y:.4g}<extra>this batch</extra>`,
      });
      if (metricIsLoss) continue;
      const [metricX, metricY] = envelope(lane.steps, lane.metric, buckets);
      const [metricMeanX, metricMeanY] = envelope(lane.steps, lane.metricMean, meanBuckets);
      data.push({
        type: "scatter", ...lineMode(lane.steps.length, lane.color), name: `${lane.name} ${metricName}, ${meanWords}`,
        legendgroup: lane.name, showlegend: false, x: metricMeanX, y: metricMeanY, zorder: 1,
        line: { color: lane.color, width: 1.8 }, xaxis: "x", yaxis: "y2",
        hovertemplate: `${name}<br>step %{x}<br>${metricText} = %{y:${metricFormat}}<extra>${meanWords}</extra>`,
      }, {
        type: "scatter", ...lineMode(lane.steps.length, lane.color, 4), name: `${lane.name} ${metricName}`,
        legendgroup: lane.name, showlegend: false, x: metricX, y: metricY, opacity: RAW_OPACITY,
        line: { color: lane.color, width: 1 }, xaxis: "x", yaxis: "y2",
        hovertemplate: `${name}<br>step %{x}<br>${metricText} = %{y:${metricFormat}}<extra>this batch</extra>`,
      });
    }
    // always there: when a run's lanes were reset to none with steps, the key's two traces going away made Plotly
    // draw this chart's axis lines at NaN for a moment ("<path> attribute d: Expected number, M63,NaNH622")
    data.push(...styleKey([{ name: meanWords, width: 2 }, { name: "per batch", width: 1, opacity: RAW_OPACITY + 0.2 }]));
    for (const { axis, value } of chanceLabels) {
      shapes.push({ type: "line", xref: "x domain", x0: 0, x1: 1, yref: axis, y0: value, y1: value,
        line: { color: "#6b7280", width: 1.2, dash: "dash" } });
    }
    const range = stepRange(this.shown);
    divergenceMarks(this.shown, range, shapes, annotations);
    const lossDomain = metricIsLoss ? [0, 1] : [0.45, 1];
    const lossTraces = data.filter((t) => t.yaxis === "y");
    const focus = focusedLogRange(lossTraces, this.shown, [...baselines.y.keys()]);
    // before a run only the chance lines are there to range on: a decade around them, the note above them (Plotly
    // put a lone line at the axis' top, with no tick label)
    const idle = !this.lanes.length && baselines.y.size
      ? [Math.log10(Math.min(...baselines.y.keys())) - 1, Math.log10(Math.max(...baselines.y.keys())) + 1] : null;
    (focus ? focus.offTop : []).forEach(({ name, step, value }, k) => {
      annotations.push({ text: `${name}: loss ${Number(value).toPrecision(2)} at step ${step}, above the chart ↑`,
        ...besideStep(step, range, 4), yref: "y domain", y: 1,
        yanchor: "top", yshift: -2 - 14 * k, showarrow: false, font: { size: 10, color: DIVERGED_COLOR },
        bgcolor: "rgba(255,255,255,0.85)" });
    });
    const layout = baseLayout({
      xaxis: { ...AXIS, anchor: metricIsLoss ? "y" : "y2", title: { text: "training step" }, range,
        ...wholeStepTicks(range, this.plotWidth("loss", marginR)) },
      yaxis: { ...AXIS, domain: lossDomain, type: "log",
        title: { text: metricIsLoss ? lossText.replace("loss", "loss = metric") : lossText },
        // the chance lines are part of the range drawn (Plotly's, or the focused one)
        ...(focus ? { range: focus.range, autorange: false } : idle ? { range: idle, autorange: false } : {}),
        ...logTicks(focus ? focus.values : idle ? idle.map((v) => 10 ** v) : [...lossTraces.flatMap((t) => t.y), ...baselines.y.keys()],
          axisPixels(this.divs.loss, lossDomain)) },
      shapes, annotations,
    });
    layout.margin.r = marginR;
    if (!metricIsLoss) {
      const metricTraces = data.filter((t) => t.yaxis === "y2");
      const metricFocus = metricIsAccuracy ? null : focusedLogRange(metricTraces, this.shown, [...baselines.y2.keys()]);
      layout.yaxis2 = { ...AXIS, domain: [0, 0.36], type: metricIsAccuracy ? "linear" : "log",
        range: metricIsAccuracy ? [0, 1.05] : metricFocus?.range, title: { text: metricText },
        ...(metricFocus ? { autorange: false } : {}),
        ...(metricIsAccuracy ? { tickformat: ".0%", tickvals: [0, 0.5, 1] } : logTicks(metricFocus ? metricFocus.values
          : [...metricTraces.flatMap((t) => t.y), ...baselines.y2.keys()], axisPixels(this.divs.loss, [0, 0.36]))) };
    }
    // the chance lines' names, at their lines' ends in the right margin
    const plotHeight = Math.max(60, baseHeight(this.divs.loss, 340) - layout.margin.t - layout.margin.b);
    const ranges = {
      y: layout.yaxis.range || logAutorange([...lossTraces.flatMap((t) => t.y), ...baselines.y.keys()]),
      y2: layout.yaxis2 && (layout.yaxis2.range || (layout.yaxis2.type === "log"
        ? logAutorange([...data.filter((t) => t.yaxis === "y2").flatMap((t) => t.y), ...baselines.y2.keys()]) : null)),
    };
    placeLineLabels(chanceLabels.map(({ axis, value, text, hovertext }) => {
      const log = (axis === "y" ? layout.yaxis : layout.yaxis2).type === "log"; // log axes take log10 positions
      const y = log ? Math.log10(value) : value;
      return { text, hovertext, color: "#6b7280", yref: axis, y,
        px: axisPx(y, ranges[axis], axis === "y" ? lossDomain : layout.yaxis2.domain, plotHeight) };
    }), layout.annotations, plotHeight);
    if (!this.lanes.length) {
      const note = emptyNote("Loss and task metric per step appear here when you press Run.", this.plotWidth("loss", marginR));
      if (idle) Object.assign(note[0], { yref: "y", y: idle[1] - 0.45 });
      layout.annotations.push(...note);
    }
    if (!this.shown.length) {
      layout.annotations = emptyNote("Loss and task metric per step appear here when you press Run.", this.plotWidth("loss", marginR));
      hideAxes(layout);
    }
    return { data, layout };
  }

  normFigure() {
    const data = [];
    const shapes = [];
    const annotations = [];
    const buckets = this.lineBuckets("norm");
    const before = this.shown.map((lane) => envelope(lane.steps, lane.gradNorm, buckets));
    const beforeValues = before.flatMap(([, y]) => y);
    // each norm-clipping threshold's dashed line, named in the right margin at its end
    const taus = [...new Set(this.shown.filter((lane) => lane.config.clip === "norm").map((lane) => lane.config.clip_threshold))];
    const room = lineLabelRoom(this.divs.norm?.clientWidth || 1200);
    const tauTexts = taus.map((tau) => wrapText(`threshold τ = ${tau}`, room.px, LINE_LABEL_SIZE));
    const marginR = taus.length || !this.shown.length ? room.margin : MODEBAR_PX;
    this.shown.forEach((lane, index) => {
      const name = `${lane.name} · ${lane.label}`;
      const clips = lane.config.clip !== "none";
      const [normX, normY] = before[index];
      data.push({
        type: "scatter", ...lineMode(lane.steps.length, lane.color), name: this.legendName("norm", lane, "", marginR), legendgroup: lane.name,
        x: normX, y: normY, line: { color: lane.color, width: 1.6 },
        hovertemplate: `${name}<br>step %{x}<br>‖g‖ = %{y:.3g}<extra>before clipping</extra>`,
      });
      if (clips) {
        const [afterX, afterY] = envelope(lane.steps, lane.gradNormClipped, buckets);
        data.push({
          type: "scatter", ...lineMode(lane.steps.length, lane.color), name: `${lane.name}: after clipping`, legendgroup: lane.name, showlegend: false,
          x: afterX, y: afterY, line: { color: lane.color, width: 2.2, dash: "dot" },
          hovertemplate: `${name}<br>step %{x}<br>‖g‖ = %{y:.3g}<extra>after clipping</extra>`,
        });
      }
    });
    // each τ: a light band under a thin dashed line, both below the curves. A clipped step's "after clipping" point is
    // exactly τ: drawn over the line (as before, the line over it) its dotted curve vanished into the dashes; now it
    // runs through the band, which shows on both sides of it ("never rises above τ").
    for (const tau of taus) {
      shapes.push({ type: "line", layer: "below", xref: "paper", x0: 0, x1: 1, yref: "y", y0: tau, y1: tau,
        line: { color: "rgba(17, 24, 39, 0.14)", width: 8 } });
      shapes.push({ type: "line", layer: "below", xref: "paper", x0: 0, x1: 1, yref: "y", y0: tau, y1: tau,
        line: { color: "#111827", width: 1, dash: "dash" } });
    }
    if (data.some((t) => t.line.dash === "dot")) {
      data.push(...styleKey([{ name: "‖g‖ before clipping" }, { name: "after clipping", dash: "dot" }]));
    }
    const range = stepRange(this.shown);
    divergenceMarks(this.shown, range, shapes, annotations, { labels: true });
    const layout = baseLayout({
      xaxis: { ...AXIS, title: { text: "training step" } },
      yaxis: { ...AXIS, type: "log", title: { text: "global ‖g‖ (all parameters)" },
        ...logTicks([...beforeValues, ...shapes.filter((sh) => sh.yref === "y").map((sh) => sh.y0)],
          axisPixels(this.divs.norm, [0.2, 1])) },
      shapes, annotations,
    });
    Object.assign(layout.xaxis, { range }, wholeStepTicks(range, this.plotWidth("norm", marginR)));
    layout.margin.r = marginR;
    const clipping = this.lanes.filter((lane) => lane.config.clip !== "none");
    const rates = clipping.length ? clipRates(clipping, layout.xaxis.range[1] + 1) : null;
    // The strip comes with its first cell to shade, not before: until the clipping lanes' first step (a run's
    // lanes attached, none of its events there yet, as in the first draw after Back) every cell is null, and
    // Plotly takes a heatmap without a number for no trace (visible: false) but keeps its axis y2, which then
    // nothing sets up. When that first draw also moved the margins (the legend pushes the top one), Plotly laid
    // out the axis lines before the axes, from y2's unset offset: the page logged "<path> attribute d: Expected
    // number, "M63,NaNH666"" (the step axis' line, on y2) and "M63.5,NaNVNaN".
    if (rates && rates.z.some((row) => row.some((v) => v !== null))) { // the clipping-rate strip, on the same step axis
      const stripHeight = Math.min(0.06 * clipping.length, 0.2);
      const plotPx = Math.max(120, (this.divs.norm?.clientWidth || 600) - layout.margin.l - layout.margin.r);
      layout.yaxis.domain = [stripHeight + 0.1, 1];
      layout.xaxis.anchor = "y2";
      const names = clipping.map((lane) => lane.name);
      layout.yaxis2 = { ...AXIS, domain: [0, stripHeight], type: "category", ticks: "", showgrid: false,
        autorange: "reversed", tickmode: "array", tickvals: names, ticktext: names, tickfont: { size: 9 },
        title: { text: "clipped", font: { size: 10 }, standoff: 4 } };
      data.push({
        type: "heatmap", name: "fraction of steps clipped", x: rates.x, y: names,
        z: rates.z, text: rates.text, zmin: 0, zmax: 1, xaxis: "x", yaxis: "y2", xgap: 0, ygap: 1,
        colorscale: [[0, "#f3f4f6"], [1, "#111827"]],
        // its scale: a short horizontal bar in the gap between the plot and the strip, at the right
        showscale: true,
        colorbar: { orientation: "h", x: 1 - 14 / plotPx, xanchor: "right", // "100%" ends inside the plot's width
          y: stripHeight + 0.1, yanchor: "top", ypad: 4, xpad: 0,
          len: CLIP_SCALE_PX, lenmode: "pixels", thickness: 7, outlinewidth: 1, outlinecolor: "#9ca3af",
          tickvals: [0, 0.5, 1], tickformat: ".0%", tickfont: { size: 9 }, ticks: "", title: { text: "" } },
        hovertemplate: "lane %{y}<br>%{text}<extra>clipping</extra>",
      });
      // the bar's title, on its left (clear of its "0%") and level with it: a title above the bar left its tick
      // labels no room in the gap, and Plotly's title on the right of a horizontal bar gave the bar no length
      // in shorter words where the plot (narrower beside the τ lines' names on a phone) leaves less room on its left
      const room = plotPx - 14 - CLIP_SCALE_PX - 14 - 4;
      const scaleTitle = ["share of steps clipped:", "share clipped:", "clipped:"].find((t) => textPx(t, 10) <= room) || "clipped:";
      annotations.push({ text: scaleTitle, hovertext: "share of steps clipped", xref: "paper", x: 1 - 14 / plotPx, xanchor: "right",
        xshift: -CLIP_SCALE_PX - 14, yref: "paper", y: stripHeight + 0.1, yanchor: "top", yshift: -1, showarrow: false,
        font: { size: 10, color: "#374151" } });
    }
    if (!this.lanes.length) {
      // Idle: with only the τ lines to range on, a log axis centres the first τ, exactly where a centred
      // note would sit; put the note most of a decade above the highest τ instead.
      const note = emptyNote("Gradient norms per step, before and after clipping, appear here when you press Run.",
        this.plotWidth("norm", marginR));
      const logTaus = taus.map((tau) => Math.log10(tau));
      if (logTaus.length) {
        const low = Math.min(...logTaus);
        const high = Math.max(...logTaus);
        layout.yaxis.range = [low - 1, high + 1.6];
        // ticks over that range: from the τ values alone they were 1-2-5 tenths around τ = 1, "1" under "1.1"
        for (const key of ["tickmode", "tickvals", "ticktext", "dtick", "exponentformat"]) delete layout.yaxis[key];
        Object.assign(layout.yaxis, logTicks(layout.yaxis.range.map((v) => 10 ** v), axisPixels(this.divs.norm, [0.2, 1])));
        Object.assign(note[0], { yref: "y", y: high + 0.8 }); // a log axis takes log10 positions
      }
      layout.annotations.push(...note);
    }
    layout.margin = { ...layout.margin, t: 58 };
    const plotHeight = Math.max(60, baseHeight(this.divs.norm, 470) - layout.margin.t - layout.margin.b);
    const normRange = layout.yaxis.range || logAutorange([...data.filter((t) => t.type === "scatter" && t.yaxis !== "y2")
      .flatMap((t) => t.y), ...taus]);
    placeLineLabels(taus.map((tau, k) => ({ text: tauTexts[k], color: "#111827", yref: "y", y: Math.log10(tau),
      px: axisPx(Math.log10(tau), normRange, layout.yaxis.domain || [0, 1], plotHeight) })), layout.annotations, plotHeight);
    if (!this.shown.length) {
      layout.annotations = emptyNote("Gradient norms per step, before and after clipping, appear here when you press Run.",
        this.plotWidth("norm", marginR));
      hideAxes(layout);
    }
    layout.legend = { ...layout.legend, y: 1.08 };
    return { data, layout };
  }

  // sigma_max(W_h) every step and the spectral radius where measured, with a dashed line where gamma *
  // sigma_max = 1 for each gamma among the lanes: above it the Pascanu bound lets the gradient grow. Each
  // line is named in the right margin at its end (inside the plot its name lay on any curve near the line:
  // lane A's radius at 1.05 in the default preset), between the plot and the modebar's column, so no
  // curve can run under it; two lines (sigmoid's at 4, the others' at 1) closer than a name's height get
  // their names moved apart, from an estimate of where Plotly's autorange puts them.
  spectralFigure() {
    const data = [];
    const shapes = [];
    const annotations = [];
    const buckets = this.lineBuckets("spectral");
    const gammas = new Map();
    // the right margin the lines' names take (below), which the legend's entries then do not span
    const room = lineLabelRoom(this.divs.spectral?.clientWidth || 1200);
    const marginR = this.shown.some((lane) => lane.gamma ?? lane.initial?.gamma) ? room.margin : MODEBAR_PX;
    for (const lane of this.shown) {
      const name = `${lane.name} · ${lane.label}`;
      const gamma = lane.gamma ?? lane.initial?.gamma;
      if (gamma) gammas.set(gamma, [...(gammas.get(gamma) || []), lane]);
      let sigma = envelope(lane.steps, lane.sigmaMax, buckets);
      let rho = [lane.rhoSteps, lane.rho];
      if (!lane.steps.length && lane.initial) { // before a run: the initial weights, at step 0
        sigma = [[0], [lane.initial.sigmaMax]];
        rho = [[0], [lane.initial.rho]];
      }
      data.push({
        type: "scatter", ...lineMode(sigma[0].length, lane.color, 6),
        name: this.legendName("spectral", lane, "", marginR), legendgroup: lane.name, x: sigma[0], y: sigma[1], line: { color: lane.color, width: 1.8 },
        hovertemplate: `${name}<br>step %{x}<br>σ_max(W_h) = %{y:.4f}<extra></extra>`,
      });
      data.push({
        type: "scatter", mode: "lines+markers", name: `${lane.name} spectral radius`, legendgroup: lane.name, showlegend: false,
        x: rho[0], y: rho[1], line: { color: lane.color, width: 1.2, dash: "dot" }, marker: { size: 4, color: lane.color, symbol: "diamond" },
        hovertemplate: `${name}<br>step %{x}<br>spectral radius ρ(W_h) = %{y:.4f}<extra></extra>`,
      });
    }
    if (data.some((t) => t.line.dash === "dot" && t.x.length)) {
      data.push(...styleKey([{ name: "σ<sub>max</sub>(W<sub>h</sub>)" }, { name: "spectral radius ρ(W<sub>h</sub>)", dash: "dot" }]));
    }
    const lines = [...gammas].map(([gamma, lanes]) => ({ gamma, lanes, y: 1 / gamma })).sort((a, b) => b.y - a.y);
    let top = Math.max(0, ...lines.map((line) => line.y)); // the y axis: from 0 to the highest value, + ~5%
    for (const trace of data) for (const v of trace.y) if (Number.isFinite(v) && v > top) top = v;
    const margin = { t: 40, b: 52 };
    const plotPx = Math.max(60, baseHeight(this.divs.spectral, 340) - margin.t - margin.b);
    // each line named in words, with the activations it is for (QA: "γσmax = 1" over "γ = 1" read as two cryptic
    // names), wrapped to the right margin's room and moved apart where two would overlap (sigmoid's at 4, tanh's at 1)
    placeLineLabels(lines.map(({ gamma, lanes, y }) => {
      const g = gamma === 1 ? "1" : gamma === 0.25 ? "¼" : gamma.toPrecision(2);
      const acts = [...new Set(lanes.map((lane) => ACTIVATION_NAMES[lane.config.activation] || lane.config.activation))];
      const names = lanes.map((lane) => lane.name);
      shapes.push({ type: "line", xref: "paper", x0: 0, x1: 1, yref: "y", y0: y, y1: y, line: { color: "#111827", width: 1.2, dash: "dash" } });
      return {
        text: wrapText(`edge of stability γσ<sub>max</sub>\u00a0=\u00a01 (${acts.join(", ")}: γ\u00a0=\u00a0${g})`, room.px, LINE_LABEL_SIZE),
        hovertext: `dashed: γ·σ_max(W_h) = 1 with γ = max|f'| = ${g} (lane${names.length > 1 ? "s" : ""} ${names.join(", ")}),`
          + `<br>σ_max = ${Number((1 / gamma).toPrecision(3))}: above it the bound lets the gradient grow going back,`
          + "<br>below it the gradient must vanish",
        color: "#111827", yref: "y", y, px: plotPx * (1 - y / (1.05 * top || 1)),
      };
    }), annotations, plotPx);
    const range = stepRange(this.shown);
    divergenceMarks(this.shown, range, shapes, annotations);
    const layout = baseLayout({
      xaxis: { ...AXIS, title: { text: "training step" }, range, ...wholeStepTicks(range, this.plotWidth("spectral", marginR)) },
      yaxis: { ...AXIS, title: { text: "σ<sub>max</sub>(W<sub>h</sub>), ρ(W<sub>h</sub>)" }, rangemode: "tozero" },
      shapes, annotations,
    });
    if (!this.shown.length) {
      layout.annotations = emptyNote(this.previewNote || "Loading the preview…", this.plotWidth("spectral", marginR));
      hideAxes(layout);
    }
    layout.margin = { ...layout.margin, ...margin };
    if (lines.length) layout.margin.r = room.margin; // the lines' names, then the modebar
    return { data, layout };
  }

  weightFigure() {
    const data = [];
    const sources = this.sources();
    for (const { lane, arrays } of sources) {
      if (!arrays || !arrays.log10_weight_grad_per_step) continue;
      const T = arrays.log10_weight_grad_per_step.length;
      const name = `${lane.name} · ${lane.label}`;
      data.push({
        type: "scatter", mode: "lines", name: this.legendName("weight", lane), x: timesteps(T), y: arrays.log10_weight_grad_per_step,
        line: { color: lane.color, width: 1.8 },
        hovertemplate: `${name}<br>t = %{x}<br>W_h: log10 ‖h_{t−1}ᵀ δ_t‖ = %{y:.2f}<extra></extra>`,
        legendgroup: lane.name,
      });
      if (arrays.log10_input_weight_grad_per_step) { // the input weights' share, carried by the same δ_t
        data.push({
          type: "scatter", mode: "lines", name: `${lane.name} · W_x`, showlegend: false, legendgroup: lane.name,
          x: timesteps(T), y: arrays.log10_input_weight_grad_per_step, line: { color: lane.color, width: 1.3, dash: "dash" },
          hovertemplate: `${name}<br>t = %{x}<br>W_x: log10 ‖x_tᵀ δ_t‖ = %{y:.2f}<extra></extra>`,
        });
      }
    }
    if (data.some((t) => t.line.dash === "dash")) {
      data.push(...styleKey([{ name: "recurrent W<sub>h</sub>" }, { name: "input W<sub>x</sub>", dash: "dash" }]));
    }
    const preview = sources.length && sources[0].preview;
    const layout = baseLayout({
      xaxis: { ...AXIS, title: { text: "timestep t" } },
      yaxis: { ...AXIS, title: { text: "log10 ‖h<sub>t−1</sub><sup>T</sup> δ<sub>t</sub>‖, ‖x<sub>t</sub><sup>T</sup> δ<sub>t</sub>‖" } },
      annotations: data.length ? [{
        text: preview ? "at initialisation (preview)" : "latest snapshot", xref: "paper", yref: "paper", x: 1, y: 1,
        xanchor: "right", yanchor: "bottom", showarrow: false, font: { size: 11, color: "#6b7280" },
      }] : emptyNote(this.previewNote || "Loading the preview…", this.plotWidth("weight")),
    });
    if (!data.length) hideAxes(layout);
    layout.margin = { ...layout.margin, t: 58 };
    // the legend's last row (the style key's, at the right) clear above the note at the plot's top right
    const plotPx = Math.max(60, baseHeight(this.divs.weight, 340) - layout.margin.t - layout.margin.b);
    layout.legend = { ...layout.legend, y: 1 + 20 / plotPx };
    return { data, layout };
  }
}
