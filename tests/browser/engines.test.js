// The browser scenarios every engine runs: the dashboard and the client module against the real
// binary, in each engine named by BUOYCAST_ENGINES (chromium, firefox, webkit; comma-separated;
// Chromium when unset), through the page interface of engines.js. An engine that cannot start
// fails its tests; nothing is skipped. The first test checks the engine's own EventSource, so
// that each engine difference docs/STREAMING.md ("Browser engines: what differs") states is
// asserted here. Run from the repository root:
//   cargo build && node --test tests/browser/                                   # Chromium
//   BUOYCAST_ENGINES=firefox node --test tests/browser/engines.test.js          # Firefox ESR
//   BUOYCAST_ENGINES=webkit node --test tests/browser/engines.test.js           # WebKitGTK

import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";
import { once } from "node:events";
import http from "node:http";

import {
  StreamProxy,
  disposeServer,
  eventually,
  observation,
  recorded,
  sleep,
  startServer,
  waitReceived,
  waitState,
} from "./harness.js";
import { enginesToTest, launchEngine } from "./engines.js";

/** Dashboard options for tests: the server's 1 s heartbeat, fast polling and stream retries. */
const FAST = "heartbeatMs=1000&pollMs=500&sseRetryMs=3000";

/** Whether `want` appears in `states` in this order (other states may come between). */
function inOrder(states, want) {
  let i = 0;
  for (const s of states) if (s === want[i]) i += 1;
  return i === want.length;
}

/** Streams the server holds open now (`/ready`). */
async function openStreams(server) {
  const response = await fetch(`${server.url}/ready`);
  return (await response.json()).streams.open;
}

/** Whether the page has what the client needs to share one stream among tabs. */
function canShare(page) {
  return page.evaluate(() => typeof navigator.locks?.request === "function" && typeof BroadcastChannel === "function");
}

/**
 * A bare SSE server for the engines' own `EventSource`: `/` is an empty page; `/sse?mode=` is
 * "end" (`retry: 300`, an event whose id counts the requests, the end of the response 50 ms
 * later), "refuse" (503) or "head" (200 and headers, never a byte). It records each stream
 * request: `{ mode, at, endedAt, lastEventId }`.
 */
async function bareSseServer(port = 0) {
  const requests = [];
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, "http://x");
    if (url.pathname !== "/sse") {
      res.writeHead(200, { "Content-Type": "text/html" });
      res.end('<!doctype html><html><head><link rel="icon" href="data:,"></head><body></body></html>');
      return;
    }
    const mode = url.searchParams.get("mode");
    const request = { mode, at: Date.now(), endedAt: null, lastEventId: req.headers["last-event-id"] ?? null };
    requests.push(request);
    const cors = { "Access-Control-Allow-Origin": "*" };
    if (mode === "refuse") {
      res.writeHead(503, { ...cors, "Content-Type": "application/json" });
      res.end("{}");
      return;
    }
    res.writeHead(200, { ...cors, "Content-Type": "text/event-stream", "Cache-Control": "no-cache" });
    res.flushHeaders();
    if (mode === "end") {
      res.write(`retry: 300\nid: ${requests.filter((r) => r.mode === "end").length}\ndata: x\n\n`);
      setTimeout(() => {
        request.endedAt = Date.now();
        res.end();
      }, 50);
    }
  });
  server.listen(port, "127.0.0.1");
  await once(server, "listening");
  return {
    requests,
    url: `http://127.0.0.1:${server.address().port}`,
    port: server.address().port,
    async close() {
      server.closeAllConnections();
      server.close();
    },
  };
}

