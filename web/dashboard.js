// buoycast dashboard: station cards with latest values and sparklines, live from the stream
// through the client module; connection state, counters, honest latency figures, and optional
// Web Audio sonification. Served by buoycast at `/`; no external resources.
//
// URL parameters (all optional): stations=44009,46042 · heartbeatMs=15000 (the server's
// --heartbeat-secs, for the dead-stream watchdog) · pollMs=5000 · sseRetryMs=30000 · openMs=5000 ·
// history=60 (points per plot) · quiet=1 (no client log lines) · share=0 (this tab opens its own
// stream instead of sharing one with the other tabs of the same filter) · access_token=JWT (for a
// server with subscriber auth: kept for this tab in sessionStorage and taken out of the address
// bar).

import { connect, normaliseStations } from "/client/buoycast.js";

const params = new URLSearchParams(location.search);
const token = takeToken();
const HISTORY = clampInt(params.get("history"), 60, 5, 500);
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

/** The sparklines of a card: field, label, unit, CSS class. */
const PLOTS = [
  ["waveHeightM", "wave height", "m", "wave"],
  ["windSpeedMps", "wind speed", "m/s", "wind"],
  ["waterTempC", "water temp", "°C", "temp"],
  ["pressureHpa", "pressure", "hPa", "pres"],
];

// --- state, and the test hook ---------------------------------------------------------------------

/** @type {Map<string, {station: any, history: any[], el: HTMLElement, parts: any, seq: number}>} */
const cards = new Map();
const arrivals = []; // Date.now() of observation arrivals in the last minute
let received = 0;
let lastEventAt = 0;
let displayFilter = normaliseStations(params.get("stations"));

/** The page's state the browser tests read (tests/browser/): ids delivered, states seen,
 * readiness. Exposed as `window.__buoycast` only with `?debug=1`, and it keeps only the newest
 * `HOOK_LIMIT` ids, so a page left open for weeks does not grow. */
const DEBUG = params.get("debug") === "1";
const HOOK_LIMIT = 10000;
const hook = {
  client: null,
  receivedIds: [],
  /** id → Date.now() when the client handed it over. */
  arrivals: {},
  /** id → "sse" | "poll". */
  via: {},
  states: [],
  /** [role, Date.now()] of the client's first role and every change. */
  roles: [],
  /** The resume point the client started from (the newest seq of the initial load). */
  resumeAfter: null,
  ready: false,
  soundOn: false,
};
if (DEBUG) window.__buoycast = hook;

const $ = (id) => /** @type {HTMLElement} */ (document.getElementById(id));

// --- start --------------------------------------------------------------------------------------

start().catch((error) => {
  console.warn("[buoycast] dashboard start failed:", error);
});

async function start() {
  $("filter").value = displayFilter ? displayFilter.join(", ") : "";
  $("filter-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    applyFilter($("filter").value);
  });
  $("sound").addEventListener("click", toggleSound);
  setInterval(tick, 1000);
  setInterval(measureRoundTrip, 10000);
  void measureRoundTrip();

  // Initial data from the REST API, then live: resuming after the newest seq of the station
  // list (one snapshot) means the hand-over has no gap; a history read a moment later may hold
  // newer rows, which the stream then delivers again and the cards take in place (same
  // measurement time). Resuming after those instead would skip what other stations published
  // between the two reads.
  let resumeAfter = 0;
  try {
    const { stations } = await getJson("/v1/stations");
    const wanted = stations.filter((s) => !displayFilter || displayFilter.includes(s.id));
    for (const station of wanted) {
      ensureCard(station.id, station);
      if (station.latest?.seq > resumeAfter) resumeAfter = station.latest.seq;
    }
    await Promise.all(wanted.map(async (station) => {
      const path = `/v1/observations/by-station/${encodeURIComponent(station.id)}?limit=${HISTORY}`;
      const { observations } = await getJson(path);
      for (const stored of observations.reverse()) addToHistory(stored.stationId, stored, stored.seq);
      render(station.id);
    }));
  } catch (error) {
    console.warn("[buoycast] could not load the initial data; showing live data only:", String(error));
  }

  hook.client = connect({
    stations: displayFilter,
    lastEventId: resumeAfter,
    heartbeatIntervalMs: clampInt(params.get("heartbeatMs"), 15000, 100, 3600000),
    pollIntervalMs: clampInt(params.get("pollMs"), 5000, 100, 600000),
    sseRetryIntervalMs: clampInt(params.get("sseRetryMs"), 30000, 100, 3600000),
    openTimeoutMs: clampInt(params.get("openMs"), 5000, 100, 600000),
    quiet: params.get("quiet") === "1",
    shareAcrossTabs: params.get("share") !== "0",
    token,
    onObservation,
    onStateChange,
    onEvent,
    onRoleChange: showRole,
  });
  hook.resumeAfter = resumeAfter;
  showRole(hook.client.role);
  hook.ready = true;
}

