// The dashboard: wires the settings (lane editor, presets, URL state), the run lifecycle (POST a run,
// follow its event stream, stop it) and the charts. Nothing here is drawn from made-up data: before a
// run, the charts show the server's instant profile of the current settings (POST /api/profile).

import { api, ApiError } from "./api.js";
import { Charts, newLane } from "./charts.js";
import { el, fieldLabel, LANE_COLORS, LANE_NAMES, LaneEditor, orList, plainFieldMessage, setLaneNames, SHORTCUTS }
  from "./controls.js";
import { GradcheckPanel } from "./gradcheck.js";
import { openRunStream } from "./stream.js";
import { decodeState, encodeState } from "./urlstate.js";

const $ = (id) => document.getElementById(id);
const plural = (count, noun) => `${count} ${noun}${count === 1 ? "" : "s"}`; // "1 step", "500 steps"
const PREVIEW_DELAY_MS = 350;

const state = {
  options: null,
  presets: [],
  view: {}, // view settings in the link: chart 1's colour, the cliff panel's inputs (urlstate.js)
  presetId: null,
  runId: null,
  stream: null,
  streamRetry: null, // timer of the next try after the server refused the stream (429)
  runPanelSeen: null, // whether the run panel is in view (IntersectionObserver; null before its first report)
  streamRetries: 0, // tries in a row since the stream last opened
  streamLostSince: null, // when the stream was lost, if it has not opened since (ms, Date.now())
  running: false,
  stopTimer: null,
  stopFocused: null, // the Stop button that had the focus when it was pressed (stopRun disables it)
  runLanes: null, // JSON of the lane configs of the run the charts show
  entryVisits: 0, // Back/Forward count: an entry's run arriving after the next Back/Forward is not shown
  previewTimer: null,
  previewAbort: null,
  progressFrame: null,
  rateSamples: [],
};

let editor;
let charts;
let gradcheck;

// --- errors ---------------------------------------------------------------------------------------
// loc -> the API's name of it, as its messages start ("lanes[0].seq_len: ...", "body: ..."; app/errors.py)
function where(loc) {
  let out = "";
  for (const part of loc) {
    if (part === "body" && !out) continue;
    out += typeof part === "number" ? `[${part}]` : out ? `.${part}` : String(part);
  }
  return out || "body";
}

// 1.68e10 -> "1.7e10", 1e9 -> "1e9", 420 -> "420": the caps' figures, short
function figure(value) {
  const number = Number(value);
  if (!Number.isFinite(number)) return String(value);
  if (Math.abs(number) < 1e4) return String(Number(number.toPrecision(2)));
  return number.toExponential(1).replace(".0e", "e").replace("e+", "e");
}

// The work or memory cap on one lane's config sent alone (POST /api/profile, loc ["body"]): said for that
// lane in the page's words, with the fields to reduce marked. The figures come from the item's ctx: work (or
// values), limit and the fields to reduce (app/validation.py).
function capError(item, lane) {
  const ctx = item.ctx && typeof item.ctx === "object" ? item.ctx : {};
  const memory = item.type === "memory_limit";
  const total = memory ? ctx.values : ctx.work;
  const limit = ctx.limit;
  const fields = (Array.isArray(ctx.reduce) ? ctx.reduce : []).filter((name) => editor.byName[name]);
  const what = memory ? "too much memory" : "too much work for the instant preview";
  const figures = total !== undefined && limit !== undefined
    ? ` (${figure(total)} > ${figure(limit)}${memory ? " activations kept for backprop" : ""})` : "";
  const labels = fields.map(fieldLabel);
  const short = memory ? "too much memory" : "too much work for the preview";
  return {
    lane, field: null, kind: memory ? "memory" : "work",
    message: `${what}${figures}${labels.length ? `: reduce ${orList(labels)}` : ""}`,
    marks: fields.map((name, k) => ({ field: name,
      message: `${short}: reduce this${labels.length > 1 ? `, ${orList(labels.filter((_, j) => j !== k))}` : ""}` })),
  };
}

// The work or memory cap on a run's lanes together (POST /api/runs, loc ["body", "lanes"]), said from the item's
// ctx (work or values, limit, the fields to reduce) in the page's words, with how far over the cap the lanes are:
// "about 1400x too much work for one run; reduce seq len, hidden size, batch size, steps or the number of lanes".
function runCapMessage(item, laneCount) {
  const ctx = item.ctx && typeof item.ctx === "object" ? item.ctx : {};
  const memory = item.type === "memory_limit";
  const over = Number(memory ? ctx.values : ctx.work) / Number(ctx.limit);
  const amount = !Number.isFinite(over) || over <= 0 ? "" : over < 1.1 ? "a little " : `about ${figure(over)}x `;
  const fields = (Array.isArray(ctx.reduce) ? ctx.reduce : []).filter((name) => editor.byName[name]).map(fieldLabel);
  if (laneCount > 1) fields.push("the number of lanes");
  const reduce = fields.length ? `; reduce ${orList(fields)}` : "";
  return `${amount}too much ${memory ? "memory" : "work"} for one run${reduce}`;
}

// An ApiError -> [{lane, field, message}] (and, for a cap on one lane, `marks`: [{field, message}], the fields
// to reduce). 422 detail locs look like ["body", "lanes", 0, "seq_len"] (POST /api/runs) or ["body", "seq_len"]
// (POST /api/profile for lane `singleLane`). A lane setting's error is said in the page's words.
export function fieldErrors(err, singleLane = null) {
  const out = [];
  for (const item of Array.isArray(err.detail) ? err.detail : []) {
    const loc = Array.isArray(item.loc) ? item.loc : [];
    const rest = loc[0] === "body" ? loc.slice(1) : loc;
    let lane = null;
    let field = null;
    if (rest[0] === "lanes" && Number.isInteger(rest[1])) {
      lane = rest[1];
      field = typeof rest[2] === "string" ? rest[2] : null;
    } else if (singleLane !== null && typeof rest[0] === "string") {
      lane = singleLane;
      field = rest[0];
    } else if (singleLane !== null && !rest.length && (item.type === "work_limit" || item.type === "memory_limit")) {
      out.push(capError(item, singleLane));
      continue;
    } else if (singleLane !== null && !rest.length) {
      lane = singleLane; // about the lane's whole config: its lane, not "body"
    } else if (rest.length === 1 && rest[0] === "lanes" && ["work_limit", "memory_limit"].includes(item.type)) {
      out.push({ lane: null, field: null, kind: "run-cap", message: runCapMessage(item, editor.lanes.length) });
      continue;
    }
    if (field && !editor.byName[field]) field = null;
    // each item's own sentence ("lanes[0].seq_len: must be <= 2000 (allowed: ...)") without its location
    const text = typeof item.message === "string" ? item.message : "";
    const prefix = `${where(loc)}: `;
    const own = (text.startsWith(prefix) ? text.slice(prefix.length) : text) || item.msg || err.message;
    out.push({ lane, field, message: field ? plainFieldMessage(item, editor.byName[field], own) : own });
  }
  if (!out.length) out.push({ lane: singleLane, field: null, message: err.message });
  return out;
}

