// A small W3C WebDriver client (https://www.w3.org/TR/webdriver2/) over Node's `fetch`, with no
// dependency: it starts a driver process (geckodriver for Firefox, WebKitWebDriver for
// WebKitGTK) on a free loopback port, opens one session (one browser profile), and offers the
// few commands the browser tests use: navigate, execute (async) script, find and click an
// element, open, switch and close tabs, delete the session. Every command of a session goes
// through one queue, because tabs are switched per command and two tabs' commands must not
// interleave between the switch and the command.

import { spawn } from "node:child_process";
import { once } from "node:events";

/** The W3C key of a web element reference. */
const ELEMENT = "element-6066-11e4-a52e-4f735466cecf";

/** A WebDriver command that failed: the driver's error code and message. */
export class WebDriverError extends Error {
  constructor(command, status, value) {
    super(`${command}: ${value?.error ?? status}: ${value?.message ?? JSON.stringify(value)}`);
    this.code = value?.error ?? String(status);
  }
}

/**
 * Starts `command args` (a WebDriver server that listens on `port`) and waits until its
 * `/status` says it is ready; fails with the driver's output when it exits or never gets ready.
 */
export async function startDriver({ command, args, port, env = process.env, timeoutMs = 20000 }) {
  const child = spawn(command, args, { stdio: ["ignore", "pipe", "pipe"], env });
  const output = [];
  const keep = (chunk) => {
    output.push(chunk.toString());
    if (output.length > 200) output.shift();
  };
  child.stdout.on("data", keep);
  child.stderr.on("data", keep);
  let spawnError = null;
  child.on("error", (error) => { spawnError = error; });
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (spawnError) throw new Error(`${command} could not start: ${spawnError.message}`);
    if (child.exitCode !== null) {
      throw new Error(`${command} exited (${child.exitCode}): ${output.join("").slice(-2000)}`);
    }
    try {
      const response = await fetch(`${url}/status`);
      const body = await response.json();
      if (body.value?.ready) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`${command} was not ready after ${timeoutMs} ms: ${output.join("").slice(-2000)}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return {
    url,
    output,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = once(child, "exit");
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** One WebDriver session: one browser with one profile, whose tabs share it. */
export class Session {
  /** Opens a session on the driver at `driverUrl` with `capabilities` (the `alwaysMatch` part). */
  static async create(driverUrl, capabilities) {
    const session = new Session(driverUrl, null);
    const value = await session.#raw("POST", "/session", { capabilities: { alwaysMatch: capabilities } });
    session.id = value.sessionId;
    session.capabilities = value.capabilities;
    session.current = await session.#raw("GET", `/session/${session.id}/window`);
    session.home = session.current;
    return session;
  }

  constructor(driverUrl, id) {
    this.driverUrl = driverUrl;
    this.id = id;
    this.capabilities = null;
    /** The handle of the tab the driver is on. */
    this.current = null;
    /**
     * The session's first tab: new tabs are opened from it (a driver needs a current tab for
     * that), and it stays open, since closing the last tab ends the session.
     */
    this.home = null;
    /** The tail of the command queue. */
    this.queue = Promise.resolve();
  }

  async #raw(method, path, body) {
    const response = await fetch(`${this.driverUrl}${path}`, {
      method,
      headers: body === undefined ? {} : { "Content-Type": "application/json; charset=utf-8" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    let json;
    try {
      json = JSON.parse(text);
    } catch {
      throw new WebDriverError(`${method} ${path}`, response.status, { message: text.slice(0, 500) });
    }
    if (!response.ok) throw new WebDriverError(`${method} ${path}`, response.status, json.value);
    return json.value;
  }

  /** Runs `work` alone in the queue, on tab `handle` (switched to first when another is current). */
  #exclusive(handle, work) {
    const run = this.queue.then(async () => {
      if (handle && handle !== this.current) {
        await this.#raw("POST", `/session/${this.id}/window`, { handle });
        this.current = handle;
      }
      return work();
    });
    this.queue = run.catch(() => {});
    return run;
  }

  /** A command of this session on tab `handle`: `path` is relative to the session. */
  command(handle, method, path, body) {
    return this.#exclusive(handle, () => this.#raw(method, `/session/${this.id}${path}`, body));
  }

  /** Sets the session's timeouts (ms): `{ script, pageLoad, implicit }`. */
  timeouts(values) {
    return this.command(null, "POST", "/timeouts", values);
  }

  /** Opens a new tab of this session (same profile) and returns its handle. */
  async newTab() {
    const value = await this.command(this.home, "POST", "/window/new", { type: "tab" });
    return value.handle;
  }

  /** Closes tab `handle`; the driver is then on no tab until the next switch. */
  async closeTab(handle) {
    await this.#exclusive(handle, async () => {
      await this.#raw("DELETE", `/session/${this.id}/window`);
      this.current = null;
    });
  }

  navigate(handle, url) {
    return this.command(handle, "POST", "/url", { url });
  }

  /**
   * Runs `fn(arg)` in tab `handle` (a function's source; it may be async) and returns its
   * JSON result. Thrown errors and rejections come back as errors with the page's message.
   */
  async evaluate(handle, fn, arg) {
    const script = `
      const done = arguments[arguments.length - 1];
      Promise.resolve().then(() => (${fn}).call(null, arguments[0])).then(
        (value) => done({ ok: value === undefined ? null : value }),
        (error) => done({ error: String(error && error.stack ? error.message + "\\n" + error.stack : error) }),
      );`;
    const result = await this.command(handle, "POST", "/execute/async", { script, args: [arg ?? null] });
    if (result && "error" in result) throw new Error(`in the page: ${result.error}`);
    return result?.ok;
  }

  /** Clicks the first element matching `selector` in tab `handle` (a real, driver-made click). */
  click(handle, selector) {
    return this.#exclusive(handle, async () => {
      const found = await this.#raw("POST", `/session/${this.id}/element`, { using: "css selector", value: selector });
      await this.#raw("POST", `/session/${this.id}/element/${found[ELEMENT]}/click`, {});
    });
  }

  /** Ends the session (and closes its browser). */
  async delete() {
    await this.queue;
    await this.#raw("DELETE", `/session/${this.id}`);
  }
}