// --- client callbacks ---------------------------------------------------------------------------

function onObservation(observation, meta) {
  if (DEBUG && meta.id !== null) {
    hook.receivedIds.push(meta.id);
    hook.arrivals[meta.id] = meta.receivedAt;
    hook.via[meta.id] = meta.via;
    if (hook.receivedIds.length > HOOK_LIMIT) {
      for (const old of hook.receivedIds.splice(0, hook.receivedIds.length - HOOK_LIMIT)) {
        delete hook.arrivals[old];
        delete hook.via[old];
      }
    }
  }
  received += 1;
  lastEventAt = Date.now();
  arrivals.push(lastEventAt);
  const id = String(observation.stationId ?? "").toUpperCase();
  if (!id) return;
  if (!cards.has(id)) {
    ensureCard(id, null);
    void loadStationMeta(id);
  }
  addToHistory(id, observation, meta.id);
  render(id, true);
  sonify(observation, cards.get(id)?.station);
  $("stat-events").textContent = String(received);
  if (meta.id !== null) $("stat-id").textContent = String(meta.id);
}

function onStateChange(state) {
  if (DEBUG) {
    hook.states.push(state);
    if (hook.states.length > 1000) hook.states.shift();
  }
  const conn = $("conn");
  conn.dataset.state = state;
  const labels = {
    connecting: "connecting",
    connected: "live (SSE)",
    reconnecting: "reconnecting",
    polling: "polling (fallback)",
    disconnected: "disconnected",
  };
  $("conn-text").textContent = labels[state] ?? state;
  conn.title = `client state: ${state}`;
}

/** Where this tab's data comes from, next to the connection state. */
function showRole(role) {
  if (DEBUG) {
    hook.roles.push([role, Date.now()]);
    if (hook.roles.length > 1000) hook.roles.shift();
  }
  const el = $("conn-role");
  el.dataset.role = role;
  const text = {
    leader: "stream in this tab",
    follower: "via another tab",
    solo: "",
  };
  const title = {
    leader: "This tab holds the stream; other tabs of this dashboard (same stations) receive it from here, so the browser keeps one stream for all of them.",
    follower: "Another tab of this dashboard (same stations) holds the stream and passes it on to this one, so the browser keeps one stream for all of them.",
    solo: "This tab has a stream of its own.",
  };
  el.textContent = text[role] ?? role;
  el.title = title[role] ?? "";
}

function onEvent(type, data) {
  if ((type === "heartbeat" || type === "connection") && data?.timestamp) {
    const sent = Date.parse(data.timestamp);
    if (Number.isFinite(sent)) $("stat-hb").textContent = `${Date.now() - sent} ms`;
  }
}

// --- cards --------------------------------------------------------------------------------------

function ensureCard(id, station) {
  let card = cards.get(id);
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

  el.append(h2, name, when, vals, plots);
  card = { station, history: [], el, parts: { name, when, seq: seqEl, values: valueEls, plots: plotEls }, seq: 0 };
  cards.set(id, card);
  el.hidden = Boolean(displayFilter && !displayFilter.includes(id));
  insertSorted(el, id);
  return card;
}

function insertSorted(el, id) {
  const main = $("cards");
  const after = [...main.querySelectorAll(".card")].find((c) => c.dataset.station > id);
  main.insertBefore(el, after ?? null);
}

