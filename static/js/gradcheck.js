// "Verify gradients": POST each lane's config to /api/gradcheck, one lane after the other (the server
// computes them one at a time anyway), and show what the server reports: the max relative error per
// parameter, its verdict (pass, fail, or inconclusive when the finite differences themselves disagree
// between step sizes, with the server's reason), and the small float64 copy that was actually checked.
// Nothing is computed or assumed here: sizes, dtype and tolerance come from the API's answers (and,
// before the first check, from limits.gradcheck of /api/options).

import { api, ApiError } from "./api.js";
import { el, LANE_NAMES } from "./controls.js";

export function formatError(value) {
  if (value === null || value === undefined) return "non-finite";
  return value === 0 ? "0" : value.toExponential(1);
}

// 1e-6 as "1e-6" (JavaScript writes "0.000001"), 0.5 as "0.5"
function short(value) {
  return Math.abs(value) < 1e-3 && value !== 0 ? value.toExponential().replace(/\.?0*e/, "e").replace("e+", "e") : String(value);
}

// The server's verdict ("passed" | "failed" | "inconclusive": the whole check's, or one parameter's) as a class.
const VERDICT_CLASS = { passed: "pass", failed: "fail", inconclusive: "inconclusive" };
const VERDICT_TEXT = { pass: "✓ pass", fail: "✗ fail", inconclusive: "? inconclusive" };

function verdictClass(result) {
  return VERDICT_CLASS[result.verdict];
}

function paramClass(result, name) {
  return VERDICT_CLASS[result.parameters[name].verdict];
}

// "8 of 36 elements re-checked (they differ by up to 4.4e-1 at ε): 8 unresolved: the finite differences ..."
function paramTitle(result, name) {
  const d = result.parameters[name];
  if (!d.rechecked) return "";
  const parts = [];
  if (d.mismatched) parts.push(`${d.mismatched} mismatched (analytic off by up to ${formatError(d.worst_mismatch)})`);
  if (d.unresolved) parts.push(`${d.unresolved} unresolved: the finite differences disagree with each other`);
  const matched = d.rechecked - d.mismatched - d.unresolved;
  if (matched) parts.push(`${matched} matched at a larger step`);
  const spread = d.fd_disagreement === null ? "" : ` (they differ by up to ${formatError(d.fd_disagreement)} at ε)`;
  return `${d.rechecked} of ${d.elements} elements re-checked${spread}: ${parts.join("; ")}`;
}

const SIZE_WORDS = [["batch_size", "batch"], ["seq_len", "T"], ["hidden_size", "hidden"]];

// "checked in float64 on batch 3, T 12, hidden 6 against central finite differences (ε = 1e-5)"
export function checkedWords(result) {
  const c = result.checked_config;
  const sizes = SIZE_WORDS.map(([key, word]) => `${word} ${c[key]}`).join(", ");
  const unrolled = result.sequence_length !== c.seq_len ? ` (${result.sequence_length} steps unrolled)` : "";
  const classes = c.task === "recall" ? `, ${c.num_classes} classes` : "";
  const truncated = c.truncate !== null && c.truncate !== undefined
    ? `, truncated BPTT k = ${c.truncate}${c.truncate >= result.sequence_length ? " (= full BPTT)" : ""}` : "";
  return `checked in ${c.dtype} on ${sizes}${unrolled}${classes}${truncated} against central finite differences `
    + `(ε = ${short(result.eps)})`;
}

// "shrunk from batch 32, T 100, hidden 64; clipping off (it rescales the gradient after BPTT)"
function changedWords(result) {
  const changed = result.changed || {};
  const shrunk = [...SIZE_WORDS, ["num_classes", "classes"], ["truncate", "k"]]
    .filter(([key]) => key in changed).map(([key, word]) => `${word} ${changed[key][0]}`);
  const parts = [];
  if (shrunk.length) parts.push(`shrunk from ${shrunk.join(", ")}`);
  if ("clip" in changed) {
    parts.push(changed.clip[0] === "per_timestep"
      ? "per-timestep clipping off: it rescales ∂L/∂hₜ inside BPTT, so this lane trains on a rescaled "
        + "gradient that no finite difference can check; what is checked is BPTT without it"
      : "clipping off (it rescales the gradient after BPTT)");
  }
  return parts.join("; ");
}

