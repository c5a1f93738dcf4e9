// examples/node/follow.mjs, copied as a user would into a directory of its own outside the
// repository (with the `eventsource` package beside it), run against the real binary: it prints
// the observations published after it connected, once each, in order, then exits.

import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { copyFile, rm, symlink } from "node:fs/promises";
import path from "node:path";

import { REPO, disposeServer, eventually, observation, startServer, tempDir } from "./harness.js";

test("the Node.js example prints the observations it receives", { timeout: 60000 }, async () => {
  const server = await startServer();
  const dir = await tempDir("buoycast-node-example-");
  let child;
  try {
    await copyFile(path.join(REPO, "examples/node/follow.mjs"), path.join(dir, "follow.mjs"));
    // `npm install eventsource@4` in that directory: the tests' own copy of the same version.
    await symlink(path.join(REPO, "tests/browser/node_modules"), path.join(dir, "node_modules"), "dir");
    child = spawn(process.execPath, ["follow.mjs", server.url, "--stations", "44013,46042", "--count", "2"], {
      cwd: dir,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    let err = "";
    child.stdout.on("data", (chunk) => { out += chunk; });
    child.stderr.on("data", (chunk) => { err += chunk; });
    const exited = once(child, "exit");
    await eventually("the example to connect", async () => out.includes("state connected"), 20000);

    const stored = await server.publish([
      observation("44013", { waveHeightM: 1.7 }), observation("41002"), observation("46042", { waterTempC: 9.5 }),
    ]);
    const [code] = await exited;
    assert.equal(code, 0, `exit code; stderr: ${err}`);
    const printed = out.split("\n").filter((line) => line.startsWith("observation "));
    assert.deepEqual(printed, [
      `observation ${stored[0].seq} 44013 ${stored[0].timestamp} waveHeightM=1.7 windSpeedMps=${stored[0].windSpeedMps} waterTempC=14.5`,
      `observation ${stored[2].seq} 46042 ${stored[2].timestamp} waveHeightM=${stored[2].waveHeightM} windSpeedMps=${stored[2].windSpeedMps} waterTempC=9.5`,
    ], `the stations asked for, once each, in order:\n${out}`);
    assert.match(out, /^state connecting \(start\)$/m);
    assert.equal(err, "", "nothing on stderr");
  } finally {
    if (child && child.exitCode === null) child.kill();
    await rm(dir, { recursive: true, force: true });
    await disposeServer(server);
  }
});
