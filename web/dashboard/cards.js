// Station cards: one per station, with its latest values, a wind arrow and sparklines of its
// recent readings, kept in station order; and each station's history behind them. Where a
// station has them, a card also shows its newest wave spectrum (spectrum.js), DART water column
// height (tsunami) and ocean values.

import { $, HISTORY, shown, state } from "/dashboard/state.js";
import { drawSpectrum, spectrumView } from "/dashboard/spectrum.js";

const SVG_NS = "http://www.w3.org/2000/svg";

/** The values a card lists: field, label, unit, digits. */
const FIELDS = [
  ["waveHeightM", "Wave height", "m", 1],
  ["dominantWavePeriodS", "Wave period", "s", 0],
  ["windSpeedMps", "Wind", "m/s", 1],
  ["gustMps", "Gust", "m/s", 1],
  ["waterTempC", "Water", "°C", 1],
  ["airTempC", "Air", "°C", 1],
  ["pressureHpa", "Pressure", "hPa", 1],
  ["meanWaveDirDeg", "Wave dir", "°", 0],
];

/** The DART values a card lists (kind `tsunami`): field, label, unit, digits. */
const TSUNAMI_FIELDS = [
  ["waterColumnHeightM", "Water column", "m", 3],
  ["measurementType", "Sampling", "", 0],
];

/** What `measurementType` of a tsunami entry means (SPEC §3a). */
const MEASUREMENT_TYPES = { 1: "15 min", 2: "1 min (event)", 3: "15 s (event)" };

/** The ocean values a card lists (kind `ocean`), when present: field, label, unit, digits. */
const OCEAN_FIELDS = [
  ["oceanTempC", "Ocean temp", "°C", 2],
  ["salinityPsu", "Salinity", "psu", 2],
  ["conductivityMsPerCm", "Conductivity", "mS/cm", 2],
  ["depthM", "Sensor depth", "m", 1],
  ["oxygenPercent", "Oxygen", "%", 1],
  ["oxygenPpm", "Oxygen", "ppm", 2],
  ["chlorophyllUgPerL", "Chlorophyll", "µg/l", 2],
  ["turbidityFtu", "Turbidity", "FTU", 2],
  ["ph", "pH", "", 2],
  ["redoxMv", "Redox (Eh)", "mV", 0],
];

/** The other kinds a card shows, each as a list of values: kind → heading and fields. */
const KIND_LISTS = {
  tsunami: ["Tsunami (DART)", TSUNAMI_FIELDS],
  ocean: ["Ocean", OCEAN_FIELDS],
};

/** The kinds a card shows besides observations. */
export const CARD_KINDS = ["spectrum", ...Object.keys(KIND_LISTS)];

/** The sparklines of a card: field, label, unit, CSS class. */
const PLOTS = [
  ["waveHeightM", "wave height", "m", "wave"],
  ["windSpeedMps", "wind speed", "m/s", "wind"],
  ["waterTempC", "water temp", "°C", "temp"],
  ["pressureHpa", "pressure", "hPa", "pres"],
];

/** The card of `id`, made (empty) if there is none yet; `station` (metadata) names it. */
export function ensureCard(id, station) {
  let card = state.cards.get(id);
  if (card) {
    if (station) {
      card.station = station;
      card.parts.name.textContent = stationName(station);
    }
    return card;
  }
  $("empty").hidden = true;
  const el = document.createElement("article");
  el.className = "card";
  el.dataset.station = id;

  const h2 = document.createElement("h2");
  const idEl = document.createElement("span");
  idEl.className = "id";
  idEl.textContent = id;
  const seqEl = document.createElement("span");
  seqEl.className = "seq";
  h2.append(idEl, seqEl);

  const name = document.createElement("p");
  name.className = "name";
  name.textContent = station ? stationName(station) : "";
  const when = document.createElement("p");
  when.className = "when";

  const vals = document.createElement("dl");
  vals.className = "vals";
  const valueEls = {};
  for (const [field, label] of FIELDS) {
    const row = document.createElement("div");
    const dt = document.createElement("dt");
    dt.textContent = label;
    const dd = document.createElement("dd");
    dd.dataset.field = field;
    row.append(dt, dd);
    vals.append(row);
    valueEls[field] = dd;
  }

  const plots = document.createElement("div");
  plots.className = "plots";
  const plotEls = {};
  for (const [field, label, unit, cls] of PLOTS) {
    const wrap = document.createElement("div");
    wrap.className = `plot ${cls}`;
    const lab = document.createElement("div");
    lab.className = "label";
    const l = document.createElement("span");
    l.textContent = `${label} (${unit})`;
    const range = document.createElement("span");
    range.className = "num";
    lab.append(l, range);
    const svg = document.createElementNS(SVG_NS, "svg");
    svg.setAttribute("viewBox", "0 0 100 30");
    svg.setAttribute("preserveAspectRatio", "none");
    svg.setAttribute("role", "img");
    svg.setAttribute("aria-label", `${label} of ${id}, recent readings`);
    wrap.append(lab, svg);
    plots.append(wrap);
    plotEls[field] = { svg, range };
  }

  const spectrum = spectrumView(id);
  const lists = {};
  for (const [kind, [heading]] of Object.entries(KIND_LISTS)) {
    const section = document.createElement("section");
    section.className = `kind ${kind}`;
    section.hidden = true;
    const label = document.createElement("div");
    label.className = "label";
    const l = document.createElement("span");
    l.textContent = heading;
    const at = document.createElement("span");
    at.className = "num when";
    label.append(l, at);
    const dl = document.createElement("dl");
    dl.className = "vals";
    section.append(label, dl);
    lists[kind] = { el: section, dl, when: at };
  }

  el.append(h2, name, when, vals, plots, spectrum.el, lists.tsunami.el, lists.ocean.el);
  el.classList.add("no-obs");
  card = {
    station,
    history: [],
    /** The newest entry of each other kind shown (`CARD_KINDS`), with its `t` and `seq`. */
    latest: {},
    el,
    parts: { name, when, seq: seqEl, values: valueEls, plots: plotEls, spectrum, lists },
    seq: 0,
  };
  state.cards.set(id, card);
  el.hidden = !shown(id);
  insertSorted(el, id);
  return card;
}

