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

// When a setting has an effect, in words, from its applies_to (e.g. "cell = rnn"); "" when always.
function appliesText(spec) {
  if (!spec.applies_to) return "";
  return Object.entries(spec.applies_to).map(([f, v]) => `${f} = ${v.join(" or ")}`).join(" and ");
}

function rangeText(spec) {
  if (spec.kind === "choice") return `one of: ${spec.choices.join(", ")}${spec.nullable ? ", or the default" : ""}`;
  const kind = spec.kind === "int" ? "integer" : "number";
  return `${kind} in [${spec.minimum}, ${spec.maximum}]${spec.nullable ? ", or empty" : ""}`;
}

// --- the API's 422s in the page's words ----------------------------------------------------------------
// The API says what is allowed in its schema's terms ("must be >= 1 (allowed: integer in [1, 2000] or null)",
// pydantic's "Input should be a valid integer, unable to parse string as an integer"); the page says it as its
// fields read: "must be a whole number from 1 to 2000, or empty for full BPTT". It reads the facts (bounds,
// allowed values, the other field of a cross-field rule) from each 422 detail item's `ctx` (see the README's
// API section) and from the lane settings' GET /api/options specs, never from the API's sentences: those may
// be reworded.

// A setting's name as its row shows it: "seq_len" -> "seq len".
export const fieldLabel = (name) => String(name).replaceAll("_", " ");

// "a, b or c"
export function orList(items) {
  return items.length > 1 ? `${items.slice(0, -1).join(", ")} or ${items.at(-1)}` : items.join("");
}

// A bound as people write it: 2000 (not 2000.0), 0.000001, -20
const bound = (value) => String(Number(value));
const isNumber = (value) => typeof value === "number" && Number.isFinite(value);

// What an empty box means for a nullable setting: "empty for full BPTT", else "empty".
const emptyWords = (name) => (NULL_LABELS[name] ? `empty for ${NULL_LABELS[name]}` : "empty");

// The values a lane setting takes, in words, from its GET /api/options entry.
export function allowedWords(spec) {
  if (spec.kind === "choice") {
    return `one of ${orList(spec.choices)}${spec.nullable ? ` (or ${NULL_LABELS[spec.name] || "the default"})` : ""}`;
  }
  const what = spec.kind === "int" ? "a whole number" : "a number";
  return `${what} from ${bound(spec.minimum)} to ${bound(spec.maximum)}${spec.nullable ? `, or ${emptyWords(spec.name)}` : ""}`;
}

// A 422 detail item's ctx, {} when it has none.
const ctxOf = (item) => (item && item.ctx && typeof item.ctx === "object" ? item.ctx : {});

// What a 422's ctx allows, in words: {integer: true, minimum: 1, maximum: 500} -> "a whole number from 1 to 500",
// {integer: false, exclusive_minimum: 0, maximum: 100} -> "a number above 0, up to 100", {allowed: [...]} ->
// "one of a, b or c"; null when it states no bounds.
export function allowedInWords(ctx) {
  if (Array.isArray(ctx.allowed) && ctx.allowed.length) {
    return `one of ${orList(ctx.allowed.map(String))}${ctx.nullable ? " (or empty)" : ""}`;
  }
  if (typeof ctx.integer !== "boolean") return null;
  const what = ctx.integer ? "a whole number" : "a number";
  const orEmpty = ctx.nullable ? ", or empty" : "";
  const lowOpen = !isNumber(ctx.minimum) && isNumber(ctx.exclusive_minimum);
  const highOpen = !isNumber(ctx.maximum) && isNumber(ctx.exclusive_maximum);
  const low = lowOpen ? ctx.exclusive_minimum : ctx.minimum;
  const high = highOpen ? ctx.exclusive_maximum : ctx.maximum;
  if (isNumber(low) && isNumber(high)) {
    const from = lowOpen ? `above ${bound(low)}` : `from ${bound(low)}`;
    const to = highOpen ? `below ${bound(high)}` : lowOpen ? `up to ${bound(high)}` : `to ${bound(high)}`;
    return `${what} ${from}${!lowOpen && !highOpen ? " " : ", "}${to}${orEmpty}`;
  }
  if (isNumber(low)) return `${what} ${lowOpen ? "above" : "of at least"} ${bound(low)}${orEmpty}`;
  if (isNumber(high)) return `${what} ${highOpen ? "below" : "of at most"} ${bound(high)}${orEmpty}`;
  return null;
}

// pydantic's error types that say a value is of the wrong type ("Input should be a valid integer, unable to
// parse string as an integer"): said as what is allowed instead
const WRONG_TYPE = new Set(["int_type", "int_parsing", "int_from_float", "float_type", "float_parsing",
  "finite_number", "literal_error", "enum", "string_type", "bool_type", "bool_parsing", "whole_number"]);
