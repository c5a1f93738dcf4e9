// The stream test page (`/test`): connect and disconnect buttons, the client's state with its
// last error, counters of connection events (`event: connection`, one per stream opened) and of
// observation events, the last event id, and a log pane with the client's own log lines. Served
// by buoycast; no build step.
//
// URL parameters (all optional): stations=44009,46042 · kinds=observation,spectrum or kinds=* ·
// heartbeatMs=15000 · share=0 (this tab opens its own stream) · access_token=JWT.

import { connect, KINDS } from "/client/buoycast.js";

const params = new URLSearchParams(location.search);
const $ = (id) => /** @type {HTMLElement} */ (document.getElementById(id));
/** Lines kept in the log pane. */
const LOG_LINES = 500;

const counts = { connection: 0, observation: 0, other: 0 };
/** The client while connected (between Connect and Disconnect). */
let client = null;
/** The resume point of the previous client: Connect after Disconnect goes on from there. */
let resumeAfter = null;

$("connect").addEventListener("click", start);
$("disconnect").addEventListener("click", stop);
setInterval(render, 500);

function start() {
  if (client) return;
  const kinds = params.get("kinds");
  const heartbeatMs = Number.parseInt(params.get("heartbeatMs") ?? "", 10);
  client = connect({
    stations: params.get("stations"),
    kinds: kinds === null ? null : kinds === "*" ? "*" : kinds.split(","),
    lastEventId: resumeAfter,
    token: params.get("access_token"),
    shareAcrossTabs: params.get("share") !== "0",
    ...(Number.isFinite(heartbeatMs) && heartbeatMs > 0 ? { heartbeatIntervalMs: heartbeatMs } : {}),
    onObservation: () => {
      counts.observation += 1;
      render();
    },
    onEvent: (type) => {
      if (type === "connection") counts.connection += 1;
      render();
    },
    onStateChange: () => render(),
    onRoleChange: () => render(),
    logger: paneLogger,
  });
  if (kinds !== null) {
    for (const kind of KINDS.filter((k) => k !== "observation")) {
      client.onEvent(kind, () => {
        counts.other += 1;
        render();
      });
    }
  }
  $("connect").toggleAttribute("disabled", true);
  $("disconnect").toggleAttribute("disabled", false);
  render();
}

function stop() {
  if (!client) return;
  const stopped = client;
  client = null;
  stopped.close();
  resumeAfter = stopped.lastEventId;
  render(stopped);
  $("connect").toggleAttribute("disabled", false);
  $("disconnect").toggleAttribute("disabled", true);
}

/** What the page shows, from the client (or the one just closed). */
function render(shown = client) {
  const stats = shown?.stats;
  const state = stats?.state ?? "disconnected";
  $("conn").dataset.state = state;
  $("status").textContent = state;
  $("role").textContent = stats && stats.role !== "solo" ? `(${stats.role})` : "";
  $("count-connection").textContent = String(counts.connection);
  $("count-observation").textContent = String(counts.observation);
  $("count-other").textContent = String(counts.other);
  if (stats) {
    $("last-id").textContent = stats.lastEventId === null ? "—" : String(stats.lastEventId);
    $("last-error").textContent = stats.lastError ?? "—";
    $("last-error-at").textContent = stats.lastErrorAt ?? "—";
  }
}

/** The client's logger: every line to the console and to the log pane. */
const paneLogger = Object.fromEntries(["info", "warn", "error"].map((level) => [level, (...args) => {
  console[level](...args);
  const pane = $("log");
  const line = document.createElement("div");
  line.className = level;
  line.textContent = args.map((a) => (a instanceof Error ? a.message : String(a))).join(" ");
  pane.append(line);
  while (pane.childElementCount > LOG_LINES) pane.firstElementChild?.remove();
  pane.scrollTop = pane.scrollHeight;
}]));
