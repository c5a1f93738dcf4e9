// Event kinds in the client module (SPEC §3a): the `kinds` option goes to the stream and to polls
// as `kinds=`, and `client.onEvent(kind, handler)` gets the named events of each kind, streamed
// (EventSource listeners for the kinds asked for; all twelve for "*") or polled (by each item's
// `kind`, an item without one being an observation). A small fake server plays a server that
// knows kinds; the real one (which ignores parameters it does not know) shows that asking for
// kinds changes nothing for observations. Also the client's last error on a refusal.

import { test, after } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { once } from "node:events";
import { readFile } from "node:fs/promises";
import { EventSource } from "eventsource";

import { REPO, disposeServer, eventually, launchBrowser, observation, sleep, startServer } from "./harness.js";

const { connect, KINDS } = await import(new URL("../../web/client/buoycast.js", import.meta.url).href);

let browser;
after(async () => {
  await browser?.close();
});

/** One event of `kind` as a server that knows kinds sends it. */
function payload(kind, stationId = "44013") {
  return { kind, stationId, timestamp: "2026-11-30T12:00:00.000Z", value: kind.length };
}

/** The stream the fake server sends: a connection event at 10, then one event per line. */
const STREAMED = [
  [11, "observation"], [12, "spectrum"], [13, "ocean"], [14, "rain"], [15, "observation"], [16, "tsunami"],
];
/** The page the fake server's polls return after 20 (21: an older server's observation, no kind). */
const POLLED = [
  { seq: 21, stationId: "44013", timestamp: "2026-11-30T12:00:00.000Z", waveHeightM: 1.2 },
  { seq: 22, ...payload("spectrum") },
  { seq: 23, ...payload("tsunami") },
  { seq: 24, ...payload("observation") },
  { seq: 25, ...payload("derived") },
];

/**
 * A fake server: the stream (`mode` "stream": the events of STREAMED; "unavailable": a transient
 * refusal as the real server sends it), polls (POLLED, then nothing), the client module and a
 * blank page for the browser. Records every request's URL.
 */
async function fakeServer() {
  const module = await readFile(new URL("web/client/buoycast.js", `file://${REPO}/`), "utf8");
  const state = { mode: "stream", requests: [], streams: new Set() };
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, "http://x");
    state.requests.push(url);
    if (url.pathname === "/client/buoycast.js") {
      res.writeHead(200, { "Content-Type": "text/javascript" });
      res.end(module);
    } else if (url.pathname === "/page") {
      res.writeHead(200, { "Content-Type": "text/html" });
      res.end("<!doctype html><title>kinds</title>");
    } else if (url.pathname === "/v1/observations/stream") {
      res.writeHead(200, { "Content-Type": "text/event-stream", "Cache-Control": "no-cache" });
      if (state.mode === "unavailable") {
        res.end('retry: 100\n\nevent: unavailable\ndata: {"code":"too_many_streams","message":"full for now","retryAfterMs":100}\n\n');
        return;
      }
      state.streams.add(res);
      res.on("close", () => state.streams.delete(res));
      let body = 'retry: 2000\n\nid: 10\nevent: connection\ndata: {"status":"connected","timestamp":"2026-11-30T12:00:00.000Z"}\n\n';
      for (const [id, kind] of STREAMED) body += `id: ${id}\nevent: ${kind}\ndata: ${JSON.stringify(payload(kind))}\n\n`;
      res.write(body);
    } else if (url.pathname === "/v1/observations") {
      const after = Number(url.searchParams.get("after"));
      const observations = POLLED.filter((o) => o.seq > after);
      res.writeHead(200, { "Content-Type": "application/json" });
      res.end(JSON.stringify({ observations, lastSeq: 25 }));
    } else {
      res.writeHead(404);
      res.end();
    }
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return {
    state,
    url: `http://127.0.0.1:${server.address().port}`,
    requests: (pathname) => state.requests.filter((u) => u.pathname === pathname),
    async close() {
      for (const res of state.streams) res.destroy();
      server.closeAllConnections();
      server.close();
    },
  };
}

