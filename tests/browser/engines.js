// The three browser engines behind one small page interface, so that one set of test scenarios
// (engines.test.js) runs in each: Chromium (Debian's chromium, driven by playwright-core),
// Firefox ESR (Debian's firefox-esr, through geckodriver) and WebKitGTK (Debian's
// WebKitWebDriver and MiniBrowser, in a started Xvfb), the last two through the W3C WebDriver
// protocol (webdriver.js).
//
// An engine is `{ name, version, newPage(), close() }`; all its pages share one profile (one
// connection pool, one origin storage: tabs of one browser). A page is `{ goto(url),
// gotoBlank(url), gotoDirect(url), evaluate(fn, arg), click(selector), text(selector),
// console(), close() }`; `gotoDirect` loads a page without the gateway (below), for tests of
// the engine's own networking.
//
// WebDriver has no portable console API and no script that runs before a page's own (classic
// WebDriver; BiDi is not in every engine here). So every engine loads the servers' pages through
// a test-only gateway (one per server or proxy, on its own loopback port, forwarding everything)
// that puts one classic script first in the <head> of every HTML page: it wraps console.* and
// listens for `error` and `unhandledrejection` on `window`, collecting into
// `window.__console`, and records the dashboard's DOM events into `window.__recorded` as
// harness.js's `recordDashboardEvents` does for the Chromium-only tests. `console()` reads that
// back. The gateway also serves an empty page (`gotoBlank`) of the server's origin for the tests
// that import the client module themselves.

import { once } from "node:events";
import { existsSync } from "node:fs";
import { rm } from "node:fs/promises";
import http from "node:http";
import { spawn, execFileSync } from "node:child_process";
import { chromium } from "playwright-core";

import { CHROMIUM, freePort, recordDashboardEvents, tempDir } from "./harness.js";
import { Session, startDriver } from "./webdriver.js";

export const ENGINES = ["chromium", "firefox", "webkit"];
export const FIREFOX = process.env.FIREFOX_PATH ?? "/usr/bin/firefox-esr";
export const GECKODRIVER = process.env.GECKODRIVER_PATH ?? "geckodriver";
export const WEBKIT_DRIVER = process.env.WEBKIT_DRIVER_PATH ?? "/usr/bin/WebKitWebDriver";
export const MINIBROWSER = process.env.MINIBROWSER_PATH ?? "/usr/lib/x86_64-linux-gnu/webkit2gtk-4.1/MiniBrowser";

/** The engines to test: `BUOYCAST_ENGINES` (comma-separated), Chromium when unset. */
export function enginesToTest() {
  const names = (process.env.BUOYCAST_ENGINES ?? "chromium").split(",").map((s) => s.trim()).filter(Boolean);
  for (const name of names) {
    if (!ENGINES.includes(name)) throw new Error(`unknown engine ${name} in BUOYCAST_ENGINES (${ENGINES})`);
  }
  return names;
}

const TEST_PATH = "/__buoycast_test/";

/** Injected first into every HTML page the gateway forwards (see the top of this file). */
function captureConsole() {
  if (window.__console) return;
  const log = { messages: [], errors: [] };
  window.__console = log;
  const text = (args) => args.map((a) => {
    if (a instanceof Error) return `${a.name}: ${a.message}`;
    if (typeof a === "object") {
      try { return JSON.stringify(a); } catch { return String(a); }
    }
    return String(a);
  }).join(" ");
  for (const level of ["log", "info", "warn", "error", "debug"]) {
    const original = console[level].bind(console);
    console[level] = (...args) => {
      const line = `${level === "log" ? "info" : level}: ${text(args)}`;
      log.messages.push(line);
      if (level === "error") log.errors.push(`console error: ${text(args)}`);
      original(...args);
    };
  }
  window.addEventListener("error", (event) => {
    log.errors.push(`page error: ${event.message} (${event.filename}:${event.lineno})`);
  });
  window.addEventListener("unhandledrejection", (event) => {
    log.errors.push(`unhandled rejection: ${String(event.reason?.message ?? event.reason)}`);
  });
}

const PAGE_SCRIPT = `(${captureConsole})();\nif (!window.__recorded) (${recordDashboardEvents})();\n`;
const BLANK_PAGE = `<!doctype html><html><head><meta charset="utf-8"><link rel="icon" href="data:,">` +
  `<script src="${TEST_PATH}page.js"></script><title>blank</title></head><body></body></html>`;

/**
 * The test-only gateway in front of one server (or proxy) on `targetPort`: forwards every
 * request, flushes response heads at once (a stream that sends nothing must still open), cuts
 * the browser's response when the upstream one is cut, and puts the page script first into HTML
 * pages.
 */
