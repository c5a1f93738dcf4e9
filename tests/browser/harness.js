// Helpers of the browser tests: the buoycast binary as a child process on a loopback port with
// its own SQLite file, publishing through the publish API, a test-only proxy that can refuse or
// silence the stream, and headless Chromium (Debian's /usr/bin/chromium) via playwright-core.

import { spawn, execFile } from "node:child_process";
import { once } from "node:events";
import { mkdtemp, rm, copyFile, mkdir, readFile } from "node:fs/promises";
import { X509Certificate, createHash } from "node:crypto";
import { existsSync } from "node:fs";
import http from "node:http";
import https from "node:https";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const here = path.dirname(fileURLToPath(import.meta.url));
export const REPO = path.resolve(here, "../..");
export const NDBC = path.resolve(REPO, "../shared/ndbc");
export const BIN = process.env.BUOYCAST_BIN ?? path.join(REPO, "target/debug/buoycast");
export const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
export const TOKEN = "browser-test-token";

/** A free TCP port on 127.0.0.1 (bound and released). */
export async function freePort() {
  const server = net.createServer();
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address();
  server.close();
  await once(server, "close");
  return port;
}

/** A fresh temporary directory; removed by `cleanup()`. */
export async function tempDir(prefix = "buoycast-browser-") {
  return mkdtemp(path.join(os.tmpdir(), prefix));
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `check` until it returns a truthy value, or fails after `timeoutMs` with `what`. */
export async function eventually(what, check, timeoutMs = 10000, everyMs = 50) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      last = await check();
      if (last) return last;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (last: ${String(last)})`);
    }
    await sleep(everyMs);
  }
}

/**
 * A buoycast server process (`run --source none` unless `replayDir` is given), listening on
 * `port` with the SQLite file in `dir`, with `args` added to its command line. Restartable on
 * the same port and file.
 */
export class Server {
  /** `tls`: `{ cert, key, ca }` (PEM file paths and the PEM text clients trust) to serve HTTPS. */
  constructor({ dir, port, heartbeatSecs = 1, replayDir = null, args = [], tls = null }) {
    this.dir = dir;
    this.port = port;
    this.heartbeatSecs = heartbeatSecs;
    this.replayDir = replayDir;
    this.args = tls ? [...args, "--tls-cert", tls.cert, "--tls-key", tls.key] : args;
    this.tls = tls;
    this.child = null;
    this.log = [];
  }

  get url() {
    return `${this.tls ? "https" : "http"}://127.0.0.1:${this.port}`;
  }

  /** `fetch` against this server; over TLS, trusting only the server's own certificate. */
  async fetch(pathname, init = {}) {
    if (!this.tls) return fetch(`${this.url}${pathname}`, init);
    return httpsFetch(`${this.url}${pathname}`, { ...init, ca: this.tls.ca });
  }

  async start() {
    if (!existsSync(BIN)) {
      throw new Error(`${BIN} is missing: build it first (cargo build)`);
    }
    const source = this.replayDir
      ? ["--source", "replay", "--replay-dir", this.replayDir, "--replay-speed", "0"]
      : ["--source", "none"];
    this.child = spawn(BIN, [
      "run",
      ...source,
      "--listen", `127.0.0.1:${this.port}`,
      "--database-url", `sqlite://${path.join(this.dir, "db")}`,
      "--publish-token", TOKEN,
      "--heartbeat-secs", String(this.heartbeatSecs),
      "--shutdown-grace-secs", "2",
      "--log-format", "json",
      ...this.args,
    ], { stdio: ["ignore", "pipe", "pipe"] });
    const keep = (chunk) => {
      this.log.push(chunk.toString());
      if (this.log.length > 500) this.log.shift();
    };
    this.child.stdout.on("data", keep);
    this.child.stderr.on("data", keep);
    const child = this.child;
    await eventually(`the server on port ${this.port} to answer /health`, async () => {
      if (child.exitCode !== null) {
        throw new Error(`the server exited (${child.exitCode}): ${this.log.join("").slice(-2000)}`);
      }
      const response = await this.fetch("/health");
      return response.ok;
    }, 20000);
  }

  /** SIGTERM and wait for the exit (the server sends `shutdown` on every stream first). */
  async stop() {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = once(child, "exit");
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), 10000);
    await exited;
    clearTimeout(timer);
    this.child = null;
  }

  /** Publishes observations through `POST /v1/observations`; returns the stored ones. */
  async publish(observations) {
    const response = await this.fetch("/v1/observations", {
      method: "POST",
      headers: { "Content-Type": "application/json", Authorization: `Bearer ${TOKEN}` },
      body: JSON.stringify(observations),
    });
    const body = await response.json();
    if (response.status !== 201 && response.status !== 200) {
      throw new Error(`publish answered ${response.status}: ${JSON.stringify(body)}`);
    }
    return body.observations;
  }
}

