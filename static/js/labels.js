// Lane titles fitted to the room a chart gives them (the heatmap's panels, the unrolled chart's bands), and
// the sentences the charts share about a lane with nothing finite to draw.

const TITLE_CHAR_PX = 6.5; // average width of a 12 px lane-title character

// "<b>A</b> · label" + tail in `px` pixels: the label cut to whole ", "-separated parts and an ellipsis
// where it does not fit ("tanh, 2000…" would read as 2000 steps), with the whole title for the hover.
export function laneTitle(lane, px, tail = "") {
  const room = Math.floor(px / TITLE_CHAR_PX) - lane.name.length - 3 - tail.length; // after "A · ", "…" included
  if (lane.label.length <= room) return { text: `<b>${lane.name}</b> · ${lane.label}${tail}` };
  const kept = keptParts(lane.label, (next) => next.length + 1 <= room);
  return { text: `<b>${lane.name}</b>${kept ? ` · ${kept}…` : ""}${tail}`, hovertext: `${lane.name} · ${lane.label}` };
}

// A heatmap panel's title, "<b>A</b> · label", in `px` pixels as drawn (measured, not estimated per character): the
// whole title at 12 px, else at 11 or 10 px, else the label cut to whole parts at 10 px as laneTitle's (whole on
// hover). With 6.5 px a character estimated, a phone's 60 px panels dropped every label ("A", "B"), although
// "A · no clip" is 52 px at 10 px. Returns {text, hovertext, size}.
export function fittedLaneTitle(lane, px, sizes = [12, 11, 10]) {
  const whole = `<b>${lane.name}</b> · ${lane.label}`;
  for (const size of sizes) if (textPx(whole, size) <= px) return { text: whole, size };
  const size = sizes[sizes.length - 1];
  const kept = keptParts(lane.label, (next) => textPx(`${lane.name} · ${next}…`, size) <= px);
  return { text: `<b>${lane.name}</b>${kept ? ` · ${kept}…` : ""}`, hovertext: `${lane.name} · ${lane.label}`, size };
}

// The most leading ", "-separated parts of `label` for which fits(kept) holds, joined again ("" if not even one).
function keptParts(label, fits) {
  let kept = "";
  for (const part of label.split(", ")) {
    const next = kept ? `${kept}, ${part}` : part;
    if (!fits(next)) break;
    kept = next;
  }
  return kept;
}

// A lane that diverged before its first finite step: after the run it has no arrays at all.
export function divergedBeforeAnyStep({ lane, arrays, preview }) {
  return !preview && !arrays && lane.divergedAt !== null;
}

// A float32 forward pass that overflows (e.g. identity init, radius 5, linear) leaves nothing finite.
export function overflowText(lane) {
  return `nothing finite to draw: the ${lane.config.dtype} forward pass overflows (h<sub>t</sub> reaches inf)`;
}

// What would keep such a lane finite. float64 reaches 1.8e308 against float32's 3.4e38, which helps only if the
// growth stops below that: for a linear lane with identity/orthogonal W_h of spectral radius r, h_t grows like
// r^T, so r^T beyond 1e308 overflows float64 too (radius 5, T 2000: 10^1398).
export function finiteAdvice(lane) {
  const { dtype, activation, init, spectral_radius: radius, seq_len: T } = lane.config;
  const smaller = "a smaller spectral radius or init scale keeps it finite";
  const decades = activation === "linear" && init !== "gaussian" && radius > 1 ? T * Math.log10(radius) : null;
  if (dtype === "float64") return `${smaller[0].toUpperCase()}${smaller.slice(1)}.`;
  if (decades !== null && decades > 308) {
    return `float64 would overflow too (r<sup>T</sup> = 10<sup>${Math.round(decades)}</sup>); ${smaller}.`;
  }
  return `float64 (up to 1.8e308, against float32's 3.4e38) may keep it finite; ${smaller}.`;
}

// The words a chart shows for a loss or metric named by the API's task_info (loss_name, metric_name: "mse",
// "cross_entropy", "accuracy"): the one place such an identifier is turned into text on screen. A name not
// listed here reads as itself with spaces for underscores.
const QUANTITY_WORDS = { cross_entropy: "cross-entropy", mse: "MSE" };
export function quantityName(name) {
  return QUANTITY_WORDS[name] ?? String(name).replaceAll("_", " ");
}

// --- text measured as the charts draw it --------------------------------------------------------------
// Width in px of chart text (Plotly markup: tags dropped, <br> as a space) in the charts' font at `size` px,
// measured on a canvas with the same font stack the SVG uses (a Plotly legend entry's text measures the same).
// Sub- and superscripts are counted at full size: a little wide, never narrow.
const CHART_FONT = "Inter, system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif";
let measureContext;
export function textPx(markup, size = 12) {
  const text = String(markup).replace(/<br\s*\/?>/gi, " ").replace(/<[^>]+>/g, "")
    .replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&amp;/g, "&");
  if (measureContext === undefined) measureContext = document.createElement("canvas").getContext("2d") || null;
  if (!measureContext) return text.length * size * 0.62; // DejaVu Sans' average, a little over
  measureContext.font = `${size}px ${CHART_FONT}`;
  return measureContext.measureText(text).width;
}

// `markup` broken into lines of at most `px` (at `size` px) between words, joined by <br>; its own <br>s
// stay line breaks. A single word wider than `px` keeps a line of its own.
export function wrapText(markup, px, size = 12) {
  const lines = [];
  for (const paragraph of String(markup).split(/<br\s*\/?>/i)) {
    let line = "";
    for (const word of paragraph.split(" ").filter(Boolean)) {
      const next = line ? `${line} ${word}` : word;
      if (line && textPx(next, size) > px) {
        lines.push(line);
        line = word;
      } else line = next;
    }
    lines.push(line);
  }
  return lines.join("<br>");
}

// Lines of wrapped markup.
export function lineCount(markup) {
  return String(markup).split(/<br\s*\/?>/i).length;
}

// A lane's legend entry, "A · label" + tail, in at most `px` of text at `size` px: the label cut to whole
// ", "-separated parts and an ellipsis, as laneTitle's (the hover keeps the whole label).
export function laneLegendName(lane, px, tail = "", size = 11) {
  const whole = `${lane.name} · ${lane.label}${tail}`;
  if (textPx(whole, size) <= px) return whole;
  const kept = keptParts(lane.label, (next) => textPx(`${lane.name} · ${next}…${tail}`, size) <= px);
  if (kept) return `${lane.name} · ${kept}…${tail}`;
  return textPx(`${lane.name} · …${tail}`, size) <= px ? `${lane.name} · …${tail}` : `${lane.name}${tail}`;
}

// What can make a lane's gradient exactly 0 (log10 = -inf, sent as null), from the lanes' configs: "e.g. dead ReLU
// units" (a ReLU that is off passes no gradient back; once every unit is, nothing reaches the earlier steps) and
// truncated BPTT's cuts; "" when neither applies.
export function zeroGradientCause(configs) {
  const causes = [];
  if (configs.some((c) => (c.cell ?? "rnn") === "rnn" && c.activation === "relu")) causes.push("dead ReLU units");
  if (configs.some((c) => c.truncate)) causes.push("truncated BPTT's cuts");
  return causes.length ? `e.g. ${causes.join(", ")}` : "";
}