class Gateway {
  constructor(targetPort) {
    this.targetPort = targetPort;
    this.server = http.createServer((req, res) => this.#handle(req, res));
    this.server.keepAliveTimeout = 1000;
  }

  async listen() {
    this.server.listen(0, "127.0.0.1");
    await once(this.server, "listening");
    this.port = this.server.address().port;
    return this;
  }

  async close() {
    this.server.closeAllConnections?.();
    this.server.close();
  }

  #handle(req, res) {
    if (req.url === `${TEST_PATH}page.js`) {
      res.writeHead(200, { "Content-Type": "text/javascript", "Cache-Control": "no-store" });
      res.end(PAGE_SCRIPT);
      return;
    }
    if (req.url === `${TEST_PATH}blank.html`) {
      res.writeHead(200, { "Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store" });
      res.end(BLANK_PAGE);
      return;
    }
    const headers = { ...req.headers };
    delete headers["accept-encoding"]; // plain bodies, to put the script into
    const upstream = http.request({
      host: "127.0.0.1",
      port: this.targetPort,
      method: req.method,
      path: req.url,
      headers,
    }, (up) => {
      // An upstream response cut short is cut short for the browser too (not ended, not left open).
      up.on("close", () => {
        if (!up.complete) res.destroy();
      });
      const isHtml = /^text\/html/.test(up.headers["content-type"] ?? "");
      if (!isHtml) {
        res.writeHead(up.statusCode ?? 502, up.headers);
        res.flushHeaders();
        up.pipe(res);
        return;
      }
      const chunks = [];
      up.on("data", (chunk) => chunks.push(chunk));
      up.on("end", () => {
        const html = Buffer.concat(chunks).toString("utf8")
          .replace(/<head>/i, `<head><script src="${TEST_PATH}page.js"></script>`);
        const out = { ...up.headers };
        delete out["content-length"];
        delete out["transfer-encoding"];
        res.writeHead(up.statusCode ?? 502, { ...out, "Content-Length": Buffer.byteLength(html) });
        res.end(html);
      });
    });
    upstream.on("error", () => {
      if (!res.headersSent) res.writeHead(502);
      res.end();
    });
    res.on("close", () => upstream.destroy());
    req.pipe(upstream);
  }
}

/** The gateways of one engine, one per target port, made on first use. */
class Gateways {
  constructor() {
    this.byPort = new Map();
  }

  /** `url` (a server's or proxy's) rewritten to go through its gateway. */
  async route(url) {
    const u = new URL(url);
    const port = Number(u.port);
    let gateway = this.byPort.get(port);
    if (!gateway) {
      gateway = new Gateway(port).listen();
      this.byPort.set(port, gateway);
    }
    u.port = String((await gateway).port);
    return u.href;
  }

  async blank(url) {
    return this.route(new URL(`${TEST_PATH}blank.html`, url).href);
  }

  async close() {
    for (const gateway of this.byPort.values()) (await gateway).close();
  }
}

/** What a page's injected script collected: `{ messages, errors }` (empty before it ran). */
const READ_CONSOLE = () => {
  const log = window.__console;
  return { messages: log ? [...log.messages] : [], errors: log ? [...log.errors] : [] };
};

/** Launches `name` ("chromium", "firefox" or "webkit"). */
export async function launchEngine(name) {
  if (name === "chromium") return launchChromium();
  if (name === "firefox") return launchFirefox();
  if (name === "webkit") return launchWebKit();
  throw new Error(`unknown engine ${name}`);
}

