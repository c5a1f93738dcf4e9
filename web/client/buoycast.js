// buoycast client: live buoy observations from a buoycast server, over Server-Sent Events with
// resume, de-duplication and a polling fallback. An ES module with no dependencies and no build
// step; types in buoycast.d.ts beside it.
//
//   import { connect } from "/client/buoycast.js";
//   const client = connect({
//     stations: ["44009", "46042"],
//     onObservation: (obs, meta) => console.log(meta.id, obs.stationId, obs.waveHeightM),
//     onStateChange: (state) => console.log("now", state),
//   });
//   // later: client.close();
//
// Behaviour (docs/AUDIO_CLIENTS.md has the event schema):
// - States: connecting → connected; on a stream failure reconnecting (exponential backoff with
//   jitter, resuming after the last id with `?lastEventId=`); after `maxSseFailures` failures in a
//   row, polling `GET /v1/observations?after=` every `pollIntervalMs` while retrying the stream
//   every `sseRetryIntervalMs`, back to connected when it works; disconnected after close().
// - Every observation is delivered once: ids are increasing integers and any id at or below the
//   last one seen is dropped.
// - The resume point is the last id of any event: `connection` and `heartbeat` carry the stream's
//   position (everything up to it that matches the filter has been sent), so a client that
//   reconnects before its first observation, or that sees few under a narrow filter, resumes
//   exactly where its stream was.
// - A heartbeat watchdog: no data at all (not even a heartbeat) for 2.5 × `heartbeatIntervalMs`
//   means the connection is dead, and it is replaced.

/** @typedef {import("./buoycast.d.ts").ConnectOptions} ConnectOptions */
/** @typedef {import("./buoycast.d.ts").ConnectionState} ConnectionState */
/** @typedef {import("./buoycast.d.ts").Observation} Observation */
/** @typedef {import("./buoycast.d.ts").ObservationMeta} ObservationMeta */
/** @typedef {import("./buoycast.d.ts").ClientStats} ClientStats */

/** The connection states, in the order a client usually meets them. */
export const STATES = Object.freeze(
  /** @type {const} */ (["connecting", "connected", "reconnecting", "polling", "disconnected"]),
);

/** Path of the SSE endpoint, relative to the server's base URL. */
export const STREAM_PATH = "v1/observations/stream";
/** Path of the polling endpoint, relative to the server's base URL. */
export const POLL_PATH = "v1/observations";

/** Defaults of the tunable options. */
export const DEFAULTS = Object.freeze({
  pollIntervalMs: 5000,
  sseRetryIntervalMs: 30000,
  maxSseFailures: 3,
  reconnectDelayMs: 1000,
  maxReconnectDelayMs: 30000,
  heartbeatIntervalMs: 15000,
  pollLimit: 1000,
  quiet: false,
});

const LOG_PREFIX = "[buoycast]";

/**
 * Opens a live connection to a buoycast server.
 * @param {ConnectOptions} options
 * @returns {BuoycastClient}
 */
export function connect(options) {
  return new BuoycastClient(options);
}

/** A live connection; see {@link connect}. */
export class BuoycastClient {
  /** @type {Required<Pick<ConnectOptions, keyof typeof DEFAULTS>>} */
  #opts;
  #base;
  /** @type {string[] | null} */
  #stations;
  #since;
  #onObservation;
  #onStateChange;
  #onEvent;
  #logger;
  #EventSource;
  #fetch;
  /** Subscriber token (JWT), or null: sent as `access_token` to the stream, `Authorization` to polls. */
  #token = null;

