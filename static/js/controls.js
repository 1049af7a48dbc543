// The lane editor: one column of controls per lane, rows built from GET /api/options (rnncore FIELDS),
// grouped by FieldSpec.group. Fields whose `applies_to` does not hold for a lane are dimmed and disabled.
// Values are kept parsed in `this.lanes`; what the user typed that does not parse is kept as typed so the
// server can answer with a 422 that names the field in words.

// The lanes' letters, filled at start from GET /api/options (limits.lane_names): the API's labels and
// error messages name lanes with the same letters.
export const LANE_NAMES = [];
export function setLaneNames(names) {
  LANE_NAMES.splice(0, LANE_NAMES.length, ...names);
}
export const LANE_COLORS = ["#2563eb", "#ea580c", "#059669", "#9333ea"];
const GROUPS = [
  ["model", "Model"],
  ["task", "Task"],
  ["training", "Training"],
  ["init", "Initialisation"],
];
const NULL_LABELS = { target: "task default", truncate: "full BPTT" };

// "B = A but ..." shortcuts: each returns the changes to apply to a copy of lane A.
export const SHORTCUTS = [
  ["no_clip", "without clipping", () => ({ clip: "none" })],
  ["relu", "with ReLU", () => ({ cell: "rnn", activation: "relu" })],
  ["sigmoid", "with sigmoid", () => ({ cell: "rnn", activation: "sigmoid" })],
  ["truncated", "with truncated BPTT", (a) => ({ truncate: Math.max(1, Math.round(a.seq_len / 5)) })],
  ["longer", "longer sequence", (a, max) => ({ seq_len: Math.min(max, a.seq_len * 2) })],
];

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children) if (child != null) node.append(child);
  return node;
}
export { el };

function formatNumber(value) {
  if (value === null || value === undefined) return "";
  return typeof value === "number" ? String(value) : String(value);
}

function rangeText(spec) {
  if (spec.kind === "choice") return `one of: ${spec.choices.join(", ")}${spec.nullable ? ", or the default" : ""}`;
  const kind = spec.kind === "int" ? "integer" : "number";
  return `${kind} in [${spec.minimum}, ${spec.maximum}]${spec.nullable ? ", or empty" : ""}`;
}

const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i;

export function parseValue(spec, raw) {
  if (spec.kind === "choice") return raw === "" && spec.nullable ? null : raw;
  const text = String(raw).trim();
  if (text === "") return spec.nullable ? null : text;
  // decimal notation only: Number() also reads "0x10" as 16, "0b11" as 3 and "" as 0
  const number = DECIMAL.test(text) ? Number(text) : NaN;
  if (!Number.isFinite(number)) return text; // kept as typed: the server explains what is allowed
  if (spec.kind === "int" && !Number.isInteger(number)) return text;
  return number;
}

export function appliesTo(spec, config) {
  if (!spec.applies_to) return true;
  return Object.entries(spec.applies_to).every(([field, allowed]) => allowed.includes(config[field]));
}

export class LaneEditor {
  constructor(root, options, { onChange, maxLanes = 4 } = {}) {
    this.root = root;
    this.fields = options.fields;
    this.byName = Object.fromEntries(this.fields.map((f) => [f.name, f]));
    this.taskTargets = options.task_targets || {};
    this.maxLanes = Math.min(maxLanes, LANE_NAMES.length);
    this.onChange = onChange || (() => {});
    this.lanes = [this.defaults(), this.defaults()];
    this.errors = new Map(); // "lane:field" -> message
    this.disabled = false;
    // lanes wider than the panel scroll sideways: which edges have more columns beyond them, for the CSS
    // to show (a fade and an arrow); again on every scroll, resize and render
    this.showOverflow = () => {
      const { scrollLeft, scrollWidth, clientWidth } = this.root;
      this.root.toggleAttribute("data-more-left", scrollLeft > 1);
      this.root.toggleAttribute("data-more-right", scrollLeft + clientWidth < scrollWidth - 1);
    };
    root.addEventListener("scroll", this.showOverflow, { passive: true });
    if (globalThis.ResizeObserver) new ResizeObserver(this.showOverflow).observe(root);
  }