export class GradcheckPanel {
  // root: the panel; getLanes(): current lane configs; limits: options.limits.gradcheck (may be absent);
  // onError(err, lane): shows an ApiError the way the rest of the page does (422 next to the field).
  constructor(root, { getLanes, limits, onError }) {
    this.root = root;
    this.getLanes = getLanes;
    this.onError = onError;
    this.button = root.querySelector("#gradcheck");
    this.box = root.querySelector("#gradcheck-result");
    this.checkedLanes = null; // JSON of the lanes of the shown result, to mark it outdated
    this.busy = false;
    this.button.addEventListener("click", () => this.verify());
    this.showIntro(limits);
  }

  showIntro(limits) {
    const caps = limits && limits.caps;
    const sizes = caps ? SIZE_WORDS.filter(([key]) => key in caps).map(([key, word]) => `${word} ≤ ${caps[key]}`).join(", ") : "";
    const tolerance = limits && limits.tolerance !== undefined ? ` Passes when every error is below ${short(limits.tolerance)}; `
      + "inconclusive where the finite differences themselves disagree between step sizes." : "";
    this.root.querySelector("#gradcheck-intro").textContent = "Compares each lane's analytic BPTT gradient with "
      + `central finite differences on a small ${limits && limits.dtype ? limits.dtype : "float64"} copy`
      + `${sizes ? ` (${sizes})` : ""}, without clipping.${tolerance}`;
  }

  // Called after every settings change: a result for other settings is marked as outdated.
  settingsChanged(lanes) {
    if (this.checkedLanes === null || this.busy) return;
    const outdated = JSON.stringify(lanes) !== this.checkedLanes;
    this.box.classList.toggle("outdated", outdated);
    const note = this.box.querySelector(".gradcheck-outdated");
    if (note) note.hidden = !outdated;
  }

  async verify() {
    if (this.busy) return;
    const lanes = this.getLanes();
    this.busy = true;
    this.button.disabled = true;
    this.box.classList.remove("outdated");
    this.box.dataset.status = "running";
    const outcomes = lanes.map(() => null); // {result} | {error}
    this.render(lanes, outcomes);
    try {
      for (let i = 0; i < lanes.length; i += 1) {
        this.button.textContent = lanes.length > 1 ? `Checking lane ${LANE_NAMES[i]}…` : "Checking…";
        try {
          outcomes[i] = { result: await this.post(lanes[i]) };
        } catch (err) {
          outcomes[i] = { error: err };
          this.onError(err, i);
        }
        this.render(lanes, outcomes);
      }
    } finally {
      this.checkedLanes = JSON.stringify(lanes);
      this.busy = false;
      this.button.disabled = false;
      this.button.textContent = "Verify gradients";
      this.box.dataset.status = "done";
    }
  }

  post(config) {
    return api.post("/api/gradcheck", config);
  }

