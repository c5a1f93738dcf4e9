// Browser test of the dashboard's other kinds, in headless Chromium against the real binary: the
// spectrum view of a station (plot and text summary, from the REST read at start and live, a late
// spectral file completing a spectrum of the same time, a later spectrum replacing it), the
// spectral voice once the sound is on (Web Audio oscillators and panners, seen through a probe
// this test injects into its own page), and DART and ocean values on their stations' cards.
// Run from the repository root: `cargo build && node --test tests/browser/spectrum.test.js`.
//
// The fixtures are made here, shaped like NDBC's files (44013's 46 spectral bands with fill at
// the low end, 41421's DART heights, 44029's ocean row), not copied from them.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";

import { disposeServer, eventually, launchBrowser, observation, startServer, waitState, watchPage } from "./harness.js";

/** The dashboard's spectral voice: wave frequency × this (web/dashboard/audio.js). */
const TRANSPOSE = 4096;
/** The spectral voice's level, the sum of its band gains (web/dashboard/audio.js). */
const VOICE_LEVEL = 0.2;

/** NDBC's 46 spectral bands (Hz), as in 44013.data_spec: 0.033–0.093 by 0.005, 0.100–0.350 by 0.01, 0.365–0.485 by 0.02. */
function ndbcFrequencies() {
  const f = [];
  for (let i = 0; i < 13; i += 1) f.push(0.033 + 0.005 * i);
  for (let i = 0; i < 26; i += 1) f.push(0.1 + 0.01 * i);
  for (let i = 0; i < 7; i += 1) f.push(0.365 + 0.02 * i);
  return f.map((v) => Math.round(v * 1000) / 1000);
}

const round = (v, digits) => Math.round(v * 10 ** digits) / 10 ** digits;

/**
 * A spectrum entry peaked at `peakHz` (a band) with waves from about `peakDir`; the five lowest
 * bands are fill (null) as in a real file. `arrays`: which of the four directional arrays to
 * include (the others are null, as when their files are absent).
 */
function spectrum(stationId, timestamp, { peakHz, peakEnergy, peakDir, directional = true }) {
  const frequenciesHz = ndbcFrequencies();
  const fill = (i, v) => (i < 5 ? null : v);
  const energy = frequenciesHz.map((f, i) => fill(i, round(peakEnergy * Math.exp(-(((f - peakHz) / 0.03) ** 2)) + 0.004, 3)));
  const dirs = frequenciesHz.map((f, i) => fill(i, Math.round(peakDir + (f - peakHz) * 400 + 360) % 360));
  const r1 = frequenciesHz.map((f, i) => fill(i, round(0.85 - Math.abs(f - peakHz) * 2, 2)));
  return {
    kind: "spectrum",
    stationId,
    timestamp,
    separationFreqHz: 0.25,
    frequenciesHz,
    energyDensityM2PerHz: energy,
    meanDirDeg: directional ? dirs : null,
    principalDirDeg: directional ? dirs.map((d) => (d === null ? null : (d + 8) % 360)) : null,
    r1: directional ? r1.map((v) => (v === null ? null : Math.max(v, 0.05))) : null,
    r2: directional ? r1.map((v) => (v === null ? null : round(Math.max(v, 0.05) * 0.6, 2))) : null,
  };
}

/** What the page's summary must say of `entry`'s peak, computed here from the fixture. */
function expectedPeak(entry) {
  const e = entry.energyDensityM2PerHz;
  let best = -1;
  for (let i = 0; i < e.length; i += 1) if (e[i] !== null && (best < 0 || e[i] > e[best])) best = i;
  const hz = entry.frequenciesHz[best];
  return {
    index: best,
    hz,
    text: `Peak ${hz.toFixed(3)} Hz (${(1 / hz).toFixed(1)} s) · ${e[best].toFixed(3)} m²/Hz`,
    dir: entry.meanDirDeg ? entry.meanDirDeg[best] : null,
    r1: entry.r1 ? entry.r1[best] : null,
  };
}

/**
 * Injected into this test's page before its scripts: records the dashboard's `buoycast:entry`
 * and `buoycast:voice` DOM events, and every oscillator and stereo panner the page's Web Audio
 * contexts create, in `window.__probe`. Exists only in this test's page.
 */
