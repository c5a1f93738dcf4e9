// A plain EventSource never gives up on a transient refusal (SPEC §4): with the stream limit full,
// behind the shipped nginx config while the server restarts, and with Redis down in distributed
// mode, the npm `eventsource` package and Chromium's native EventSource (neither wrapped by the
// client module) keep reconnecting and end with every published event exactly once.

import { test, after, afterEach } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { readFile, writeFile, mkdir, rm } from "node:fs/promises";
import path from "node:path";
import { EventSource } from "eventsource";
import {
  REPO,
  Server,
  StreamProxy,
  disposeServer,
  eventually,
  freePort,
  launchBrowser,
  observation,
  sleep,
  startServer,
  tempDir,
} from "./harness.js";

const STREAM = "/v1/observations/stream";
/** Every stream starts from the beginning of the log, so "every event" is well defined. */
const FROM_START = `${STREAM}?lastEventId=0`;

let browser;
after(async () => {
  if (browser) await browser.close();
});
/** Every npm client of the current test: closed after it, whatever happened (an open one keeps
 * reconnecting, and would keep this process alive). */
const npmClients = [];
afterEach(() => {
  for (const client of npmClients.splice(0)) client.source.close();
});

/**
 * A bare npm EventSource collecting observation ids and the `unavailable` events it is told.
 * `close()` ends it.
 */
function npmClient(url) {
  const source = new EventSource(url);
  const state = { ids: [], unavailable: [], errors: 0, source };
  npmClients.push(state);
  source.addEventListener("observation", (e) => state.ids.push(Number(e.lastEventId)));
  source.addEventListener("unavailable", (e) => state.unavailable.push(JSON.parse(e.data)));
  source.addEventListener("error", () => {
    state.errors += 1;
  });
  return state;
}

/** Chromium's native EventSource in a page of `origin`, collecting the same into `window`. */
async function pageClient(origin, streamPath) {
  browser ??= await launchBrowser();
  const page = await browser.newPage();
  // Any page of the origin will do (the EventSource is same-origin); the server's own 404 is
  // enough, and it is there whether the server is up or (behind nginx) not.
  await page.goto(`${origin}/health`);
  await page.evaluate((url) => {
    window.seen = { ids: [], unavailable: [], closedForGood: false };
    const source = new EventSource(url);
    source.addEventListener("observation", (e) => window.seen.ids.push(Number(e.lastEventId)));
    source.addEventListener("unavailable", (e) => window.seen.unavailable.push(JSON.parse(e.data)));
    source.addEventListener("error", () => {
      if (source.readyState === EventSource.CLOSED) window.seen.closedForGood = true;
    });
    window.source = source;
  }, streamPath);
  return {
    page,
    async seen() {
      return page.evaluate(() => window.seen);
    },
    /** `seen()` and the EventSource's `readyState`, for a failed test's message. */
    async state() {
      return page.evaluate(() => ({ ...window.seen, readyState: window.source.readyState }));
    },
    async close() {
      await page.evaluate(() => window.source.close());
      await page.close();
    },
  };
}

/**
 * Waits with `eventually`; on a timeout the error names what each client and the proxy saw
 * (readyState 0 = connecting, 1 = open, 2 = closed for good), and the server's last log lines
 * go to stderr.
 */
async function eventuallyBoth(what, check, timeoutMs, { npm, native, proxy, server }) {
  try {
    await eventually(what, check, timeoutMs);
  } catch (error) {
    const state = {
      npm: { ids: npm.ids, unavailable: npm.unavailable, errors: npm.errors, readyState: npm.source.readyState },
      native: await native.state().catch((e) => `unreadable: ${e.message}`),
      proxy: proxy.counts(),
    };
    const log = server.log.join("").trimEnd().split("\n").slice(-12).join("\n");
    console.error(`${what}: the server's last log lines:\n${log}`);
    error.message += `; state: ${JSON.stringify(state)}`;
    throw error;
  }
}

/** Asserts `ids` are exactly `expected`, in order, each once. */
function assertExactlyOnce(label, ids, expected) {
  assert.deepEqual(ids, expected, `${label}: received ${JSON.stringify(ids)}`);
}

/** Holds one stream open (a raw fetch that reads nothing); `release()` ends it. */
async function holdStream(url) {
  const controller = new AbortController();
  const response = await fetch(`${url}${STREAM}`, {
    headers: { Accept: "text/event-stream" },
    signal: controller.signal,
  });
  assert.equal(response.status, 200);
  const reader = response.body.getReader();
  await reader.read(); // the retry line and the connection event
  return {
    release() {
      controller.abort();
    },
  };
}

