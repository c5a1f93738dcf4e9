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
//   every `sseRetryIntervalMs`, back to connected when it works; disconnected after close() or a
//   refused token.
// - Every observation is delivered once: ids are increasing integers and any id at or below the
//   last one seen is dropped.
// - The resume point is the last id of any event: `connection` and `heartbeat` carry the stream's
//   position (everything up to it that matches the filter has been sent), so a client that
//   reconnects before its first observation, or that sees few under a narrow filter, resumes
//   exactly where its stream was.
// - A heartbeat watchdog: no data at all (not even a heartbeat) for 2.5 × `heartbeatIntervalMs`
//   means the connection is dead, and it is replaced. An open watchdog: a stream that has not
//   opened (sent its first event, which the server writes with the response head) within
//   `openTimeoutMs` — queued behind the browser's connection limit, or a server that accepts
//   and never answers — is a failure like any other; so is a poll that has not answered within
//   `requestTimeoutMs`. A transient refusal (`event: unavailable`) is a failure too, retried no
//   sooner than the server asks.
// - A refused token is not retried for ever. An EventSource does not say why a stream was
//   refused, so a refused stream is retried like any failure; but a poll (the fallback, after
//   `maxSseFailures` failures) answered 401 or 403 puts the client in `disconnected` with the
//   server's reason in `lastError`, until `setToken()` (a fresh token) or `setStations()`
//   connects it again.
// - One stream per browser, not per tab (`shareAcrossTabs`, on by default): the clients of one
//   origin with the same base URL, station filter and token form a group. One of them, the
//   leader, holds a Web Lock named after the group, opens the stream and shares everything it
//   receives over a BroadcastChannel of the same name; the others (followers) deliver what it
//   shares, with the same states and the same de-duplication by id. When the leader closes, the
//   next tab in the lock's queue takes over; when it freezes (alive but silent), a follower
//   steals the lock. Either way the new leader resumes from the last id it saw, and every tab
//   drops what it already has, so nothing is lost and nothing is delivered twice. Without Web
//   Locks or BroadcastChannel (Node, old browsers) every client has its own stream (role
//   "solo"). docs/STREAMING.md explains the design.
// - Event kinds (`kinds`, SPEC §3a): the server sends `observation` events unless asked for more
//   (`kinds: ["observation", "spectrum"]` or `"*"`), each kind as its own event name, all in one
//   ordered log of ids. `onObservation` gets `observation` events; `client.onEvent(kind, handler)`
//   gets the events of any kind, from the stream and from polls alike.
// - The last failure is kept (`lastError`, `lastErrorAt`, also in `stats`) across reconnects,
//   and every log line reads `[buoycast] <ISO time> message`.

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

/**
 * The event kinds a server sends (SPEC §3a), each its own SSE event name; `observation` is the
 * one a stream sends when no `kinds` are asked for.
 */
export const KINDS = Object.freeze(/** @type {const} */ ([
  "observation", "waveSummary", "spectrum", "ocean", "continuousWind", "tsunami", "supplemental",
  "solarRadiation", "rain", "drift", "currents", "derived",
]));

/** Defaults of the tunable options. */
export const DEFAULTS = Object.freeze({
  pollIntervalMs: 5000,
  sseRetryIntervalMs: 30000,
  maxSseFailures: 3,
  reconnectDelayMs: 1000,
  maxReconnectDelayMs: 30000,
  heartbeatIntervalMs: 15000,
  openTimeoutMs: 5000,
  requestTimeoutMs: 15000,
  pollLimit: 1000,
  quiet: false,
  shareAcrossTabs: true,
});

/** The options of DEFAULTS that are switches, not durations or counts. */
const SWITCHES = new Set(["quiet", "shareAcrossTabs"]);

/** How often a leader tells the other tabs of its group that it is alive (ms). */
export const LEADER_PING_MS = 500;
/** Silence from the leader after which a follower asks whether it is still there (ms). */
const LEADER_SILENCE_MS = 800;
/**
 * How long a leader that was asked has to answer before a follower takes the stream (ms), plus
 * a random part up to PROBE_JITTER_MS so that the followers of a frozen leader do not all take
 * over at once (the first one's announcement stops the others).
 */
