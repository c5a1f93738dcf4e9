// The dashboard's settings, read once from its URL, and the state its modules share: the cards,
// the station filter shown, the counters, and the client once it is connected.

import { normaliseStations } from "/client/buoycast.js";

const params = new URLSearchParams(location.search);

/** The subscriber token of `?access_token=` (or of an earlier load of this tab), if any. */
export const token = takeToken();

/** Points per plot (`?history=`). */
export const HISTORY = clampInt(params.get("history"), 60, 5, 500);

/** The client module's options from the URL (everything but the stations, resume point and
 * callbacks). */
export const clientOptions = {
  heartbeatIntervalMs: clampInt(params.get("heartbeatMs"), 15000, 100, 3600000),
  pollIntervalMs: clampInt(params.get("pollMs"), 5000, 100, 600000),
  sseRetryIntervalMs: clampInt(params.get("sseRetryMs"), 30000, 100, 3600000),
  openTimeoutMs: clampInt(params.get("openMs"), 5000, 100, 600000),
  quiet: params.get("quiet") === "1",
  shareAcrossTabs: params.get("share") !== "0",
  token,
};

/** What the modules share. */
export const state = {
  /** @type {Map<string, {station: any, history: any[], latest: Record<string, any>, el: HTMLElement, parts: any, seq: number, freshTimer?: number, metaAsked?: boolean}>} */
  cards: new Map(),
  /** The stations shown (`null`: all), from `?stations=` and the filter form. */
  displayFilter: normaliseStations(params.get("stations")),
  /** Observations received since the page loaded. */
  received: 0,
  /** `Date.now()` of the last one, 0 before the first. */
  lastEventAt: 0,
  /** `Date.now()` of each arrival in the last minute. */
  arrivals: [],
  /** The client module's handle, once connected. */
  client: null,
};

/** Whether the card of `id` is shown under the current filter. */
export function shown(id) {
  return !state.displayFilter || state.displayFilter.includes(id);
}

export const $ = (id) => /** @type {HTMLElement} */ (document.getElementById(id));

/** Takes `?access_token=` out of the address bar and keeps it for this tab in sessionStorage. */
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

function clampInt(text, fallback, lo, hi) {
  const n = Number.parseInt(text ?? "", 10);
  return Number.isFinite(n) ? Math.min(Math.max(n, lo), hi) : fallback;
}