// What the lane editor marks: each error on its field, a cap's on each field it names.
function fieldMarks(errors) {
  return errors.flatMap((e) => (e.marks ? e.marks.map((mark) => ({ lane: e.lane, ...mark })) : [e]));
}

function describe(error) {
  if (error.lane === null) return error.message;
  return `Lane ${LANE_NAMES[error.lane]}${error.field ? ` · ${error.field}` : ""}: ${error.message}`;
}

// The charts' note when no lane could be previewed: what is wrong with which lane, and where it is marked.
function previewNote(errors) {
  const byLane = new Map();
  for (const e of errors) if (!byLane.has(e.lane)) byLane.set(e.lane, e);
  const parts = [...byLane.values()].map((e) => {
    const lane = e.lane === null ? "" : `lane ${LANE_NAMES[e.lane]} `;
    if (e.kind === "work") return `${lane}is too much work for the instant preview`;
    if (e.kind === "memory") return `${lane}needs too much memory`;
    if (e.field) return `${lane}has an invalid setting (${fieldLabel(e.field)})`;
    return `${lane}${lane ? "could not be previewed: " : ""}${e.message}`.trim();
  });
  const marked = errors.some((e) => e.field || (e.marks && e.marks.length));
  const fix = errors.some((e) => e.field) ? "Fix" : "Reduce"; // a wrong value, or sizes over a cap
  // two sentences, two lines (the charts wrap each to their width)
  return `No preview: ${parts.join("; ")}.${marked ? `<br>${fix} the settings marked in red on the left.` : ""}`;
}

// ``source`` names who wrote the box ("preview" for the instant preview's 422s), so that a preview
// arriving late clears only its own message, never a gradcheck's or a run's that came after it.
function showRunError(text, source = "action") {
  const box = $("run-error");
  box.replaceChildren();
  box.dataset.source = source;
  if (!text) return;
  const lines = Array.isArray(text) ? text : [text];
  for (const line of lines) box.append(el("div", { text: line }));
}

function showApiError(err) {
  if (!(err instanceof ApiError)) {
    showRunError(String(err && err.message ? err.message : err));
    return;
  }
  if (err.status === 422) {
    const errors = fieldErrors(err);
    editor.showErrors(fieldMarks(errors));
    showRunError(errors.map(describe));
  } else if (err.code === "too_many_runs" && err.ctx) { // the API's words tell a program to DELETE a run
    showRunError(`The server is busy: it trains ${plural(err.ctx.limit, "run")} at once, and ${err.ctx.running} ` +
      `${err.ctx.running === 1 ? "is" : "are"} training now (other users' or other tabs'). Press Run again when one ` +
      `finishes${err.retryAfter ? `, e.g. in ${err.retryAfter} s` : ""}.`);
  } else if (err.status === 429) {
    const wait = err.retryAfter ? ` Try again in ${err.retryAfter} s.` : " Try again when a run finishes.";
    showRunError(`The server is busy: ${err.message}.${wait}`.replace("..", "."));
  } else {
    showRunError(err.message);
  }
}

// A failed POST of one lane's config (/api/gradcheck): 422s are marked on that lane's field, as the
// preview does; a 429 or anything else goes to the error box, as for a run.
function showLaneApiError(err, lane) {
  if (err instanceof ApiError && err.status === 422) {
    const errors = fieldErrors(err, lane);
    editor.showErrors(fieldMarks(errors));
    showRunError(errors.map(describe));
  } else {
    showApiError(err);
  }
}

// --- URL state and presets ------------------------------------------------------------------------
function presetById(id) {
  return state.presets.find((p) => p.id === id) || null;
}

// The address bar follows the settings. Edits replace the entry; a preset picked in the selector is a new
// entry (`push`), so that Back returns to the preset before it (restoreFromUrl) instead of leaving the page.
function syncUrl({ push = false } = {}) {
  const query = encodeState({ preset: state.presetId, lanes: editor.getLanes(), view: state.view }, state.options.fields);
  const url = `${location.pathname}?${query}`;
  // An edit keeps the entry's run (saveRun); a new entry holds the run the charts show, or `run: null` when they
  // show none (a preset picked after a run: neither Back/Forward to it nor a reload brings the tab's last run).
  if (push && url !== `${location.pathname}${location.search}`) {
    const run = state.runId ? { id: state.runId, lanes: JSON.parse(state.runLanes) } : null;
    history.pushState({ ...(history.state || {}), run }, "", url);
  } else {
    history.replaceState(history.state, "", url);
  }
}

// Whether a query string sets the number of lanes (`lanes=`, a count decodeState takes: 1 to the lane names).
function countsLanes(search) {
  const count = Number(new URLSearchParams(search).get("lanes"));
  return Number.isInteger(count) && count >= 1 && count <= LANE_NAMES.length;
}

// The preset and lanes a link names: the preset's lanes first, then every lane setting the link carries. Without
// `lanes=` a preset keeps all its lanes: "?preset=relu-clipping&A.clip=per_timestep" changes lane A of two.
function settingsFromUrl(fromUrl, search) {
  const preset = presetById(fromUrl.preset) || (fromUrl.lanes ? null : state.presets.find((p) => p.default) || state.presets[0]);
  const base = preset ? preset.lanes : [{}, {}];
  const partials = [...(fromUrl.lanes || base)];
  if (preset && !countsLanes(search)) while (partials.length < base.length) partials.push({});
  return { presetId: preset ? preset.id : null,
    lanes: partials.map((p, i) => ({ ...(base[i] || base[base.length - 1] || {}), ...p })) };
}