function probe() {
  const p = { entries: [], voices: [], oscillators: [], panners: [] };
  window.__probe = p;
  document.addEventListener("buoycast:entry", ({ detail }) => p.entries.push(detail));
  document.addEventListener("buoycast:voice", ({ detail }) => p.voices.push(detail));
  const proto = window.AudioContext.prototype;
  const createOscillator = proto.createOscillator;
  proto.createOscillator = function (...args) {
    const node = createOscillator.apply(this, args);
    p.oscillators.push(node);
    return node;
  };
  const createStereoPanner = proto.createStereoPanner;
  proto.createStereoPanner = function (...args) {
    const node = createStereoPanner.apply(this, args);
    p.panners.push(node);
    return node;
  };
}

/** The probe's record: the events, and the nodes' current parameter values. */
async function probed(page) {
  return page.evaluate(() => {
    const p = window.__probe;
    return {
      entries: p.entries.map((e) => ({ ...e })),
      voices: p.voices.map((v) => ({ ...v, bands: v.bands.map((b) => ({ ...b })) })),
      oscillators: p.oscillators.map((o) => ({ type: o.type, hz: o.frequency.value })),
      panners: p.panners.map((n) => n.pan.value),
    };
  });
}

let browser;
before(async () => {
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
});

test("the dashboard shows spectra, tsunami and ocean values live, and the sound plays the spectrum", { timeout: 90000 }, async () => {
  const server = await startServer();
  const page = await browser.newPage();
  const watched = watchPage(page);
  await page.addInitScript(probe);
  try {
    const now = Date.now();
    const at = (minutesAgo) => new Date(Math.floor((now - minutesAgo * 60000) / 600000) * 600000).toISOString();

    // Before the page opens: observations and a spectrum of 44013 (the page reads it at start).
    await server.publish([observation("44013"), observation("44013")]);
    const first = spectrum("44013", at(90), { peakHz: 0.15, peakEnergy: 1.84, peakDir: 104 });
    await server.publish([first]);

    await page.goto(`${server.url}/?heartbeatMs=1000`);
    await waitState(page, "connected");
    const card = (id) => page.locator(`.card[data-station='${id}']`);
    const view = card("44013").locator("section.spectrum");
    const summary = view.locator(".spectrum-summary");

    // The spectrum read at start: plot (one bar per band with an energy) and summary.
    const p1 = expectedPeak(first);
    assert.equal(p1.hz, 0.15);
    await eventually("the spectrum of 44013", async () => (await summary.textContent())?.includes(p1.text));
    assert.ok(await view.isVisible(), "the spectrum view is shown");
    assert.equal(await view.locator("svg.spectrum-plot rect.band").count(), first.frequenciesHz.length - 5);
    assert.equal(await view.locator("svg.spectrum-plot .peak").count(), 1);
    assert.match(await summary.textContent(), new RegExp(`from ${p1.dir}° \\(ESE\\), r1 ${p1.r1.toFixed(2)}`));
    assert.match(await view.locator("svg.spectrum-plot").getAttribute("aria-label"), /^wave spectrum of 44013: Peak 0\.150 Hz/);
    assert.equal(await card("44013").locator(".kind.tsunami").isVisible(), false, "no tsunami section without DART data");

    // Live: the energy file of a newer time alone (its directional files not yet in), then the
    // same time again with all five arrays, as when the late files arrive.
    const t2 = at(30);
    const complete = spectrum("44013", t2, { peakHz: 0.1, peakEnergy: 3.27, peakDir: 250 });
    const energyOnly = spectrum("44013", t2, { peakHz: 0.1, peakEnergy: 3.27, peakDir: 250, directional: false });
    const p2 = expectedPeak(complete);
    assert.equal(p2.hz, 0.1);
    await server.publish([energyOnly]);
    await eventually("the newer spectrum without directions", async () => {
      const text = await summary.textContent();
      return text.includes(p2.text) && !text.includes("from ");
    });
    assert.equal(await view.locator("rect.band.nodir").count(), complete.frequenciesHz.length - 5, "bars without a direction");
    await server.publish([complete]);
    await eventually("the same spectrum with its directions", async () =>
      (await summary.textContent()).includes(`${p2.text} · from ${p2.dir}° (WSW), r1 ${p2.r1.toFixed(2)}`));
    assert.equal(await view.locator("rect.band.nodir").count(), 0, "every bar has a direction now");
    const fills = await view.locator("rect.band").evaluateAll((rects) => rects.map((r) => getComputedStyle(r).fill));
    assert.ok(new Set(fills).size > 10, `bars coloured by direction: ${[...new Set(fills)].slice(0, 3)}`);
    assert.equal(await view.getAttribute("data-timestamp"), t2);

    // An older spectrum arriving late does not replace the newer one.
    await server.publish([spectrum("44013", at(60), { peakHz: 0.2, peakEnergy: 0.5, peakDir: 10 })]);
    await eventually("the older spectrum delivered", async () =>
      (await probed(page)).entries.some((e) => e.kind === "spectrum" && e.timestamp === at(60)));
    assert.ok((await summary.textContent()).includes(p2.text), "the newer spectrum stays");

    // DART and ocean values on their stations' cards (41421 has no observations: its card shows
    // only them); none on 44013's.
    await server.publish([
      { kind: "tsunami", stationId: "41421", timestamp: at(20), measurementType: 1, waterColumnHeightM: 5806.902 },
      {
        kind: "ocean", stationId: "44029", timestamp: at(20), depthM: 1.0, oceanTempC: 13.1,
        conductivityMsPerCm: null, salinityPsu: 31.0, oxygenPercent: null, oxygenPpm: null,
        chlorophyllUgPerL: null, turbidityFtu: null, ph: null, redoxMv: null,
      },
    ]);
    const tsunami = card("41421").locator(".kind.tsunami");
    await eventually("the tsunami values", async () =>
      (await tsunami.locator("dd[data-field='waterColumnHeightM']").count()) === 1);
    assert.equal(await tsunami.locator("dd[data-field='waterColumnHeightM']").textContent(), "5806.902 m");
    assert.equal(await tsunami.locator("dd[data-field='measurementType']").textContent(), "15 min");
    assert.ok(await tsunami.isVisible());
    assert.equal(await page.locator(".card[data-station='41421'] > .plots").isVisible(), false, "no observation plots on a DART-only card");
    const ocean = card("44029").locator(".kind.ocean");
    await eventually("the ocean values", async () => (await ocean.locator("dd[data-field='oceanTempC']").count()) === 1);
    assert.equal(await ocean.locator("dd[data-field='oceanTempC']").textContent(), "13.10 °C");
    assert.equal(await ocean.locator("dd[data-field='salinityPsu']").textContent(), "31.00 psu");
    assert.equal(await ocean.locator("dd[data-field='depthM']").textContent(), "1.0 m");
    assert.equal(await ocean.locator("dd[data-field='conductivityMsPerCm']").count(), 0, "null values are left out");
    assert.equal(await card("44013").locator(".kind.ocean").isVisible(), false);
    assert.equal(await card("44029").locator("section.spectrum").isVisible(), false);

    // A newer DART reading (1-min event mode) replaces the shown one.
    await server.publish([{ kind: "tsunami", stationId: "41421", timestamp: at(10), measurementType: 2, waterColumnHeightM: 5806.871 }]);
    await eventually("the newer tsunami reading", async () =>
      (await tsunami.locator("dd[data-field='waterColumnHeightM']").textContent()) === "5806.871 m");
    assert.equal(await tsunami.locator("dd[data-field='measurementType']").textContent(), "1 min (event)");

    // No sound before the button: no oscillator at all.
    assert.equal((await probed(page)).oscillators.length, 0, "no audio before the user turns it on");

    // Sound on: the spectral voice plays the newest spectrum, one sine per band 12 octaves up,
    // the loudest at the peak, panned by direction (250°: west of south, so left).
    await page.click("#sound");
    await eventually("the spectral voice", async () => (await probed(page)).voices.length === 1);
    let seen = await probed(page);
    const voice = seen.voices[0];
    assert.equal(voice.stationId, "44013");
    assert.equal(voice.timestamp, t2);
    assert.equal(voice.bands.length, complete.frequenciesHz.length);
    const sines = seen.oscillators.filter((o) => o.type === "sine");
    const hzOf = (list) => list.map((o) => Math.round(o.hz * 10) / 10).sort((a, b) => a - b);
    const expectedHz = complete.frequenciesHz.map((f) => Math.round(f * TRANSPOSE * 10) / 10);
    assert.deepEqual(hzOf(sines), expectedHz, "one oscillator per band, at wave frequency × 4096");
    const gains = voice.bands.map((b) => b.gain);
    assert.ok(Math.abs(gains.reduce((a, b) => a + b, 0) - VOICE_LEVEL) < 1e-9, "gains normalised");
    assert.equal(gains.indexOf(Math.max(...gains)), p2.index, "the loudest band is the peak");
    assert.equal(gains.slice(0, 5).every((g) => g === 0), true, "fill bands are silent");
    const expectedPan = Math.sin((p2.dir * Math.PI) / 180) * p2.r1;
    assert.ok(expectedPan < -0.3, "the fixture's peak comes from the west");
    assert.ok(Math.abs(voice.bands[p2.index].pan - expectedPan) < 1e-9, "pan from α1 and r1");
    assert.equal(seen.panners.length, complete.frequenciesHz.length, "one stereo panner per band");
    const pans = complete.meanDirDeg.map((d, i) => (d === null ? 0 : Math.sin((d * Math.PI) / 180) * complete.r1[i]));
    const sorted = (list) => list.map((v) => Math.round(v * 1e4) / 1e4).sort((a, b) => a - b);
    assert.deepEqual(sorted(seen.panners), sorted(pans), "the panners sit where α1 and r1 put each band");

    // A new spectrum while the sound is on glides the same voice to it (no new oscillators).
    const third = spectrum("44013", at(0), { peakHz: 0.2, peakEnergy: 0.9, peakDir: 80 });
    const p3 = expectedPeak(third);
    await server.publish([third]);
    await eventually("the voice to take the new spectrum", async () => (await probed(page)).voices.length === 2);
    seen = await probed(page);
    const glide = seen.voices[1];
    assert.equal(glide.rebuilt, false);
    assert.equal(glide.timestamp, third.timestamp);
    assert.equal(glide.bands.map((b) => b.gain).indexOf(Math.max(...glide.bands.map((b) => b.gain))), p3.index);
    assert.ok(glide.bands[p3.index].pan > 0.3, "waves from the east: right");
    assert.equal(seen.oscillators.length, sines.length, "no new oscillators for a spectrum of the same bands");
    await eventually("the summary of the newest spectrum", async () => (await summary.textContent()).includes(p3.text));

    assert.equal(await view.getAttribute("class"), "spectrum sounding", "the view whose spectrum sounds is marked");

    // Another station's spectrum: the voice follows the newest. Listen on 44013's card: back to
    // 44013's newest at once, and it stays there when 46042 sends another.
    const other = spectrum("46042", at(0), { peakHz: 0.08, peakEnergy: 5.1, peakDir: 300 });
    await server.publish([other]);
    await eventually("the voice to take 46042's spectrum", async () => (await probed(page)).voices.length === 3);
    assert.equal((await probed(page)).voices[2].stationId, "46042");
    assert.equal(await card("46042").locator("section.spectrum").getAttribute("class"), "spectrum sounding");
    assert.equal(await view.getAttribute("class"), "spectrum");
    await view.locator("button.listen").click();
    await eventually("the voice back on 44013", async () => (await probed(page)).voices.length === 4);
    assert.equal((await probed(page)).voices[3].stationId, "44013");
    assert.equal((await probed(page)).voices[3].timestamp, third.timestamp);
    assert.equal(await view.locator("button.listen").getAttribute("aria-pressed"), "true");
    assert.equal(await card("46042").locator("button.listen").getAttribute("aria-pressed"), "false");
    await server.publish([spectrum("46042", at(-10), { peakHz: 0.09, peakEnergy: 4.2, peakDir: 290 })]);
    await eventually("46042's next spectrum on its card", async () =>
      (await card("46042").locator(".spectrum-summary").textContent()).includes("Peak 0.088 Hz"));
    assert.equal((await probed(page)).voices.length, 4, "the voice stays on the station followed");

    await page.click("#sound");
    await eventually("sound off", async () => (await page.getAttribute("#sound", "aria-pressed")) === "false");
    assert.equal(await page.locator("section.spectrum.sounding").count(), 0, "nothing marked as sounding");
    assert.equal(await page.evaluate(() => "__buoycast" in window), false, "the page keeps no test hook");
    assert.deepEqual(watched.problems, [], "no console errors, page errors, failed or external requests");
  } finally {
    await page.close();
    await disposeServer(server);
  }
});
