// Shareable state: every setting of every lane lives in the query string, e.g.
//   /?preset=sigmoid_vs_relu&lanes=2&A.activation=sigmoid&A.seq_len=100&...&B.activation=relu&...
// A null value (e.g. truncate = full BPTT) is written as an empty value. Opening the link restores the
// controls; runs are deterministic (seeded), so re-running reproduces the same numbers.

import { LANE_NAMES, parseValue } from "./controls.js";

export function encodeState({ preset, lanes }, fields) {
  const params = new URLSearchParams();
  if (preset) params.set("preset", preset);
  params.set("lanes", String(lanes.length));
  lanes.forEach((config, i) => {
    for (const spec of fields) {
      const value = config[spec.name];
      params.set(`${LANE_NAMES[i]}.${spec.name}`, value === null || value === undefined ? "" : String(value));
    }
  });
  return params.toString().replaceAll("%2C", ",");
}

// Returns {preset, lanes}: lanes is a list of partial configs, or null when the URL names no lane setting.
export function decodeState(search, fields) {
  const params = new URLSearchParams(search);
  const byName = Object.fromEntries(fields.map((f) => [f.name, f]));
  const preset = params.get("preset") || null;
  const partials = [];
  let any = false;
  for (const [key, raw] of params) {
    const dot = key.indexOf(".");
    const lane = dot < 0 ? -1 : LANE_NAMES.indexOf(key.slice(0, dot));
    const name = key.slice(dot + 1);
    if (lane < 0 || !byName[name]) continue;
    while (partials.length <= lane) partials.push({});
    partials[lane][name] = parseValue(byName[name], raw);
    any = true;
  }
  const count = Number(params.get("lanes"));
  if (Number.isInteger(count) && count >= 1 && count <= LANE_NAMES.length) {
    while (partials.length < count) partials.push({});
    partials.length = count;
  }
  return { preset, lanes: any || params.has("lanes") ? partials : null };
}