// Back/Forward between this page's own entries (a preset change): the entry's preset and lanes again, and when
// no run trains, the entry's own run (its charts drawn again from the server) or, if it has none, its preview. A
// run training stays on the charts (the note says the settings shown are another entry's). The view settings
// (chart 1's colour, the cliff panel) stay as they are shown.
function restoreFromUrl() {
  const { presetId, lanes } = settingsFromUrl(decodeState(location.search, state.options.fields), location.search);
  state.presetId = presetId;
  editor.setLanes(lanes);
  showRunError("");
  const visit = ++state.entryVisits;
  const entryRun = validRun(history.state && history.state.run);
  if (!state.running && state.runId !== null && entryRun?.id !== state.runId) clearRunView();
  afterSettingsChange();
  if (!state.running && entryRun && entryRun.id !== state.runId) {
    // unless Back/Forward goes on meanwhile, or a preset is picked (a new entry, without this run)
    reattach(entryRun, () => visit === state.entryVisits && validRun(history.state?.run)?.id === entryRun.id);
  }
}

function showPreset() {
  const preset = presetById(state.presetId);
  $("preset").value = preset ? preset.id : "";
  const box = $("preset-explanation");
  if (!preset) {
    box.textContent = "Custom settings. Pick a preset for a guided comparison.";
    return;
  }
  const current = editor.getLanes();
  const modified = preset.lanes.length !== current.length
    || preset.lanes.some((p, i) => JSON.stringify(editor.full(p)) !== JSON.stringify(current[i]));
  box.replaceChildren(document.createTextNode(preset.explanation));
  if (modified) box.append(el("span", { class: "tag", text: "modified" }));
}

// A preset picked after a run starts afresh: its explanation speaks of its picture at initialisation, which the
// charts show, as on a new page (its history entry holds no run; Back shows the run again). "Custom settings"
// keeps the lanes, and the run they show.
function applyPreset(id) {
  const preset = presetById(id);
  state.presetId = preset ? preset.id : null;
  if (preset) editor.setLanes(preset.lanes);
  if (preset && !state.running) clearRunView();
  afterSettingsChange({ push: true });
}

function afterSettingsChange({ push = false } = {}) {
  $("sidebar").dataset.lanes = String(editor.lanes.length);
  syncUrl({ push });
  showPreset();
  renderShortcutTargets();
  $("add-lane").disabled = state.running || editor.lanes.length >= editor.maxLanes;
  if (gradcheck) gradcheck.settingsChanged(editor.getLanes());
  showRunOutdated();
  schedulePreview();
}

// After a run the charts keep showing it while the settings change (a preview would replace it at the first
// keystroke): say so, until Run, or until the settings are back to the run's. While a run trains, settings
// that differ are another history entry's (Back/Forward between presets: the editor is locked, the entry's
// settings are shown).
function showRunOutdated() {
  const note = $("run-outdated");
  note.hidden = state.runLanes === null || JSON.stringify(editor.getLanes()) === state.runLanes;
  note.textContent = state.running
    ? "The charts show the run still training; the settings shown are another history entry's (Back/Forward). " +
      "Stop the run, then press Run to train them."
    : "The charts show the last run; the settings have changed since. Press Run to train the new ones.";
}

// --- shortcuts ------------------------------------------------------------------------------------
function renderShortcutTargets() {
  const select = $("shortcut-target");
  const previous = select.value;
  const count = Math.min(editor.lanes.length + 1, editor.maxLanes);
  select.replaceChildren();
  for (let i = 1; i < count; i += 1) select.append(el("option", { value: String(i), text: LANE_NAMES[i] }));
  if (count <= 1) select.append(el("option", { value: "1", text: "B" }));
  select.value = [...select.options].some((o) => o.value === previous) ? previous : "1";
}

function buildShortcuts() {
  const box = $("shortcut-buttons");
  for (const [id, text] of SHORTCUTS) {
    box.append(el("button", { type: "button", class: "chip", dataset: { shortcut: id }, text,
      title: `Copy lane A into the chosen lane, then change it: ${text}` }));
  }
  box.addEventListener("click", (event) => {
    const button = event.target.closest("[data-shortcut]");
    if (!button || state.running) return;
    editor.applyShortcut(button.dataset.shortcut, Number($("shortcut-target").value));
  });
}

// --- instant preview: one forward/backward per lane at initialisation -----------------------------
function schedulePreview() {
  clearTimeout(state.previewTimer);
  if (state.running) return;
  state.previewTimer = setTimeout(runPreview, PREVIEW_DELAY_MS);
}

async function runPreview() {
  if (state.running) return;
  if (state.previewAbort) state.previewAbort.abort();
  const abort = new AbortController();
  state.previewAbort = abort;
  const lanes = editor.getLanes();
  // the legends' lane labels come from the API, like the run's (one definition, app/labels.py)
  // and say before Run when the lanes together are more work than one run may be (run_limit)
  const named = api.post("/api/labels", { lanes }, { signal: abort.signal }).then((body) => body, () => null);
  const results = await Promise.allSettled(lanes.map((config) => api.post("/api/profile", config, { signal: abort.signal })));
  const answer = await named;
  if (abort.signal.aborted || state.running) return;
  const labels = answer?.labels || await labelsOfPreviewed(lanes, results, abort.signal);
  if (abort.signal.aborted || state.running) return;
  if (state.runLanes === null) showShared(answer?.shared, lanes.length); // once a run is shown, the line is the run's
  const errors = [];
  const preview = [];
  results.forEach((result, i) => {
    if (result.status === "fulfilled") {
      // {config, task_info, record}: the record has the shape of a `step` event's data
      const body = result.value || {};
      const record = body.record || body;
      preview.push({ label: labels[i], config: body.config || lanes[i], arrays: record.arrays || null, taskInfo: body.task_info || null,
        weights: { sigmaMax: record.sigma_max, rho: record.spectral_radius, gamma: record.gamma } });
      return;
    }
    if (result.reason instanceof ApiError && result.reason.status === 422) {
      errors.push(...fieldErrors(result.reason, i));
    } else if (result.reason && result.reason.name !== "AbortError") {
      errors.push({ lane: i, field: null, message: result.reason.message });
    }
    // a lane without a preview keeps its place (its name and colour), with nothing to draw
    preview.push({ label: answer?.labels ? `${labels[i]} (no preview)` : labels[i], config: chartConfig(lanes[i]), arrays: null, taskInfo: null,
      weights: null, refused: true });
  });
  editor.showErrors(fieldMarks(errors));
  const messages = errors.map(describe);
  // the cap Run would be refused for, worded from its ctx as Run's 422 is (the API's sentence if it has none)
  const cap = answer?.run_limit_error;
  if (answer?.run_limit) messages.push(`Run would be refused: ${cap ? runCapMessage(cap, lanes.length) : answer.run_limit}`);
  if (messages.length || $("run-error").dataset.source === "preview") showRunError(messages, "preview");
  if (preview.some((p) => !p.refused)) { // the lanes previewed, also when others were refused
    charts.setPreviewNote(null);
    charts.setPreview(preview);
  } else if (errors.length) {
    charts.setPreviewNote(previewNote(errors));
  }
}

