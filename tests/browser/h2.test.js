// Built-in TLS and HTTP/2 in real headless Chromium: one browser context (one connection pool,
// as every tab of a real browser profile shares), 12 pages each with a plain `new EventSource()`
// over https://. Over HTTP/1.1 the seventh page would not even load (6 connections per origin,
// each held by a stream); over HTTP/2 all 12 streams share one connection and all stay live.
// Run from the repository root: `cargo build && node --test tests/browser/`.

import { test } from "node:test";
import assert from "node:assert/strict";
import { rm } from "node:fs/promises";

import {
  disposeServer,
  eventually,
  launchBrowser,
  observation,
  selfSignedCert,
  startServer,
  tempDir,
} from "./harness.js";

const PAGES = 12;

test("12 plain EventSources in one browser context stay live over HTTP/2", { timeout: 120000 }, async () => {
  const certDir = await tempDir("buoycast-cert-");
  const tls = await selfSignedCert(certDir);
  const server = await startServer({ tls });
  const browser = await launchBrowser([`--ignore-certificate-errors-spki-list=${tls.spki}`]);
  try {
    const pages = [];
    for (let i = 0; i < PAGES; i += 1) {
      const page = await browser.newPage();
      const loaded = await page.goto(`${server.url}/health`, { timeout: 10000 });
      assert.equal(loaded.status(), 200, `page ${i + 1} loads`);
      await page.evaluate(() => {
        window.opened = false;
        window.errors = 0;
        window.received = [];
        const source = new EventSource("/v1/observations/stream");
        source.addEventListener("connection", () => { window.opened = true; });
        source.addEventListener("observation", (event) => {
          window.received.push({ id: event.lastEventId, at: Date.now() });
        });
        source.onerror = () => { window.errors += 1; };
        window.source = source;
      });
      pages.push(page);
    }
    const protocols = await Promise.all(pages.map((page) => page.evaluate(
      () => performance.getEntriesByType("navigation")[0]?.nextHopProtocol,
    )));
    assert.deepEqual(protocols, Array(PAGES).fill("h2"), "every page came over HTTP/2");
    await eventually(`${PAGES} open streams`, async () => {
      const opened = await Promise.all(pages.map((page) => page.evaluate(() => window.opened)));
      return opened.every(Boolean);
    }, 15000);

    const publishedAt = Date.now();
    const [stored] = await server.publish([observation("44009")]);
    const arrivals = await eventually("the observation on every page", async () => {
      const got = await Promise.all(pages.map((page) => page.evaluate(() => window.received)));
      return got.every((r) => r.length >= 1) ? got : null;
    }, 5000, 20);
    for (const [i, received] of arrivals.entries()) {
      assert.equal(received.length, 1, `page ${i + 1} got it once`);
      assert.equal(received[0].id, String(stored.seq), `page ${i + 1} got seq ${stored.seq}`);
      const latency = received[0].at - publishedAt;
      assert.ok(latency <= 1000, `page ${i + 1} got it within 1 s (${latency} ms)`);
    }
    const states = await Promise.all(pages.map((page) => page.evaluate(
      () => ({ readyState: window.source.readyState, errors: window.errors }),
    )));
    assert.deepEqual(states, Array(PAGES).fill({ readyState: 1, errors: 0 }), "all still open");
  } finally {
    await browser.close();
    await disposeServer(server);
    await rm(certDir, { recursive: true, force: true });
  }
});