  defaults() {
    return Object.fromEntries(this.fields.map((f) => [f.name, f.default ?? null]));
  }

  full(partial) {
    const config = this.defaults();
    for (const [key, value] of Object.entries(partial || {})) if (key in this.byName) config[key] = value;
    return config;
  }

  setLanes(partials) {
    this.lanes = partials.slice(0, this.maxLanes).map((p) => this.full(p));
    this.errors.clear();
    this.render();
  }

  getLanes() {
    return this.lanes.map((lane) => ({ ...lane }));
  }

  addLane() {
    if (this.lanes.length >= this.maxLanes) return;
    this.lanes.push({ ...this.lanes[this.lanes.length - 1] });
    this.render();
    this.onChange("lanes");
  }

  removeLane(index) {
    if (this.lanes.length <= 1) return;
    this.lanes.splice(index, 1);
    this.errors.clear();
    this.render();
    this.onChange("lanes");
  }

  applyShortcut(kind, target) {
    const shortcut = SHORTCUTS.find(([id]) => id === kind);
    if (!shortcut) return;
    const base = this.lanes[0];
    const changes = shortcut[2](base, this.byName.seq_len.maximum);
    const next = { ...base, ...changes };
    if (target >= this.lanes.length) {
      if (this.lanes.length >= this.maxLanes) return;
      this.lanes.push(next);
    } else {
      this.lanes[target] = next;
    }
    this.errors.clear();
    this.render();
    this.onChange("shortcut");
  }

  setDisabled(disabled) {
    this.disabled = disabled;
    this.root.querySelectorAll("input, select, button").forEach((node) => {
      if (node.dataset.field) {
        const lane = Number(node.dataset.lane);
        node.disabled = disabled || !appliesTo(this.byName[node.dataset.field], this.lanes[lane]);
      } else {
        node.disabled = disabled;
      }
    });
  }

  // errors: [{lane: index|null, field: name|null, message}]
  showErrors(errors) {
    this.errors.clear();
    for (const e of errors) if (e.lane !== null && e.field) this.errors.set(`${e.lane}:${e.field}`, e.message);
    this.refresh();
  }

  clearErrors() {
    if (!this.errors.size) return;
    this.errors.clear();
    this.refresh();
  }

  render() {
    const lanes = this.lanes;
    const table = el("table", { class: "lane-table", id: "lane-table" });
    const colgroup = el("colgroup", {}, el("col", { class: "col-label" }));
    lanes.forEach(() => colgroup.append(el("col", { class: "col-lane" })));
    table.append(colgroup);

    const headRow = el("tr", {}, el("th", { scope: "col", class: "field-head", text: "setting" }));
    lanes.forEach((_, i) => {
      const remove = i > 0 ? el("button", {
        type: "button", class: "lane-remove", title: `Remove lane ${LANE_NAMES[i]}`,
        "aria-label": `Remove lane ${LANE_NAMES[i]}`, dataset: { remove: String(i) }, text: "×",
      }) : null;
      headRow.append(el("th", { scope: "col", class: `lane-head lane-c${i}` },
        el("span", { class: "lane-dot" }), el("span", { class: "lane-name", text: `Lane ${LANE_NAMES[i]}` }), remove));
    });
    table.append(el("thead", {}, headRow));

    for (const [group, title] of GROUPS) {
      const specs = this.fields.filter((f) => (f.group || "model") === group);
      if (!specs.length) continue;
      const body = el("tbody", { class: `group group-${group}` });
      body.append(el("tr", { class: "group-row" }, el("th", { colspan: String(lanes.length + 1), scope: "colgroup", text: title })));
      for (const spec of specs) body.append(this.renderRow(spec));
      table.append(body);
    }
    this.root.replaceChildren(table);

    table.addEventListener("change", (event) => this.onInput(event, true));
    table.addEventListener("input", (event) => {
      if (event.target.tagName === "INPUT") this.onInput(event, false);
    });
    table.addEventListener("click", (event) => {
      const button = event.target.closest("[data-remove]");
      if (button) this.removeLane(Number(button.dataset.remove));
    });
    this.refresh();
    this.showOverflow();
  }