function insertSorted(el, id) {
  const main = $("cards");
  const after = [...main.querySelectorAll(".card")].find((c) => c.dataset.station > id);
  main.insertBefore(el, after ?? null);
}

/** Shows or hides every card by the current filter. */
export function applyFilterToCards() {
  for (const [id, card] of state.cards) card.el.hidden = !shown(id);
}

/** Keeps each station's history sorted by measurement time; a correction replaces its row. */
export function addToHistory(id, observation, seq) {
  const card = ensureCard(id, null);
  const t = Date.parse(observation.timestamp);
  if (!Number.isFinite(t)) return;
  const entry = { ...observation, t, seq };
  const h = card.history;
  const same = h.findIndex((e) => e.t === t);
  if (same >= 0) {
    if ((h[same].seq ?? 0) <= (seq ?? Infinity)) h[same] = entry;
  } else {
    let i = h.length;
    while (i > 0 && h[i - 1].t > t) i -= 1;
    h.splice(i, 0, entry);
    if (h.length > HISTORY) h.splice(0, h.length - HISTORY);
  }
  if (seq !== null && seq > card.seq) card.seq = seq;
}

/** Draws the card of `id` from its history; `fresh` highlights it for a moment. */
export function render(id, fresh = false) {
  const card = state.cards.get(id);
  if (!card || card.history.length === 0) return;
  const latest = card.history[card.history.length - 1];
  const { parts } = card;
  card.el.classList.remove("no-obs");
  parts.seq.textContent = card.seq ? `#${card.seq}` : "";
  parts.when.dataset.t = String(latest.t);
  parts.when.textContent = measuredText(latest.t);
  for (const [field, , unit, digits] of FIELDS) {
    const dd = parts.values[field];
    const v = latest[field];
    dd.classList.toggle("null", v === null || v === undefined);
    dd.textContent = v === null || v === undefined ? "—" : `${Number(v).toFixed(digits)} ${unit}`;
    if (field === "windSpeedMps" && typeof latest.windDirDeg === "number") {
      dd.append(windArrow(latest.windDirDeg));
    }
  }
  for (const [field, , unit] of PLOTS) {
    drawSparkline(parts.plots[field], card.history.map((e) => e[field]), unit);
  }
  if (fresh) highlight(card);
}

/**
 * Takes an entry of another kind (`CARD_KINDS`) into the card of `id` when it is the newest of
 * its kind there: a later measurement time, or the same time again (a late spectral file adds
 * its arrays to a spectrum, a correction replaces its values), unless it is an older copy by seq.
 * Returns whether the card now shows it.
 */
export function takeEntry(id, entry, seq, fresh = false) {
  const kind = entry.kind;
  if (!CARD_KINDS.includes(kind)) return false;
  const t = Date.parse(entry.timestamp);
  if (!Number.isFinite(t)) return false;
  const card = ensureCard(id, null);
  const current = card.latest[kind];
  if (current && (t < current.t || (t === current.t && seq !== null && current.seq !== null && seq < current.seq))) {
    return false;
  }
  card.latest[kind] = { ...entry, t, seq };
  if (seq !== null && seq > card.seq) {
    card.seq = seq;
    card.parts.seq.textContent = `#${seq}`;
  }
  if (kind === "spectrum") drawSpectrum(card.parts.spectrum, entry);
  else drawKindList(card.parts.lists[kind], KIND_LISTS[kind][1], entry);
  if (fresh) highlight(card);
  return true;
}

