// buoycast dashboard: station cards with latest values and sparklines, live from the stream
// through the client module; connection state, counters, honest latency figures, and optional
// Web Audio sonification. Served by buoycast at `/`; no external resources, no build step: plain
// ES modules, this one and those of `/dashboard/` (state.js: URL settings and shared state;
// data.js: the REST reads; cards.js: cards and plots; audio.js: sonification).
//
// URL parameters (all optional): stations=44009,46042 · heartbeatMs=15000 (the server's
// --heartbeat-secs, for the dead-stream watchdog) · pollMs=5000 · sseRetryMs=30000 · openMs=5000 ·
// history=60 (points per plot) · quiet=1 (no client log lines) · share=0 (this tab opens its own
// stream instead of sharing one with the other tabs of the same filter) · access_token=JWT (for a
// server with subscriber auth: kept for this tab in sessionStorage and taken out of the address
// bar).
//
// DOM events, dispatched on `document` as they happen and kept nowhere (a script of the page,
// or a browser test, listens for what it wants):
// - `buoycast:ready` — started: the initial data is shown and the stream client connected;
//   `detail`: `{ client, resumeAfter }` (the client module's handle; the seq it resumed after).
// - `buoycast:observation` — an observation handed over by the client; `detail`:
//   `{ id, stationId, via, receivedAt }` (`via`: "sse" or "poll").
// - `buoycast:state` — the client's connection state changed; `detail`: `{ state }`.
// - `buoycast:role` — this tab's part in sharing the stream; `detail`: `{ role }` ("leader",
//   "follower" or "solo"), once at start and on every change.

import { connect, normaliseStations } from "/client/buoycast.js";
import { $, clientOptions, state } from "/dashboard/state.js";
import { addToHistory, ago, applyFilterToCards, ensureCard, refreshAges, render } from "/dashboard/cards.js";
import { loadHistory, loadInitial, loadStationMeta } from "/dashboard/data.js";
import { sonify, toggleSound } from "/dashboard/audio.js";

start().catch((error) => {
  console.warn("[buoycast] dashboard start failed:", error);
});

async function start() {
  $("filter").value = state.displayFilter ? state.displayFilter.join(", ") : "";
  $("filter-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    applyFilter($("filter").value);
  });
  $("sound").addEventListener("click", toggleSound);
  setInterval(tick, 1000);
  setInterval(measureRoundTrip, 10000);
  void measureRoundTrip();

  // Initial data from the REST API, then live from the newest seq it showed.
  const resumeAfter = await loadInitial();
  state.client = connect({
    ...clientOptions,
    stations: state.displayFilter,
    lastEventId: resumeAfter,
    onObservation,
    onStateChange,
    onEvent,
    onRoleChange: showRole,
  });
  showRole(state.client.role);
  announce("ready", { client: state.client, resumeAfter });
}

/** Dispatches the DOM event `buoycast:<type>` on `document` (see the top of this file). */
function announce(type, detail) {
  document.dispatchEvent(new CustomEvent(`buoycast:${type}`, { detail }));
}

// --- client callbacks ---------------------------------------------------------------------------

function onObservation(observation, meta) {
  state.received += 1;
  state.lastEventAt = Date.now();
  state.arrivals.push(state.lastEventAt);
  const id = String(observation.stationId ?? "").toUpperCase();
  if (id) {
    if (!state.cards.has(id)) {
      ensureCard(id, null);
      void loadStationMeta(id);
    }
    addToHistory(id, observation, meta.id);
    render(id, true);
    sonify(observation, state.cards.get(id)?.station);
    $("stat-events").textContent = String(state.received);
    if (meta.id !== null) $("stat-id").textContent = String(meta.id);
  }
  announce("observation", { id: meta.id, stationId: observation.stationId, via: meta.via, receivedAt: meta.receivedAt });
}

function onStateChange(clientState) {
  const conn = $("conn");
  conn.dataset.state = clientState;
  const labels = {
    connecting: "connecting",
    connected: "live (SSE)",
    reconnecting: "reconnecting",
    polling: "polling (fallback)",
    disconnected: "disconnected",
  };
  $("conn-text").textContent = labels[clientState] ?? clientState;
  // The client keeps its last failure across reconnects: why it is reconnecting or polling.
  const error = state.client?.lastError;
  conn.title = `client state: ${clientState}` +
    (error ? `; last error at ${state.client.lastErrorAt}: ${error}` : "");
  announce("state", { state: clientState });
}

/** Where this tab's data comes from, next to the connection state. */
function showRole(role) {
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
  announce("role", { role });
}

function onEvent(type, data) {
  if ((type === "heartbeat" || type === "connection") && data?.timestamp) {
    const sent = Date.parse(data.timestamp);
    if (Number.isFinite(sent)) $("stat-hb").textContent = `${Date.now() - sent} ms`;
  }
}

// --- filter -------------------------------------------------------------------------------------

function applyFilter(text) {
  const filter = normaliseStations(text);
  state.displayFilter = filter;
  applyFilterToCards();
  state.client?.setStations(filter);
  const url = new URL(location.href);
  if (filter) url.searchParams.set("stations", filter.join(","));
  else url.searchParams.delete("stations");
  history.replaceState(null, "", url);
  // Stations that have never been shown get their history when they first report.
  if (filter) {
    for (const id of filter) {
      if (!state.cards.has(id)) void loadHistory(id);
    }
  }
}

// --- counters and latency -----------------------------------------------------------------------

function tick() {
  const now = Date.now();
  const { arrivals } = state;
  while (arrivals.length && arrivals[0] < now - 60000) arrivals.shift();
  $("stat-rate").textContent = `${arrivals.length} /min`;
  $("stat-last").textContent = state.lastEventAt ? `${ago(now - state.lastEventAt)}` : "—";
  const stats = state.client?.stats;
  if (stats) {
    $("stat-dup").textContent = String(stats.duplicates);
    $("stat-rec").textContent = String(stats.reconnects);
  }
  refreshAges();
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