// One refused lane makes POST /api/labels refuse the whole set: the lanes that previewed are then labelled among
// themselves (the legends printed "A · lane A"), a refused one "no preview".
async function labelsOfPreviewed(lanes, results, signal) {
  const previewed = lanes.map((_, i) => i).filter((i) => results[i].status === "fulfilled");
  const answer = previewed.length
    ? await api.post("/api/labels", { lanes: previewed.map((i) => lanes[i]) }, { signal }).catch(() => null) : null;
  const labels = lanes.map((_, i) => (previewed.includes(i) ? `lane ${LANE_NAMES[i]}` : "no preview"));
  // a subset's "lane B (...)" (lanes alike) names its own letters: each lane's is put back
  previewed.forEach((i, k) => {
    if (answer?.labels?.[k]) labels[i] = answer.labels[k].replace(/^lane [A-Z]\b/, `lane ${LANE_NAMES[i]}`);
  });
  return labels;
}

// A refused lane's settings as the charts may lay it out (its panel in chart 1, the lanes' step axis): each
// value the lane editor could not make a setting of (text kept as typed, a number out of range) at its default.
function chartConfig(config) {
  const out = { ...config };
  for (const spec of state.options.fields) {
    const value = out[spec.name];
    if (value === null && spec.nullable) continue;
    const ok = spec.kind === "choice" ? spec.choices.includes(value)
      : typeof value === "number" && value >= spec.minimum && value <= spec.maximum;
    if (!ok) out[spec.name] = spec.default ?? null;
  }
  return out;
}

// --- the run --------------------------------------------------------------------------------------
function setRunning(running) {
  // the focus before Run or Stop is disabled under it (Stop already is when stopRun pressed it: its record)
  const lost = !document.activeElement || document.activeElement === document.body;
  const stop = focusedStop() || (lost ? state.stopFocused : null);
  const fromRun = running && document.activeElement === $("run");
  state.running = running;
  showRunDock();
  $("run").disabled = running;
  $("stop").disabled = !running;
  $("run-dock-stop").disabled = !running;
  $("preset").disabled = running;
  $("add-lane").disabled = running || editor.lanes.length >= editor.maxLanes;
  $("shortcut-target").disabled = running;
  $("shortcut-buttons").querySelectorAll("button").forEach((b) => { b.disabled = running; });
  editor.setDisabled(running);
  document.body.classList.toggle("is-running", running);
  showRunOutdated();
  // Run pressed from the keyboard disabled the button under the focus, which fell to the page's body: it goes
  // to Stop, and back to Run when the run ends. Without scrolling: Run and Stop sit side by side, and the page
  // may be scrolling to the charts (a phone) or be there (the dock's Stop).
  if (fromRun) ($("run-dock").hidden ? $("stop") : $("run-dock-stop")).focus({ preventScroll: true });
  else if (!running && stop) $("run").focus({ preventScroll: true });
  state.stopFocused = null;
}

// The Stop button (the run panel's or the dock's) that has the focus, or null.
function focusedStop() {
  return [$("stop"), $("run-dock-stop")].find((button) => button === document.activeElement) || null;
}

function setExportLinks(id) {
  setExportStatus("");
  for (const format of ["csv", "json"]) {
    const link = $(`export-${format}`);
    if (id) {
      link.href = `/api/runs/${encodeURIComponent(id)}/export?format=${format}`;
      link.setAttribute("download", ""); // under the server's name (its Content-Disposition), as curl -OJ saves it
      link.classList.remove("disabled");
      link.removeAttribute("aria-disabled");
    } else {
      link.removeAttribute("href");
      link.classList.add("disabled");
      link.setAttribute("aria-disabled", "true");
    }
  }
}

// The run panel's progress and Stop, docked at the bottom of the window while a run trains and the panel is
// scrolled out of view: on a phone the charts are two screens below it, and a run scrolls there (on a desktop,
// where the sidebar scrolls apart, when the panel is scrolled out of the sidebar).
function watchRunPanel() {
  new IntersectionObserver((entries) => {
    state.runPanelSeen = entries.at(-1).isIntersecting;
    showRunDock();
  }).observe($("run-panel"));
  $("run-dock-stop").addEventListener("click", stopRun);
}

function showRunDock() {
  const dock = $("run-dock");
  dock.hidden = !state.running || state.runPanelSeen !== false;
  document.body.classList.toggle("has-run-dock", !dock.hidden); // the page's end scrolls out from under it
  // the focus on Stop follows the Stop in view (a run scrolls a phone's page to the charts, away from the panel)
  const focused = focusedStop();
  const shown = dock.hidden ? $("stop") : $("run-dock-stop");
  if (state.running && focused && focused !== shown) shown.focus({ preventScroll: true });
}

// In the one-column layout of narrow windows (the CSS makes the sidebar static there) the charts are
// below all the settings: a run scrolls to the first one, so the user sees it start.
function showChartsIfStacked() {
  if (getComputedStyle($("sidebar")).position !== "static") return;
  $("card-flow").scrollIntoView({ behavior: "smooth", block: "start" });
}

async function startRun() {
  if (state.running) return;
  clearTimeout(state.previewTimer);
  if (state.previewAbort) state.previewAbort.abort();
  editor.clearErrors();
  showRunError("");
  const lanes = editor.getLanes();
  setRunning(true);
  let created;
  try {
    created = await api.post("/api/runs", { lanes });
  } catch (err) {
    setRunning(false);
    showApiError(err);
    if (err instanceof ApiError && err.status === 422) schedulePreview(); // the preview then says why it is missing
    return;
  }
  saveRun(created.id, lanes);
  showShared(created.shared, lanes.length); // now, not at the run event: a line appearing then moved the charts scrolled to below
  attachRun(created.id, lanes, created.labels, created.events_url);
  requestAnimationFrame(showChartsIfStacked); // after the lanes' status lines have grown the settings
}

