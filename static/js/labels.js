// Lane titles fitted to the room a chart gives them (the heatmap's panels, the unrolled chart's bands), and
// the sentences the charts share about a lane with nothing finite to draw.

// A lane's title, "<b>A</b> · label" + tail, in `px` pixels as drawn (measured, not estimated per character, as
// every line fitted here): the whole title at the first of `sizes` it fits, else at the last size the label cut to
// whole ", "-separated parts and an ellipsis ("tanh, 2000…" would read as 2000 steps), then "A · …", then the label
// left out; the lane's letter and the tail (" · step 299": a number) stay. `tail`: a string, or its wordings from
// the wordiest, shortened along with the label. With 6.5 px a character estimated, a phone's 60 px heatmap panels
// dropped every label ("A", "B"), although "A · no clip" is 52 px at 10 px. Returns {text, hovertext, size}
// (hovertext, the whole title, only where it was cut).
export function fittedLaneTitle(lane, px, { tail = "", sizes = [12, 11, 10], bold = true } = {}) {
  const pieces = lane.label.split(", ");
  const cuts = pieces.slice(1).map((_, i) => `${pieces.slice(0, pieces.length - 1 - i).join(", ")}…`);
  const tails = Array.isArray(tail) ? tail : [tail];
  return fittedLine([
    { forms: [bold ? `<b>${lane.name}</b>` : lane.name] },
    { forms: [lane.label, ...cuts, "…"], drop: 0 },
    ...(tails[0] ? [{ forms: tails, sep: "" }] : []),
  ], px, { sizes, more: "" });
}

// One line of chart text in `px` pixels as drawn: `parts`, each {forms: [its wordiest text, ..., its tersest],
// sep: what goes before it (" · " unless given), drop: the rank in which it may be left out (none: it stays)},
// joined. The whole line at the first of `sizes` it fits; else, at the last size, shorter wordings before fewer
// parts: every part's words shortened together, one wording (index into each part's forms) after the other, and
// only where even the tersest does not fit are parts left out (the lowest `drop` first, `more` marking it), each
// time from the wordiest again; last, the kept parts alone, cut from the end with an ellipsis. Text is measured
// with textPx (a canvas): microseconds a wording. Returns {text, size, hovertext} (hovertext: the whole line,
// where it was shortened).
export function fittedLine(parts, px, { sizes = [12], more = " …" } = {}) {
  const whole = lineText(parts, 0);
  for (const size of sizes) if (textPx(whole, size) <= px) return { text: whole, size };
  const size = sizes[sizes.length - 1];
  const fits = (text) => textPx(text, size) <= px;
  const cut = (text) => ({ text, hovertext: whole.replace(/<\/?b>/g, ""), size }); // the hover: plain weight
  const droppable = parts.filter((part) => part.drop !== undefined).sort((a, b) => a.drop - b.drop);
  for (let k = 0; k <= droppable.length; k += 1) {
    const shown = parts.filter((part) => !droppable.slice(0, k).includes(part));
    const wordings = Math.max(1, ...shown.map((part) => part.forms.length));
    for (let level = 0; level < wordings; level += 1) {
      const text = lineText(shown, level) + (k && shown.length ? more : "");
      if (shown.length && fits(text)) return cut(text);
    }
  }
  const kept = parts.filter((part) => part.drop === undefined);
  for (let n = kept.length - 1; n >= 1; n -= 1) {
    const text = `${lineText(kept.slice(0, n), Infinity)}…`;
    if (fits(text)) return cut(text);
  }
  return cut(lineText(kept.length ? kept.slice(0, 1) : parts, Infinity)); // wider than `px`: nothing shorter says it
}

// `parts` joined, each in its wording `level` (or its tersest).
function lineText(parts, level) {
  return parts.map((part, i) => `${i ? part.sep ?? " · " : ""}${part.forms[Math.min(level, part.forms.length - 1)]}`)
    .join("");
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
let measureFont = "";
export function textPx(markup, size = 12) {
  if (measureContext === undefined) {
    measureContext = globalThis.document?.createElement("canvas").getContext("2d") || null;
  }
  let width = 0;
  // <b>...</b> (a lane's letter in its title) measured bold: ~1 px wider a letter
  String(markup).replace(/<br\s*\/?>/gi, " ").split(/(<b>.*?<\/b>)/i).forEach((piece, i) => {
    const text = piece.replace(/<[^>]+>/g, "").replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&amp;/g, "&");
    if (!text) return;
    if (!measureContext) { // DejaVu Sans' average, a little over
      width += text.length * size * 0.62;
      return;
    }
    const font = `${i % 2 ? "bold " : ""}${size}px ${CHART_FONT}`;
    if (font !== measureFont) measureContext.font = measureFont = font;
    width += measureContext.measureText(text).width;
  });
  return width;
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

// A lane's legend entry, "A · label" + tail, in at most `px` of text at `size` px: fitted as a lane's title
// (fittedLaneTitle), the letter not bold; the hover keeps the whole label.
export function laneLegendName(lane, px, tail = "", size = 11) {
  return fittedLaneTitle(lane, px, { tail, sizes: [size], bold: false }).text;
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
