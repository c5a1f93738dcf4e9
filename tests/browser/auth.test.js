// Subscriber auth in the browser: the dashboard takes a token from its page URL and the client
// module sends it to the stream (query) and to polls (Authorization header); the token's
// `stations` claim limits what the page sees. Run from the repository root:
// `cargo build && node --test tests/browser/`.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";

import {
  StreamProxy,
  disposeServer,
  eventually,
  launchBrowser,
  observation,
  recorded,
  sleep,
  startServer,
  waitReceived,
  waitState,
  watchPage,
} from "./harness.js";

const SECRET = "browser tests' secret, 32 bytes or more";

/** An HS256 JWT, as docs/API.md mints one. */
function jwt(claims) {
  const b64 = (value) => Buffer.from(JSON.stringify(value)).toString("base64url");
  const unsigned = `${b64({ alg: "HS256", typ: "JWT" })}.${b64(claims)}`;
  return `${unsigned}.${createHmac("sha256", SECRET).update(unsigned).digest("base64url")}`;
}

let browser;
before(async () => {
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
});

test("the dashboard passes its ?access_token= on to the stream and to polls", { timeout: 90000 }, async () => {
  const server = await startServer({ args: ["--jwt-secret", SECRET] });
  const proxy = await new StreamProxy(server.port).listen();
  const page = await browser.newPage();
  const watched = watchPage(page);
  const token = jwt({ exp: Math.floor(Date.now() / 1000) + 600, stations: ["44009"] });
  try {
    await server.publish([observation("44009"), observation("46042")]);
    await page.goto(`${proxy.url}/?heartbeatMs=1000&pollMs=500&sseRetryMs=3000&access_token=${token}`);
    await eventually("the dashboard to start", async () => (await recorded(page)).ready);
    await waitState(page, "connected");
    assert.ok(!page.url().includes("access_token"), `the token leaves the address bar: ${page.url()}`);
    assert.equal(await page.locator(".card").count(), 1, "only the granted station is listed");
    assert.equal(await page.locator(".card[data-station='44009']").count(), 1);

    // Live over the stream: the other station never arrives.
    const [, streamed] = await server.publish([observation("46042"), observation("44009")]);
    let h = await waitReceived(page, 1);
    assert.deepEqual(h.receivedIds, [streamed.seq]);
    assert.equal(h.via[streamed.seq], "sse");

    // Polling (the stream refused by the proxy) sends the token in the Authorization header.
    proxy.mode = "refuse";
    proxy.cutStreams();
    await waitState(page, "polling", 20000);
    const [, polled] = await server.publish([observation("46042"), observation("44009")]);
    h = await waitReceived(page, 2, 10000);
    assert.deepEqual(h.receivedIds, [streamed.seq, polled.seq]);
    assert.equal(h.via[polled.seq], "poll");

    // A reload keeps the token for the tab (sessionStorage) although the URL no longer has it.
    proxy.mode = "pass";
    await page.reload();
    await eventually("the dashboard to restart", async () => (await recorded(page)).ready);
    await waitState(page, "connected");
    assert.equal(await page.locator(".card").count(), 1);
    // The proxy's refusals (503) and cut stream are the only errors: no 401 on the way.
    const expected = /status of 503|ERR_INCOMPLETE_CHUNKED_ENCODING/;
    assert.deepEqual(watched.problems.filter((p) => !expected.test(p)), []);
  } finally {
    await page.close();
    await proxy.close();
    await disposeServer(server);
  }
});