// and those that say it is out of range: said as the comparison its ctx holds ("must be >= 1"), then what is
// allowed in words
const OUT_OF_RANGE = { greater_than: [">", "gt"], greater_than_equal: [">=", "ge"], less_than: ["<", "lt"],
  less_than_equal: ["<=", "le"] };

// rnncore's cross-field rules, from their ctx: {minimum: 1, maximum: 100, maximum_from: "seq_len", seq_len: 100,
// nullable: true} -> "must be a whole number from 1 to seq len (100), or empty for full BPTT"; {allowed:
// ["every"], allowed_from: "task", task: "copy"} -> "the copy task allows only every"; null for other items.
function crossFieldMessage(ctx, spec) {
  const other = ctx.maximum_from ?? ctx.allowed_from;
  if (typeof other !== "string") return null;
  const value = ctx[other];
  if (ctx.maximum_from && isNumber(ctx.maximum)) {
    const what = (ctx.integer ?? spec.kind === "int") ? "a whole number" : "a number";
    const low = isNumber(ctx.minimum) ? `from ${bound(ctx.minimum)} ` : "";
    return `must be ${what} ${low}to ${fieldLabel(other)} (${bound(isNumber(value) ? value : ctx.maximum)})`
      + `${ctx.nullable ? `, or ${emptyWords(spec.name)}` : ""}`;
  }
  if (ctx.allowed_from && Array.isArray(ctx.allowed) && value !== undefined) {
    const allowed = orList(ctx.allowed.map(String));
    return other === "task" ? `the ${fieldLabel(value)} task allows only ${allowed}`
      : `with ${fieldLabel(other)} ${value}, must be ${allowed}`;
  }
  return null;
}

// One 422 detail item about lane setting `spec` -> the sentence under its field, e.g. "must be >= 1 (a whole
// number from 1 to 2000, or empty for full BPTT)", "must be a whole number from 2 to 2000". `own`: the item's
// sentence, shown as it is when neither its type nor its ctx says more.
export function plainFieldMessage(item, spec, own) {
  const ctx = ctxOf(item);
  if (WRONG_TYPE.has(item.type)) return `must be ${allowedWords(spec)}`;
  if (Object.hasOwn(OUT_OF_RANGE, item.type)) {
    const [op, key] = OUT_OF_RANGE[item.type];
    return isNumber(ctx[key]) ? `must be ${op} ${bound(ctx[key])} (${allowedWords(spec)})` : `must be ${allowedWords(spec)}`;
  }
  return crossFieldMessage(ctx, spec) ?? own;
}