/** A minimal `fetch` over HTTPS that trusts `ca` (PEM): `{ status, ok, text(), json() }`. */
export function httpsFetch(url, { method = "GET", headers = {}, body, ca }) {
  return new Promise((resolve, reject) => {
    const request = https.request(url, { method, headers, ca }, (response) => {
      const chunks = [];
      response.on("data", (chunk) => chunks.push(chunk));
      response.on("end", () => {
        const text = Buffer.concat(chunks).toString("utf8");
        resolve({
          status: response.statusCode,
          ok: response.statusCode >= 200 && response.statusCode < 300,
          text: async () => text,
          json: async () => JSON.parse(text),
        });
      });
      response.on("error", reject);
    });
    request.on("error", reject);
    request.end(body);
  });
}

/**
 * A self-signed certificate for 127.0.0.1 (P-256) made with the openssl command line in `dir`:
 * `{ cert, key, ca, spki }`, `spki` being the base64 SHA-256 of its public key, for Chromium's
 * `--ignore-certificate-errors-spki-list`.
 */
export async function selfSignedCert(dir) {
  const cert = path.join(dir, "cert.pem");
  const key = path.join(dir, "key.pem");
  await new Promise((resolve, reject) => {
    execFile("openssl", [
      "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
      "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1", "-days", "2",
      "-keyout", key, "-out", cert,
    ], (error, _out, stderr) => (error ? reject(new Error(`openssl: ${stderr || error}`)) : resolve()));
  });
  const ca = await readFile(cert, "utf8");
  const der = new X509Certificate(ca).publicKey.export({ type: "spki", format: "der" });
  const spki = createHash("sha256").update(der).digest("base64");
  return { cert, key, ca, spki };
}

/** A server in a fresh temporary directory on a free port, started. */
export async function startServer(options = {}) {
  const dir = await tempDir();
  const server = new Server({ dir, port: await freePort(), ...options });
  await server.start();
  return server;
}

/** Removes a server's directory after stopping it. */
export async function disposeServer(server) {
  if (!server) return;
  await server.stop();
  await rm(server.dir, { recursive: true, force: true });
}

let minute = 0;
/** A distinct observation (a later measurement time on each call). */
export function observation(stationId, values = {}) {
  minute += 10;
  const timestamp = new Date(Date.UTC(2026, 0, 1) + minute * 60000).toISOString();
  return {
    stationId,
    timestamp,
    waveHeightM: Math.round((1 + Math.sin(minute / 50)) * 100) / 100,
    windSpeedMps: Math.round((6 + 3 * Math.cos(minute / 70)) * 10) / 10,
    windDirDeg: (minute * 3) % 360,
    waterTempC: 14.5,
    pressureHpa: 1013.2,
    ...values,
  };
}

/**
 * A test-only HTTP proxy in front of `target` (a port). `mode`: "pass" forwards everything;
 * "refuse" answers 503 for the stream endpoint (everything else still passes); "silent" answers
 * the stream with 200 and headers but never a byte; "stall" forwards the stream's head and
 * first chunk (its `connection` event) and then nothing more, the connection held open.
 * `cutStreams()` drops open streams. `streamRequests` counts stream requests, `streams` holds the
 * open ones' sockets, and `upstreamFailures` the stream requests answered 502 because the
 * server's connection failed (`lastUpstreamFailure` says how): an EventSource never retries a 502.
 */