/** Lists the values of an entry (tsunami, ocean) that it has: the others are left out. */
function drawKindList(list, fields, entry) {
  list.el.hidden = false;
  list.el.dataset.timestamp = entry.timestamp;
  list.when.textContent = String(entry.timestamp).replace("T", " ").slice(0, 19).replace(/:00$/, "");
  const rows = [];
  for (const [field, label, unit, digits] of fields) {
    const v = entry[field];
    if (typeof v !== "number" || !Number.isFinite(v)) continue;
    const row = document.createElement("div");
    const dt = document.createElement("dt");
    dt.textContent = label;
    const dd = document.createElement("dd");
    dd.dataset.field = field;
    dd.dataset.value = String(v);
    if (field === "measurementType") dd.textContent = MEASUREMENT_TYPES[v] ?? `type ${v}`;
    else dd.textContent = `${v.toFixed(digits)}${unit ? ` ${unit}` : ""}`;
    row.append(dt, dd);
    rows.push(row);
  }
  if (rows.length === 0) {
    const row = document.createElement("div");
    const dd = document.createElement("dd");
    dd.className = "null";
    dd.textContent = "no values";
    row.append(dd);
    rows.push(row);
  }
  list.dl.replaceChildren(...rows);
}

function highlight(card) {
  card.el.classList.add("fresh");
  clearTimeout(card.freshTimer);
  card.freshTimer = setTimeout(() => card.el.classList.remove("fresh"), 1200);
}

/** Brings every card's "measured … ago" up to date. */
export function refreshAges() {
  for (const card of state.cards.values()) {
    const t = Number(card.parts.when.dataset.t);
    if (t) card.parts.when.textContent = measuredText(t);
  }
}

function drawSparkline({ svg, range }, values, unit) {
  svg.replaceChildren();
  const points = values
    .map((v, i) => [i, v])
    .filter(([, v]) => typeof v === "number" && Number.isFinite(v));
  range.classList.toggle("none", points.length === 0);
  if (points.length === 0) {
    range.textContent = "no data";
    return;
  }
  let lo = Math.min(...points.map(([, v]) => v));
  let hi = Math.max(...points.map(([, v]) => v));
  range.textContent = lo === hi ? `${fmt(lo)}` : `${fmt(lo)}–${fmt(hi)}`;
  if (hi - lo < 1e-9) {
    lo -= 1;
    hi += 1;
  }
  const n = Math.max(values.length - 1, 1);
  const xy = ([i, v]) => [(i / n) * 98 + 1, 28 - ((v - lo) / (hi - lo)) * 26];
  const line = document.createElementNS(SVG_NS, "polyline");
  line.setAttribute("points", points.map((p) => xy(p).map((c) => c.toFixed(2)).join(",")).join(" "));
  const [lx, ly] = xy(points[points.length - 1]);
  const dot = document.createElementNS(SVG_NS, "circle");
  dot.setAttribute("cx", lx.toFixed(2));
  dot.setAttribute("cy", ly.toFixed(2));
  dot.setAttribute("r", "1.8");
  const title = document.createElementNS(SVG_NS, "title");
  title.textContent = `${points.length} readings, ${fmt(lo)}–${fmt(hi)} ${unit}`;
  svg.append(title, line, dot);
}

function windArrow(deg) {
  // Wind direction is where the wind comes from: the arrow points where it blows to.
  const svg = document.createElementNS(SVG_NS, "svg");
  svg.setAttribute("viewBox", "-8 -8 16 16");
  svg.setAttribute("class", "arrow");
  const title = document.createElementNS(SVG_NS, "title");
  title.textContent = `from ${Math.round(deg)}°`;
  const path = document.createElementNS(SVG_NS, "path");
  path.setAttribute("d", "M0,7 L4,-3 L0,-1 L-4,-3 Z");
  path.setAttribute("transform", `rotate(${(deg + 180) % 360})`);
  svg.append(title, path);
  return svg;
}

function stationName(station) {
  const bits = [station.name, station.owner].filter(Boolean);
  return bits.join(" · ");
}

function measuredText(t) {
  const date = new Date(t).toISOString().replace("T", " ").slice(0, 16);
  return `measured ${date} UTC, ${ago(Date.now() - t)} ago`;
}

/** A duration in the largest whole unit that keeps it readable ("42 s", "3 min", "5 h", "2 d"). */
export function ago(ms) {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s} s`;
  const m = Math.round(s / 60);
  if (m < 120) return `${m} min`;
  const h = Math.round(m / 60);
  if (h < 72) return `${h} h`;
  return `${Math.round(h / 24)} d`;
}

function fmt(v) {
  return Math.abs(v) >= 100 ? v.toFixed(0) : v.toFixed(1);
}
