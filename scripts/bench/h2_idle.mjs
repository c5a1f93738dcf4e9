// Memory per idle HTTP/2 stream: opens STREAMS event streams over SESSIONS HTTP/2 connections
// (Node's http2 client, trusting CA) to a buoycast started with --tls-cert/--tls-key and a high
// enough --h2-max-streams, waits for every `connection` event, and reports the growth of the
// server's resident memory (VmRSS of PID) per stream. Loopback only; bounded in count and time.
//
//   node scripts/bench/h2_idle.mjs URL CA_PEM PID [STREAMS=2000] [SESSIONS=5]

import http2 from "node:http2";
import { readFileSync } from "node:fs";

const [url, caPath, pid, streamsArg = "2000", sessionsArg = "5"] = process.argv.slice(2);
if (!url || !caPath || !pid) {
  console.error("usage: node h2_idle.mjs URL CA_PEM PID [STREAMS] [SESSIONS]");
  process.exit(2);
}
const target = new URL(url);
if (!["127.0.0.1", "localhost", "[::1]"].includes(target.hostname)) {
  console.error("refusing a non-loopback target");
  process.exit(2);
}
const streams = Number(streamsArg);
const sessions = Number(sessionsArg);
const ca = readFileSync(caPath);

const rssKiB = () => {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  return Number(/VmRSS:\s+(\d+)/.exec(status)[1]);
};
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const before = rssKiB();
const open = [];
const deadline = Date.now() + 120000;
for (let s = 0; s < sessions; s += 1) {
  const session = http2.connect(target.origin, { ca });
  session.on("error", (e) => console.error(`session ${s}: ${e.message}`));
  open.push(session);
}
let connected = 0;
let failed = 0;
const waits = [];
for (let i = 0; i < streams; i += 1) {
  const session = open[i % sessions];
  const request = session.request({ ":path": target.pathname, accept: "text/event-stream" });
  waits.push(new Promise((resolve) => {
    let seen = false;
    request.on("data", (chunk) => {
      if (!seen && chunk.toString().includes("event: connection")) {
        seen = true;
        connected += 1;
        resolve();
      }
    });
    request.on("error", () => { failed += 1; resolve(); });
    request.on("close", () => resolve());
  }));
  if (i % 200 === 199) await sleep(50);
}
await Promise.race([Promise.all(waits), sleep(Math.max(0, deadline - Date.now()))]);
await sleep(2000);
const after = rssKiB();
console.log(JSON.stringify({
  streams, sessions, connected, failed,
  rssBeforeKiB: before, rssAfterKiB: after,
  kibPerStream: Number(((after - before) / Math.max(1, connected)).toFixed(2)),
}));
for (const session of open) session.destroy();
process.exit(connected === streams ? 0 : 1);
