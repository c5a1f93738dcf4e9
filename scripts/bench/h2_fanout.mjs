// Fan-out over HTTP/2: opens STREAMS event streams over SESSIONS HTTP/2 connections (Node's http2
// client, trusting CA) to a buoycast started with --tls-cert/--tls-key and a high enough
// --h2-max-streams, then publishes RATE observations per second for SECONDS through the publish
// API (one request in flight, bearer TOKEN) and counts the observation events every stream
// receives: deliveries/s, missing and duplicated ids. Loopback only; bounded in count and time.
//
//   node scripts/bench/h2_fanout.mjs URL CA_PEM TOKEN [STREAMS=1000] [SESSIONS=4] [RATE=20] [SECONDS=20]

import http2 from "node:http2";
import { readFileSync } from "node:fs";

const [url, caPath, token, streamsArg = "1000", sessionsArg = "4", rateArg = "20", secondsArg = "20"] =
  process.argv.slice(2);
if (!url || !caPath || !token) {
  console.error("usage: node h2_fanout.mjs URL CA_PEM TOKEN [STREAMS] [SESSIONS] [RATE] [SECONDS]");
  process.exit(2);
}
const target = new URL(url);
if (!["127.0.0.1", "localhost", "[::1]"].includes(target.hostname)) {
  console.error("refusing a non-loopback target");
  process.exit(2);
}
const [streams, sessions, rate, seconds] = [streamsArg, sessionsArg, rateArg, secondsArg].map(Number);
const ca = readFileSync(caPath);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const open = [];
for (let s = 0; s < sessions; s += 1) {
  const session = http2.connect(target.origin, { ca });
  session.on("error", (e) => console.error(`session ${s}: ${e.message}`));
  open.push(session);
}
// Per stream: the ids of the observations it received.
const received = [];
let connected = 0;
const ready = [];
for (let i = 0; i < streams; i += 1) {
  const ids = [];
  received.push(ids);
  const request = open[i % sessions].request({ ":path": target.pathname, accept: "text/event-stream" });
  let buffer = "";
  ready.push(new Promise((resolve) => {
    let seen = false;
    request.setEncoding("utf8");
    request.on("data", (chunk) => {
      buffer += chunk;
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        if (block.includes("event: connection") && !seen) {
          seen = true;
          connected += 1;
          resolve();
        } else if (block.includes("event: observation")) {
          const id = /^id: (\d+)/m.exec(block);
          if (id) ids.push(Number(id[1]));
        }
      }
    });
    request.on("error", () => resolve());
    request.on("close", () => resolve());
  }));
  if (i % 200 === 199) await sleep(50);
}
await Promise.race([Promise.all(ready), sleep(60000)]);

// Publishing: one request in flight, paced to RATE per second.
const publisher = http2.connect(target.origin, { ca });
const body = (n) => JSON.stringify({
  stationId: "H2BENCH",
  timestamp: new Date(Date.UTC(2026, 0, 1) + n * 60000).toISOString(),
  waveHeightM: 1.25,
});
const publish = (n) => new Promise((resolve, reject) => {
  const request = publisher.request({
    ":method": "POST", ":path": "/v1/observations",
    "content-type": "application/json", authorization: `Bearer ${token}`,
  });
  let text = "";
  request.setEncoding("utf8");
  request.on("data", (c) => (text += c));
  request.on("end", () => resolve(JSON.parse(text).observations?.[0]?.seq));
  request.on("error", reject);
  request.end(body(n));
});
const published = [];
const started = Date.now();
for (let n = 0; Date.now() - started < seconds * 1000; n += 1) {
  const due = started + (n * 1000) / rate;
  if (due > Date.now()) await sleep(due - Date.now());
  published.push(await publish(n));
}
const sentFor = (Date.now() - started) / 1000;
await sleep(2000); // the last deliveries
let deliveries = 0;
let missing = 0;
let duplicates = 0;
for (const ids of received) {
  const set = new Set(ids);
  deliveries += ids.length;
  duplicates += ids.length - set.size;
  for (const seq of published) if (!set.has(seq)) missing += 1;
}
console.log(JSON.stringify({
  streams, sessions, connected, published: published.length,
  publishedPerS: Number((published.length / sentFor).toFixed(1)),
  deliveriesPerS: Math.round(deliveries / sentFor), missing, duplicates,
}));
publisher.destroy();
for (const session of open) session.destroy();
process.exit(connected === streams && missing === 0 && duplicates === 0 ? 0 : 1);