// One 422 detail item about a query parameter (the cliff panel's) -> its sentence without the location, as
// the lane fields' are worded: a value of the wrong type as what its ctx allows ("must be a whole number from 1
// to 500"), one out of range as its comparison and then that ("must be > 0 (a number above 0, up to 100)", not
// the API's "must be > 0.0 (allowed: number in (0.0, 100.0])"); other sentences (w_max > w_min) as they are.
export function plainQueryMessage(item, own) {
  const ctx = ctxOf(item);
  const words = allowedInWords(ctx);
  if (words && WRONG_TYPE.has(item.type)) return `must be ${words}`;
  if (words && Object.hasOwn(OUT_OF_RANGE, item.type) && isNumber(ctx[OUT_OF_RANGE[item.type][1]])) {
    const [op, key] = OUT_OF_RANGE[item.type];
    return `must be ${op} ${bound(ctx[key])} (${words})`;
  }
  return own;
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
    this.table = null; // the table render() shows now
    this.openHelp = new Set(); // names of the settings whose help is shown (kept across re-renders)
    // lanes wider than the panel scroll sideways: which edges have more columns beyond them, for the CSS
    // to show (a fade and an arrow); again on every scroll, resize and render
    this.showOverflow = () => {
      const { scrollLeft, scrollWidth, clientWidth } = this.root;
      this.root.toggleAttribute("data-more-left", scrollLeft > 1);
      this.root.toggleAttribute("data-more-right", scrollLeft + clientWidth < scrollWidth - 1);
    };
    root.addEventListener("scroll", this.showOverflow, { passive: true });
    // Escape closes a setting's open help: the one around the focus (its "?" or an input of its row), else
    // every open one (e.g. after a tap, which leaves the focus on the page)
    document.addEventListener("keydown", (event) => {
      if (event.key !== "Escape" || !this.openHelp.size || event.defaultPrevented) return;
      const row = document.activeElement?.closest?.("#lane-table tr[data-row], #lane-table tr[data-help-row]");
      const name = row && (row.dataset.row || row.dataset.helpRow);
      const names = name && this.openHelp.has(name) ? [name] : [...this.openHelp];
      for (const each of names) this.toggleHelp(each, false);
      event.preventDefault();
    });
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
      if (node.dataset.help) node.disabled = false; // a setting's help stays readable during a run
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
      for (const spec of specs) body.append(...this.renderRow(spec));
      table.append(body);
    }
    this.table = table;
    this.root.replaceChildren(table);

    // A replaced table's events are not about the lanes shown: a field still focused when new lanes replace its
    // table (Back to another history entry) sends its `change` as it goes, which wrote the edit into them.
    table.addEventListener("change", (event) => {
      if (table === this.table) this.onInput(event, true);
    });
    table.addEventListener("input", (event) => {
      if (table === this.table && event.target.tagName === "INPUT") this.onInput(event, false);
    });
    table.addEventListener("click", (event) => {
      const button = event.target.closest("[data-remove]");
      if (button) this.removeLane(Number(button.dataset.remove));
      const help = event.target.closest("[data-help]");
      if (help) this.toggleHelp(help.dataset.help);
    });
    this.refresh();
    this.showOverflow();
  }

  // A setting's row (its name, a "?" button, one control per lane) and, under it, its help: the meaning and
  // allowed range from the API's schema, shown inline when the "?" is pressed (tap, click, Enter or Space;
  // Escape or a second press hides it) and always the controls' accessible description.
  renderRow(spec) {
    const label = fieldLabel(spec.name);
    const allowed = `Allowed: ${rangeText(spec)}. Default: ${spec.default ?? NULL_LABELS[spec.name] ?? "none"}.`;
    const when = appliesText(spec);
    const effect = when ? `Has an effect only when ${when}.` : "";
    const help = [spec.description, allowed, effect].filter(Boolean).join("\n");
    const helpId = `help-${spec.name}`;
    const open = this.openHelp.has(spec.name);
    const row = el("tr", { class: "field-row", dataset: { row: spec.name } });
    const toggle = el("button", {
      type: "button", class: "help-toggle", id: `${helpId}-toggle`, "aria-label": `About ${label}`,
      "aria-expanded": open ? "true" : "false", "aria-controls": helpId, dataset: { help: spec.name },
    }, el("span", { class: "help-mark", "aria-hidden": "true", text: "?" }));
    row.append(el("th", { scope: "row", class: "field-label", title: help, "aria-label": label },
      el("span", { class: "field-name", text: label }), toggle));
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
      input.setAttribute("aria-label", `Lane ${LANE_NAMES[lane]} ${label}`); // as the row reads: "Lane A hidden size"
      input.setAttribute("aria-describedby", helpId);
      const cell = el("td", { class: "field-cell", dataset: { lane: String(lane), field: spec.name } }, input,
        el("div", { class: "field-error", role: "alert", id: `${id}-error` }));
      row.append(cell);
    });
    const text = el("div", { class: "setting-help", id: helpId },
      el("p", { class: "setting-help-text", text: spec.description }),
      el("p", { class: "setting-help-range", text: allowed }),
      effect ? el("p", { class: "setting-help-when", text: effect }) : null);
    const helpRow = el("tr", { class: "help-row", dataset: { helpRow: spec.name }, hidden: !open },
      el("td", { colspan: String(this.lanes.length + 1) }, text));
    return [row, helpRow];
  }

  // Show (open = true), hide (false) or flip a setting's inline help.
  toggleHelp(name, open) {
    const table = this.root.querySelector("table");
    const row = table && table.querySelector(`tr[data-help-row="${name}"]`);
    if (!row) return;
    const show = open ?? row.hidden;
    row.hidden = !show;
    if (show) this.openHelp.add(name);
    else this.openHelp.delete(name);
    const toggle = table.querySelector(`button[data-help="${name}"]`);
    toggle.setAttribute("aria-expanded", show ? "true" : "false");
    // focus inside the help as it hides goes back to its "?"
    if (!show && row.contains(document.activeElement)) toggle.focus();
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
        cell.title = `No effect here: applies when ${appliesText(spec)}`;
      } else {
        cell.removeAttribute("title");
      }
      cell.classList.toggle("differs", lane > 0 && JSON.stringify(value) !== JSON.stringify(this.lanes[0][spec.name]));
      const message = this.errors.get(`${lane}:${spec.name}`) || "";
      cell.classList.toggle("invalid", Boolean(message));
      input.setAttribute("aria-invalid", message ? "true" : "false");
      // the error (when there is one) first, then the setting's meaning and range
      input.setAttribute("aria-describedby", [message ? `${input.id}-error` : "", `help-${spec.name}`].filter(Boolean).join(" "));
      cell.querySelector(".field-error").textContent = message;
    }
  }
}
