// The stream test page (`/test`) in headless Chromium against the real binary: connect and
// disconnect by its buttons, its counters of connection and observation events, the last event
// id, the last error once the server is gone, and the client's log lines in its pane.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";

import {
  disposeServer,
  eventually,
  launchBrowser,
  observation,
  sleep,
  startServer,
  watchPage,
} from "./harness.js";

let browser;
before(async () => {
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
});

const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

test("the test page connects, counts events, stops on disconnect, resumes, and shows the last error", { timeout: 90000 }, async () => {
  const server = await startServer();
  const page = await browser.newPage();
  const watched = watchPage(page);
  /** What the page shows. */
  const shown = () => page.evaluate(() => {
    const text = (id) => document.getElementById(id).textContent;
    return {
      status: text("status"),
      connections: Number(text("count-connection")),
      observations: Number(text("count-observation")),
      lastId: text("last-id"),
      lastError: text("last-error"),
      lastErrorAt: text("last-error-at"),
      log: [...document.getElementById("log").children].map((line) => line.textContent),
      connectDisabled: document.getElementById("connect").disabled,
      disconnectDisabled: document.getElementById("disconnect").disabled,
    };
  });
  try {
    await page.goto(`${server.url}/test?heartbeatMs=1000`);
    let now = await shown();
    assert.equal(now.status, "disconnected", "nothing opens before Connect");
    assert.deepEqual([now.connections, now.observations, now.lastError], [0, 0, "—"]);
    assert.ok(now.disconnectDisabled && !now.connectDisabled);

    await page.click("#connect");
    await eventually("connected", async () => (await shown()).status === "connected");
    await eventually("one connection event", async () => (await shown()).connections === 1);

    // Observations published while connected are counted as they arrive.
    const first = (await server.publish([
      observation("44009"), observation("46042"), observation("44013"),
    ])).map((o) => o.seq);
    await eventually("three observations", async () => (await shown()).observations === 3);
    now = await shown();
    assert.equal(now.lastId, String(first[2]), "the last event id is the newest seq");
    assert.equal(now.lastError, "—", "no error yet");

    // Disconnect: nothing more is counted.
    await page.click("#disconnect");
    await eventually("disconnected", async () => (await shown()).status === "disconnected");
    const missed = (await server.publish([observation("44009"), observation("46042")])).map((o) => o.seq);
    await sleep(1500);
    now = await shown();
    assert.equal(now.observations, 3, "no observation counted while disconnected");
    assert.equal(now.lastId, String(first[2]));
    assert.ok(now.connectDisabled === false && now.disconnectDisabled === true);

    // Connect again: it resumes after the last id, so what was missed arrives, once.
    await page.click("#connect");
    await eventually("the two missed observations", async () => (await shown()).observations === 5);
    await eventually("a second connection event", async () => (await shown()).connections === 2);
    await sleep(500);
    now = await shown();
    assert.equal(now.observations, 5, "nothing twice");
    assert.equal(now.lastId, String(missed[1]));
    assert.deepEqual(watched.problems, [], "no console errors while the server is up");
    const lines = now.log.filter((line) => line.startsWith("[buoycast] "));
    assert.ok(lines.length >= 2, `the client's log lines are in the pane: ${now.log}`);
    for (const line of lines) {
      assert.match(line.split(" ")[1], ISO, `an ISO time after the prefix: ${line}`);
    }
    assert.ok(lines.some((line) => line.endsWith(" connected")), `${lines}`);

    // The server goes away: the page shows why the stream failed, and when.
    const stoppedAt = Date.now();
    await server.stop();
    now = await eventually("the last error", async () => {
      const s = await shown();
      return s.lastError !== "—" ? s : null;
    }, 20000);
    assert.ok(["reconnecting", "polling"].includes(now.status), now.status);
    assert.match(now.lastError, /the stream (could not be opened|was closed)/);
    assert.match(now.lastErrorAt, ISO);
    assert.ok(Date.parse(now.lastErrorAt) >= stoppedAt - 1000, `${now.lastErrorAt} is after the stop`);
    assert.ok(now.log.some((line) => line.includes("reconnecting in")), "the failure is in the log pane");
  } finally {
    await page.close();
    await disposeServer(server);
  }
});
