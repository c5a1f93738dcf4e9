// Browser tests of the dashboard and the client module, in real headless Chromium against the
// real binary: what needs playwright (plots, sound, requests leaving the machine, a page from
// disk) or is Chromium's own. The scenarios every engine runs (restart, polling fallback,
// watchdog, station filter, tab sharing) are in engines.test.js.
// Run from the repository root: `cargo build && node --test tests/browser/`.
// BUOYCAST_SCREENSHOT=docs/dashboard.png also saves a screenshot of the dashboard with live data.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import path from "node:path";
import { rm } from "node:fs/promises";

import {
  NDBC,
  REPO,
  StreamProxy,
  disposeServer,
  eventually,
  launchBrowser,
  metadataDir,
  observation,
  parseNdbc,
  recorded,
  sleep,
  startServer,
  waitReceived,
  waitState,
  watchPage,
} from "./harness.js";

/** Dashboard options for tests: the server's 1 s heartbeat, fast polling and stream retries. */
const FAST = "heartbeatMs=1000&pollMs=500&sseRetryMs=3000";

let browser;
before(async () => {
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
});

test("the dashboard shows stations with history, updates live, and logs no errors", { timeout: 90000 }, async (t) => {
  const meta = await metadataDir();
  const server = await startServer({ replayDir: meta });
  const page = await browser.newPage();
  const watched = watchPage(page);
  try {
    // Real NDBC readings, moved in time so that the newest is 20 minutes old (NDBC's usual delay).
    const stations = ["44013", "41002", "44065", "46097", "41004", "TPLM2"];
    const live = [];
    let waveReadings44013 = 0;
    for (const id of stations) {
      const rows = (await parseNdbc(path.join(NDBC, "realtime2", `${id}.txt`))).slice(-51);
      const newest = Date.parse(rows[rows.length - 1].timestamp);
      const shift = Math.round((Date.now() - 20 * 60000 - newest) / 600000) * 600000;
      for (const row of rows) row.timestamp = new Date(Date.parse(row.timestamp) + shift).toISOString();
      await server.publish(rows.slice(0, 48));
      if (id === "44013") waveReadings44013 = rows.slice(0, 48).filter((r) => r.waveHeightM !== null).length;
      live.push(...rows.slice(48));
    }

    await page.goto(`${server.url}/?heartbeatMs=1000`);
    await eventually("the dashboard to start", async () => (await recorded(page)).ready);
    await waitState(page, "connected");
    assert.equal(await page.locator(".card").count(), stations.length);
    assert.equal(await page.locator(".card[data-station='44013'] .plot.wave polyline").count(), 1);
    const points = await page.locator(".card[data-station='44013'] .plot.wave polyline").getAttribute("points");
    assert.ok(waveReadings44013 > 5, "the sample has wave readings");
    assert.equal(points.trim().split(/\s+/).length, waveReadings44013, "one point per wave reading");
    assert.match(await page.locator("#conn-text").textContent(), /live/);
    assert.equal(await page.evaluate(() => "__buoycast" in window), false, "the page keeps no test hook");

    // Live: the newest three readings of each station, one station at a time.
    const published = [];
    for (let i = 0; i < live.length; i += 3) {
      published.push(...(await server.publish(live.slice(i, i + 3))).map((o) => o.seq));
      await sleep(150);
    }
    const h = await waitReceived(page, published.length);
    assert.deepEqual(h.receivedIds, published);
    assert.equal(await page.locator("#stat-events").textContent(), String(published.length));
    const last = published[published.length - 1];
    assert.equal(await page.locator("#stat-id").textContent(), String(last));
    const lastStation = live[live.length - 1].stationId;
    assert.equal(await page.locator(`.card[data-station='${lastStation}'] .seq`).textContent(), `#${last}`);
    assert.match(await page.locator("#stat-hb").textContent(), /ms$/, "heartbeat delay measured");
    assert.match(await page.locator("#stat-rtt").textContent(), /ms$/, "round trip measured");

    // The sound toggle starts Web Audio on a click and stops it again.
    await page.click("#sound");
    await eventually("sound on", async () => (await page.getAttribute("#sound", "aria-pressed")) === "true");
    assert.equal((await page.locator("#sound").textContent()).trim(), "Sound: on");
    assert.ok(await page.locator("#legend").isVisible(), "the legend is shown while the sound is on");
    await server.publish([{ ...live[0], timestamp: new Date(Date.now() - 5 * 60000).toISOString() }]);
    await waitReceived(page, published.length + 1);
    await page.click("#sound");
    await eventually("sound off", async () => (await page.getAttribute("#sound", "aria-pressed")) === "false");
    assert.ok(await page.locator("#legend").isHidden(), "the legend is hidden again");

    if (process.env.BUOYCAST_SCREENSHOT) {
      const file = path.resolve(REPO, process.env.BUOYCAST_SCREENSHOT);
      await page.click("#sound"); // show the legend too
      await sleep(1200); // let the "fresh" highlight fade
      await page.screenshot({ path: file, fullPage: true });
      t.diagnostic(`screenshot saved to ${file}`);
    }
    assert.deepEqual(watched.problems, [], "no console errors, page errors, failed or external requests");
  } finally {
    await page.close();
    await disposeServer(server);
    await rm(meta, { recursive: true, force: true });
  }
});