// This tab's last run, so that reloading the page, or coming back to it with Back/Forward, shows it again
// and, if it is still running, follows it on (sessionStorage: per tab, gone with the tab). Without it a
// reload lost the charts, and the run, with nobody listening, paused and was cancelled after the server's
// grace period. The history entry keeps its own run too (history.state): coming back to an earlier page
// of the tab shows the run that page showed, not a later page's.
const SAVED_RUN = "rnnlab.run";

const validRun = (saved) => (saved && typeof saved.id === "string" && Array.isArray(saved.lanes) ? saved : null);

function saveRun(id, lanes) {
  try {
    sessionStorage.setItem(SAVED_RUN, JSON.stringify({ id, lanes }));
  } catch { /* storage disabled: a reload starts afresh, as before */ }
  try {
    history.replaceState({ ...(history.state || {}), run: { id, lanes } }, "", location.href);
  } catch { /* a state the browser refuses: the tab's run above still comes back */ }
}

function savedRun() {
  const entry = validRun(history.state && history.state.run);
  if (entry) return entry;
  if (history.state && history.state.run === null) return null; // an entry without a run (syncUrl)
  try {
    return validRun(JSON.parse(sessionStorage.getItem(SAVED_RUN)));
  } catch {
    return null;
  }
}

// On a reload, or Back/Forward to the page (a link opened in this tab starts afresh): the saved run's
// charts, drawn from its event stream, which the server replays from the first event; a finished run ends
// at once as it ended.
async function reattachAfterReload() {
  const navigation = performance.getEntriesByType("navigation")[0];
  const returning = navigation && (navigation.type === "reload" || navigation.type === "back_forward");
  const saved = returning ? savedRun() : null;
  if (saved) await reattach(saved);
}

// A saved run's charts again, from its event stream (replayed from the first event), if the server still has it
// and the page still wants it (`wanted()`) when it answers.
async function reattach(saved, wanted = () => true) {
  let summary;
  try {
    summary = await api.get(`/api/runs/${encodeURIComponent(saved.id)}?history=false`);
  } catch (err) {
    if (err instanceof ApiError && err.status === 404) forgetRun(saved.id); // evicted
    return;
  }
  if (!wanted() || state.running) return;
  clearTimeout(state.previewTimer); // the run's charts, not the settings' preview
  if (state.previewAbort) state.previewAbort.abort();
  setRunning(true);
  showShared(summary.shared, saved.lanes.length);
  attachRun(saved.id, saved.lanes, summary.labels, `/api/runs/${encodeURIComponent(saved.id)}/events`,
    summary.steps_done);
}

function forgetRun(id) {
  try {
    if (validRun(JSON.parse(sessionStorage.getItem(SAVED_RUN)))?.id === id) sessionStorage.removeItem(SAVED_RUN);
  } catch { /* storage disabled */ }
  if (history.state && history.state.run && history.state.run.id === id) {
    const { run, ...rest } = history.state;
    history.replaceState(Object.keys(rest).length ? rest : null, "", location.href);
  }
}

// The charts back to the preview of the settings, as before any run: no run's lanes, progress or downloads.
function clearRunView() {
  if (state.runId === null) return;
  state.runId = null;
  state.runLanes = null;
  delete document.body.dataset.runId;
  delete document.body.dataset.runStatus;
  setExportLinks(null);
  charts.reset([], null);
  charts.settle(); // idle: every chart follows the settings again
  renderProgress();
  showRunOutdated();
}

// A page restored from the back/forward cache (pageshow with `persisted`) resumes where it was frozen: its
// event stream may have died meanwhile (the browser closes it, or the server ended it), so a run still
// followed is followed on from the last event seen; the server then sends what happened in between
// (lane_done/done "cancelled" if nobody listened for the grace period).
function resumeAfterBackForwardCache(event) {
  if (!event.persisted || !state.running || !state.stream) return;
  state.rateSamples = []; // the frozen time is no training rate
  clearTimeout(state.streamRetry); // a retry timer frozen with the page: this resume replaces it
  state.stream.resume();
}

// Charts and progress for a run, fed by its event stream (a new run, or this tab's run after a reload,
// `stepsDone` per lane so far: the replayed steps are no progress, or the rate and ETA would read the
// replay's burst for the 5 s of their window).
function attachRun(id, lanes, labels, eventsUrl, stepsDone = []) {
  state.runId = id;
  state.runLanes = JSON.stringify(lanes);
  showRunOutdated(); // setRunning(true) asked before: against the run before this one
  state.streamRetries = 0;
  state.streamLostSince = null;
  document.body.dataset.runId = id;
  delete document.body.dataset.runStatus;
  setExportLinks(id);
  charts.reset(lanes.map((config, i) => newLane(i, config, labels[i])), id);
  state.rateSamples = [{ time: performance.now(), done: stepsDone.reduce((sum, n) => sum + n, 0),
    furthest: Math.max(0, ...stepsDone) }];
  renderProgress();
  state.stream = openRunStream(eventsUrl, {
    run: onRunEvent,
    step: onStepEvent,
    lane_done: onLaneDone,
    done: onDone,
    reconnecting: () => setStreamStatus("Connection lost, reconnecting…"),
    open: () => { state.streamRetries = 0; state.streamLostSince = null; setStreamStatus(""); },
    lost: onStreamLost,
  });
}

// What every lane has, which the lane labels (naming differences only) leave out: norm clipping, on by
// default, was in no label, so a teacher's "weights > 1 explode" lane trained clipped without a word.
function showShared(text, laneCount) {
  const line = $("lanes-shared");
  const unbroken = (text || "").split(", ").map((part) => part.replaceAll(" ", "\u00a0")).join(", "); // "lr 0.001" whole
  const title = laneCount === 1 ? "Settings: " : "Every lane: "; // one lane: its label is a part of these
  line.replaceChildren(el("b", { text: title }), document.createTextNode(unbroken));
  line.hidden = !text;
}

