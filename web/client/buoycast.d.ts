// Types of the buoycast client module (`/client/buoycast.js`).

/** Where the client is: see the state diagram in docs/AUDIO_CLIENTS.md. */
export type ConnectionState =
  | "connecting" // opening the stream for the first time (or after the filter changed)
  | "connected" // the SSE stream is open (its first event has arrived)
  | "reconnecting" // the stream failed; waiting (backoff with jitter) before opening it again
  | "polling" // the stream failed repeatedly; polling GET /v1/observations, retrying the stream
  | "disconnected"; // close() was called, or the server refused the token (401/403: lastError says why; setToken() connects again)

/**
 * Who holds the stream (docs/STREAMING.md, "Tab sharing"):
 * - "leader": this client; it shares every event with the other tabs of its group;
 * - "follower": another tab of the same origin with the same URL, stations and token; this client
 *   delivers what that tab shares (same callbacks, states and de-duplication);
 * - "solo": this client's own stream, unshared (`shareAcrossTabs: false`, no Web Locks or
 *   BroadcastChannel here, e.g. Node, or a `since` replay).
 */
export type ClientRole = "leader" | "follower" | "solo";

/** One observation (SPEC §3). Values are `null` when the buoy did not report them. */
export interface Observation {
  /** Uppercase station id, e.g. "44009". */
  stationId: string;
  /** Measurement time, ISO 8601 UTC with milliseconds, e.g. "2025-11-15T12:00:00.000Z". */
  timestamp: string;
  /** Significant wave height, m. */
  waveHeightM: number | null;
  /** Wind speed, m/s. */
  windSpeedMps: number | null;
  /** Wind direction, degrees true (where it blows from). */
  windDirDeg: number | null;
  /** Sea surface temperature, °C. */
  waterTempC: number | null;
  /** Sea level pressure, hPa. */
  pressureHpa: number | null;
  /** Peak gust speed, m/s. */
  gustMps: number | null;
  /** Dominant wave period, s. */
  dominantWavePeriodS: number | null;
  /** Average wave period, s. */
  averageWavePeriodS: number | null;
  /** Mean wave direction, degrees true. */
  meanWaveDirDeg: number | null;
  /** Air temperature, °C. */
  airTempC: number | null;
  /** Dew point, °C. */
  dewPointC: number | null;
  /** Visibility, nautical miles. */
  visibilityNmi: number | null;
  /** Pressure tendency over 3 hours, hPa. */
  pressureTendencyHpa: number | null;
  /** Water level, ft above or below mean lower low water. */
  tideFt: number | null;
  /** Fields added later: clients ignore what they do not know. */
  [field: string]: unknown;
}

/**
 * An event kind (SPEC §3a): each is its own SSE event name and `kind` of its payload. A stream
 * sends `observation` only, unless the `kinds` option asks for more.
 */
export type EventKind =
  | "observation"
  | "waveSummary"
  | "spectrum"
  | "ocean"
  | "continuousWind"
  | "tsunami"
  | "supplemental"
  | "solarRadiation"
  | "rain"
  | "drift"
  | "currents"
  | "derived";

/**
 * An event of any kind: `kind`, `stationId`, `timestamp` and the kind's fields (SPEC §3a; missing
 * values are `null`). An older server's observations carry no `kind`.
 */
export interface KindEvent {
  kind?: EventKind;
  stationId: string;
  timestamp: string;
  [field: string]: unknown;
}

/** What the client knows about one delivered observation (or event of another kind). */
export interface ObservationMeta {
  /** The event id (the store's seq); null for a producer's observation that was never stored. */
  id: number | null;
  /** How it arrived. */
  via: "sse" | "poll";
  /** `Date.now()` when it was handed over. */
  receivedAt: number;
  /** Its kind: the SSE event name, or a polled item's `kind` (`"observation"` when it has none). */
  kind: EventKind;
}

/**
 * `event: connection` data. The event's SSE id is the stream's position: the resume id, or for a
 * fresh stream the newest seq it starts after (the client takes it as its resume point).
 */
export interface ConnectionEventData {
  status: "connected";
  timestamp: string;
}
/**
 * `event: heartbeat` data. The event's SSE id is the stream's position: every observation up to
 * it that matches the filter has been sent (the client takes it as its resume point).
 */
export interface HeartbeatEventData {
  timestamp: string;
}
/** `event: reset` data: the server could not replay everything after the resume point. */
export interface ResetEventData {
  /** The first seq it replays (or will send). */
  oldestSeq: number;
  /** "replay_limit" or "unknown_event_id". */
  reason: string;
  message: string;
}
/** `event: shutdown` data. */
export interface ShutdownEventData {
  reason: string;
  timestamp: string;
}