  renderRow(spec) {
    const help = `${spec.description}\nAllowed: ${rangeText(spec)}. Default: ${spec.default ?? NULL_LABELS[spec.name] ?? "none"}.`;
    const row = el("tr", { class: "field-row", dataset: { row: spec.name } });
    row.append(el("th", { scope: "row", class: "field-label", title: help },
      el("span", { text: spec.name.replaceAll("_", " ") }), el("span", { class: "help-mark", "aria-hidden": "true", text: "?" })));
    this.lanes.forEach((_, lane) => {
      const id = `lane${lane}-${spec.name}`;
      let input;
      if (spec.kind === "choice") {
        input = el("select", { id, title: help, dataset: { lane: String(lane), field: spec.name } });
        if (spec.nullable) input.append(el("option", { value: "", text: NULL_LABELS[spec.name] || "default" }));
        for (const choice of spec.choices) input.append(el("option", { value: choice, text: choice }));
      } else {
        input = el("input", {
          id, type: "text", inputmode: spec.kind === "int" ? "numeric" : "decimal", autocomplete: "off",
          spellcheck: "false", title: help, placeholder: spec.nullable ? NULL_LABELS[spec.name] || "none" : "",
          dataset: { lane: String(lane), field: spec.name },
        });
      }
      input.setAttribute("aria-label", `Lane ${LANE_NAMES[lane]} ${spec.name}`);
      const cell = el("td", { class: "field-cell", dataset: { lane: String(lane), field: spec.name } }, input,
        el("div", { class: "field-error", role: "alert", id: `${id}-error` }));
      row.append(cell);
    });
    return row;
  }

  onInput(event, committed) {
    const input = event.target;
    if (!input.dataset || !input.dataset.field) return;
    const lane = Number(input.dataset.lane);
    const spec = this.byName[input.dataset.field];
    const config = this.lanes[lane];
    config[spec.name] = parseValue(spec, input.value);
    this.errors.delete(`${lane}:${spec.name}`);
    const allowed = this.taskTargets[config.task];
    if (spec.name === "task" && config.target && allowed && !allowed.includes(config.target)) {
      config.target = null; // e.g. copy has a target at every step: "last" would only earn a 422
      this.errors.delete(`${lane}:target`);
      committed = true;
    }
    if (committed) this.refresh();
    this.onChange(spec.name);
  }

  // Push state into the inputs: values, applies_to dimming, differences from lane A, errors.
  refresh() {
    const table = this.root.querySelector("table");
    if (!table) return;
    for (const cell of table.querySelectorAll("td.field-cell")) {
      const lane = Number(cell.dataset.lane);
      const spec = this.byName[cell.dataset.field];
      const config = this.lanes[lane];
      const input = cell.querySelector("input, select");
      const value = config[spec.name];
      const shown = spec.kind === "choice" ? (value ?? "") : formatNumber(value);
      if (document.activeElement !== input && input.value !== shown) input.value = shown;
      if (spec.name === "target") {
        const allowed = this.taskTargets[config.task];
        for (const option of input.options) option.disabled = Boolean(option.value && allowed && !allowed.includes(option.value));
      }
      const active = appliesTo(spec, config);
      cell.classList.toggle("na", !active);
      input.disabled = this.disabled || !active;
      if (!active) {
        const why = Object.entries(spec.applies_to).map(([f, v]) => `${f} = ${v.join(" or ")}`).join(" and ");
        cell.title = `No effect here: applies when ${why}`;
      } else {
        cell.removeAttribute("title");
      }
      cell.classList.toggle("differs", lane > 0 && JSON.stringify(value) !== JSON.stringify(this.lanes[0][spec.name]));
      const message = this.errors.get(`${lane}:${spec.name}`) || "";
      cell.classList.toggle("invalid", Boolean(message));
      input.setAttribute("aria-invalid", message ? "true" : "false");
      if (message) input.setAttribute("aria-describedby", `${input.id}-error`);
      cell.querySelector(".field-error").textContent = message;
    }
  }
}