for (const name of enginesToTest()) {
  describe(name, { concurrency: false }, () => {
    let engine;
    before(async () => {
      engine = await launchEngine(name);
    });
    after(async () => {
      await engine?.close();
    });

    test("the engine's own EventSource: retry, Last-Event-ID, a 503, a head-only stream, refused reconnections", { timeout: 60000 }, async (t) => {
      let site = await bareSseServer();
      let stream = await bareSseServer();
      let page;
      try {
        page = await engine.newPage();
        await page.gotoDirect(`${site.url}/`);
        const open = (url) => page.evaluate((u) => {
          window.es?.close();
          window.log = [];
          const es = new EventSource(u);
          window.es = es;
          es.addEventListener("open", () => window.log.push(["open", es.readyState, Date.now()]));
          es.addEventListener("message", (e) => window.log.push(["message", e.lastEventId, Date.now()]));
          es.addEventListener("error", () => window.log.push(["error", es.readyState, Date.now()]));
        }, url);
        const log = () => page.evaluate(() => window.log);

        // A stream that ends: the engine reconnects by itself after `retry`, with the last id.
        await open(`${site.url}/sse?mode=end`);
        await eventually("three reconnections", async () => site.requests.length >= 4, 10000);
        const ended = site.requests.slice(0, 4);
        assert.deepEqual(ended.map((r) => r.lastEventId), [null, "1", "2", "3"], "Last-Event-ID sent back");
        const gaps = ended.slice(1).map((r, i) => r.at - ended[i].endedAt);
        const errors = (await log()).filter(([type]) => type === "error");
        assert.ok(errors.length >= 3 && errors.every(([, state]) => state === 0), `error events: ${JSON.stringify(errors)}`);
        // Firefox never reconnects sooner than 500 ms; Chromium and WebKitGTK honour 300 ms.
        const floor = name === "firefox" ? 480 : 280;
        assert.ok(Math.min(...gaps) >= floor, `reconnected after ${gaps} ms (retry: 300)`);
        if (name !== "firefox") assert.ok(Math.min(...gaps) < 480, `reconnected after ${gaps} ms (retry: 300)`);
        t.diagnostic(`${engine.name}: reconnections after an ended stream with retry: 300: ${gaps.join(", ")} ms`);

        // A 503 is final: one error with readyState CLOSED, and no further request.
        await open(`${site.url}/sse?mode=refuse`);
        await sleep(1500);
        assert.equal(site.requests.filter((r) => r.mode === "refuse").length, 1, "no retry after a 503");
        assert.deepEqual((await log()).map(([type, state]) => [type, state]), [["error", 2]]);

        // A response head and not a byte: Chromium and WebKitGTK fire `open`, Firefox does not.
        await open(`${site.url}/sse?mode=head`);
        await sleep(1000);
        const opened = (await log()).some(([type]) => type === "open");
        assert.equal(opened, name !== "firefox", `open fired on a head-only stream: ${opened}`);

        // Reconnections refused (nothing listens: the server is down, as during a restart).
        // The page's own origin: every engine keeps the stream CONNECTING and is back when the
        // server is (each may fire `error` at each refusal, or hold the reconnection pending,
        // with no `error`, until the server is back: Chromium did both in runs on one machine). Another origin:
        // Chromium and WebKitGTK the same; Firefox closes the stream at the first refusal
        // (readyState CLOSED) and never reopens it.
        const refused = async (which) => {
          const before = which === "site" ? site : stream;
          await open(`${before.url}/sse?mode=end`);
          await eventually("a stream", async () => before.requests.some((r) => r.endedAt), 5000);
          await before.close();
          await sleep(1200); // at least two reconnections refused (retry: 300; Firefox 500)
          const refusedLog = await log();
          const after = await bareSseServer(before.port);
          if (which === "site") site = after;
          else stream = after;
          const back = await eventually("a reconnection", async () => after.requests.length > 0, 5000).catch(() => false);
          const state = await page.evaluate(() => window.es.readyState);
          return { back, state, errors: refusedLog.filter(([type]) => type === "error").map(([, s]) => s) };
        };
        const same = await refused("site");
        const cross = await refused("stream");
        t.diagnostic(`${engine.name}: refused reconnections, another origin: ${JSON.stringify(cross)}; the page's origin: ${JSON.stringify(same)}`);
        assert.equal(same.back, true, "back when the server is (the page's origin)");
        assert.ok(same.errors.every((s) => s === 0), `errors: ${same.errors}`);
        if (name === "firefox") {
          assert.deepEqual(cross.errors.slice(-1), [2], "Firefox closes another origin's refused stream");
          assert.equal(cross.back, false);
          assert.equal(cross.state, 2);
        } else {
          assert.equal(cross.back, true, "back when the server is (another origin)");
          assert.ok(cross.errors.length >= 2 && cross.errors.every((s) => s === 0), `errors: ${cross.errors}`);
        }
      } finally {
        await page?.evaluate(() => window.es?.close()).catch(() => {});
        await page?.close();
        await site.close();
        await stream.close();
      }
    });

    test("the dashboard loads with no console errors and goes live", { timeout: 60000 }, async (t) => {
      t.diagnostic(engine.version);
      const server = await startServer();
      let page;
      try {
        page = await engine.newPage();
        const stations = ["44009", "46042", "41002"];
        const history = [];
        for (const id of stations) history.push(...(await server.publish([observation(id), observation(id)])));
        await page.goto(`${server.url}/?heartbeatMs=1000`);
        await eventually("the dashboard to start", async () => (await recorded(page)).ready);
        await waitState(page, "connected");
        assert.equal(await page.evaluate(() => document.querySelectorAll(".card").length), stations.length);
        assert.match(await page.text("#conn-text"), /live/);
        assert.equal((await recorded(page)).resumeAfter, history[history.length - 1].seq,
          "live from the newest seq it loaded");

        const published = [];
        for (let i = 0; i < 6; i += 1) {
          published.push(...(await server.publish([observation(stations[i % 3])])).map((o) => o.seq));
          await sleep(100);
        }
        const h = await waitReceived(page, published.length);
        assert.deepEqual(h.receivedIds, published);
        assert.equal(await page.text("#stat-events"), String(published.length));
        const last = published[published.length - 1];
        assert.equal(await page.text("#stat-id"), String(last));
        assert.equal(await page.text(".card[data-station='41002'] .seq"), `#${last}`);
        for (const id of published) assert.equal(h.via[id], "sse");

        // The station filter of the dashboard, by a real click on its Apply button.
        await page.evaluate(() => { document.getElementById("filter").value = "46042"; });
        await page.click("#filter-form button[type=submit]");
        await eventually("the filter in the address", async () =>
          (await page.evaluate(() => location.search)).includes("stations=46042"));
        await waitState(page, "connected");
        const [other, mine] = (await server.publish([observation("44009"), observation("46042")])).map((o) => o.seq);
        await waitReceived(page, published.length + 1);
        await sleep(500);
        assert.deepEqual((await recorded(page)).receivedIds, [...published, mine], `not ${other} (filtered out)`);

        const log = await page.console();
        assert.deepEqual(log.errors, [], "no console errors or page errors");
        assert.ok(log.messages.some((m) => m.includes("[buoycast]")), "the client logs with its prefix");
      } finally {
        await page?.close();
        await disposeServer(server);
      }
    });

    test("after a server restart the dashboard resumes with every event exactly once", { timeout: 90000 }, async () => {
      const server = await startServer();
      let page;
      try {
        page = await engine.newPage();
        await page.goto(`${server.url}/?${FAST}`);
        await waitState(page, "connected");
        const published = [];
        for (let i = 0; i < 3; i += 1) {
          published.push(...(await server.publish([observation("44009")])).map((o) => o.seq));
        }
        await waitReceived(page, 3);

        await server.stop(); // SIGTERM: the server sends `shutdown` and closes every stream
        await eventually("the page to notice", async () => (await recorded(page)).state !== "connected");
        await sleep(500);
        await server.start(); // same port, same SQLite file
        // Published at once, most likely before the page is back: it must get them by resuming.
        for (let i = 0; i < 3; i += 1) {
          published.push(...(await server.publish([observation(i % 2 ? "44009" : "41002")])).map((o) => o.seq));
        }
        await waitState(page, "connected", 30000);
        published.push(...(await server.publish([observation("44009")])).map((o) => o.seq));

        const h = await waitReceived(page, published.length, 30000);
        await sleep(500); // anything extra (a repeat) would arrive now
        const final = await recorded(page);
        assert.deepEqual(final.receivedIds, published, "every event exactly once, in order");
        assert.ok(inOrder(h.states, ["connected", "reconnecting", "connected"]), `states: ${h.states}`);
        assert.equal(await page.text("#stat-events"), String(published.length));
        assert.equal(await page.text(".card[data-station='44009'] .seq"), `#${published[published.length - 1]}`);
        assert.deepEqual((await page.console()).errors, [], "no console errors or page errors");
      } finally {
        await page?.close();
        await disposeServer(server);
      }
    });

    test("when the stream is refused the dashboard polls, keeps receiving, and returns to SSE", { timeout: 90000 }, async () => {
      const server = await startServer();
      const proxy = await new StreamProxy(server.port).listen();
      let page;
      try {
        page = await engine.newPage();
        await page.goto(`${proxy.url}/?${FAST}`);
        await waitState(page, "connected");
        const published = [];
        const publish = async (station) => {
          const [stored] = await server.publish([observation(station)]);
          published.push(stored.seq);
          return stored.seq;
        };
        await publish("44009");
        await waitReceived(page, 1);

        proxy.mode = "refuse";
        proxy.cutStreams();
        await waitState(page, "polling", 20000);
        const polled = [await publish("44009"), await publish("46042"), await publish("44009")];
        let h = await waitReceived(page, 4, 10000);
        for (const id of polled) assert.equal(h.via[id], "poll", `event ${id} came by polling`);
        assert.match(await page.text("#conn-text"), /polling/);
        // The refused stream (a 503, which ends an EventSource) is the client's last error, with its time.
        assert.match(await page.evaluate((s) => document.querySelector(s)?.getAttribute("title") ?? "", "#conn"),
          /^client state: polling; last error at \d{4}-\d\d-\d\dT[\d:.]+Z: the stream could not be opened$/);

        proxy.mode = "pass";
        await waitState(page, "connected", 15000);
        const streamed = [await publish("46042"), await publish("44009")];
        h = await waitReceived(page, 6, 10000);
        for (const id of streamed) assert.equal(h.via[id], "sse", `event ${id} came over the stream again`);
        await sleep(1500); // a poll still in flight must not repeat anything
        h = await recorded(page);
        assert.deepEqual(h.receivedIds, published, "every event exactly once, in order");
        assert.ok(inOrder(h.states, ["connected", "reconnecting", "polling", "connected"]), `states: ${h.states}`);
        const log = await page.console();
        assert.ok(log.messages.some((m) => m.includes("[buoycast]") && m.includes("polling every")),
          "the fallback is logged with the [buoycast] prefix");
        assert.deepEqual(log.errors, [], "no console errors or page errors");
      } finally {
        await page?.close();
        await proxy.close();
        await disposeServer(server);
      }
    });

    test("a stream that goes silent is detected by the heartbeat watchdog and replaced", { timeout: 60000 }, async (t) => {
      const server = await startServer();
      const proxy = await new StreamProxy(server.port).listen();
      let page;
      try {
        page = await engine.newPage();
        await page.goto(`${proxy.url}/?${FAST}&openMs=3000`);
        await waitState(page, "connected");
        // Client log lines read `[buoycast] <ISO time> <message>`.
        const said = (m, text) => m.includes("[buoycast] ") && m.includes(text);
        const logged = async (text) => (await page.console()).messages.some((m) => said(m, text));
        // The new stream opens and sends its `connection` event, then nothing, not even a heartbeat.
        proxy.mode = "stall";
        proxy.cutStreams();
        await eventually("the heartbeat watchdog to fire", () => logged("nothing received for 2.5 s"), 15000);

        // A stream that sends its head and not a byte more: Chromium and WebKit fire `open` on
        // the head (the heartbeat watchdog catches it); Firefox fires `open` only with the first
        // bytes of the body, so there the open watchdog does (docs/STREAMING.md).
        const before = (await page.console()).messages.length;
        proxy.mode = "silent";
        proxy.cutStreams();
        const which = name === "firefox" ? "the stream did not open within 3.0 s" : "nothing received for 2.5 s";
        await eventually(`"${which}" after the head-only stream`, async () =>
          (await page.console()).messages.slice(before).some((m) => said(m, which)), 15000);
        t.diagnostic(`${engine.name}: a head-only stream is caught by: ${which}`);

        proxy.mode = "pass";
        await waitState(page, "connected", 15000);
        const [stored] = await server.publish([observation("44009")]);
        const h = await waitReceived(page, 1, 10000);
        assert.deepEqual(h.receivedIds, [stored.seq]);
        assert.deepEqual((await page.console()).errors, [], "no console errors or page errors");
      } finally {
        await page?.close();
        await proxy.close();
        await disposeServer(server);
      }
    });

    test("the client module filters by station, de-duplicates, and stops on close()", { timeout: 60000 }, async () => {
      const server = await startServer();
      let page;
      try {
        page = await engine.newPage();
        await page.gotoBlank(server.url);
        await page.evaluate(async () => {
          const { connect, STATES } = await import("/client/buoycast.js");
          window.t = { got: [], states: [], STATES };
          window.t.client = connect({
            stations: " 46042 ",
            heartbeatIntervalMs: 1000,
            onObservation: (o, meta) => window.t.got.push([meta.id, o.stationId, meta.via]),
            onStateChange: (state) => window.t.states.push(state),
          });
        });
        const state = () => page.evaluate(() => window.t.client.state);
        const got = () => page.evaluate(() => window.t.got);
        await eventually("connected", async () => (await state()) === "connected");
        assert.deepEqual(await page.evaluate(() => window.t.STATES),
          ["connecting", "connected", "reconnecting", "polling", "disconnected"]);

        const ids = (await server.publish([
          observation("44009"), observation("46042"), observation("44009"), observation("46042"),
        ])).map((o) => o.seq);
        await eventually("two observations", async () => (await got()).length === 2);
        assert.deepEqual(await got(), [[ids[1], "46042", "sse"], [ids[3], "46042", "sse"]]);
        assert.equal(await page.evaluate(() => window.t.client.lastEventId), ids[3]);

        await page.evaluate(() => window.t.client.setStations(["44009"]));
        await eventually("connected again", async () => (await state()) === "connected");
        const more = (await server.publish([observation("46042"), observation("44009")])).map((o) => o.seq);
        await eventually("the 44009 one", async () => (await got()).length === 3);
        assert.deepEqual((await got())[2], [more[1], "44009", "sse"]);

        await page.evaluate(() => window.t.client.close());
        assert.equal(await state(), "disconnected");
        await server.publish([observation("44009")]);
        await sleep(700);
        assert.equal((await got()).length, 3, "nothing after close()");
        const states = await page.evaluate(() => window.t.states);
        assert.equal(states[0], "connecting");
        assert.equal(states[states.length - 1], "disconnected");
        const log = await page.console();
        assert.ok(log.messages.some((m) => m.startsWith("info: [buoycast]")), "logs carry the prefix");
        assert.deepEqual(log.errors, []);
      } finally {
        await page?.close();
        await disposeServer(server);
      }
    });

    test("tabs of one browser profile share one stream; when the leader closes another takes over", { timeout: 90000 }, async (t) => {
      const server = await startServer();
      const pages = [];
      try {
        for (let i = 0; i < 3; i += 1) {
          const page = await engine.newPage();
          pages.push(page);
          await page.goto(`${server.url}/?${FAST}`);
        }
        for (const page of pages) await waitState(page, "connected");
        const sharing = await canShare(pages[0]);
        const roles = async () => Promise.all(pages.map(async (p) => (await recorded(p)).role));
        const published = [];
        const publish = async (n) => {
          for (let i = 0; i < n; i += 1) {
            published.push(...(await server.publish([observation(i % 2 ? "44009" : "46042")])).map((o) => o.seq));
            await sleep(30);
          }
        };
        const expectAll = async (list, what) => {
          for (const page of list) {
            await eventually(`every tab to have ${published.length}`, async () =>
              (await recorded(page)).receivedIds.length >= published.length, 10000);
          }
          await sleep(700); // a repeat would arrive now
          for (const [i, page] of list.entries()) {
            assert.deepEqual((await recorded(page)).receivedIds, published, `tab ${i}: ${what}`);
          }
        };

        if (!sharing) {
          // The client's documented fallback without Web Locks or BroadcastChannel: each tab
          // has its own stream (role "solo"), and still gets every event once.
          t.diagnostic(`${engine.name}: no Web Locks or no BroadcastChannel: each tab has its own stream`);
          assert.deepEqual(await roles(), ["solo", "solo", "solo"]);
          assert.equal(await openStreams(server), 3, "one stream per tab");
          await publish(6);
          await expectAll(pages, "every event once, in order");
          return;
        }

        const list = await roles();
        assert.equal(list.filter((r) => r === "leader").length, 1, `one leader: ${list}`);
        assert.equal(list.filter((r) => r === "follower").length, 2, `two followers: ${list}`);
        assert.equal(await openStreams(server), 1, "the server holds one stream for the three tabs");
        await publish(6);
        await expectAll(pages, "every event once, in order, from the one stream");

        // The leader tab closes while events keep coming: another tab takes over and resumes.
        const leader = pages[list.indexOf("leader")];
        const rest = pages.filter((p) => p !== leader);
        const publishing = publish(20);
        await sleep(100);
        const closedAt = Date.now();
        await leader.close();
        pages.splice(pages.indexOf(leader), 1);
        const newLeader = await eventually("another tab to lead", async () => {
          const now = await Promise.all(rest.map(async (p) => (await recorded(p)).role));
          return now.includes("leader") ? rest[now.indexOf("leader")] : null;
        }, 10000);
        const takenAt = (await recorded(newLeader)).roles.find((r) => r.role === "leader").at;
        await publishing;
        await publish(3);
        await expectAll(rest, "every event once, in order, across the hand-over");
        await eventually("one stream again", async () => (await openStreams(server)) === 1, 5000);
        t.diagnostic(`${engine.name}: hand-over after the leader tab closed: ${takenAt - closedAt} ms`);
        for (const page of rest) assert.deepEqual((await page.console()).errors, []);
      } finally {
        for (const page of pages) await page.close();
        await disposeServer(server);
      }
    });
  });
}