/**
 * `event: unavailable` data: a transient refusal (stream limit, bus or store down, starting or
 * shutting down); the stream ends after it and the client retries no sooner than `retryAfterMs`.
 */
export interface UnavailableEventData {
  code: string;
  message: string;
  retryAfterMs: number;
}

/** The non-observation events, for `onEvent`. */
export type StreamEvent =
  | ["connection", ConnectionEventData]
  | ["heartbeat", HeartbeatEventData]
  | ["reset", ResetEventData]
  | ["shutdown", ShutdownEventData]
  | ["unavailable", UnavailableEventData];

/** Options of {@link connect}. */
export interface ConnectOptions {
  /** Base URL of the server (or its stream URL). Default: the server this module came from. */
  url?: string | URL;
  /** Only these stations (ids, or one comma-separated string). Default: all. */
  stations?: string[] | string | null;
  /** Resume after this id (e.g. one kept in localStorage). Default: live from now. */
  lastEventId?: number | null;
  /** On the first connection without `lastEventId`: replay observations measured since then. */
  since?: string;
  /**
   * Subscriber token (a JWT) for a server with subscriber auth: sent to the stream as the
   * `access_token` query parameter (an EventSource cannot set headers) and to polls as
   * `Authorization: Bearer`. Default: none (a `buoycast_token` cookie, if set, is sent anyway).
   */
  token?: string | null;
  /**
   * Event kinds to receive (sent as `kinds=` to the stream and to polls): names of
   * {@link EventKind}, or `"*"` for every kind. Default: the server's default, `observation` only.
   * Events of each kind go to the handlers of `client.onEvent(kind, …)`; observations also to
   * `onObservation`.
   */
  kinds?: readonly EventKind[] | "*" | null;
  /**
   * Called once per observation, in id order, never twice for the same id. Required, unless
   * `kinds` is given (then the events can go to `client.onEvent(kind, …)` handlers only).
   */
  onObservation?: (observation: Observation, meta: ObservationMeta) => void;
  /** Called on every state change (and once, after connect() returns, with "connecting"). */
  onStateChange?: (
    state: ConnectionState,
    detail: { previous: ConnectionState | null; reason: string },
  ) => void;
  /**
   * Called for `connection`, `heartbeat`, `reset`, `shutdown` and `unavailable` events (the
   * stream's control events; the data events of each kind go to `client.onEvent(kind, …)`).
   */
  onEvent?: (...event: StreamEvent) => void;
  /** Called when the role changes (not for the first role: read `client.role`). */
  onRoleChange?: (
    role: ClientRole,
    detail: { previous: ClientRole; reason: string },
  ) => void;
  /**
   * Share one stream among the tabs of this origin with the same URL, stations and token (Web
   * Locks + BroadcastChannel): one tab holds it, the others receive from that tab. Where those
   * APIs are missing the client has its own stream anyway. Default true.
   */
  shareAcrossTabs?: boolean;
  /** Polling period once the stream has failed `maxSseFailures` times in a row. Default 5000. */
  pollIntervalMs?: number;
  /** While polling, how often the stream is tried again. Default 30000. */
  sseRetryIntervalMs?: number;
  /** Stream failures in a row before polling. Default 3. */
  maxSseFailures?: number;
  /** First reconnection delay; doubles per failure, with jitter (50–100 %). Default 1000. */
  reconnectDelayMs?: number;
  /** Longest reconnection delay. Default 30000. */
  maxReconnectDelayMs?: number;
  /** The server's heartbeat period; 2.5× this with no data at all means a dead stream. Default 15000. */
  heartbeatIntervalMs?: number;
  /**
   * A stream that has not opened within this (no first event: queued behind the browser's
   * connection limit, or a server that accepts and never answers) is closed and counts as a
   * failure: backoff, retry, polling after `maxSseFailures`. Default 5000.
   */
  openTimeoutMs?: number;
  /** A poll (or a follower's catch-up request) not answered within this fails. Default 15000. */
  requestTimeoutMs?: number;
  /** Page size of a poll. Default 1000. */
  pollLimit?: number;
  /** No `[buoycast]` log lines. Default false. */
  quiet?: boolean;
  /**
   * Where log lines go. Default `console`. Each line is called as
   * `logger.info("[buoycast]", "2026-11-30T12:00:00.000Z", "message", …)`: the prefix, the ISO
   * time, then the message (a console shows `[buoycast] 2026-11-30T12:00:00.000Z message`).
   */
  logger?: Pick<Console, "info" | "warn" | "error">;
  /** EventSource implementation (for non-browser environments). Default `globalThis.EventSource`. */
  EventSource?: typeof EventSource;
  /** fetch implementation. Default `globalThis.fetch`. */
  fetch?: typeof fetch;
}