function onRunEvent(data) { // (its `shared` line is shown already: startRun, reattachAfterReload)
  (data.lanes || []).forEach((config, i) => {
    const lane = charts.lanes[i];
    if (!lane) return;
    lane.config = config;
    lane.totalSteps = config.steps;
    if (data.labels && data.labels[i]) lane.label = data.labels[i];
    if (data.task_info && data.task_info[i]) lane.taskInfo = data.task_info[i];
    if (data.record_every && data.record_every[i]) lane.recordEvery = data.record_every[i];
    lane.status = "running";
  });
  charts.markAll();
  scheduleProgress();
}

function onStepEvent(data) {
  charts.addStep(data);
  scheduleProgress();
}

function onLaneDone(data) {
  charts.laneDone(data);
  scheduleProgress();
}

// Under the progress bar: the event stream's trouble while a run is followed ("" hides it).
// A status line that shows only while it has something to say.
function setLine(id, text) {
  const line = $(id);
  line.textContent = text;
  line.hidden = !text;
}

const setStreamStatus = (text) => setLine("stream-status", text);

function finishRun(status) {
  clearTimeout(state.stopTimer);
  clearTimeout(state.streamRetry);
  setStreamStatus("");
  if (state.stream) state.stream.close();
  state.stream = null;
  for (const lane of charts.lanes) {
    if (lane.status === "running" || lane.status === "waiting") lane.status = status === "cancelled" ? "cancelled" : lane.status;
  }
  setRunning(false);
  renderProgress();
  // the run's status is published once the charts show the final data (tests wait on it), if they still show it
  const runId = state.runId;
  charts.settle().then(() => { if (state.runId === runId) document.body.dataset.runStatus = status; });
}

function onDone(data) {
  (data.lanes || []).forEach((status, i) => {
    const lane = charts.lanes[i];
    if (lane && (lane.status === "running" || lane.status === "waiting")) lane.status = status;
  });
  finishRun(data.status);
}

// How the server answers the run's event stream now, for a stream the browser gave up on (EventSource hides
// the status): {status, retryAfter}, status 0 when it cannot be reached. A probe let in (200) is closed as soon
// as its headers arrive.
async function streamAnswer(url) {
  const abort = new AbortController();
  try {
    const response = await fetch(url, { headers: { Accept: "text/event-stream" }, signal: abort.signal });
    return { status: response.status, retryAfter: Number(response.headers.get("Retry-After")) };
  } catch {
    return { status: 0, retryAfter: NaN };
  } finally {
    abort.abort();
  }
}

const STREAM_RETRIES_MAX = 150; // ~5 minutes of 2 s waits

const minutesSince = (time) => plural(Math.max(1, Math.round((Date.now() - time) / 60000)), "minute");

// --- exports ----------------------------------------------------------------------------------------------
// A download shares the server's stream slots (RNNLAB_MAX_STREAMS) with event streams. A link followed while
// they were all taken got a 429 the browser showed only as a failed download, and a removed run's link a 404
// nobody read. So the page fetches the export itself, in one request (a probe before the link raced with its own
// slot), and saves the answer under the server's file name; a 429 is waited out (Retry-After), anything else is
// said. The file is held as a Blob until saved (Chromium keeps large ones on disk).
const EXPORT_RETRIES_MAX = 30;

const setExportStatus = (text) => setLine("export-status", text);

// `filename="..."` of a Content-Disposition header (the server's names are plain ASCII), or null.
function attachmentName(header) {
  const match = /filename="([^"]+)"/.exec(header || "");
  return match ? match[1] : null;
}

async function onExportClick(event) {
  event.preventDefault();
  const link = event.currentTarget;
  if (link.classList.contains("disabled") || link.dataset.busy) return; // a second click while it waits or loads
  link.dataset.busy = "true";
  try {
    await downloadExport(link);
  } finally {
    delete link.dataset.busy;
  }
}

async function downloadExport(link) {
  const href = link.href;
  const format = link.textContent.trim();
  const stale = () => link.href !== href; // a new run's link meanwhile
  for (let tries = 1; ; tries += 1) {
    let response;
    try {
      response = await fetch(href);
    } catch {
      setExportStatus(`The server cannot be reached; the ${format} download did not start.`);
      return;
    }
    if (stale()) {
      setExportStatus(`The ${format} download of the previous run was cancelled: a new run started.`);
      return;
    }
    if (response.ok) {
      const name = attachmentName(response.headers.get("Content-Disposition")) || `export.${format.toLowerCase()}`;
      const url = URL.createObjectURL(await response.blob());
      const save = el("a", { href: url, download: name, hidden: true });
      document.body.append(save);
      save.click();
      save.remove();
      setTimeout(() => URL.revokeObjectURL(url), 60_000);
      setExportStatus("");
      return;
    }
    if (response.status !== 429 || tries > EXPORT_RETRIES_MAX) {
      let message = "";
      try { message = (await response.json()).message || ""; } catch { /* not JSON: the status says it */ }
      setExportStatus(response.status === 429
        ? `The server stayed busy; the ${format} download did not start. Try it again later.`
        : `${format} download failed (HTTP ${response.status}): ${message || "no details"}`);
      return;
    }
    const seconds = Math.min(10, Math.max(1, Number(response.headers.get("Retry-After")) || 2));
    setExportStatus(`The server is sending as many downloads and event streams as it allows; the ${format} ` +
                    `download starts in ${seconds} s…`);
    await new Promise((resolve) => { setTimeout(resolve, seconds * 1000); });
  }
}

// The browser gave up on the stream. When the server refused it for the moment (429: as many event streams
// and downloads open as it allows), the run is followed on once Retry-After has passed, from the last event
// seen; otherwise (the run removed, the server gone) the run's charts stop here.
async function onStreamLost() {
  if (!state.running) return;
  const stream = state.stream;
  state.streamLostSince ??= Date.now();
  const answer = await streamAnswer(stream.resumeUrl); // what its resume would be answered
  if (!state.running || state.stream !== stream) return; // finished, stopped or replaced meanwhile
  if ((answer.status === 429 || answer.status === 200) && ++state.streamRetries <= STREAM_RETRIES_MAX) {
    const seconds = Math.min(10, Math.max(1, answer.retryAfter || 2));
    setStreamStatus(answer.status === 429
      ? `The server is sending as many event streams as it allows; following the run again in ${seconds} s…`
      : "Connection lost, reconnecting…");
    clearTimeout(state.streamRetry);
    state.streamRetry = setTimeout(() => { if (state.running && state.stream === stream) stream.resume(); }, seconds * 1000);
    return;
  }
  showRunError(answer.status === 429
    ? `The server stayed at its limit of open event streams for ${minutesSince(state.streamLostSince)}; this page ` +
      "stopped following the run."
    : "The event stream closed before the run finished (the run may have been removed from the server).");
  finishRun("lost");
}