test("with the stream limit full, bare EventSources are told to come back and end with every event once", async () => {
  const server = await startServer({ args: ["--max-streams", "2"] });
  try {
    const holders = [await holdStream(server.url), await holdStream(server.url)];
    const npm = npmClient(`${server.url}${FROM_START}`);
    const native = await pageClient(server.url, FROM_START);
    // Both are refused with an event stream, not a 503 that would end them.
    await eventually("an unavailable event in both clients", async () =>
      npm.unavailable.length > 0 && (await native.seen()).unavailable.length > 0);
    const told = npm.unavailable[0];
    assert.equal(told.code, "too_many_streams");
    assert.ok(told.retryAfterMs >= 3750 && told.retryAfterMs <= 6250, `retryAfterMs ${told.retryAfterMs}`);
    // A plain request (curl's `*/*`) still gets 503 + Retry-After.
    const plain = await fetch(`${server.url}${STREAM}`, { headers: { Accept: "*/*" } });
    assert.equal(plain.status, 503);
    assert.ok(plain.headers.get("retry-after"));
    await plain.body?.cancel();

    const before = await server.publish([observation("LIM01"), observation("LIM01"), observation("LIM01")]);
    for (const holder of holders) holder.release();
    await eventually("both clients to get the 3 events", async () =>
      npm.ids.length >= 3 && (await native.seen()).ids.length >= 3, 20000);
    const live = await server.publish([observation("LIM01"), observation("LIM01")]);
    const expected = [...before, ...live].map((o) => o.seq);
    await eventually("both clients to get all 5", async () =>
      npm.ids.length >= 5 && (await native.seen()).ids.length >= 5, 10000);
    await sleep(300);
    assertExactlyOnce("npm eventsource", npm.ids, expected);
    const seen = await native.seen();
    assertExactlyOnce("native EventSource", seen.ids, expected);
    assert.equal(seen.closedForGood, false);
    npm.source.close();
    await native.close();
  } finally {
    await disposeServer(server);
  }
});