/** Counters of a client. */
export interface ClientStats {
  /** Events delivered (observations and any other kinds asked for). */
  received: number;
  /** Observations dropped because their id was not above the last one. */
  duplicates: number;
  /** Streams opened after the first. */
  reconnects: number;
  /** Successful poll requests. */
  polls: number;
  /** Failed poll requests. */
  pollFailures: number;
  /** `Date.now()` of the last event of any kind (0 before the first). */
  lastEventAt: number;
  /** Times this client took the stream over from another tab (closed or frozen). */
  takeovers: number;
  state: ConnectionState;
  role: ClientRole;
  /** The resume point, as {@link BuoycastClient.lastEventId}. */
  lastEventId: number | null;
  /** As {@link BuoycastClient.lastError}. */
  lastError: string | null;
  /** As {@link BuoycastClient.lastErrorAt}. */
  lastErrorAt: string | null;
}

/** A live connection. */
export declare class BuoycastClient {
  constructor(options: ConnectOptions);
  /** The current state. */
  readonly state: ConnectionState;
  /**
   * The resume point (also the `after=` of polls): the id of the last observation delivered, or a
   * later stream position from a `connection` or `heartbeat` event; null before the first.
   */
  readonly lastEventId: number | null;
  /** The station filter, or null for all stations. */
  readonly stations: string[] | null;
  /** Who holds the stream: this client for other tabs, another tab, or this client alone. */
  readonly role: ClientRole;
  /** A snapshot of the counters. */
  readonly stats: ClientStats;
  /**
   * The last failure's message: a stream that could not be opened, was closed, went silent or
   * was refused (`unavailable`, with the server's code and message), a poll that failed. Kept
   * across reconnects until the next failure (a follower tab shows its leader's); null before
   * the first. The close after an announced `shutdown` is not a failure.
   */
  readonly lastError: string | null;
  /** When {@link lastError} happened, ISO 8601 (e.g. "2026-11-30T12:00:00.000Z"); null before. */
  readonly lastErrorAt: string | null;
  /** The kinds asked of the server (`"*"` or a list), or null for its default (`observation`). */
  readonly kinds: EventKind[] | "*" | null;
  /**
   * Calls `handler` for every event of `kind` delivered from now on, streamed or polled, in id
   * order and once each (ask the server for the kind with the `kinds` option). Returns a function
   * that removes the handler.
   */
  onEvent(kind: EventKind, handler: (event: KindEvent, meta: ObservationMeta) => void): () => void;
  /**
   * Changes the station filter and reconnects (resuming after the current id). A sharing client
   * moves to the group of the new filter (a leader hands its old group's stream to another tab).
   */
  setStations(stations: string[] | string | null | undefined): void;
  /**
   * Replaces the subscriber token (a fresh one before the old expires, or after the server
   * refused it) and reconnects, resuming after the current id. `null` or "" removes it.
   */
  setToken(token: string | null | undefined): void;
  /** Closes for good (a leader hands the stream to another tab); the state becomes "disconnected". */
  close(): void;
}

/** Opens a live connection to a buoycast server. */
export declare function connect(options: ConnectOptions): BuoycastClient;

/** Uppercase, trimmed, de-duplicated ids; null for "all stations". */
export declare function normaliseStations(
  stations: string[] | string | null | undefined,
): string[] | null;

/** `"*"`, a comma list of known kinds, or null when not given; throws on an unknown kind. */
export declare function normaliseKinds(
  kinds: readonly string[] | string | null | undefined,
): string | null;

/** The twelve event kinds, `observation` first. */
export declare const KINDS: readonly EventKind[];
/** The connection states. */
export declare const STATES: readonly ConnectionState[];
/** "v1/observations/stream" */
export declare const STREAM_PATH: string;
/** "v1/observations" */
export declare const POLL_PATH: string;
/** How often a leader tells the other tabs that it is alive (ms). */
export declare const LEADER_PING_MS: number;
/** Defaults of the tunable options. */
export declare const DEFAULTS: Readonly<{
  pollIntervalMs: number;
  sseRetryIntervalMs: number;
  maxSseFailures: number;
  reconnectDelayMs: number;
  maxReconnectDelayMs: number;
  heartbeatIntervalMs: number;
  openTimeoutMs: number;
  requestTimeoutMs: number;
  pollLimit: number;
  quiet: boolean;
  shareAcrossTabs: boolean;
}>;