/** Handlers on every kind of `client`, recording [id, kind of the payload, meta.kind, via]. */
function recordKinds(client) {
  const got = Object.fromEntries(KINDS.map((k) => [k, []]));
  for (const kind of KINDS) {
    client.onEvent(kind, (data, meta) => got[kind].push([meta.id, data.kind ?? null, meta.kind, meta.via]));
  }
  return got;
}

test("streamed: kinds= on the stream URL, one listener per kind asked for, each event to its kind's handlers", { timeout: 30000 }, async () => {
  const fake = await fakeServer();
  const observations = [];
  const client = connect({
    url: fake.url,
    EventSource,
    quiet: true,
    kinds: ["observation", "spectrum", "ocean", "spectrum"],
    lastEventId: 0,
    onObservation: (o, meta) => observations.push([meta.id, meta.kind]),
  });
  try {
    const got = recordKinds(client);
    await eventually("the events", async () => got.ocean.length === 1 && got.observation.length === 2);
    await sleep(200);
    const [stream] = fake.requests("/v1/observations/stream");
    assert.equal(stream.searchParams.get("kinds"), "observation,spectrum,ocean", "asked once per kind, in order");
    assert.deepEqual(client.kinds, ["observation", "spectrum", "ocean"]);
    assert.deepEqual(observations, [[11, "observation"], [15, "observation"]], "onObservation as before");
    assert.deepEqual(got.observation, [[11, "observation", "observation", "sse"], [15, "observation", "observation", "sse"]]);
    assert.deepEqual(got.spectrum, [[12, "spectrum", "spectrum", "sse"]]);
    assert.deepEqual(got.ocean, [[13, "ocean", "ocean", "sse"]]);
    assert.deepEqual(got.rain, [], "a kind not asked for has no listener");
    assert.deepEqual(got.tsunami, []);
    // A kind not asked for never reaches the client (a server that knows kinds does not send
    // it; EventSource drops an event without a listener): the resume point is the last one seen.
    assert.equal(client.lastEventId, 15);
  } finally {
    client.close();
    await fake.close();
  }
});