/** nginx with the shipped `deploy/nginx.conf`, its upstreams pointed at `upstreamPort`. */
async function startNginx(upstreamPort) {
  const dir = await tempDir("buoycast-nginx-");
  const port = await freePort();
  let conf = await readFile(path.join(REPO, "deploy/nginx.conf"), "utf8");
  const replace = (from, to) => {
    assert.ok(from.test(conf), `deploy/nginx.conf no longer contains ${from}`);
    conf = conf.replace(from, to);
  };
  // Both upstream entries are this one server (it restarts; nothing else is there to try).
  replace(/server serve1:8080/g, `server 127.0.0.1:${upstreamPort}`);
  replace(/server serve2:8080/g, `server 127.0.0.1:${upstreamPort}`);
  replace(/listen 80;/, `listen 127.0.0.1:${port};`);
  replace(/worker_processes auto;/, "worker_processes 1;");
  replace(/worker_rlimit_nofile \d+;/, "");
  replace(/worker_connections \d+;/, "worker_connections 512;");
  await mkdir(path.join(dir, "tmp"), { recursive: true });
  const top = [
    "daemon off;",
    "master_process off;",
    `pid ${dir}/nginx.pid;`,
    `error_log ${dir}/error.log warn;`,
  ].join("\n");
  conf = `${top}\n${conf}`.replace(
    /http \{/,
    `http {\n    client_body_temp_path ${dir}/tmp/body;\n    proxy_temp_path ${dir}/tmp/proxy;\n    fastcgi_temp_path ${dir}/tmp/fastcgi;\n    uwsgi_temp_path ${dir}/tmp/uwsgi;\n    scgi_temp_path ${dir}/tmp/scgi;`,
  );
  await writeFile(path.join(dir, "nginx.conf"), conf);
  const nginx = "/usr/sbin/nginx";
  const child = spawn(nginx, ["-c", path.join(dir, "nginx.conf"), "-p", dir], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout.on("data", (c) => (output += c));
  child.stderr.on("data", (c) => (output += c));
  const url = `http://127.0.0.1:${port}`;
  await eventually("nginx to listen", async () => {
    if (child.exitCode !== null) throw new Error(`nginx exited: ${output}`);
    await fetch(`${url}/`).catch((e) => {
      throw e;
    });
    return true;
  });
  return {
    url,
    async stop() {
      const exited = once(child, "exit");
      child.kill("SIGTERM");
      await exited;
      await rm(dir, { recursive: true, force: true });
    },
  };
}

test("behind the shipped nginx config, a server restart never ends a bare EventSource", async () => {
  const dir = await tempDir();
  const server = new Server({ dir, port: await freePort() });
  await server.start();
  const nginx = await startNginx(server.port);
  try {
    const npm = npmClient(`${nginx.url}${FROM_START}`);
    const native = await pageClient(nginx.url, FROM_START);
    const first = await server.publish([observation("NGX01"), observation("NGX01")]);
    await eventually("both clients to get the first events", async () =>
      npm.ids.length === 2 && (await native.seen()).ids.length === 2);

    await server.stop();
    // While nothing listens, nginx itself answers the stream: 200 with `unavailable`, never 502.
    await eventually("an unavailable event from nginx in both clients", async () =>
      npm.unavailable.length > 0 && (await native.seen()).unavailable.length > 0, 15000);
    const plain = await fetch(`${nginx.url}${STREAM}`);
    assert.equal(plain.status, 502, "a plain request still gets the proxy's 502");
    await plain.body?.cancel();
    const told = npm.unavailable.at(-1);
    assert.equal(told.code, "unavailable");
    assert.ok(told.retryAfterMs >= 2000 && told.retryAfterMs <= 4000);

    await server.start();
    const second = await server.publish([observation("NGX01"), observation("NGX01"), observation("NGX01")]);
    const expected = [...first, ...second].map((o) => o.seq);
    await eventually("both clients to get all 5", async () =>
      npm.ids.length >= 5 && (await native.seen()).ids.length >= 5, 20000);
    await sleep(300);
    assertExactlyOnce("npm eventsource", npm.ids, expected);
    const seen = await native.seen();
    assertExactlyOnce("native EventSource", seen.ids, expected);
    assert.equal(seen.closedForGood, false);
    npm.source.close();
    await native.close();
  } finally {
    await nginx.stop();
    await disposeServer(server);
  }
});

/** A real redis-server on a free port (no persistence); restartable. */
class Redis {
  constructor(port) {
    this.port = port;
    this.child = null;
  }

  get url() {
    return `redis://127.0.0.1:${this.port}`;
  }

  async start() {
    this.child = spawn("redis-server", ["--port", String(this.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], {
      stdio: "ignore",
    });
    const child = this.child;
    await eventually("redis-server to listen", async () => {
      if (child.exitCode !== null) throw new Error("redis-server exited (is it installed?)");
      const net = await import("node:net");
      return new Promise((resolve) => {
        const socket = net.connect(this.port, "127.0.0.1");
        socket.on("connect", () => {
          socket.destroy();
          resolve(true);
        });
        socket.on("error", () => resolve(false));
      });
    });
  }

  async stop() {
    const child = this.child;
    // Already gone: exited (`exitCode`) or killed (`signalCode`, with `exitCode` null).
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = once(child, "exit");
    child.kill("SIGKILL");
    await Promise.race([exited, sleep(5000)]);
  }
}

test("with Redis down in distributed mode, bare EventSources are told to come back and miss nothing", async () => {
  const redis = new Redis(await freePort());
  await redis.start();
  const server = await startServer({ args: ["--redis-url", redis.url] });
  // The clients reach the server through a proxy that can cut their streams (as a network would).
  const proxy = new StreamProxy(server.port);
  await proxy.listen();
  const proxyUrl = proxy.url;
  try {
    const npm = npmClient(`${proxyUrl}${FROM_START}`);
    const native = await pageClient(proxyUrl, FROM_START);
    const first = await server.publish([observation("RDS01"), observation("RDS01")]);
    await eventually("both clients to get the first events", async () =>
      npm.ids.length === 2 && (await native.seen()).ids.length === 2);

    await redis.stop();
    await eventually("the server to see the bus down", async () => {
      const ready = await fetch(`${server.url}/ready`);
      await ready.body?.cancel();
      return ready.status === 503;
    }, 15000);
    // Published while the bus is down: stored, and sent from the store on resume.
    const during = await server.publish([observation("RDS01"), observation("RDS01")]);
    proxy.cutStreams();
    const clients = { npm, native, proxy, server };
    await eventuallyBoth("an unavailable event in both clients", async () =>
      npm.unavailable.length > 0 && (await native.seen()).unavailable.length > 0, 15000, clients);
    assert.equal(npm.unavailable[0].code, "unavailable");

    await redis.start();
    const last = await server.publish([observation("RDS01")]);
    const expected = [...first, ...during, ...last].map((o) => o.seq);
    await eventuallyBoth("both clients to get all 5", async () =>
      npm.ids.length >= 5 && (await native.seen()).ids.length >= 5, 30000, clients);
    await sleep(300);
    assertExactlyOnce("npm eventsource", npm.ids, expected);
    const seen = await native.seen();
    assertExactlyOnce("native EventSource", seen.ids, expected);
    assert.equal(seen.closedForGood, false);
    npm.source.close();
    await native.close();
  } finally {
    await proxy.close();
    await disposeServer(server);
    await redis.stop();
  }
});
