// Follows a buoycast server's live observations from Node.js, with the same client module the
// browser uses (reconnection with backoff, resume by id, polling fallback, no duplicates).
//
//   npm install eventsource@4          # Node 20 or later (eventsource v5 needs Node 22)
//   node follow.mjs http://127.0.0.1:8080 --stations 44013,46042
//
// Options: --stations LIST (default: all) · --count N (exit after N observations) ·
// --token JWT (a server with subscriber auth). Ctrl-C closes the connection and exits.

import { EventSource } from "eventsource";

const args = process.argv.slice(2);
const option = (name) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
};
const server = args.find((a, i) => !a.startsWith("--") && !args[i - 1]?.startsWith("--"))
  ?? "http://127.0.0.1:8080";
const count = Number(option("count") ?? Infinity);

// The client module is served by the server itself, so it always matches the server's version.
// Node cannot import from http:, so fetch it and import it as a data: URL.
const response = await fetch(new URL("/client/buoycast.js", server));
if (!response.ok) throw new Error(`${server}/client/buoycast.js: HTTP ${response.status}`);
const source = await response.text();
const { connect } = await import(`data:text/javascript;base64,${Buffer.from(source).toString("base64")}`);

let received = 0;
const client = connect({
  // Outside a browser the module cannot guess the server, and has no EventSource of its own.
  url: server,
  EventSource,
  stations: option("stations"),
  token: option("token"),
  onObservation(observation, meta) {
    received += 1;
    const { stationId, timestamp, waveHeightM, windSpeedMps, waterTempC } = observation;
    console.log(`observation ${meta.id} ${stationId} ${timestamp} ` +
      `waveHeightM=${waveHeightM} windSpeedMps=${windSpeedMps} waterTempC=${waterTempC}`);
    if (received >= count) stop();
  },
  onStateChange(state, { reason }) {
    console.log(`state ${state} (${reason})`);
  },
});

function stop() {
  client.close();
  process.exit(0);
}
process.on("SIGINT", stop);
process.on("SIGTERM", stop);