async function stopRun() {
  if (!state.running || !state.runId) return;
  const runId = state.runId;
  state.stopFocused = focusedStop(); // disabled below: setRunning gives Run the focus when the run has ended
  $("stop").disabled = true;
  $("run-dock-stop").disabled = true;
  try {
    await api.del(`/api/runs/${encodeURIComponent(runId)}`);
  } catch (err) {
    if (!(err instanceof ApiError) || err.status !== 404) showApiError(err);
  }
  // The stream normally reports lane_done/done "cancelled" right away (often before the DELETE's own
  // answer); don't wait on it forever, but only for this run: the user may have started the next one.
  const stillThisRun = () => state.running && state.runId === runId;
  if (stillThisRun()) state.stopTimer = setTimeout(() => { if (stillThisRun()) finishRun("cancelled"); }, 4000);
}

// --- progress -------------------------------------------------------------------------------------
function scheduleProgress() {
  if (state.progressFrame === null) {
    state.progressFrame = requestAnimationFrame(() => {
      state.progressFrame = null;
      renderProgress();
    });
  }
}

function formatDuration(seconds) {
  if (!Number.isFinite(seconds) || seconds < 0) return "";
  const s = Math.round(seconds);
  return s >= 3600 ? `${Math.floor(s / 3600)}h ${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`
    : `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

function laneStatusText(lane) {
  const done = lane.lastStep + 1;
  switch (lane.status) {
    case "running": return `running · ${done}/${lane.totalSteps}`;
    case "done": return `done · ${plural(lane.totalSteps, "step")}`;
    case "diverged": return `diverged at step ${lane.divergedAt}`;
    case "cancelled": return `cancelled after ${done} of ${plural(lane.totalSteps, "step")}`; // steps 0..lastStep ran
    default: return lane.status;
  }
}

function renderProgress() {
  const lanes = charts.lanes;
  const list = $("lane-status");
  if (!lanes.length) { // no run shown: idle, as the page starts
    list.replaceChildren();
    $("progress-fill").style.width = $("run-dock-fill").style.width = "0%";
    document.querySelector(".progress-bar").setAttribute("aria-valuenow", "0");
    $("progress-steps").textContent = "idle";
    $("progress-rate").textContent = $("progress-eta").textContent = $("run-dock-text").textContent = "";
    return;
  }
  let done = 0;
  let total = 0;
  for (const lane of lanes) {
    total += lane.totalSteps;
    // a diverged lane has nothing left to train; a cancelled one counts what it trained, so a stopped run's bar
    // is not full
    done += ["running", "waiting", "cancelled"].includes(lane.status) ? lane.lastStep + 1 : lane.totalSteps;
  }
  const stepsDone = lanes.reduce((sum, lane) => sum + lane.lastStep + 1, 0);
  const now = performance.now();
  const maxStep = Math.max(...lanes.map((l) => l.lastStep + 1));
  state.rateSamples.push({ time: now, done: stepsDone, furthest: maxStep });
  while (state.rateSamples.length > 2 && now - state.rateSamples[0].time > 5000) state.rateSamples.shift();
  const first = state.rateSamples[0];
  const rate = now > first.time + 250 ? ((stepsDone - first.done) * 1000) / (now - first.time) : 0;
  const fraction = total ? done / total : 0;
  $("progress-fill").style.width = `${(100 * fraction).toFixed(1)}%`;
  const bar = document.querySelector(".progress-bar");
  bar.setAttribute("aria-valuenow", String(Math.round(100 * fraction)));
  const maxTotal = Math.max(...lanes.map((l) => l.totalSteps));
  $("progress-steps").textContent = `${maxStep} / ${plural(maxTotal, "step")}`; // counts, as the lanes' status
  // per lane, in the units of the step count beside it: how fast the furthest lane's count grew over the
  // window (the lanes train in lockstep; a sum over lanes read 4x too fast with 4 lanes, and jumped when
  // one lane finished first)
  const perLane = now > first.time + 250 ? ((maxStep - first.furthest) * 1000) / (now - first.time) : 0;
  const training = lanes.filter((l) => l.status === "running" || l.status === "waiting").length;
  $("progress-rate").textContent = state.running && perLane > 0
    ? `${perLane >= 100 ? perLane.toFixed(0) : perLane.toFixed(1)} steps/s${training > 1 ? " per lane" : ""}` : "";
  $("progress-eta").textContent = state.running && rate > 0 ? `${formatDuration((total - done) / rate)} left` : "";
  $("run-dock-fill").style.width = $("progress-fill").style.width;
  $("run-dock-text").textContent = [$("progress-steps").textContent, $("progress-eta").textContent]
    .filter(Boolean).join(" · ");

  const items = lanes.map((lane) => el("li", { class: `status-${lane.status} lane-c${lane.index}`, dataset: { lane: lane.name, status: lane.status }, title: lane.reason || "" },
    el("span", { class: "lane-dot" }),
    el("span", { class: "status-label", text: `${lane.name} · ${lane.label}` }),
    el("span", { class: "status-text", text: laneStatusText(lane) })));
  list.replaceChildren(...items);
}

// --- copy link, resize, optional panels --------------------------------------------------------------
async function copyLink() {
  const button = $("copy-link");
  syncUrl();
  const url = location.href;
  button.dataset.link = url;
  try {
    await navigator.clipboard.writeText(url);
    button.textContent = "Link copied ✓";
  } catch {
    button.textContent = "Copy failed: use the address bar";
  }
  setTimeout(() => { button.textContent = "Copy link"; }, 2000);
}

// A chart whose width changed (a window resized, a phone turned) is resized by Plotly at once and then drawn
// again: what it shows depends on its width (the unrolled chart's timesteps, fitted titles, tick spacing), and
// a resize alone kept the old layout squeezed (100 timesteps and a title running under the colour bar at 390 px).
function watchResizes() {
  const pending = new Set();
  const widths = new WeakMap(); // each chart div's last width: a redraw that changes only its height is no resize
  let frame = null;
  const observer = new ResizeObserver((entries) => {
    for (const entry of entries) {
      const width = Math.round(entry.contentRect.width);
      const before = widths.get(entry.target);
      widths.set(entry.target, width);
      const name = entry.target.dataset.chart;
      if (before !== undefined && before !== width && name && charts.divs[name] === entry.target) charts.markDirty(name);
      pending.add(entry.target);
    }
    if (frame === null) {
      frame = requestAnimationFrame(() => {
        frame = null;
        for (const div of pending) {
          // only a plotted div that is displayed: Plotly rejects a hidden one ("Resize must be passed a
          // displayed plot div element", an uncaught page error), e.g. the gates strip hidden once no lane
          // is gated, or a chart whose card is not laid out
          if (!div.isConnected || !div._fullLayout || !div.data || div.hidden || !div.getClientRects().length) continue;
          const resized = window.Plotly.Plots.resize(div);
          if (resized && typeof resized.catch === "function") resized.catch(() => {}); // hidden meanwhile: nothing to resize
        }
        pending.clear();
      });
    }
  });
  document.querySelectorAll(".chart").forEach((div) => observer.observe(div));
}

function mountCliffPanelLazily() {
  const container = $("cliff-panel");
  if (!container) return; // the template leaves the panel out when static/js/cliff.js is absent
  const load = () => import("./cliff.js")
    .then((module) => module.mountCliffPanel(container, api, {
      initial: Object.fromEntries(Object.entries(state.view).filter(([key]) => key.startsWith("cliff."))
        .map(([key, value]) => [key.slice("cliff.".length), value])),
      onChange: (settings) => { // the user's own cliff settings, into the shareable link
        for (const key of Object.keys(state.view)) if (key.startsWith("cliff.")) delete state.view[key];
        for (const [name, value] of Object.entries(settings)) state.view[`cliff.${name}`] = value;
        syncUrl();
      },
    }))
    .catch((err) => {
      container.replaceChildren(el("p", { class: "form-error", text: `The loss-surface panel failed to load: ${err.message}` }));
    });
  // Loaded when scrolled near, or a few seconds after the page is ready (so it is there when a user
  // scrolls down or takes a full-page screenshot), whichever comes first.
  let started = false;
  const start = () => {
    if (started) return;
    started = true;
    observer.disconnect();
    load();
  };
  const observer = new IntersectionObserver((entries) => {
    if (entries.some((e) => e.isIntersecting)) start();
  }, { rootMargin: "400px" });
  observer.observe(container);
  // not while a run streams: drawing the surface then would compete with the live charts
  const startWhenIdle = () => (state.running ? setTimeout(startWhenIdle, 2000) : start());
  setTimeout(startWhenIdle, 2500);
}

// --- start ----------------------------------------------------------------------------------------
async function main() {
  charts = new Charts({
    flow: $("chart-flow"), saliency: $("chart-saliency"), unrolled: $("chart-unrolled"), profile: $("chart-profile"), gates: $("chart-gates"),
    loss: $("chart-loss"), norm: $("chart-norm"), weight: $("chart-weight"), spectral: $("chart-spectral"),
  });
  let options;
  let presets;
  try {
    [options, presets] = await Promise.all([api.get("/api/options"), api.get("/api/presets")]);
  } catch (err) {
    $("lane-editor").replaceChildren(el("p", { class: "form-error", text: `Cannot load the settings from the API: ${err.message}` }));
    return;
  }
  state.options = options;
  state.presets = presets;
  setLaneNames(state.options.limits.lane_names);

  editor = new LaneEditor($("lane-editor"), state.options, {
    maxLanes: state.options.limits.max_lanes,
    onChange: () => {
      showRunError("");
      afterSettingsChange();
    },
  });

  const select = $("preset");
  select.replaceChildren(el("option", { value: "", text: "Custom settings" }),
    ...state.presets.map((p) => el("option", { value: p.id, text: p.title })));
  select.addEventListener("change", () => applyPreset(select.value));

  // Restore from the URL: the preset's lanes first, then every lane setting the link carries.
  const fromUrl = decodeState(location.search, state.options.fields);
  state.view = { ...fromUrl.view };
  const restored = settingsFromUrl(fromUrl, location.search);
  state.presetId = restored.presetId;
  editor.setLanes(restored.lanes);

  gradcheck = new GradcheckPanel($("gradcheck-panel"), {
    getLanes: () => editor.getLanes(),
    limits: state.options.limits && state.options.limits.gradcheck,
    onError: showLaneApiError,
  });
  buildShortcuts();
  $("add-lane").addEventListener("click", () => editor.addLane());
  $("run").addEventListener("click", startRun);
  $("stop").addEventListener("click", stopRun);
  $("copy-link").addEventListener("click", copyLink);
  watchRunPanel();
  const scale = $("flow-scale");
  if ([...scale.options].some((option) => option.value === fromUrl.view.colour)) scale.value = fromUrl.view.colour;
  // chart 1's subtitle and note say what the colours show: their one phrase per mode, in the page's HTML
  const showFlowScale = () => {
    charts.setFlowScale(scale.value);
    for (const phrase of $("card-flow").querySelectorAll("[data-scale]")) phrase.hidden = phrase.dataset.scale !== scale.value;
  };
  showFlowScale();
  scale.addEventListener("change", () => {
    showFlowScale();
    state.view.colour = scale.value === scale.options[0].value ? undefined : scale.value; // the default stays out
    syncUrl();
  });
  for (const format of ["csv", "json"]) $(`export-${format}`).addEventListener("click", onExportClick);
  setRunning(false);
  afterSettingsChange();
  charts.markAll();
  watchResizes();
  window.addEventListener("pageshow", resumeAfterBackForwardCache);
  window.addEventListener("popstate", restoreFromUrl);
  mountCliffPanelLazily();
  await reattachAfterReload();
  // The entry says it has no run (unless the reload brought its run back): a page loads into an entry with no
  // state, which a reload read as "unknown" (and showed the tab's last run) while Back to it showed none.
  if (!history.state || !("run" in history.state)) {
    try {
      history.replaceState({ ...(history.state || {}), run: null }, "", location.href);
    } catch { /* a state the browser refuses: as in saveRun */ }
  }
  document.body.dataset.ready = "true";
}

main().catch((err) => { // e.g. a page newer than its server: say so instead of a half-built page
  console.error(err);
  $("lane-editor").replaceChildren(el("p", { class: "form-error",
    text: `The page could not start: ${err.message}. Reload; if it persists, the server may be older than this page.` }));
});