const PROBE_WAIT_MS = 300;
const PROBE_JITTER_MS = 250;
/** Messages a follower keeps while it catches up over REST; older ones are fetched again. */
const CATCH_UP_BUFFER = 10000;

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
  /** `kinds=` as sent to the server: a comma list, `*`, or null (the server's default). */
  #kinds = null;
  /** Handlers of `onEvent(kind, handler)`, by kind. @type {Map<string, Set<Function>>} */
  #kindHandlers = new Map();
  #onStateChange;
  #onEvent;
  #onRoleChange;
  #logger;
  #EventSource;
  #fetch;
  /** Subscriber token (JWT), or null: sent as `access_token` to the stream, `Authorization` to polls. */
  #token = null;
  /**
   * Set while the server has refused this client (401/403): the tab-sharing APIs of the group it
   * left (null when it had none), for setToken() or setStations() to join again.
   * @type {{ apis: ShareApis | null } | null}
   */
  #refusal = null;

  /** @type {ConnectionState} */
  #state = "connecting";
  /**
   * "solo": this client's own stream; "leader": its stream, shared with the other tabs of its
   * group; "follower": what the group's leader shares.
   * @type {import("./buoycast.d.ts").ClientRole}
   */
  #role = "solo";
  /** The tab group while sharing (roles leader and follower), else null. @type {TabGroup | null} */
  #group = null;
  /**
   * A follower's catch-up over REST: the leader's messages wait in `buffer` until the client
   * has fetched what it missed before them. @type {{ buffer: any[], abort: AbortController } | null}
   */
  #catchUp = null;
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
  #timers = { reconnect: 0, watchdog: 0, open: 0, poll: 0, probe: 0 };
  /** @type {AbortController | null} */
  #pollAbort = null;
  #stats = {
    received: 0, duplicates: 0, reconnects: 0, polls: 0, pollFailures: 0, lastEventAt: 0, takeovers: 0,
  };
  /** The last failure's message (a stream that failed or was refused, a poll), kept until the next one. */
  #lastError = null;
  /** When it happened, as an ISO 8601 string. @type {string | null} */
  #lastErrorAt = null;

  /** @param {ConnectOptions} options */
  constructor(options) {
    if (!options || typeof options !== "object") {
      throw new TypeError(`${LOG_PREFIX} connect() needs an options object`);
    }
    const kinds = normaliseKinds(options.kinds);
    // With `kinds`, the events may all go to onEvent(kind, handler) handlers instead.
    const needsOnObservation = kinds === null || options.onObservation !== undefined;
    if (needsOnObservation && typeof options.onObservation !== "function") {
      throw new TypeError(`${LOG_PREFIX} options.onObservation must be a function`);
    }
    const opts = { ...DEFAULTS };
    for (const key of Object.keys(DEFAULTS)) {
      const value = /** @type {any} */ (options)[key];
      if (value === undefined) continue;
      if (SWITCHES.has(key)) {
        /** @type {any} */ (opts)[key] = Boolean(value);
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
    this.#onObservation = options.onObservation ?? null;
    this.#kinds = kinds;
    this.#onStateChange = options.onStateChange ?? null;
    this.#onEvent = options.onEvent ?? null;
    this.#onRoleChange = options.onRoleChange ?? null;
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
        this.#logError("onStateChange threw:", error);
      }
    });
    // A `since` replay (without a resume point) is this client's own request: its own stream.
    const replay = this.#since !== null && this.#lastId === null;
    const share = this.#opts.shareAcrossTabs && !replay ? shareApis() : null;
    if (share) {
      this.#role = "follower"; // until the group's lock is granted (no change to report)
      this.#joinGroup(share);
    } else {
      this.#openStream();
    }
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

  /**
   * "leader" (this tab holds the stream and shares it), "follower" (another tab does) or "solo"
   * (no sharing: turned off, unsupported here, or a `since` replay).
   * @returns {import("./buoycast.d.ts").ClientRole}
   */
  get role() {
    return this.#role;
  }

  /** Counters, for dashboards and tests. @returns {ClientStats} */
  get stats() {
    return {
      ...this.#stats,
      state: this.#state,
      lastEventId: this.#lastId,
      role: this.#role,
      lastError: this.#lastError,
      lastErrorAt: this.#lastErrorAt,
    };
  }

  /** The message of the last failure (a stream that failed or was refused, a poll), or null. */
  get lastError() {
    return this.#lastError;
  }

  /** When the last failure happened (ISO 8601), or null. */
  get lastErrorAt() {
    return this.#lastErrorAt;
  }

  /** The kinds asked of the server (`"*"`, a list), or null for its default (`observation`). */
  get kinds() {
    if (this.#kinds === null || this.#kinds === "*") return this.#kinds;
    return this.#kinds.split(",");
  }

  /**
   * Calls `handler(data, meta)` for every event of `kind` (one of KINDS) delivered from now on,
   * streamed or polled, once each; `data` is the event's JSON (`kind`, `stationId`, `timestamp`
   * and its fields). Ask the server for the kind with the `kinds` option. Returns a function
   * that removes the handler.
   * @param {string} kind
   * @param {(data: any, meta: ObservationMeta) => void} handler
   * @returns {() => void}
   */
  onEvent(kind, handler) {
    if (!KINDS.includes(/** @type {any} */ (kind))) {
      throw new TypeError(`${LOG_PREFIX} unknown event kind ${JSON.stringify(kind)}; one of ${KINDS.join(", ")}`);
    }
    if (typeof handler !== "function") throw new TypeError(`${LOG_PREFIX} the handler must be a function`);
    let handlers = this.#kindHandlers.get(kind);
    if (!handlers) {
      handlers = new Set();
      this.#kindHandlers.set(kind, handlers);
    }
    // A wrapper of its own, so that subscribing the same function twice needs two unsubscribes.
    const entry = (/** @type {any} */ data, /** @type {ObservationMeta} */ meta) => handler(data, meta);
    handlers.add(entry);
    return () => {
      handlers.delete(entry);
    };
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
    if (this.#refusal) {
      this.#restart("station filter changed");
      return;
    }
    if (this.#group) {
      // Another filter is another group: leave this one (its next tab takes the stream over)
      // and join the group of the new filter, or lead it.
      const apis = this.#group.apis;
      this.#leaveGroup();
      this.#emitState("connecting", "station filter changed");
      this.#joinGroup(apis);
      return;
    }
    if (this.#mode === "polling") return; // the next poll uses it; so does the next stream retry
    this.#dropStream();
    this.#clearTimer("reconnect");
    this.#emitState("connecting", "station filter changed");
    this.#openStream();
  }

  /**
   * Replaces the subscriber token — a fresh one before the old expires, or after the server
   * refused it — and reconnects, resuming after the current id.
   * @param {string | null | undefined} token
   */
  setToken(token) {
    if (this.#closed) return;
    const next = token === undefined || token === null || token === "" ? null : token;
    if (next !== null && typeof next !== "string") throw new TypeError(`${LOG_PREFIX} token must be a string`);
    if (next === this.#token && !this.#refusal) return;
    this.#token = next;
    this.#log("info", next ? "new token" : "token removed");
    this.#restart("token changed");
  }

  /**
   * Opens the stream again from the current resume point: in the tab group of the current
   * parameters when sharing, else alone.
   * @param {string} reason
   */
  #restart(reason) {
    const apis = this.#group?.apis ?? this.#refusal?.apis ?? null;
    this.#refusal = null;
    if (apis) {
      this.#leaveGroup();
      this.#emitState("connecting", reason);
      this.#joinGroup(apis);
      return;
    }
    this.#stopStreaming();
    this.#emitState("connecting", reason);
    this.#openStream();
  }

  /**
   * The server refused this client's token (401) or what it asked for (403): retrying would be
   * refused again, so the client stops, with the server's reason in lastError, until
   * setToken() or setStations().
   * @param {number} status
   * @param {string} message the server's message, if it gave one
   */
  #refused(status, message) {
    const what = status === 401 ? "the server refused the token" : "the token does not grant this request";
    const text = `${what} (HTTP ${status})${message ? `: ${message}` : ""}`;
    this.#setError(text);
    this.#log("error", `${text}; not retrying (setToken() or setStations() connects again)`);
    this.#refusal = { apis: this.#group?.apis ?? null };
    this.#leaveGroup();
    this.#endCatchUp();
    this.#stopStreaming();
    this.#emitState("disconnected", text);
  }

  /** Closes the connection for good; no callback is called afterwards. */
  close() {
    if (this.#closed) return;
    this.#leaveGroup();
    this.#stopStreaming();
    this.#emitState("disconnected", "closed");
    this.#closed = true;
    this.#log("info", "closed");
  }

  // --- the stream -----------------------------------------------------------------------------

  #openStream() {
    if (this.#closed || this.#role === "follower") return;
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
    // A stream that never opens (queued behind the browser's connection limit, or a server that
    // accepts and never answers) would otherwise stay "connecting" for ever: it is a failure.
    this.#clearTimer("open");
    this.#timers.open = setTimeout(() => {
      this.#timers.open = 0;
      if (!current()) return;
      this.#log("warn", `the stream did not open within ${(this.#opts.openTimeoutMs / 1000).toFixed(1)} s`);
      this.#dropStream();
      this.#onStreamFailure("the stream did not open in time");
    }, this.#opts.openTimeoutMs);
    // The response has begun; the stream counts as open with its first event (the server
    // writes `connection` with the response head), which #alive() takes.
    es.addEventListener("open", () => {
      if (!current()) return;
      this.#armWatchdog();
    });
    for (const type of /** @type {const} */ (["connection", "heartbeat"])) {
      es.addEventListener(type, (ev) => {
        if (!current()) return;
        this.#alive();
        const after = this.#lastId;
        this.#onStreamPosition(/** @type {MessageEvent} */ (ev));
        const data = parseJson(ev.data);
        this.#share({ k: "event", type, data, after, id: this.#lastId });
        this.#emitEvent(type, data);
      });
    }
    for (const kind of this.#streamKinds()) {
      es.addEventListener(kind, (ev) => {
        if (!current()) return;
        this.#alive();
        this.#onStreamObservation(/** @type {MessageEvent} */ (ev), kind);
      });
    }
    es.addEventListener("reset", (ev) => {
      if (!current()) return;
      this.#alive();
      this.#prevStreamId = /** @type {MessageEvent} */ (ev).lastEventId;
      const data = parseJson(ev.data);
      const after = this.#lastId;
      this.#onReset(data);
      this.#share({ k: "event", type: "reset", data, after, id: this.#lastId });
      this.#emitEvent("reset", data);
    });
    // A transient refusal as an event stream (SPEC §4): the stream ends after this event; retry
    // no sooner than the server asks.
    es.addEventListener("unavailable", (ev) => {
      if (!current()) return;
      const data = parseJson(ev.data);
      const wait = Number(data?.retryAfterMs);
      this.#log("warn", `the server cannot take the stream now: ${data?.code ?? "?"}: ${data?.message ?? ""}`);
      this.#share({ k: "event", type: "unavailable", data, after: this.#lastId, id: this.#lastId });
      this.#emitEvent("unavailable", data);
      this.#dropStream();
      this.#onStreamFailure("the server refused the stream for now", Number.isFinite(wait) && wait > 0 ? wait : 0,
        `${data?.code ?? "unavailable"}: ${data?.message ?? ""}`);
    });
    es.addEventListener("shutdown", (ev) => {
      if (!current()) return;
      this.#alive();
      this.#serverClosing = true;
      this.#log("info", "the server is shutting down; will reconnect");
      const data = parseJson(ev.data);
      this.#share({ k: "event", type: "shutdown", data, after: this.#lastId, id: this.#lastId });
      this.#emitEvent("shutdown", data);
    });
    es.addEventListener("error", () => {
      if (!current()) return;
      this.#dropStream();
      this.#onStreamFailure(this.#streamAlive ? "the stream was closed" : "the stream could not be opened");
    });
  }

  /** The event names to listen to on the stream: the kinds asked for (all of them for `*`). */
  #streamKinds() {
    if (this.#kinds === null) return ["observation"];
    return this.#kinds === "*" ? [...KINDS] : this.#kinds.split(",");
  }

  /**
   * @param {MessageEvent} ev
   * @param {string} kind the event's name
   */
  #onStreamObservation(ev, kind) {
    const data = parseJson(ev.data);
    if (!data || typeof data !== "object") {
      this.#log("warn", `ignoring a${kind === "observation" ? "n" : ""} ${kind} event that is not JSON`);
      return;
    }
    // EventSource repeats the previous id for an event that has none (a producer's observation
    // without seq), so an id equal to the previous one on this stream means "no id".
    const raw = ev.lastEventId;
    const hasId = raw !== "" && raw !== this.#prevStreamId;
    this.#prevStreamId = raw;
    this.#deliver(data, hasId ? Number(raw) : null, "sse", kind);
  }

  /**
   * A `reset` (from the stream, or shared by the leader tab): the server continues after
   * oldestSeq - 1, which becomes the new de-duplication bound (it may be lower than ours when the
   * server's log was reset).
   * @param {any} data
   */
  #onReset(data) {
    const oldest = Number(data?.oldestSeq);
    this.#log("warn", `reset: ${data?.reason ?? "?"}: ${data?.message ?? ""}`);
    if (Number.isSafeInteger(oldest) && oldest >= 1) this.#lastId = oldest - 1;
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
    if (!this.#streamAlive) this.#opened();
    this.#streamAlive = true;
    this.#failures = 0;
    this.#stats.lastEventAt = Date.now();
    this.#armWatchdog();
  }

  /** The current stream's first event: it is open (and polling, if it was, stops). */
  #opened() {
    this.#clearTimer("open");
    if (this.#mode === "polling") {
      this.#mode = "sse";
      this.#clearTimer("poll");
      this.#clearTimer("probe");
      this.#pollAbort?.abort();
      this.#log("info", "the stream works again; polling stopped");
    }
    this.#emitState("connected", "stream open");
  }

  /**
   * @param {string} reason
   * @param {number} [atLeastMs] the server's own retry delay, if it gave one
   * @param {string} [detail] what the server said, if it said anything
   */
  #onStreamFailure(reason, atLeastMs = 0, detail = "") {
    if (this.#closed) return;
    // The close that follows an announced shutdown is expected, not an error.
    if (!this.#serverClosing) this.#setError(detail ? `${reason}: ${detail}` : reason);
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
      delay = Math.max(atLeastMs, jitter(
        Math.min(this.#opts.maxReconnectDelayMs, this.#opts.reconnectDelayMs * 2 ** (this.#failures - 1)),
      ));
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
    this.#clearTimer("open");
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
    if (this.#kinds !== null) url.searchParams.set("kinds", this.#kinds);
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
    if (this.#closed || this.#mode !== "polling" || this.#role === "follower") return;
    const abort = new AbortController();
    this.#pollAbort = abort;
    try {
      await this.#fetchAfter(abort.signal);
    } catch (error) {
      if (!abort.signal.aborted) {
        this.#stats.pollFailures += 1;
        if (isRefusal(error)) {
          this.#refused(error.status, error.serverMessage);
          return;
        }
        this.#setError(`poll failed: ${errorText(error)}`);
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
   * Fetches every observation after the resume point, page by page, up to the server's head,
   * and delivers them; the resume point moves to the head (everything up to it that matches the
   * filter has been returned). Used by polling and by a follower catching up.
   * @param {AbortSignal} signal
   */
  async #fetchAfter(signal) {
    if (this.#lastId === null) {
      const head = await this.#head(signal);
      if (signal.aborted) return;
      if (this.#lastId === null) {
        this.#lastId = head;
        this.#share({ k: "pos", after: null, id: head });
      }
    }
    for (;;) {
      const url = new URL(POLL_PATH, this.#base);
      url.searchParams.set("after", String(this.#lastId ?? 0));
      url.searchParams.set("limit", String(this.#opts.pollLimit));
      if (this.#stations) url.searchParams.set("stations", this.#stations.join(","));
      if (this.#kinds !== null) url.searchParams.set("kinds", this.#kinds);
      const page = await this.#getJson(url, signal);
      if (signal.aborted) return;
      this.#stats.polls += 1;
      const list = Array.isArray(page?.observations) ? page.observations : [];
      for (const item of list) {
        if (signal.aborted) return;
        const { seq, ...observation } = item ?? {};
        // Every item names its kind; an older server's have none: they are observations.
        const kind = typeof observation.kind === "string" ? observation.kind : "observation";
        this.#deliver(observation, Number(seq), "poll", kind);
      }
      const lastSeq = Number(page?.lastSeq);
      // Everything up to lastSeq that matches the filter has been returned.
      if (Number.isSafeInteger(lastSeq) && lastSeq > (this.#lastId ?? 0) && !signal.aborted) {
        const after = this.#lastId;
        this.#lastId = lastSeq;
        this.#share({ k: "pos", after, id: lastSeq });
      }
      if (list.length < this.#opts.pollLimit || signal.aborted) return;
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
    // A request that never answers must not stop polling for ever: it has requestTimeoutMs.
    const limit = new AbortController();
    const stop = () => limit.abort();
    signal.addEventListener("abort", stop, { once: true });
    const timer = setTimeout(stop, this.#opts.requestTimeoutMs);
    try {
      const response = await this.#fetch(url.href, { signal: limit.signal, headers });
      if (!response.ok) {
        const message = await serverMessage(response);
        throw Object.assign(new Error(`${url.pathname}: HTTP ${response.status}${message ? `: ${message}` : ""}`), {
          status: response.status,
          serverMessage: message,
        });
      }
      return await response.json();
    } catch (error) {
      if (limit.signal.aborted && !signal.aborted) {
        throw new Error(`${url.pathname}: no answer within ${(this.#opts.requestTimeoutMs / 1000).toFixed(1)} s`);
      }
      throw error;
    } finally {
      clearTimeout(timer);
      signal.removeEventListener("abort", stop);
    }
  }

  // --- tab sharing --------------------------------------------------------------------------

  /**
   * Joins the tab group of the current parameters: a follower until the group's lock is granted.
   * @param {ShareApis} apis
   */
  #joinGroup(apis) {
    const name = groupName(this.#base, this.#stations, this.#token, this.#kinds);
    this.#setRole("follower", "joined the tabs sharing this stream");
    this.#group = new TabGroup(apis, name, {
      lead: () => this.#lead(),
      follow: (reason) => this.#follow(reason),
      message: (msg) => this.#fromLeader(msg),
      snapshot: () => ({ at: this.#lastId, state: this.#state }),
      log: (level, ...args) => this.#log(level, ...args),
      unavailable: (error) => this.#goSolo(error),
    });
    this.#group.start();
  }

  /**
   * The browser refuses the lock or the channel here (an opaque origin such as a file:// page):
   * this client opens its own stream.
   * @param {unknown} error
   */
  #goSolo(error) {
    if (this.#closed || !this.#group) return;
    this.#log("warn", "cannot share the stream with other tabs here; opening this tab's own:", errorText(error));
    const group = this.#group;
    this.#group = null;
    group.stop();
    this.#endCatchUp();
    this.#setRole("solo", "sharing unavailable");
    this.#openStream();
  }

  /** Leaves the tab group (a leader first hands the stream over), if in one. */
  #leaveGroup() {
    const group = this.#group;
    if (!group) return;
    this.#group = null;
    this.#endCatchUp();
    this.#stopStreaming();
    group.stop();
  }

  /** The lock is ours: open the stream, resuming after the last id this tab has seen. */
  #lead() {
    if (this.#closed) return;
    const takeover = this.#state !== "connecting";
    this.#endCatchUp();
    this.#setRole("leader", takeover ? "took the stream over" : "first tab of the group");
    if (takeover) {
      this.#stats.takeovers += 1;
      this.#emitState("reconnecting", "taking the stream over from another tab");
    }
    this.#mode = "sse";
    this.#failures = 0;
    this.#openStream();
  }

  /**
   * Another tab leads now (our lock was stolen while this tab was frozen or busy): stop the
   * stream; from now on the leader's messages are what this tab delivers.
   * @param {string} reason
   */
  #follow(reason) {
    if (this.#closed) return;
    this.#stopStreaming();
    this.#setRole("follower", reason);
  }

  /** Stops the stream, polling and every timer of this client's own stream. */
  #stopStreaming() {
    this.#dropStream();
    for (const name of /** @type {const} */ (["reconnect", "watchdog", "open", "poll", "probe"])) {
      this.#clearTimer(name);
    }
    this.#pollAbort?.abort();
    this.#pollAbort = null;
    this.#mode = "sse";
    this.#failures = 0;
    this.#serverClosing = false;
  }

  /**
   * As leader: tells the followers. Every message that moves the resume point carries `after`,
   * the leader's resume point before it, so that a follower behind it knows it missed something.
   * @param {any} msg
   */
  #share(msg) {
    if (this.#role === "leader") this.#group?.post(msg);
  }

  /**
   * A message of the group's leader (this tab follows).
   * @param {any} msg
   */
  #fromLeader(msg) {
    if (this.#closed || this.#role !== "follower") return;
    if (msg.k === "state") {
      // The leader's last error is this tab's too: its stream is this tab's.
      if (typeof msg.error === "string" && typeof msg.errorAt === "string" && msg.errorAt !== this.#lastErrorAt) {
        this.#setError(msg.error, msg.errorAt);
      }
      this.#mirrorState(msg.state, msg.reason);
      return;
    }
    if (this.#catchUp) {
      const { buffer } = this.#catchUp;
      buffer.push(msg);
      if (buffer.length > CATCH_UP_BUFFER) buffer.shift(); // the catch-up fetches it again
      return;
    }
    const after = msg.k === "ping" || msg.k === "leader" ? msg.at : msg.after;
    const isReset = msg.k === "event" && msg.type === "reset";
    if (!isReset && Number.isSafeInteger(after)) {
      if (this.#lastId === null) {
        // A tab without a resume point starts live: where the leader is now.
        this.#lastId = after;
      } else if (after > this.#lastId) {
        // The leader is ahead of this tab (it joined later with an older resume point, or was
        // frozen): fetch what lies between before anything newer is delivered.
        this.#startCatchUp(msg);
        return;
      }
    } else if (!isReset && this.#lastId !== null && Number.isSafeInteger(msg.id) && msg.id > this.#lastId) {
      // A leader that started without a resume point (live from its stream's start) cannot say
      // where it was; this tab may have wanted more from before: fetch it first.
      this.#startCatchUp(msg);
      return;
    }
    switch (msg.k) {
      case "ping":
      case "leader":
        if (msg.state) this.#mirrorState(msg.state, "the leader tab's state");
        break;
      case "obs":
        this.#deliver(msg.observation ?? {}, Number.isSafeInteger(msg.id) ? msg.id : null,
          msg.via === "poll" ? "poll" : "sse", typeof msg.kind === "string" ? msg.kind : "observation");
        break;
      case "pos":
        if (Number.isSafeInteger(msg.id) && (this.#lastId === null || msg.id > this.#lastId)) this.#lastId = msg.id;
        break;
      case "event":
        this.#stats.lastEventAt = Date.now();
        if (msg.type === "reset") {
          this.#onReset(msg.data);
        } else if (Number.isSafeInteger(msg.id) && (this.#lastId === null || msg.id > this.#lastId)) {
          this.#lastId = msg.id;
        }
        this.#emitEvent(msg.type, msg.data);
        break;
      default:
        break;
    }
  }

  /**
   * Fetches over REST what lies between this tab's resume point and the leader's, then goes on
   * with the leader's messages that came meanwhile (`first` and later ones).
   * @param {any} first
   */
  async #startCatchUp(first) {
    const catchUp = { buffer: [first], abort: new AbortController() };
    this.#catchUp = catchUp;
    const { signal } = catchUp.abort;
    this.#log("info", `catching up after id ${this.#lastId} (the tab holding the stream is ahead)`);
    for (;;) {
      try {
        await this.#fetchAfter(signal);
        break;
      } catch (error) {
        if (signal.aborted) return;
        this.#stats.pollFailures += 1;
        if (isRefusal(error)) {
          this.#refused(error.status, error.serverMessage);
          return;
        }
        this.#setError(`catching up failed: ${errorText(error)}`);
        this.#log("warn", "catching up failed:", errorText(error));
        await new Promise((resolve) => setTimeout(resolve, this.#opts.pollIntervalMs));
        if (signal.aborted) return;
      }
    }
    if (signal.aborted || this.#catchUp !== catchUp) return;
    this.#catchUp = null;
    for (const msg of catchUp.buffer) this.#fromLeader(msg);
  }

  /** Abandons a catch-up (this tab leads now, leaves the group, or closes). */
  #endCatchUp() {
    this.#catchUp?.abort.abort();
    this.#catchUp = null;
  }

  /**
   * A follower shows the leader's state.
   * @param {ConnectionState} state
   * @param {string} reason
   */
  #mirrorState(state, reason) {
    if (!STATES.includes(state) || state === "disconnected" || state === this.#state) return;
    this.#emitState(state, reason);
  }

  /**
   * @param {import("./buoycast.d.ts").ClientRole} role
   * @param {string} reason
   */
  #setRole(role, reason) {
    if (role === this.#role) return;
    const previous = this.#role;
    this.#role = role;
    this.#log("info", role === "leader"
      ? "this tab holds the stream and shares it with the other tabs"
      : "another tab holds the stream; this tab receives it from there", `(${reason})`);
    if (this.#closed) return;
    try {
      this.#onRoleChange?.(role, { previous, reason });
    } catch (error) {
      this.#logError("onRoleChange threw:", error);
    }
  }

  // --- delivery -------------------------------------------------------------------------------

  /**
   * @param {Observation} observation an event of any kind
   * @param {number | null} id
   * @param {"sse" | "poll"} via
   * @param {string} kind
   */
  #deliver(observation, id, via, kind) {
    const after = this.#lastId;
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
    this.#share({ k: "obs", after, id, observation, via, kind });
    this.#stats.received += 1;
    this.#stats.lastEventAt = Date.now();
    const meta = { id, via, receivedAt: Date.now(), kind };
    if (kind === "observation" && this.#onObservation) {
      try {
        this.#onObservation(observation, meta);
      } catch (error) {
        this.#logError("onObservation threw:", error);
      }
    }
    for (const handler of this.#kindHandlers.get(kind) ?? []) {
      try {
        handler(observation, meta);
      } catch (error) {
        this.#logError(`onEvent(${JSON.stringify(kind)}) handler threw:`, error);
      }
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
    if (state !== "disconnected") {
      this.#share({ k: "state", state, reason, error: this.#lastError, errorAt: this.#lastErrorAt });
    }
    if (state === "connected") this.#log("info", previous === "connecting" ? "connected" : `connected (was ${previous})`);
    try {
      this.#onStateChange?.(state, { previous, reason });
    } catch (error) {
      this.#logError("onStateChange threw:", error);
    }
  }

  /**
   * @param {"connection" | "heartbeat" | "reset" | "shutdown" | "unavailable"} type
   * @param {unknown} data
   */
  #emitEvent(type, data) {
    try {
      this.#onEvent?.(type, data);
    } catch (error) {
      this.#logError("onEvent threw:", error);
    }
  }

  /** @param {"reconnect" | "watchdog" | "open" | "poll" | "probe"} name */
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
    this.#logger?.[level]?.(LOG_PREFIX, new Date().toISOString(), ...args.filter((a) => a !== ""));
  }

  /** A callback of the application threw: always logged (even when quiet), as an error. @param {...unknown} args */
  #logError(...args) {
    this.#logger?.error?.(LOG_PREFIX, new Date().toISOString(), ...args);
  }

  /**
   * Records a failure as the last error (kept across reconnects until the next one).
   * @param {string} message
   * @param {string} [at] when it happened (ISO 8601), if not now
   */
  #setError(message, at) {
    this.#lastError = message;
    this.#lastErrorAt = at ?? new Date().toISOString();
  }
}

// --- the tab group -------------------------------------------------------------------------------

/** @typedef {{ locks: LockManager, BroadcastChannel: typeof BroadcastChannel }} ShareApis */

/**
 * What tab sharing needs, or null where it is missing (Node, old browsers): then every client
 * has its own stream.
 * @returns {ShareApis | null}
 */
function shareApis() {
  const locks = globalThis.navigator?.locks;
  const Channel = globalThis.BroadcastChannel;
  if (!locks || typeof locks.request !== "function" || typeof Channel !== "function") return null;
  return { locks, BroadcastChannel: Channel };
}

/**
 * The name of the lock and channel of the clients that may share one stream: same base URL,
 * same station filter (in any order), same token (by a fingerprint: tabs with different tokens
 * never share, and the token itself is not put into a name), same kinds.
 * @param {string} base
 * @param {string[] | null} stations
 * @param {string | null} token
 * @param {string | null} kinds
 */
function groupName(base, stations, token, kinds) {
  const filter = stations ? [...stations].sort().join(",") : "*";
  const name = `buoycast stream ${base} stations=${filter} token=${token ? fingerprint(token) : "-"}`;
  // Without `kinds` the name is what it was, so tabs of older pages still share with these.
  return kinds === null ? name : `${name} kinds=${kinds}`;
}

/**
 * A 64-bit fingerprint of a string (two 32-bit multiply-xorshift hashes), as 16 hex digits:
 * enough to keep different tokens apart, and synchronous (Web Crypto is async and missing on
 * insecure origins).
 * @param {string} text
 */
function fingerprint(text) {
  let h1 = 0xdeadbeef ^ text.length;
  let h2 = 0x41c6ce57 ^ text.length;
  for (let i = 0; i < text.length; i += 1) {
    const c = text.charCodeAt(i);
    h1 = Math.imul(h1 ^ c, 2654435761);
    h2 = Math.imul(h2 ^ c, 1597334677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  const hex = (/** @type {number} */ h) => (h >>> 0).toString(16).padStart(8, "0");
  return hex(h2) + hex(h1);
}

/** A random id for this client, to tell its messages from other tabs'. */
function randomId() {
  const c = globalThis.crypto;
  if (c && typeof c.randomUUID === "function") return c.randomUUID();
  return `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`;
}

/**
 * One client's membership of a tab group: the Web Lock that makes one member the leader, the
 * BroadcastChannel the leader shares on, and the leader's liveness.
 *
 * - Leadership: every member asks for the lock; the browser grants it to one at a time and to
 *   the next in line when the holder closes (or its tab does).
 * - Terms: a new leader announces a term above every term it has seen (and at least the current
 *   time, so that a later leader's term is higher even if it never heard of the earlier one).
 *   Members follow the leader with the highest term and ignore the others, so a leader that
 *   lost its lock while frozen does not keep its followers once it runs again. (Switching from
 *   one leader to another is safe anyway: each leader's stream is complete, and every message
 *   says where the leader was before it, so a member behind it catches up first.)
 * - Freezes: the leader pings every LEADER_PING_MS. A member that has heard nothing from it for
 *   LEADER_SILENCE_MS asks ("probe"); a live leader answers at once (a message is not a timer:
 *   browsers do not throttle it in a background tab); if no answer comes within PROBE_WAIT_MS
 *   (plus up to PROBE_JITTER_MS), the member steals the lock (`steal: true`) and leads. The
 *   frozen leader learns it when it runs again (its lock request rejects, or it hears the higher
 *   term) and becomes a follower.
 */
class TabGroup {
  /** @type {ShareApis} */
  apis;
  #name;
  #me = randomId();
  #callbacks;
  /** @type {BroadcastChannel | null} */
  #channel = null;
  #stopped = false;
  /** Whether this member holds the lock. */
  #leading = false;
  /** This member's term while it leads. */
  #term = 0;
  /** The highest term seen. */
  #maxTerm = 0;
  /** The leader followed: its id and term, and whether it has resigned. */
  /** @type {{ tab: string, term: number, resigned: boolean } | null} */
  #leader = null;
  /** `Date.now()` of the last message of the leader followed (or of joining). */
  #heardAt = 0;
  /** `Date.now()` of the last probe sent, 0 when none is pending. */
  #probedAt = 0;
  /** How long to wait for the answer to that probe. */
  #probeWait = PROBE_WAIT_MS;
  /** The queued (not stolen) lock request, to withdraw it. @type {AbortController | null} */
  #queued = null;
  /** Resolves the promise that keeps the held lock. @type {(() => void) | null} */
  #release = null;
  #timers = { ping: 0, silence: 0 };
  /** Messages of the current task, posted together. @type {any[]} */
  #outbox = [];
  #lastPong = 0;

  /**
   * @param {ShareApis} apis
   * @param {string} name
   * @param {{
   *   lead: () => void,
   *   follow: (reason: string) => void,
   *   message: (msg: any) => void,
   *   snapshot: () => { at: number | null, state: ConnectionState },
   *   log: (level: "info" | "warn", ...args: unknown[]) => void,
   *   unavailable: (error: unknown) => void,
   * }} callbacks
   */
  constructor(apis, name, callbacks) {
    this.apis = apis;
    this.#name = name;
    this.#callbacks = callbacks;
  }

  start() {
    try {
      this.#channel = new this.apis.BroadcastChannel(this.#name);
    } catch (error) {
      queueMicrotask(() => this.#callbacks.unavailable(error));
      return;
    }
    this.#channel.onmessage = (ev) => this.#onMessage(ev.data);
    this.#heardAt = Date.now();
    this.#send({ k: "hello", tab: this.#me });
    this.#requestLock(false);
    this.#watchSilence();
  }

  /** Leaves the group: a leader resigns and releases the lock (the next member takes over). */
  stop() {
    if (this.#stopped) return;
    if (this.#leading) this.post({ k: "resign" });
    this.#flush();
    this.#stopped = true;
    this.#leading = false;
    this.#queued?.abort();
    this.#queued = null;
    this.#release?.();
    this.#release = null;
    clearInterval(this.#timers.ping);
    clearTimeout(this.#timers.silence);
    this.#channel?.close();
    this.#channel = null;
  }

  /**
   * As leader: queues a message for the followers; the messages of one task go out together,
   * in order.
   * @param {any} msg
   */
  post(msg) {
    if (!this.#leading || this.#stopped) return;
    if (this.#outbox.length === 0) queueMicrotask(() => this.#flush());
    this.#outbox.push(msg);
  }

  #flush() {
    if (this.#outbox.length === 0) return;
    const items = this.#outbox;
    this.#outbox = [];
    if (!this.#leading || this.#stopped) return;
    this.#send({ k: "batch", tab: this.#me, term: this.#term, items });
  }

  /** @param {any} msg */
  #send(msg) {
    try {
      this.#channel?.postMessage(msg);
    } catch (error) {
      this.#callbacks.log("warn", "cannot share with the other tabs:", errorText(error));
    }
  }

  /**
   * Asks for the lock: queued behind the holder, or taking it from a silent one (`steal`).
   * @param {boolean} steal
   */
  #requestLock(steal) {
    if (this.#stopped) return;
    /** @type {() => void} */
    let release = () => {};
    const held = new Promise((resolve) => {
      release = () => resolve(undefined);
    });
    const queued = steal ? null : new AbortController();
    this.#queued = queued;
    // `signal` cannot go with `steal`: a steal is granted at once anyway.
    const options = queued ? { signal: queued.signal } : { steal: true };
    let granted = false;
    this.apis.locks.request(this.#name, options, () => {
      granted = true;
      if (this.#stopped) return undefined;
      if (this.#queued === queued) this.#queued = null;
      if (this.#leading) {
        // Granted twice (a queued request granted just before this member stole): this grant
        // replaced the other; keep leading under it.
        const previous = this.#release;
        this.#release = release;
        previous?.();
        return held;
      }
      this.#release = release;
      this.#becomeLeader(steal);
      return held;
    }).catch((error) => {
      if (this.#stopped) return;
      if (!granted) {
        // A withdrawn request is fine; a refused one (SecurityError on an opaque origin, say)
        // means this browser will not let this page share.
        if (error?.name !== "AbortError") this.#callbacks.unavailable(error);
        return;
      }
      // A held lock that another member stole.
      if (this.#release === release) this.#stepDown("another tab took the stream over");
      else release();
      if (error?.name !== "AbortError") this.#callbacks.log("warn", "lock request failed:", errorText(error));
    });
  }

  /** @param {boolean} stolen */
  #becomeLeader(stolen) {
    this.#leading = true;
    this.#term = Math.max(Date.now(), this.#maxTerm + 1);
    this.#maxTerm = this.#term;
    this.#leader = { tab: this.#me, term: this.#term, resigned: false };
    this.#probedAt = 0;
    clearTimeout(this.#timers.silence);
    this.post({ k: "leader", stolen, ...this.#callbacks.snapshot() });
    this.#timers.ping = setInterval(() => this.post({ k: "ping", ...this.#callbacks.snapshot() }), LEADER_PING_MS);
    this.#callbacks.lead();
  }

  /**
   * The lock is gone (stolen) or another leader has a higher term: follow, and queue for the
   * lock again.
   * @param {string} reason
   */
  #stepDown(reason) {
    if (!this.#leading) return;
    this.post({ k: "resign" });
    this.#flush();
    this.#leading = false;
    clearInterval(this.#timers.ping);
    this.#outbox = [];
    const release = this.#release;
    this.#release = null;
    release?.();
    this.#callbacks.follow(reason);
    this.#heardAt = Date.now();
    this.#requestLock(false);
    this.#watchSilence();
  }

  /** @param {any} msg */
  #onMessage(msg) {
    if (this.#stopped || !msg || typeof msg !== "object") return;
    if (msg.k === "hello" || msg.k === "probe") {
      // A member joined or wonders whether the leader lives: answer at once.
      if (this.#leading && Date.now() - this.#lastPong > 50) {
        this.#lastPong = Date.now();
        this.post({ k: "ping", ...this.#callbacks.snapshot() });
      }
      return;
    }
    if (msg.k !== "batch" || typeof msg.tab !== "string" || !Number.isFinite(msg.term)) return;
    if (msg.term > this.#maxTerm) this.#maxTerm = msg.term;
    const current = this.#leader;
    const follows = current === null || msg.term > current.term ||
      (msg.term === current.term && (msg.tab === current.tab || current.resigned));
    if (!follows) return;
    if (this.#leading) {
      // A leader with a higher term holds the lock now (it was stolen while this tab was not
      // running): what this tab streamed meanwhile stays with it; from here on, follow.
      this.#stepDown("another tab took the stream over");
    }
    if (current === null || current.tab !== msg.tab || current.term !== msg.term) {
      this.#leader = { tab: msg.tab, term: msg.term, resigned: false };
    }
    this.#heardAt = Date.now();
    this.#probedAt = 0;
    for (const item of Array.isArray(msg.items) ? msg.items : []) {
      if (item?.k === "resign") {
        if (this.#leader) this.#leader.resigned = true;
        continue;
      }
      this.#callbacks.message(item);
    }
  }

  /** As follower: probes a silent leader, and takes the stream over from one that does not answer. */
  #watchSilence() {
    clearTimeout(this.#timers.silence);
    if (this.#stopped || this.#leading) return;
    const now = Date.now();
    let wait;
    if (this.#probedAt && now - this.#probedAt >= this.#probeWait && this.#heardAt < this.#probedAt) {
      this.#callbacks.log("warn", `the tab holding the stream has been silent for ${now - this.#heardAt} ms: taking over`);
      this.#probedAt = 0;
      this.#queued?.abort();
      this.#queued = null;
      this.#requestLock(true);
      return;
    } else if (this.#probedAt && this.#heardAt < this.#probedAt) {
      wait = this.#probedAt + this.#probeWait - now;
    } else if (now - this.#heardAt >= LEADER_SILENCE_MS) {
      this.#probedAt = now;
      this.#probeWait = PROBE_WAIT_MS + Math.round(Math.random() * PROBE_JITTER_MS);
      this.#send({ k: "probe", tab: this.#me });
      wait = this.#probeWait;
    } else {
      this.#probedAt = 0;
      wait = this.#heardAt + LEADER_SILENCE_MS - now;
    }
    this.#timers.silence = setTimeout(() => this.#watchSilence(), Math.max(wait, 10));
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

/**
 * The `kinds` option as sent to the server: `"*"`, a comma list of known kinds (de-duplicated,
 * in the order given), or null when not given (the server's default: `observation` only).
 * @param {readonly string[] | string | null | undefined} kinds
 * @returns {string | null}
 */
export function normaliseKinds(kinds) {
  if (kinds === undefined || kinds === null) return null;
  if (kinds === "*") return "*";
  const list = Array.isArray(kinds) ? kinds : String(kinds).split(",");
  const names = [...new Set(list.map((k) => String(k).trim()).filter(Boolean))];
  if (names.includes("*")) return "*";
  for (const name of names) {
    if (!KINDS.includes(/** @type {any} */ (name))) {
      throw new TypeError(`${LOG_PREFIX} options.kinds: unknown kind ${JSON.stringify(name)}; one of ${KINDS.join(", ")} or "*"`);
    }
  }
  if (!names.length) throw new TypeError(`${LOG_PREFIX} options.kinds: name at least one kind, or "*"`);
  return names.join(",");
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

/**
 * A 401 or 403 from the server: the token is refused, or does not grant what was asked.
 * @param {unknown} error
 * @returns {error is Error & { status: number, serverMessage: string }}
 */
function isRefusal(error) {
  const status = /** @type {any} */ (error)?.status;
  return status === 401 || status === 403;
}

/**
 * The message of the server's JSON error body (`{"error":{"message"}}`), or "".
 * @param {Response} response
 */
async function serverMessage(response) {
  try {
    const body = await response.json();
    const message = body?.error?.message;
    return typeof message === "string" ? message.slice(0, 300) : "";
  } catch {
    return "";
  }
}
