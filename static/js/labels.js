// Lane titles fitted to the room a chart gives them (the heatmap's panels, the unrolled chart's bands), and
// the sentences the charts share about a lane with nothing finite to draw.

const TITLE_CHAR_PX = 6.5; // average width of a 12 px lane-title character

// "<b>A</b> · label" + tail in `px` pixels: the label cut to whole ", "-separated parts and an ellipsis
// where it does not fit ("tanh, 2000…" would read as 2000 steps), with the whole title for the hover.
export function laneTitle(lane, px, tail = "") {
  const room = Math.floor(px / TITLE_CHAR_PX) - lane.name.length - 3 - tail.length; // after "A · ", "…" included
  if (lane.label.length <= room) return { text: `<b>${lane.name}</b> · ${lane.label}${tail}` };
  let kept = "";
  for (const part of lane.label.split(", ")) {
    const next = kept ? `${kept}, ${part}` : part;
    if (next.length + 1 > room) break;
    kept = next;
  }
  return { text: `<b>${lane.name}</b>${kept ? ` · ${kept}…` : ""}${tail}`, hovertext: `${lane.name} · ${lane.label}` };
}

// A lane that diverged before its first finite step: after the run it has no arrays at all.
export function divergedBeforeAnyStep({ lane, arrays, preview }) {
  return !preview && !arrays && lane.divergedAt !== null;
}

// A float32 forward pass that overflows (e.g. identity init, radius 5, linear) leaves nothing finite.
export function overflowText(lane) {
  return `nothing finite to draw: the ${lane.config.dtype} forward pass overflows (h<sub>t</sub> reaches inf)`;
}