export class StreamProxy {
  constructor(targetPort) {
    this.targetPort = targetPort;
    this.mode = "pass";
    this.streams = new Set();
    this.streamRequests = 0;
    this.upstreamFailures = 0;
    this.lastUpstreamFailure = null;
    this.server = http.createServer((req, res) => this.#handle(req, res));
    this.server.keepAliveTimeout = 1000;
  }

  async listen() {
    this.server.listen(0, "127.0.0.1");
    await once(this.server, "listening");
    this.port = this.server.address().port;
    return this;
  }

  get url() {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Closes every open stream through the proxy (as a network failure would). */
  cutStreams() {
    for (const socket of this.streams) socket.destroy();
    this.streams.clear();
  }

  async close() {
    this.cutStreams();
    this.server.closeAllConnections?.();
    this.server.close();
  }

  #handle(req, res) {
    const isStream = new URL(req.url, "http://x").pathname === "/v1/observations/stream";
    if (isStream) {
      this.streamRequests += 1;
      this.streams.add(req.socket);
      req.socket.once("close", () => this.streams.delete(req.socket));
      if (this.mode === "refuse") {
        res.writeHead(503, { "Content-Type": "application/json", "Retry-After": "1" });
        res.end(JSON.stringify({ error: { code: "unavailable", message: "refused by the test proxy" } }));
        return;
      }
      if (this.mode === "silent") {
        res.writeHead(200, { "Content-Type": "text/event-stream", "Cache-Control": "no-cache" });
        res.flushHeaders();
        return; // never a byte: only the client's watchdog can tell
      }
      if (this.mode === "stall") {
        stall(req, res, this.targetPort);
        return;
      }
    }
    forward(req, res, this.targetPort, isStream ? (failure) => {
      this.upstreamFailures += 1;
      this.lastUpstreamFailure = failure;
    } : undefined);
  }

  /** The counts above, for a failed test's message. */
  counts() {
    return {
      streamRequests: this.streamRequests,
      openStreams: this.streams.size,
      upstreamFailures: this.upstreamFailures,
      lastUpstreamFailure: this.lastUpstreamFailure,
    };
  }
}

/** Forwards a stream request's head and first chunk, then holds the connection silent. */
function stall(req, res, targetPort) {
  const upstream = http.request({
    host: "127.0.0.1",
    port: targetPort,
    method: req.method,
    path: req.url,
    headers: req.headers,
  }, (up) => {
    res.writeHead(up.statusCode ?? 502, up.headers);
    up.once("data", (chunk) => {
      res.write(chunk);
      up.pause(); // what follows (heartbeats too) is never forwarded
    });
  });
  upstream.on("error", () => res.destroy());
  res.on("close", () => upstream.destroy());
  upstream.end();
}

/**
 * Forwards one request to the server on `targetPort` (502 when it cannot be reached, or its
 * connection fails before the response; `onFailure` is then told how, and whether the
 * connection was a reused one).
 */
export function forward(req, res, targetPort, onFailure = () => {}) {
  const upstream = http.request({
    host: "127.0.0.1",
    port: targetPort,
    method: req.method,
    path: req.url,
    headers: req.headers,
  }, (up) => {
    res.writeHead(up.statusCode ?? 502, up.headers);
    up.pipe(res);
  });
  upstream.on("error", (error) => {
    if (!res.headersSent) {
      onFailure(`${error.code ?? error.message}${upstream.reusedSocket ? " on a reused connection" : ""}`);
      res.writeHead(502);
    }
    res.end();
  });
  res.on("close", () => upstream.destroy());
  req.pipe(upstream);
}

/**
 * Headless Chromium with a fresh profile (one browser context: one connection pool, as in a real
 * browser), with `extraArgs` on its command line; `close()` removes the profile.
 */
export async function launchBrowser(extraArgs = []) {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium`);
  }
  const profile = await tempDir("buoycast-chromium-");
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1280, height: 900 },
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--no-first-run",
      ...extraArgs,
    ],
  });
  await context.addInitScript(recordDashboardEvents);
  return {
    context,
    async newPage() {
      return context.newPage();
    },
    async close() {
      await context.close();
      await rm(profile, { recursive: true, force: true });
    },
  };
}

/**
 * Records what a page reports: console errors, page errors, failed requests and any request
 * that leaves 127.0.0.1 (there must be none: the dashboard makes no external requests).
 */
export function watchPage(page) {
  const problems = [];
  const messages = [];
  page.on("console", (msg) => {
    messages.push(`${msg.type()}: ${msg.text()}`);
    if (msg.type() === "error") problems.push(`console error: ${msg.text()}`);
  });
  page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
  page.on("request", (request) => {
    const url = new URL(request.url());
    const local = url.protocol === "data:" || url.protocol === "file:" || url.hostname === "127.0.0.1";
    if (!local) {
      problems.push(`external request: ${request.url()}`);
    }
  });
  page.on("requestfailed", (request) => {
    // Streams cut by the test (or by page close) are expected to fail; anything else is not.
    if (!request.url().includes("/v1/observations/stream")) {
      problems.push(`request failed: ${request.url()} ${request.failure()?.errorText ?? ""}`);
    }
  });
  return { problems, messages };
}

/**
 * Injected into every page of the tests' browser before the page's own scripts (playwright's
 * `addInitScript`): records the dashboard's DOM events (`buoycast:*`, documented at the top of
 * web/dashboard.js) in `window.__recorded`. The dashboard itself keeps nothing for tests; this
 * record exists only in the tests' pages.
 */
export function recordDashboardEvents() {
  const recorded = {
    ready: false,
    /** The client module's handle, from `buoycast:ready`. */
    client: null,
    resumeAfter: null,
    receivedIds: [],
    /** id → Date.now() when the client handed it over. */
    arrivals: {},
    /** id → "sse" | "poll". */
    via: {},
    states: [],
    /** [role, Date.now()] of the first role and every change. */
    roles: [],
  };
  window.__recorded = recorded;
  document.addEventListener("buoycast:ready", ({ detail }) => {
    recorded.client = detail.client;
    recorded.resumeAfter = detail.resumeAfter;
    recorded.ready = true;
  });
  document.addEventListener("buoycast:observation", ({ detail }) => {
    if (detail.id === null) return;
    recorded.receivedIds.push(detail.id);
    recorded.arrivals[detail.id] = detail.receivedAt;
    recorded.via[detail.id] = detail.via;
  });
  document.addEventListener("buoycast:state", ({ detail }) => recorded.states.push(detail.state));
  document.addEventListener("buoycast:role", ({ detail }) => recorded.roles.push([detail.role, Date.now()]));
}

/** What a dashboard page has reported so far through its DOM events (`recordDashboardEvents`). */
export async function recorded(page) {
  return page.evaluate(() => {
    const h = window.__recorded;
    return {
      ready: h.ready,
      state: h.client?.state ?? null,
      role: h.client?.role ?? null,
      roles: h.roles.map(([role, at]) => ({ role, at })),
      states: [...h.states],
      receivedIds: [...h.receivedIds],
      arrivals: { ...h.arrivals },
      via: { ...h.via },
      resumeAfter: h.resumeAfter,
      stats: h.client?.stats ?? null,
    };
  });
}

/** Waits until the page's client reports `state`. */
export async function waitState(page, state, timeoutMs = 15000) {
  await eventually(`state ${state}`, async () => (await recorded(page)).state === state, timeoutMs);
}

/** Waits until the page has received at least `n` observations; returns what it reported. */
export async function waitReceived(page, n, timeoutMs = 15000) {
  return eventually(`${n} observations`, async () => {
    const h = await recorded(page);
    return h.receivedIds.length >= n ? h : null;
  }, timeoutMs);
}

/** Observations parsed from a real NDBC file by `buoycast parse` (oldest first). */
export async function parseNdbc(file) {
  const stdout = await new Promise((resolve, reject) => {
    execFile(BIN, ["parse", file], { maxBuffer: 64 * 1024 * 1024 }, (error, out) =>
      error ? reject(error) : resolve(out));
  });
  return stdout.split("\n").filter(Boolean).map((line) => JSON.parse(line));
}

/** A replay directory holding only NDBC's station list (metadata, no observations). */
export async function metadataDir() {
  const dir = await tempDir("buoycast-meta-");
  await mkdir(dir, { recursive: true });
  await copyFile(path.join(NDBC, "metadata/activestations.xml"), path.join(dir, "activestations.xml"));
  return dir;
}