  render(lanes, outcomes) {
    const results = outcomes.map((o) => (o && o.result) || null);
    const params = [];
    for (const result of results) {
      for (const name of Object.keys((result && result.max_rel_error) || {})) if (!params.includes(name)) params.push(name);
    }
    const table = el("table", { class: "gradcheck-table" });
    const head = el("tr", {}, el("th", { scope: "col", text: "max rel. error" }));
    lanes.forEach((_, i) => head.append(el("th", { scope: "col", class: `lane-c${i}` },
      el("span", { class: "lane-dot" }), el("span", { text: LANE_NAMES[i] }))));
    const verdict = el("tr", { class: "gradcheck-verdict" }, el("th", { scope: "row", text: "verdict" }));
    outcomes.forEach((outcome, i) => {
      let text = "…";
      let cls = "pending";
      let title = "";
      if (outcome && outcome.result) {
        const r = outcome.result;
        cls = verdictClass(r);
        text = VERDICT_TEXT[cls];
        title = r.reason;
      } else if (outcome && outcome.error) {
        text = outcome.error instanceof ApiError && outcome.error.status === 429 ? "busy" : "not checked";
        cls = "error";
        title = outcome.error.message;
      }
      verdict.append(el("td", { class: cls, title, dataset: { lane: LANE_NAMES[i], verdict: cls }, text }));
    });
    const body = el("tbody", {}, verdict);
    for (const name of params) {
      const row = el("tr", {}, el("th", { scope: "row", class: "param", text: name }));
      results.forEach((result, i) => {
        const errors = (result && result.max_rel_error) || {};
        if (!(name in errors)) {
          row.append(el("td", { class: "na", text: result ? "—" : "" }));
          return;
        }
        const value = errors[name];
        const cls = paramClass(result, name);
        row.append(el("td", { class: cls, text: formatError(value), title: paramTitle(result, name),
          dataset: { lane: LANE_NAMES[i], param: name, status: cls, error: value === null ? "null" : String(value) } }));
      });
      body.append(row);
    }
    table.append(el("thead", {}, head), body);

    this.box.replaceChildren(table, this.notes(outcomes), el("p", { class: "gradcheck-outdated", hidden: true,
      text: "The settings changed since this check: press Verify gradients again." }));
  }

  // What was checked, once per distinct checked config ("A, B: checked in float64 on batch 3, ..."),
  // then the verdict: one line if every lane passed, else one line per lane that failed or was
  // inconclusive (with the server's reason).
  notes(outcomes) {
    const list = el("ul", { class: "gradcheck-notes" });
    const groups = new Map(); // sentence -> lane names
    const done = [];
    outcomes.forEach((outcome, i) => {
      if (!outcome || !outcome.result) return;
      const r = outcome.result;
      const extra = changedWords(r);
      const sentence = `${checkedWords(r)}${extra ? `; ${extra}` : ""}.`;
      groups.set(sentence, [...(groups.get(sentence) || []), LANE_NAMES[i]]);
      done.push([LANE_NAMES[i], r]);
    });
    for (const [sentence, names] of groups) {
      list.append(el("li", { class: "gradcheck-checked", dataset: { lanes: names.join(",") } },
        el("b", { text: `${names.join(", ")}: ` }), document.createTextNode(sentence)));
    }
    const timing = done.map(([name, r]) => `${name} ${Math.round(r.elapsed_ms)} ms`).join(", ");
    if (done.length && done.every(([, r]) => verdictClass(r) === "pass")) {
      const tolerance = short(done[0][1].tolerance);
      const atEps = done.every(([, r]) => r.worst !== null && r.worst < r.tolerance);
      const how = atEps ? `every error < ${tolerance}` : `every element matches within ${tolerance} (some only at a `
        + "larger step, where the finite differences agree with each other)";
      list.append(el("li", { class: "pass" }, el("b", { text: "Pass: " }),
        document.createTextNode(`${how}, the backward pass matches (${timing}).`)));
    }
    for (const [name, r] of done.filter(([, result]) => verdictClass(result) === "fail")) {
      list.append(el("li", { class: "fail", dataset: { lane: name } }, el("b", { text: `${name} fails: ` }),
        document.createTextNode(`${r.reason}.`)));
    }
    for (const [name, r] of done.filter(([, result]) => verdictClass(result) === "inconclusive")) {
      list.append(el("li", { class: "inconclusive", dataset: { lane: name } },
        el("b", { text: `${name} inconclusive: ` }),
        document.createTextNode(`${r.reason} This is not a failure of the backward pass.`)));
    }
    outcomes.forEach((outcome, i) => {
      if (!outcome || !outcome.error) return;
      list.append(el("li", { class: "error", dataset: { lane: LANE_NAMES[i] } }, el("b", { text: `${LANE_NAMES[i]}: ` }),
        document.createTextNode(`not checked: ${outcome.error.message}`)));
    });
    return list;
  }
}
