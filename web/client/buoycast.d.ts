// Types of the buoycast client module (`/client/buoycast.js`).

/** Where the client is: see the state diagram in docs/AUDIO_CLIENTS.md. */
export type ConnectionState =
  | "connecting" // opening the stream for the first time (or after the filter changed)
  | "connected" // the SSE stream is open (its first event has arrived)
  | "reconnecting" // the stream failed; waiting (backoff with jitter) before opening it again
  | "polling" // the stream failed repeatedly; polling GET /v1/observations, retrying the stream
  | "disconnected"; // close() was called

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

/** What the client knows about one delivered observation. */
export interface ObservationMeta {
  /** The event id (the store's seq); null for a producer's observation that was never stored. */
  id: number | null;
  /** How it arrived. */
  via: "sse" | "poll";
  /** `Date.now()` when it was handed over. */
  receivedAt: number;
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
  /** Called once per observation, in id order, never twice for the same id. */
  onObservation: (observation: Observation, meta: ObservationMeta) => void;
  /** Called on every state change (and once, after connect() returns, with "connecting"). */
  onStateChange?: (
    state: ConnectionState,
    detail: { previous: ConnectionState | null; reason: string },
  ) => void;
  /** Called for `connection`, `heartbeat`, `reset`, `shutdown` and `unavailable` events. */
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
  /** Where log lines go. Default `console`. */
  logger?: Pick<Console, "info" | "warn" | "error">;
  /** EventSource implementation (for non-browser environments). Default `globalThis.EventSource`. */
  EventSource?: typeof EventSource;
  /** fetch implementation. Default `globalThis.fetch`. */
  fetch?: typeof fetch;
}

/** Counters of a client. */
export interface ClientStats {
  /** Observations delivered. */
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
   * Changes the station filter and reconnects (resuming after the current id). A sharing client
   * moves to the group of the new filter (a leader hands its old group's stream to another tab).
   */
  setStations(stations: string[] | string | null | undefined): void;
  /** Closes for good (a leader hands the stream to another tab); the state becomes "disconnected". */
  close(): void;
}

/** Opens a live connection to a buoycast server. */
export declare function connect(options: ConnectOptions): BuoycastClient;

/** Uppercase, trimmed, de-duplicated ids; null for "all stations". */
export declare function normaliseStations(
  stations: string[] | string | null | undefined,
): string[] | null;

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