async function launchChromium() {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium`);
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
    ],
  });
  const gateways = new Gateways();
  return {
    name: "chromium",
    version: `Chromium ${context.browser()?.version() ?? execFileSync(CHROMIUM, ["--version"]).toString().trim()}`,
    async newPage() {
      const page = await context.newPage();
      // What the injected script cannot see (errors before it ran) playwright reports.
      const errors = [];
      page.on("pageerror", (error) => errors.push(`page error: ${error.message}`));
      return {
        async goto(url) { await page.goto(await gateways.route(url)); },
        async gotoDirect(url) { await page.goto(url); },
        async gotoBlank(url) { await page.goto(await gateways.blank(url)); },
        evaluate: (fn, arg) => page.evaluate(fn, arg),
        click: (selector) => page.click(selector),
        text: (selector) => page.evaluate((s) => document.querySelector(s)?.textContent ?? null, selector),
        async console() {
          const log = await page.evaluate(READ_CONSOLE);
          return { messages: log.messages, errors: [...errors, ...log.errors] };
        },
        close: () => page.close(),
      };
    },
    async close() {
      await context.close();
      await gateways.close();
      await rm(profile, { recursive: true, force: true });
    },
  };
}

/** A page interface over tab `handle` of WebDriver `session`. */
function webDriverPage(session, handle, gateways) {
  let closed = false;
  return {
    async goto(url) { await session.navigate(handle, await gateways.route(url)); },
    async gotoDirect(url) { await session.navigate(handle, url); },
    async gotoBlank(url) { await session.navigate(handle, await gateways.blank(url)); },
    evaluate: (fn, arg) => session.evaluate(handle, fn, arg),
    click: (selector) => session.click(handle, selector),
    text: (selector) => session.evaluate(handle, (s) => document.querySelector(s)?.textContent ?? null, selector),
    console: () => session.evaluate(handle, READ_CONSOLE),
    async close() {
      if (closed) return;
      closed = true;
      await session.closeTab(handle);
    },
  };
}

/**
 * An engine over one WebDriver session. The session's first tab stays open, unused, for the
 * session's life: closing a session's last tab ends the session.
 */
function webDriverEngine(name, version, session, cleanup) {
  const gateways = new Gateways();
  return {
    name,
    version,
    session,
    async newPage() {
      return webDriverPage(session, await session.newTab(), gateways);
    },
    async close() {
      try {
        // A driver that hangs must not hang the run: its process is stopped below anyway.
        await Promise.race([session.delete(), new Promise((resolve) => setTimeout(resolve, 10000).unref())]);
      } finally {
        await gateways.close();
        await cleanup();
      }
    },
  };
}

const SCRIPT_TIMEOUT_MS = 30000;

async function launchFirefox() {
  if (!existsSync(FIREFOX)) throw new Error(`${FIREFOX} is missing: apt-get install -y firefox-esr`);
  const port = await freePort();
  const driver = await startDriver({
    command: GECKODRIVER,
    args: ["--host", "127.0.0.1", "--port", String(port), "--log", "warn"],
    port,
  });
  try {
    const session = await Session.create(driver.url, {
      browserName: "firefox",
      "moz:firefoxOptions": {
        binary: FIREFOX,
        args: ["-headless", "-width", "1280", "-height", "900"],
        prefs: {
          "browser.shell.checkDefaultBrowser": false,
          "app.update.enabled": false,
          "datareporting.policy.dataSubmissionEnabled": false,
        },
      },
    });
    await session.timeouts({ script: SCRIPT_TIMEOUT_MS, pageLoad: 20000 });
    const caps = session.capabilities;
    return webDriverEngine("firefox", `Firefox ${caps.browserVersion} (geckodriver ${caps["moz:geckodriverVersion"]})`,
      session, () => driver.stop());
  } catch (error) {
    await driver.stop();
    throw error;
  }
}

/** Xvfb on a display it picks itself (`-displayfd`): `{ display, stop() }`. */
async function startXvfb() {
  const child = spawn("Xvfb", ["-displayfd", "3", "-screen", "0", "1280x900x24", "-nolisten", "tcp"], {
    stdio: ["ignore", "ignore", "pipe", "pipe"],
  });
  const stderr = [];
  child.stderr.on("data", (chunk) => stderr.push(chunk.toString()));
  const display = await new Promise((resolve, reject) => {
    let text = "";
    const timer = setTimeout(() => reject(new Error(`Xvfb gave no display in 10 s: ${stderr.join("")}`)), 10000);
    child.on("error", (error) => { clearTimeout(timer); reject(new Error(`Xvfb could not start: ${error.message}`)); });
    child.on("exit", (code) => { clearTimeout(timer); reject(new Error(`Xvfb exited (${code}): ${stderr.join("")}`)); });
    child.stdio[3].on("data", (chunk) => {
      text += chunk.toString();
      if (text.includes("\n")) { clearTimeout(timer); resolve(`:${text.trim()}`); }
    });
  });
  return {
    display,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = once(child, "exit");
      child.kill("SIGTERM");
      await exited;
    },
  };
}

async function launchWebKit() {
  if (!existsSync(WEBKIT_DRIVER)) throw new Error(`${WEBKIT_DRIVER} is missing: apt-get install -y webkit2gtk-driver`);
  if (!existsSync(MINIBROWSER)) throw new Error(`${MINIBROWSER} is missing: apt-get install -y webkit2gtk-driver`);
  const xvfb = await startXvfb();
  let driver;
  try {
    const port = await freePort();
    driver = await startDriver({
      command: WEBKIT_DRIVER,
      args: [`--port=${port}`, "--host=127.0.0.1"],
      port,
      env: { ...process.env, DISPLAY: xvfb.display, WAYLAND_DISPLAY: "" },
    });
    const session = await Session.create(driver.url, {
      browserName: "MiniBrowser",
      "webkitgtk:browserOptions": { binary: MINIBROWSER, args: ["--automation"] },
    });
    await session.timeouts({ script: SCRIPT_TIMEOUT_MS, pageLoad: 20000 });
    const caps = session.capabilities;
    return webDriverEngine("webkit", `WebKitGTK ${caps.browserVersion} (${caps.browserName})`, session, async () => {
      await driver.stop();
      await xvfb.stop();
    });
  } catch (error) {
    await driver?.stop();
    await xvfb.stop();
    throw error;
  }
}