test("a refused or expired token stops the client until setToken() gives a fresh one", { timeout: 90000 }, async () => {
  const server = await startServer({ args: ["--jwt-secret", SECRET] });
  const page = await browser.newPage();
  const requests = [];
  page.on("request", (request) => {
    if (request.url().includes("/v1/observations")) requests.push(request.url());
  });
  const fresh = (stations) => jwt({ exp: Math.floor(Date.now() / 1000) + 600, stations });
  try {
    await page.route("**/favicon.ico", (route) => route.fulfill({ status: 204 }));
    await page.goto(`${server.url}/health`);
    // An expired token (past the server's 30 s leeway), with fast retries: a client that went on
    // retrying would show it within seconds.
    const expired = jwt({ exp: Math.floor(Date.now() / 1000) - 120, stations: ["44009"] });
    await page.evaluate(async (token) => {
      const { connect } = await import("/client/buoycast.js");
      window.t = { got: [], states: [] };
      window.t.client = connect({
        token,
        reconnectDelayMs: 100,
        maxReconnectDelayMs: 200,
        maxSseFailures: 2,
        pollIntervalMs: 200,
        sseRetryIntervalMs: 300,
        onObservation: (o, meta) => window.t.got.push([meta.id, o.stationId]),
        onStateChange: (state) => window.t.states.push(state),
      });
    }, expired);
    const client = () => page.evaluate(() => ({
      state: window.t.client.state,
      lastError: window.t.client.lastError,
      got: window.t.got,
      states: window.t.states,
    }));
    await eventually("the client to stop", async () => (await client()).state === "disconnected", 20000);
    let c = await client();
    assert.match(c.lastError, /HTTP 401.*the token has expired/, "the server's reason is kept");
    const seen = requests.length;
    await sleep(2000);
    assert.equal(requests.length, seen, `no retry after the refusal: ${requests.slice(seen).join(" ")}`);
    assert.equal((await client()).state, "disconnected");

    // A fresh token connects it again; it sees what the token grants, live.
    await page.evaluate((token) => window.t.client.setToken(token), fresh(["44009"]));
    await eventually("connected again", async () => (await client()).state === "connected", 20000);
    const [, granted] = await server.publish([observation("46042"), observation("44009")]);
    await eventually("the granted station's observation", async () => (await client()).got.length >= 1);
    assert.deepEqual((await client()).got, [[granted.seq, "44009"]]);

    // A filter outside the token's stations is refused (403) the same way, with its reason;
    // one inside connects again.
    await page.evaluate(() => window.t.client.setStations(["46042"]));
    await eventually("refused for the station", async () => (await client()).state === "disconnected", 20000);
    c = await client();
    assert.match(c.lastError, /HTTP 403.*may not read station 46042/);
    await page.evaluate(() => window.t.client.setStations(["44009"]));
    await eventually("connected within the grant", async () => (await client()).state === "connected", 20000);
  } finally {
    await page.close();
    await disposeServer(server);
  }
});

test("the dashboard without a token says the server refused it, and does not poll on", { timeout: 60000 }, async () => {
  const server = await startServer({ args: ["--jwt-secret", SECRET] });
  const page = await browser.newPage();
  let polls = 0;
  page.on("request", (request) => {
    if (new URL(request.url()).pathname === "/v1/observations") polls += 1;
  });
  try {
    await page.goto(`${server.url}/?heartbeatMs=1000&pollMs=200&sseRetryMs=300`);
    await eventually("the dashboard to start", async () => (await recorded(page)).ready);
    await waitState(page, "disconnected", 30000);
    assert.match(await page.locator("#conn-text").textContent(), /refused the token.*needs a token/);
    const seen = polls;
    await sleep(1500);
    assert.equal(polls, seen, "no poll after the refusal");
  } finally {
    await page.close();
    await disposeServer(server);
  }
});

test("without a token the server answers 401 with a challenge", { timeout: 30000 }, async () => {
  const server = await startServer({ args: ["--jwt-secret", SECRET] });
  try {
    const response = await fetch(`${server.url}/v1/stations`);
    assert.equal(response.status, 401);
    assert.equal(response.headers.get("www-authenticate"), 'Bearer realm="buoycast"');
    assert.equal((await response.json()).error.code, "unauthorized");
    const health = await fetch(`${server.url}/health`);
    assert.equal(health.status, 200);
  } finally {
    await disposeServer(server);
  }
});