test("polled: kinds= on every poll, each item to the handlers of its kind (none: observation), unsubscribe stops a handler", { timeout: 30000 }, async () => {
  const fake = await fakeServer();
  fake.state.mode = "unavailable";
  const observations = [];
  const client = connect({
    url: fake.url,
    EventSource,
    quiet: true,
    kinds: "*",
    lastEventId: 20,
    maxSseFailures: 1,
    pollIntervalMs: 100,
    sseRetryIntervalMs: 60000,
    onObservation: (o, meta) => observations.push(meta.id),
  });
  try {
    const removed = [];
    const unsubscribe = client.onEvent("derived", (data, meta) => removed.push(meta.id));
    unsubscribe();
    unsubscribe(); // twice is harmless
    const got = recordKinds(client);
    await eventually("polling", async () => client.state === "polling");
    await eventually("the polled items", async () => got.derived.length === 1);
    await eventually("a second poll", async () => fake.requests("/v1/observations").length >= 2);
    for (const poll of fake.requests("/v1/observations")) {
      assert.equal(poll.searchParams.get("kinds"), "*", poll.href);
    }
    assert.equal(fake.requests("/v1/observations/stream")[0].searchParams.get("kinds"), "*");
    assert.deepEqual(observations, [21, 24]);
    assert.deepEqual(got.observation, [[21, null, "observation", "poll"], [24, "observation", "observation", "poll"]]);
    assert.deepEqual(got.spectrum, [[22, "spectrum", "spectrum", "poll"]]);
    assert.deepEqual(got.tsunami, [[23, "tsunami", "tsunami", "poll"]]);
    assert.deepEqual(got.derived, [[25, "derived", "derived", "poll"]]);
    assert.deepEqual(removed, [], "an unsubscribed handler is not called");
    assert.equal(client.stats.received, 5, "each item once, however often it is polled");

    // The refusal is the last error, with the server's code and message, and its time.
    assert.equal(client.lastError, "the server refused the stream for now: too_many_streams: full for now");
    assert.match(client.lastErrorAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    assert.ok(Math.abs(Date.parse(client.lastErrorAt) - Date.now()) < 10000);
    assert.equal(client.stats.lastError, client.lastError);
    assert.equal(client.stats.lastErrorAt, client.lastErrorAt);
  } finally {
    client.close();
    await fake.close();
  }
});

test("the last error is kept across a reconnect that works", { timeout: 30000 }, async () => {
  const fake = await fakeServer();
  fake.state.mode = "unavailable";
  const client = connect({
    url: fake.url,
    EventSource,
    quiet: true,
    lastEventId: 0,
    reconnectDelayMs: 50,
    onObservation: () => {},
  });
  try {
    await eventually("a refusal", async () => client.lastError !== null);
    const { lastError, lastErrorAt } = client;
    fake.state.mode = "stream";
    await eventually("connected", async () => client.state === "connected", 10000);
    assert.equal(client.lastError, lastError);
    assert.equal(client.lastErrorAt, lastErrorAt);
  } finally {
    client.close();
    await fake.close();
  }
});

test("in Chromium, kinds \"*\" listens to all twelve event names", { timeout: 60000 }, async () => {
  const fake = await fakeServer();
  browser ??= await launchBrowser();
  const page = await browser.newPage();
  try {
    await page.goto(`${fake.url}/page`);
    const got = await page.evaluate(async () => {
      const { connect, KINDS } = await import("/client/buoycast.js");
      const got = [];
      const client = connect({ kinds: "*", lastEventId: 0, quiet: true, shareAcrossTabs: false });
      for (const kind of KINDS) client.onEvent(kind, (data, meta) => got.push([meta.id, meta.kind]));
      const deadline = Date.now() + 10000;
      while (got.length < 6 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      client.close();
      return got;
    });
    assert.deepEqual(got, STREAMED);
    assert.equal(fake.requests("/v1/observations/stream")[0].searchParams.get("kinds"), "*");
  } finally {
    await page.close();
    await fake.close();
  }
});

test("against a server that does not know kinds yet, asking for them changes nothing for observations", { timeout: 60000 }, async () => {
  const server = await startServer();
  const seen = [];
  const client = connect({
    url: server.url,
    EventSource,
    quiet: true,
    heartbeatIntervalMs: 1000,
    kinds: ["observation", "spectrum"],
    onObservation: () => {},
  });
  client.onEvent("observation", (o, meta) => seen.push([meta.id, o.stationId]));
  try {
    await eventually("connected", async () => client.state === "connected");
    const ids = (await server.publish([observation("44009"), observation("46042")])).map((o) => o.seq);
    await eventually("both", async () => seen.length === 2);
    assert.deepEqual(seen, [[ids[0], "44009"], [ids[1], "46042"]]);
  } finally {
    client.close();
    await disposeServer(server);
  }
});

test("an unknown kind is refused at once, by name", () => {
  assert.throws(() => connect({ url: "http://127.0.0.1:1", EventSource, kinds: ["observation", "sepctrum"] }),
    /unknown kind "sepctrum"/);
  const client = connect({ url: "http://127.0.0.1:1", EventSource, quiet: true, onObservation: () => {} });
  try {
    assert.throws(() => client.onEvent("waves", () => {}), /unknown event kind "waves"/);
    assert.equal(client.kinds, null, "no kinds: the server's default");
  } finally {
    client.close();
  }
  assert.throws(() => connect({ url: "http://127.0.0.1:1", EventSource }), /onObservation must be a function/,
    "onObservation stays required without kinds");
});