test("several tabs receive the same events within 1 s", { timeout: 60000 }, async (t) => {
  const server = await startServer();
  const pages = [];
  try {
    for (let i = 0; i < 3; i += 1) {
      const page = await browser.newPage();
      pages.push(page);
      await page.goto(`${server.url}/?${FAST}`);
    }
    for (const page of pages) await waitState(page, "connected");
    const published = [];
    const sentAt = {};
    for (let i = 0; i < 10; i += 1) {
      const before = Date.now();
      const [stored] = await server.publish([observation(i % 2 ? "44009" : "46042")]);
      sentAt[stored.seq] = before;
      published.push(stored.seq);
      await sleep(100);
    }
    let worst = 0;
    for (const page of pages) {
      const h = await waitReceived(page, published.length, 5000);
      assert.deepEqual(h.receivedIds, published, "every tab gets every event once, in order");
      for (const id of published) {
        const delay = h.arrivals[id] - sentAt[id];
        worst = Math.max(worst, delay);
        assert.ok(delay < 1000, `event ${id} took ${delay} ms to reach a tab`);
      }
    }
    t.diagnostic(`slowest publish-to-tab delivery: ${worst} ms`);
  } finally {
    for (const page of pages) await page.close();
    await disposeServer(server);
  }
});

test("the client module resumes from the connection and heartbeat ids, not only from observations", { timeout: 60000 }, async () => {
  const server = await startServer();
  const proxy = await new StreamProxy(server.port).listen();
  const page = await browser.newPage();
  const watched = watchPage(page);
  try {
    const before = (await server.publish([observation("44009"), observation("44009")])).map((o) => o.seq);
    await page.route("**/favicon.ico", (route) => route.fulfill({ status: 204 }));
    await page.goto(`${proxy.url}/health`);
    await page.evaluate(async () => {
      const { connect } = await import("/client/buoycast.js");
      window.t = { got: [], events: [] };
      window.t.client = connect({
        stations: "46042",
        heartbeatIntervalMs: 1000,
        reconnectDelayMs: 200,
        maxSseFailures: 20,
        onObservation: (o, meta) => window.t.got.push([meta.id, o.stationId, meta.via]),
        onEvent: (type) => window.t.events.push(type),
      });
    });
    const client = () => page.evaluate(() => ({
      state: window.t.client.state,
      lastEventId: window.t.client.lastEventId,
      stats: window.t.client.stats,
      got: window.t.got,
      events: window.t.events,
    }));
    await eventually("connected", async () => (await client()).state === "connected");
    await eventually("the connection event", async () => (await client()).events.includes("connection"));
    assert.equal((await client()).lastEventId, before[1], "the connection id is the resume point");

    // Only other stations publish: heartbeats move the resume point, nothing is delivered.
    const others = (await server.publish([observation("44009"), observation("41002"), observation("44009")]))
      .map((o) => o.seq);
    await eventually("a heartbeat with the newest id", async () =>
      (await client()).lastEventId === others[2], 10000);
    let c = await client();
    assert.deepEqual(c.got, []);
    assert.equal(c.stats.received, 0, "positions are not observations");

    // The stream breaks; what is published meanwhile arrives once the client resumes.
    proxy.mode = "refuse";
    proxy.cutStreams();
    await eventually("the client to notice", async () => (await client()).state === "reconnecting");
    const missed = (await server.publish([observation("46042"), observation("44009"), observation("46042")]))
      .map((o) => o.seq);
    proxy.mode = "pass";
    await eventually("the missed observations", async () => (await client()).got.length >= 2, 15000);
    await sleep(1500); // a repeat would arrive now (and a heartbeat has passed)
    c = await client();
    assert.deepEqual(c.got, [[missed[0], "46042", "sse"], [missed[2], "46042", "sse"]]);
    assert.equal(c.stats.duplicates, 0, "nothing was replayed twice");
    assert.equal(c.lastEventId, missed[2]);
    // The stream cut by the test is reported by the browser; nothing else may be.
    assert.deepEqual(watched.problems.filter((p) => !p.includes("ERR_INCOMPLETE_CHUNKED_ENCODING")), []);
  } finally {
    await page.close();
    await proxy.close();
    await disposeServer(server);
  }
});

test("the Web Audio example of docs/AUDIO_CLIENTS.md works when opened from disk", { timeout: 60000 }, async () => {
  const server = await startServer();
  const page = await browser.newPage();
  const watched = watchPage(page);
  try {
    const file = path.join(REPO, "docs/examples/webaudio.html");
    await page.goto(`file://${file}?server=${encodeURIComponent(server.url)}&stations=44009`);
    await eventually("connected", async () =>
      (await page.evaluate(() => window.client?.state)) === "connected");
    await page.click("#start"); // the user gesture that starts the AudioContext
    const ids = (await server.publish([observation("46042"), observation("44009")])).map((o) => o.seq);
    await eventually("the 44009 observation on the page", async () =>
      (await page.locator("#log").textContent()).includes(`#${ids[1]} 44009`));
    assert.ok(!(await page.locator("#log").textContent()).includes("46042"), "the station filter holds");
    assert.equal(await page.locator("#state").textContent(), "connected");
    assert.deepEqual(watched.problems, []);
  } finally {
    await page.close();
    await disposeServer(server);
  }
});