async function loadStationMeta(id) {
  try {
    const station = await getJson(`/v1/stations/${encodeURIComponent(id)}`);
    ensureCard(id, station);
  } catch {
    // Metadata is optional; the card shows the id alone.
  }
}

/** Keeps each station's history sorted by measurement time; a correction replaces its row. */
function addToHistory(id, observation, seq) {
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

function render(id, fresh = false) {
  const card = cards.get(id);
  if (!card || card.history.length === 0) return;
  const latest = card.history[card.history.length - 1];
  const { parts } = card;
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
  if (fresh) {
    card.el.classList.add("fresh");
    clearTimeout(card.freshTimer);
    card.freshTimer = setTimeout(() => card.el.classList.remove("fresh"), 1200);
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

// --- filter -------------------------------------------------------------------------------------

function applyFilter(text) {
  displayFilter = normaliseStations(text);
  for (const [id, card] of cards) card.el.hidden = Boolean(displayFilter && !displayFilter.includes(id));
  hook.client?.setStations(displayFilter);
  const url = new URL(location.href);
  if (displayFilter) url.searchParams.set("stations", displayFilter.join(","));
  else url.searchParams.delete("stations");
  history.replaceState(null, "", url);
  // Stations that have never been shown get their history when they first report.
  if (displayFilter) {
    for (const id of displayFilter) {
      if (!cards.has(id)) void loadHistory(id);
    }
  }
}

async function loadHistory(id) {
  try {
    const { observations } = await getJson(`/v1/observations/by-station/${encodeURIComponent(id)}?limit=${HISTORY}`);
    if (observations.length === 0) return;
    for (const stored of observations.reverse()) addToHistory(id, stored, stored.seq);
    render(id);
    void loadStationMeta(id);
  } catch {
    // Unknown station: nothing to show until it reports.
  }
}

// --- counters and latency -----------------------------------------------------------------------

function tick() {
  const now = Date.now();
  while (arrivals.length && arrivals[0] < now - 60000) arrivals.shift();
  $("stat-rate").textContent = `${arrivals.length} /min`;
  $("stat-last").textContent = lastEventAt ? `${ago(now - lastEventAt)}` : "—";
  const stats = hook.client?.stats;
  if (stats) {
    $("stat-dup").textContent = String(stats.duplicates);
    $("stat-rec").textContent = String(stats.reconnects);
  }
  for (const card of cards.values()) {
    const t = Number(card.parts.when.dataset.t);
    if (t) card.parts.when.textContent = measuredText(t);
  }
}

async function measureRoundTrip() {
  const started = performance.now();
  try {
    const response = await fetch("/health", { cache: "no-store" });
    await response.arrayBuffer();
    if (response.ok) $("stat-rtt").textContent = `${(performance.now() - started).toFixed(1)} ms`;
  } catch {
    $("stat-rtt").textContent = "—";
  }
}

// --- sonification (Web Audio) -------------------------------------------------------------------

let audio = null; // { ctx, master, noiseGain, noiseFilter }
let notesThisSecond = 0;
setInterval(() => { notesThisSecond = 0; }, 1000);

async function toggleSound() {
  const button = $("sound");
  const on = button.getAttribute("aria-pressed") !== "true";
  if (on) {
    // Created on this click only: browsers start audio only after a user gesture.
    if (!audio) audio = buildAudioGraph();
    await audio.ctx.resume();
  } else if (audio) {
    await audio.ctx.suspend();
  }
  hook.soundOn = on;
  button.setAttribute("aria-pressed", String(on));
  button.textContent = on ? "Sound: on" : "Sound: off";
  $("legend").hidden = !on;
}

function buildAudioGraph() {
  const AudioContextClass = window.AudioContext ?? window.webkitAudioContext;
  const ctx = new AudioContextClass();
  const compressor = ctx.createDynamicsCompressor();
  compressor.connect(ctx.destination);
  const master = ctx.createGain();
  master.gain.value = 0.5;
  master.connect(compressor);

  // Wind: looped white noise through a low-pass filter; level and brightness follow wind speed.
  const buffer = ctx.createBuffer(1, ctx.sampleRate * 2, ctx.sampleRate);
  const data = buffer.getChannelData(0);
  for (let i = 0; i < data.length; i += 1) data[i] = Math.random() * 2 - 1;
  const noise = ctx.createBufferSource();
  noise.buffer = buffer;
  noise.loop = true;
  const noiseFilter = ctx.createBiquadFilter();
  noiseFilter.type = "lowpass";
  noiseFilter.frequency.value = 400;
  noiseFilter.Q.value = 0.7;
  const noiseGain = ctx.createGain();
  noiseGain.gain.value = 0;
  noise.connect(noiseFilter).connect(noiseGain).connect(master);
  noise.start();
  return { ctx, master, noiseGain, noiseFilter };
}

/** Wave height → pitch, wind speed → noise, water temperature → waveform, longitude → pan. */
function sonify(observation, station) {
  if (!audio || !hook.soundOn || audio.ctx.state !== "running") return;
  const { ctx, master, noiseGain, noiseFilter } = audio;
  const now = ctx.currentTime;
  if (typeof observation.windSpeedMps === "number") {
    const w = Math.min(Math.max(observation.windSpeedMps / 25, 0), 1);
    noiseGain.gain.setTargetAtTime(0.02 + w * 0.18, now, 1.5);
    noiseFilter.frequency.setTargetAtTime(300 + w * 3200, now, 1.5);
  }
  const h = observation.waveHeightM;
  if (typeof h !== "number" || notesThisSecond >= 8) return; // bursts (a replay) stay bearable
  notesThisSecond += 1;
  // 0–8 m over three octaves of a major pentatonic scale from A2.
  const steps = [0, 2, 4, 7, 9];
  const degree = Math.round(Math.min(Math.max(h / 8, 0), 1) * 15);
  const midi = 45 + 12 * Math.floor(degree / 5) + steps[degree % 5];
  const osc = ctx.createOscillator();
  const t = observation.waterTempC;
  osc.type = typeof t !== "number" ? "sine" : t < 8 ? "sine" : t < 16 ? "triangle" : t < 24 ? "square" : "sawtooth";
  osc.frequency.value = 440 * 2 ** ((midi - 69) / 12);
  const tone = ctx.createBiquadFilter();
  tone.type = "lowpass";
  tone.frequency.value = 2400;
  const env = ctx.createGain();
  env.gain.setValueAtTime(0, now);
  env.gain.linearRampToValueAtTime(0.25, now + 0.01);
  env.gain.exponentialRampToValueAtTime(0.0001, now + 1.6);
  const pan = ctx.createStereoPanner();
  const lon = station?.longitude;
  pan.pan.value = typeof lon === "number" ? Math.max(-1, Math.min(1, (lon + 120) / 60)) : 0;
  osc.connect(tone).connect(env).connect(pan).connect(master);
  osc.start(now);
  osc.stop(now + 1.7);
}

// --- helpers ------------------------------------------------------------------------------------

/** The subscriber token of `?access_token=` (or of an earlier load of this tab), if any. */
function takeToken() {
  const KEY = "buoycast.token";
  const given = params.get("access_token");
  if (given) {
    const url = new URL(location.href);
    url.searchParams.delete("access_token");
    history.replaceState(null, "", url);
  }
  try {
    if (given) sessionStorage.setItem(KEY, given);
    return given || sessionStorage.getItem(KEY);
  } catch {
    return given; // storage unavailable: this load only
  }
}

async function getJson(path) {
  const headers = { Accept: "application/json" };
  if (token) headers.Authorization = `Bearer ${token}`;
  const response = await fetch(path, { headers });
  if (!response.ok) throw new Error(`${path}: HTTP ${response.status}`);
  return response.json();
}

function ago(ms) {
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

function clampInt(text, fallback, lo, hi) {
  const n = Number.parseInt(text ?? "", 10);
  return Number.isFinite(n) ? Math.min(Math.max(n, lo), hi) : fallback;
}
