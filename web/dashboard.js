// buoycast dashboard: station cards with latest values and sparklines, live from the stream
// through the client module, and where a station has them its wave spectrum, DART water column
// height and ocean values (the kinds of KINDS); connection state, counters, honest latency
// figures, and optional Web Audio sonification. Served by buoycast at `/`; no external resources,
// no build step: plain ES modules, this one and those of `/dashboard/` (state.js: URL settings
// and shared state; data.js: the REST reads; cards.js: cards and plots; spectrum.js: the
// spectrum plot and summary; audio.js: sonification).
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
// - `buoycast:entry` — an entry of another kind shown on the cards (spectrum, tsunami, ocean)
//   handed over by the client; `detail`: `{ id, kind, stationId, timestamp, via, receivedAt,
//   shown }` (`shown`: false when the card already shows a newer one of that kind).
// - `buoycast:voice` — the spectral voice (sound on) took a spectrum; `detail`: `{ stationId,
//   timestamp, rebuilt, bands: [{ hz, gain, pan }] }` (audio.js: the values it glides to).

import { connect, normaliseStations } from "/client/buoycast.js";
import { $, clientOptions, state } from "/dashboard/state.js";
import { addToHistory, ago, applyFilterToCards, CARD_KINDS, ensureCard, refreshAges, render, takeEntry } from "/dashboard/cards.js";
import { loadHistory, loadInitial, loadLatestKinds, loadStationMeta } from "/dashboard/data.js";
import { followSpectra, sonify, sonifySpectrum, toggleSound } from "/dashboard/audio.js";

/** The kinds the dashboard asks the server for: observations, and those the cards show. */
const KINDS = ["observation", ...CARD_KINDS];

start().catch((error) => {
  console.warn("[buoycast] dashboard start failed:", error);
});

async function start() {
  $("filter").value = state.displayFilter ? state.displayFilter.join(", ") : "";
  $("filter-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    applyFilter($("filter").value);
  });
  $("sound").addEventListener("click", async () => {
    await toggleSound();
    if ($("sound").getAttribute("aria-pressed") !== "true") markSounding(null);
  });
  $("cards").addEventListener("click", onListen);
  document.addEventListener("buoycast:voice", ({ detail }) => markSounding(detail.stationId));
  setInterval(tick, 1000);
  setInterval(measureRoundTrip, 10000);
  void measureRoundTrip();

  // Initial data from the REST API, then live from the newest seq it showed.
  // The newest entry of each other kind are read after that resume point: one of them newer
  // than it comes again on the stream and replaces itself.
  const resumeAfter = await loadInitial();
  const latestOfKinds = await loadLatestKinds(CARD_KINDS);
  state.client = connect({
    ...clientOptions,
    kinds: KINDS,
    stations: state.displayFilter,
    lastEventId: resumeAfter,
    onObservation,
    onStateChange,
    onEvent,
    onRoleChange: showRole,
  });
  for (const kind of CARD_KINDS) state.client.onEvent(kind, onEntry);
  for (const entry of latestOfKinds) {
    showEntry(entry, entry.seq ?? null, false);
    if (entry.kind === "spectrum") sonifySpectrum(entry);
  }
  showRole(state.client.role);
  announce("ready", { client: state.client, resumeAfter });
}

/** Dispatches the DOM event `buoycast:<type>` on `document` (see the top of this file). */
function announce(type, detail) {
  document.dispatchEvent(new CustomEvent(`buoycast:${type}`, { detail }));
}

// --- client callbacks ---------------------------------------------------------------------------

function onObservation(observation, meta) {
  const id = String(observation.stationId ?? "").toUpperCase();
  if (id) {
    // The station's name with its first observation (a card made for another kind has none:
    // the server lists stations that have observations).
    const card = ensureCard(id, null);
    if (!card.station && !card.metaAsked) {
      card.metaAsked = true;
      void loadStationMeta(id);
    }
    addToHistory(id, observation, meta.id);
    render(id, true);
    sonify(observation, state.cards.get(id)?.station);
    countEvent(meta.id);
  }
  announce("observation", { id: meta.id, stationId: observation.stationId, via: meta.via, receivedAt: meta.receivedAt });
}

/** An entry of another kind (spectrum, tsunami, ocean) from the stream or a poll. */
function onEntry(entry, meta) {
  countEvent(meta.id);
  const shownNow = showEntry(entry, meta.id, true);
  if (shownNow && entry.kind === "spectrum") sonifySpectrum(entry);
  announce("entry", {
    id: meta.id,
    kind: entry.kind,
    stationId: entry.stationId,
    timestamp: entry.timestamp,
    via: meta.via,
    receivedAt: meta.receivedAt,
    shown: shownNow,
  });
}

/** Shows an entry of another kind on its station's card; whether the card now shows it. */
function showEntry(entry, seq, fresh) {
  const id = String(entry.stationId ?? "").toUpperCase();
  if (!id) return false;
  return takeEntry(id, entry, seq, fresh);
}

/** A card's Listen button: the spectral voice follows that station's spectra, or any again. */
function onListen(ev) {
  const button = ev.target instanceof Element ? ev.target.closest("button.listen") : null;
  const id = button?.closest(".card")?.getAttribute("data-station");
  if (!id) return;
  const followed = followSpectra(id, state.cards.get(id)?.latest.spectrum ?? null);
  for (const [cardId, card] of state.cards) {
    card.parts.spectrum.listen.setAttribute("aria-pressed", String(cardId === followed));
  }
}

/** Marks the spectrum view whose spectrum the voice plays. */
function markSounding(stationId) {
  for (const [id, card] of state.cards) card.parts.spectrum.el.classList.toggle("sounding", id === stationId);
}

/** Counts an event of any kind in the page's counters. */
function countEvent(seq) {
  state.received += 1;
  state.lastEventAt = Date.now();
  state.arrivals.push(state.lastEventAt);
  $("stat-events").textContent = String(state.received);
  if (seq !== null) $("stat-id").textContent = String(seq);
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
  // The client keeps its last failure across reconnects: why it is reconnecting or polling, or
  // why the server refused it (then it stops, and the page says why).
  const error = state.client?.lastError;
  $("conn-text").textContent = clientState === "disconnected" && error
    ? `stopped: ${error}`
    : labels[clientState] ?? clientState;
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
    const fresh = filter.filter((id) => !state.cards.has(id));
    for (const id of fresh) void loadHistory(id);
    // And their newest spectrum, tsunami and ocean entries.
    if (fresh.length) {
      void loadLatestKinds(CARD_KINDS).then((entries) => {
        for (const entry of entries) {
          if (fresh.includes(String(entry.stationId).toUpperCase())) showEntry(entry, entry.seq ?? null, false);
        }
      });
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