  /** @type {ConnectionState} */
  #state = "connecting";
  /**
   * Highest id delivered, or stream position received (`connection`, `heartbeat`), or covered by
   * a poll: the resume point and the de-duplication bound.
   */
  /** @type {number | null} */
  #lastId = null;
  /** "sse": the stream is the source; "polling": polls are, while the stream is retried. */
  #mode = "sse";
  /** @type {EventSource | null} */
  #es = null;
  /** The id of the previous event on the current EventSource (see #onStreamObservation). */
  #prevStreamId = "";
  /** Whether the current EventSource has received anything yet. */
  #streamAlive = false;
  /** Stream failures in a row (reset by the first event of a working stream). */
  #failures = 0;
  /** The server announced `shutdown`: the close that follows is expected. */
  #serverClosing = false;
  #closed = false;
  #timers = { reconnect: 0, watchdog: 0, poll: 0, probe: 0 };
  /** @type {AbortController | null} */
  #pollAbort = null;
  #stats = { received: 0, duplicates: 0, reconnects: 0, polls: 0, pollFailures: 0, lastEventAt: 0 };

  /** @param {ConnectOptions} options */
  constructor(options) {
    if (!options || typeof options !== "object") {
      throw new TypeError(`${LOG_PREFIX} connect() needs an options object`);
    }
    if (typeof options.onObservation !== "function") {
      throw new TypeError(`${LOG_PREFIX} options.onObservation must be a function`);
    }
    const opts = { ...DEFAULTS };
    for (const key of Object.keys(DEFAULTS)) {
      const value = /** @type {any} */ (options)[key];
      if (value === undefined) continue;
      if (key === "quiet") {
        opts.quiet = Boolean(value);
      } else if (!(typeof value === "number" && Number.isFinite(value) && value > 0)) {
        throw new TypeError(`${LOG_PREFIX} options.${key} must be a positive number`);
      } else {
        /** @type {any} */ (opts)[key] = value;
      }
    }
    this.#opts = opts;
    this.#base = baseUrl(options.url);
    this.#stations = normaliseStations(options.stations);
    this.#since = options.since ?? null;
    this.#onObservation = options.onObservation;
    this.#onStateChange = options.onStateChange ?? null;
    this.#onEvent = options.onEvent ?? null;
    this.#logger = options.logger ?? globalThis.console;
    this.#EventSource = options.EventSource ?? globalThis.EventSource;
    this.#fetch = options.fetch ?? globalThis.fetch?.bind(globalThis);
    if (options.token !== undefined && options.token !== null && options.token !== "") {
      if (typeof options.token !== "string") throw new TypeError(`${LOG_PREFIX} options.token must be a string`);
      this.#token = options.token;
    }
    if (typeof this.#EventSource !== "function") {
      throw new TypeError(`${LOG_PREFIX} no EventSource in this environment; pass options.EventSource`);
    }
    if (options.lastEventId !== undefined && options.lastEventId !== null) {
      const id = Number(options.lastEventId);
      if (!Number.isSafeInteger(id) || id < 0) {
        throw new TypeError(`${LOG_PREFIX} options.lastEventId must be a non-negative integer`);
      }
      this.#lastId = id;
    }
    this.#log("info", `connecting to ${this.#base}${STREAM_PATH}`, this.#stations ? `(stations ${this.#stations.join(",")})` : "");
    // The first state is reported after connect() has returned, so callbacks can use the handle.
    queueMicrotask(() => {
      if (this.#closed || this.#state !== "connecting") return;
      try {
        this.#onStateChange?.("connecting", { previous: null, reason: "start" });
      } catch (error) {
        this.#logger?.error?.(LOG_PREFIX, "onStateChange threw:", error);
      }
    });
    this.#openStream();
  }

  /** The current connection state. @returns {ConnectionState} */
  get state() {
    return this.#state;
  }

  /**
   * The resume point: the id of the last observation delivered, or a later stream position from
   * a `connection` or `heartbeat` event; null before the first.
   */
  get lastEventId() {
    return this.#lastId;
  }

  /** The station filter (uppercase ids), or null for every station. */
  get stations() {
    return this.#stations ? [...this.#stations] : null;
  }

  /** Counters, for dashboards and tests. @returns {ClientStats} */
  get stats() {
    return { ...this.#stats, state: this.#state, lastEventId: this.#lastId };
  }

  /**
   * Changes the station filter and reconnects; observations of newly added stations start after
   * the current resume point (nothing older is replayed for them).
   * @param {string[] | string | null | undefined} stations
   */
  setStations(stations) {
    const next = normaliseStations(stations);
    if (this.#closed || sameList(next, this.#stations)) return;
    this.#stations = next;
    this.#log("info", `station filter ${next ? next.join(",") : "(all)"}`);
    if (this.#mode === "polling") return; // the next poll uses it; so does the next stream retry
    this.#dropStream();
    this.#clearTimer("reconnect");
    this.#emitState("connecting", "station filter changed");
    this.#openStream();
  }

  /** Closes the connection for good; no callback is called afterwards. */
  close() {
    if (this.#closed) return;
    this.#dropStream();
    for (const name of /** @type {const} */ (["reconnect", "watchdog", "poll", "probe"])) {
      this.#clearTimer(name);
    }
    this.#pollAbort?.abort();
    this.#emitState("disconnected", "closed");
    this.#closed = true;
    this.#log("info", "closed");
  }

  // --- the stream -----------------------------------------------------------------------------

  #openStream() {
    if (this.#closed) return;
    const url = this.#streamUrl();
    /** @type {EventSource} */
    let es;
    try {
      es = new this.#EventSource(url);
    } catch (error) {
      this.#log("warn", "cannot open the stream:", error);
      this.#es = null;
      this.#onStreamFailure("cannot open the stream");
      return;
    }
    this.#es = es;
    this.#prevStreamId = "";
    this.#streamAlive = false;
    const current = () => this.#es === es && !this.#closed;
    es.addEventListener("open", () => {
      if (!current()) return;
      this.#armWatchdog();
      if (this.#mode === "polling") {
        this.#mode = "sse";
        this.#clearTimer("poll");
        this.#clearTimer("probe");
        this.#pollAbort?.abort();
        this.#log("info", "the stream works again; polling stopped");
      }
      this.#emitState("connected", "stream open");
    });
    es.addEventListener("connection", (ev) => {
      if (!current()) return;
      this.#alive();
      this.#onStreamPosition(/** @type {MessageEvent} */ (ev));
      this.#emitEvent("connection", parseJson(ev.data));
    });
    es.addEventListener("heartbeat", (ev) => {
      if (!current()) return;
      this.#alive();
      this.#onStreamPosition(/** @type {MessageEvent} */ (ev));
      this.#emitEvent("heartbeat", parseJson(ev.data));
    });
    es.addEventListener("observation", (ev) => {
      if (!current()) return;
      this.#alive();
      this.#onStreamObservation(/** @type {MessageEvent} */ (ev));
    });
    es.addEventListener("reset", (ev) => {
      if (!current()) return;
      this.#alive();
      this.#prevStreamId = /** @type {MessageEvent} */ (ev).lastEventId;
      const data = parseJson(ev.data);
      const oldest = Number(data?.oldestSeq);
      this.#log("warn", `reset: ${data?.reason ?? "?"}: ${data?.message ?? ""}`);
      // The server continues after oldestSeq - 1: that is the new de-duplication bound (it may
      // be lower than ours when the server's log was reset).
      if (Number.isSafeInteger(oldest) && oldest >= 1) this.#lastId = oldest - 1;
      this.#emitEvent("reset", data);
    });
    es.addEventListener("shutdown", (ev) => {
      if (!current()) return;
      this.#alive();
      this.#serverClosing = true;
      this.#log("info", "the server is shutting down; will reconnect");
      this.#emitEvent("shutdown", parseJson(ev.data));
    });
    es.addEventListener("error", () => {
      if (!current()) return;
      this.#dropStream();
      this.#onStreamFailure(this.#streamAlive ? "the stream was closed" : "the stream could not be opened");
    });
  }

  /** @param {MessageEvent} ev */
  #onStreamObservation(ev) {
    const data = parseJson(ev.data);
    if (!data || typeof data !== "object") {
      this.#log("warn", "ignoring an observation that is not JSON");
      return;
    }
    // EventSource repeats the previous id for an event that has none (a producer's observation
    // without seq), so an id equal to the previous one on this stream means "no id".
    const raw = ev.lastEventId;
    const hasId = raw !== "" && raw !== this.#prevStreamId;
    this.#prevStreamId = raw;
    this.#deliver(data, hasId ? Number(raw) : null, "sse");
  }

  /**
   * A `connection` or `heartbeat` event: its id is the stream's position (every observation up
   * to it that matches the filter has been sent), which becomes the resume point. It only moves
   * forward; a `reset` is what moves it back.
   * @param {MessageEvent} ev
   */
  #onStreamPosition(ev) {
    const raw = ev.lastEventId;
    const fresh = raw !== "" && raw !== this.#prevStreamId;
    this.#prevStreamId = raw;
    if (!fresh) return; // no id of its own (an older server): EventSource repeats the last one
    const id = Number(raw);
    if (!Number.isSafeInteger(id) || id < 0) return;
    if (this.#lastId === null || id > this.#lastId) this.#lastId = id;
  }

  /** Something arrived: the stream works. */
  #alive() {
    this.#streamAlive = true;
    this.#failures = 0;
    this.#stats.lastEventAt = Date.now();
    this.#armWatchdog();
  }

  /** @param {string} reason */
  #onStreamFailure(reason) {
    if (this.#closed) return;
    if (this.#mode === "polling") {
      this.#log("info", `stream retry failed (${reason}); still polling`);
      this.#scheduleProbe();
      return;
    }
    let delay;
    if (this.#serverClosing) {
      // An announced shutdown is not a failure: reconnect soon (elsewhere, behind a balancer).
      this.#serverClosing = false;
      delay = jitter(this.#opts.reconnectDelayMs / 2);
    } else {
      this.#failures += 1;
      if (this.#failures >= this.#opts.maxSseFailures) {
        this.#startPolling(reason);
        return;
      }
      delay = jitter(
        Math.min(this.#opts.maxReconnectDelayMs, this.#opts.reconnectDelayMs * 2 ** (this.#failures - 1)),
      );
    }
    this.#log("warn", `${reason}; reconnecting in ${(delay / 1000).toFixed(1)} s` +
      (this.#lastId !== null ? ` after id ${this.#lastId}` : ""));
    this.#emitState("reconnecting", reason);
    this.#clearTimer("reconnect");
    this.#timers.reconnect = setTimeout(() => {
      this.#timers.reconnect = 0;
      this.#stats.reconnects += 1;
      this.#openStream();
    }, delay);
  }

  #dropStream() {
    this.#clearTimer("watchdog");
    if (this.#es) {
      this.#es.close();
      this.#es = null;
    }
  }

  #armWatchdog() {
    this.#clearTimer("watchdog");
    const limit = this.#opts.heartbeatIntervalMs * 2.5;
    this.#timers.watchdog = setTimeout(() => {
      this.#timers.watchdog = 0;
      if (this.#closed || !this.#es) return;
      this.#log("warn", `nothing received for ${(limit / 1000).toFixed(1)} s (not even a heartbeat)`);
      this.#dropStream();
      this.#onStreamFailure("the stream went silent");
    }, limit);
  }

  #streamUrl() {
    const url = new URL(STREAM_PATH, this.#base);
    if (this.#stations) url.searchParams.set("stations", this.#stations.join(","));
    if (this.#lastId !== null) {
      url.searchParams.set("lastEventId", String(this.#lastId));
    } else if (this.#since) {
      url.searchParams.set("since", String(this.#since));
    }
    // An EventSource cannot set headers: the token goes in the query.
    if (this.#token) url.searchParams.set("access_token", this.#token);
    return url.href;
  }

  // --- polling --------------------------------------------------------------------------------

  /** @param {string} reason */
  #startPolling(reason) {
    this.#mode = "polling";
    this.#failures = 0;
    this.#log("warn", `${reason}; the stream failed ${this.#opts.maxSseFailures} times in a row: ` +
      `polling every ${this.#opts.pollIntervalMs / 1000} s, retrying the stream every ` +
      `${this.#opts.sseRetryIntervalMs / 1000} s`);
    this.#emitState("polling", reason);
    this.#scheduleProbe();
    void this.#poll();
  }

  #scheduleProbe() {
    this.#clearTimer("probe");
    this.#timers.probe = setTimeout(() => {
      this.#timers.probe = 0;
      if (this.#closed || this.#mode !== "polling") return;
      this.#log("info", "retrying the stream");
      this.#stats.reconnects += 1;
      this.#openStream();
    }, this.#opts.sseRetryIntervalMs);
  }

  async #poll() {
    this.#timers.poll = 0;
    if (this.#closed || this.#mode !== "polling") return;
    const abort = new AbortController();
    this.#pollAbort = abort;
    try {
      if (this.#lastId === null) this.#lastId = await this.#head(abort.signal);
      for (;;) {
        const url = new URL(POLL_PATH, this.#base);
        url.searchParams.set("after", String(this.#lastId ?? 0));
        url.searchParams.set("limit", String(this.#opts.pollLimit));
        if (this.#stations) url.searchParams.set("stations", this.#stations.join(","));
        const page = await this.#getJson(url, abort.signal);
        this.#stats.polls += 1;
        const list = Array.isArray(page?.observations) ? page.observations : [];
        for (const item of list) {
          if (abort.signal.aborted) return;
          const { seq, ...observation } = item ?? {};
          this.#deliver(observation, Number(seq), "poll");
        }
        const lastSeq = Number(page?.lastSeq);
        // Everything up to lastSeq that matches the filter has been returned.
        if (Number.isSafeInteger(lastSeq) && lastSeq > (this.#lastId ?? 0) && !abort.signal.aborted) {
          this.#lastId = lastSeq;
        }
        if (list.length < this.#opts.pollLimit || abort.signal.aborted) break;
      }
    } catch (error) {
      if (!abort.signal.aborted) {
        this.#stats.pollFailures += 1;
        this.#log("warn", "poll failed:", errorText(error));
      }
    } finally {
      if (this.#pollAbort === abort) this.#pollAbort = null;
      if (!this.#closed && this.#mode === "polling" && !abort.signal.aborted) {
        this.#timers.poll = setTimeout(() => void this.#poll(), this.#opts.pollIntervalMs);
      }
    }
  }

  /**
   * The newest seq the server has (for a client that has seen nothing yet and starts polling:
   * it wants what comes next, not the whole history).
   * @param {AbortSignal} signal
   */
  async #head(signal) {
    const latest = await this.#getJson(new URL("v1/observations/latest", this.#base), signal);
    let head = 0;
    for (const o of Array.isArray(latest?.observations) ? latest.observations : []) {
      const seq = Number(o?.seq);
      if (Number.isSafeInteger(seq) && seq > head) head = seq;
    }
    return head;
  }

  /**
   * @param {URL} url
   * @param {AbortSignal} signal
   */
  async #getJson(url, signal) {
    if (typeof this.#fetch !== "function") throw new Error("no fetch in this environment");
    /** @type {Record<string, string>} */
    const headers = { Accept: "application/json" };
    if (this.#token) headers.Authorization = `Bearer ${this.#token}`;
    const response = await this.#fetch(url.href, { signal, headers });
    if (!response.ok) throw new Error(`${url.pathname}: HTTP ${response.status}`);
    return response.json();
  }

  // --- delivery -------------------------------------------------------------------------------

  /**
   * @param {Observation} observation
   * @param {number | null} id
   * @param {"sse" | "poll"} via
   */
  #deliver(observation, id, via) {
    if (id !== null) {
      if (!Number.isSafeInteger(id)) {
        this.#log("warn", "ignoring an observation with a malformed id");
        return;
      }
      if (this.#lastId !== null && id <= this.#lastId) {
        this.#stats.duplicates += 1;
        return;
      }
      this.#lastId = id;
    }
    this.#stats.received += 1;
    this.#stats.lastEventAt = Date.now();
    try {
      this.#onObservation(observation, { id, via, receivedAt: Date.now() });
    } catch (error) {
      this.#logger?.error?.(LOG_PREFIX, "onObservation threw:", error);
    }
  }

  /**
   * @param {ConnectionState} state
   * @param {string} reason
   */
  #emitState(state, reason) {
    if (this.#closed || (state === this.#state && state !== "connecting")) return;
    const previous = this.#state;
    this.#state = state;
    if (state === "connected") this.#log("info", previous === "connecting" ? "connected" : `connected (was ${previous})`);
    try {
      this.#onStateChange?.(state, { previous, reason });
    } catch (error) {
      this.#logger?.error?.(LOG_PREFIX, "onStateChange threw:", error);
    }
  }

  /**
   * @param {"connection" | "heartbeat" | "reset" | "shutdown"} type
   * @param {unknown} data
   */
  #emitEvent(type, data) {
    try {
      this.#onEvent?.(type, data);
    } catch (error) {
      this.#logger?.error?.(LOG_PREFIX, "onEvent threw:", error);
    }
  }

  /** @param {"reconnect" | "watchdog" | "poll" | "probe"} name */
  #clearTimer(name) {
    if (this.#timers[name]) {
      clearTimeout(this.#timers[name]);
      this.#timers[name] = 0;
    }
  }

  /**
   * @param {"info" | "warn"} level
   * @param {...unknown} args
   */
  #log(level, ...args) {
    if (this.#opts.quiet) return;
    this.#logger?.[level]?.(LOG_PREFIX, ...args.filter((a) => a !== ""));
  }
}

// --- helpers ------------------------------------------------------------------------------------

/**
 * The server's base URL, ending in "/". Default: the server this module was loaded from.
 * @param {string | URL | undefined} url
 */
function baseUrl(url) {
  const page = globalThis.location?.href;
  let base;
  if (url !== undefined && url !== null && url !== "") {
    base = page ? new URL(String(url), page) : new URL(String(url));
  } else if (/^https?:/.test(import.meta.url)) {
    base = new URL("../", import.meta.url);
  } else if (page) {
    base = new URL("/", page);
  } else {
    throw new TypeError(`${LOG_PREFIX} options.url is required outside a browser`);
  }
  let path = base.pathname.replace(/\/v1\/observations\/stream\/?$/, "/");
  if (!path.endsWith("/")) path += "/";
  base.pathname = path;
  base.search = "";
  base.hash = "";
  return base.href;
}

/**
 * Uppercase, trimmed, de-duplicated station ids, or null for "every station".
 * @param {string[] | string | null | undefined} stations
 * @returns {string[] | null}
 */
export function normaliseStations(stations) {
  if (stations === undefined || stations === null) return null;
  const list = Array.isArray(stations) ? stations : String(stations).split(",");
  const ids = [...new Set(list.map((s) => String(s).trim().toUpperCase()).filter(Boolean))];
  return ids.length ? ids : null;
}

/** @param {string[] | null} a @param {string[] | null} b */
function sameList(a, b) {
  if (a === null || b === null) return a === b;
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** A delay between half and all of `ms`, so that many clients do not retry in step. @param {number} ms */
function jitter(ms) {
  return Math.round(ms / 2 + Math.random() * (ms / 2));
}

/** @param {string} text */
function parseJson(text) {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

/** @param {unknown} error */
function errorText(error) {
  return error instanceof Error ? error.message : String(error);
}
