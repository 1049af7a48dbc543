// Shareable state: every setting of every lane lives in the query string, e.g.
//   /?preset=sigmoid_vs_relu&lanes=2&A.activation=sigmoid&A.seq_len=100&...&B.activation=relu&...
// A null value (e.g. truncate = full BPTT) is written as an empty value. Opening the link restores the
// controls; runs are deterministic (seeded), so re-running reproduces the same numbers.
// View settings that are not lane settings ride along under their own names, once changed from their
// defaults: `colour` (chart 1's colour scale) and `cliff.<name>` (the cliff panel's inputs).

import { LANE_NAMES, parseValue } from "./controls.js";

const VIEW_KEY = /^(colour|cliff\.[a-z_]+)$/;

export function encodeState({ preset, lanes, view = {} }, fields) {
  const params = new URLSearchParams();
  if (preset) params.set("preset", preset);
  params.set("lanes", String(lanes.length));
  lanes.forEach((config, i) => {
    for (const spec of fields) {
      const value = config[spec.name];
      params.set(`${LANE_NAMES[i]}.${spec.name}`, value === null || value === undefined ? "" : String(value));
    }
  });
  for (const [key, value] of Object.entries(view)) {
    if (VIEW_KEY.test(key) && value !== null && value !== undefined && value !== "") params.set(key, String(value));
  }
  return params.toString().replaceAll("%2C", ",");
}

// Returns {preset, lanes, view}: lanes is a list of 1-4 partial configs, or null when the URL names no
// lane (no lane setting and no valid lane count); view holds the view settings the link carries
// ({colour, "cliff.start_w", ...}), as strings.
export function decodeState(search, fields) {
  const params = new URLSearchParams(search);
  const byName = Object.fromEntries(fields.map((f) => [f.name, f]));
  const preset = params.get("preset") || null;
  const partials = [];
  for (const [key, raw] of params) {
    const dot = key.indexOf(".");
    const lane = dot < 0 ? -1 : LANE_NAMES.indexOf(key.slice(0, dot));
    const name = key.slice(dot + 1);
    if (lane < 0 || !byName[name]) continue;
    while (partials.length <= lane) partials.push({});
    partials[lane][name] = parseValue(byName[name], raw);
  }
  const count = Number(params.get("lanes"));
  if (Number.isInteger(count) && count >= 1 && count <= LANE_NAMES.length) {
    while (partials.length < count) partials.push({});
    partials.length = count;
  }
  const view = Object.fromEntries([...params].filter(([key]) => VIEW_KEY.test(key)));
  // no lane at all (lanes=0, -1, abc, ... and no lane setting): the link names none, as without `lanes`
  return { preset, lanes: partials.length ? partials : null, view };
}
