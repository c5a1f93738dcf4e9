// A station's wave spectrum (SPEC §3a `spectrum`): its summary (peak frequency and period, peak
// energy density, peak direction, significant wave height) and its plot, an SVG bar chart of
// energy density against frequency, both axes linear, one bar per band, coloured by the band's
// mean direction (α1) and more opaque the narrower its spread (r1).

const SVG_NS = "http://www.w3.org/2000/svg";

/** The plot's drawing area, in viewBox units: frequency 0 … F_MAX Hz across, energy up. */
const W = 240;
const H = 80;
const LEFT = 4;
const RIGHT = 4;
const TOP = 6;
const BOTTOM = 14;
const F_MAX = 0.5;

/** The 16 compass points, for directions in words. */
const COMPASS = ["N", "NNE", "NE", "ENE", "E", "ESE", "SE", "SSE", "S", "SSW", "SW", "WSW", "W", "WNW", "NW", "NNW"];

/**
 * The bands of a spectrum with a number for both frequency and energy density, each with its
 * bandwidth (half-way to each neighbour) and, where present, direction and spreads.
 * @returns {{hz: number, width: number, energy: number, dir: number|null, r1: number|null}[]}
 */
export function bands(spectrum) {
  const f = Array.isArray(spectrum?.frequenciesHz) ? spectrum.frequenciesHz : [];
  const e = Array.isArray(spectrum?.energyDensityM2PerHz) ? spectrum.energyDensityM2PerHz : [];
  const dir = Array.isArray(spectrum?.meanDirDeg) ? spectrum.meanDirDeg : [];
  const r1 = Array.isArray(spectrum?.r1) ? spectrum.r1 : [];
  const out = [];
  for (let i = 0; i < f.length; i += 1) {
    if (!isNumber(f[i]) || !isNumber(e[i])) continue;
    const lower = i > 0 && isNumber(f[i - 1]) ? (f[i] - f[i - 1]) / 2 : null;
    const upper = i + 1 < f.length && isNumber(f[i + 1]) ? (f[i + 1] - f[i]) / 2 : null;
    const width = (lower ?? upper ?? 0.005) + (upper ?? lower ?? 0.005);
    out.push({
      hz: f[i],
      width,
      energy: Math.max(e[i], 0),
      dir: isNumber(dir[i]) ? ((dir[i] % 360) + 360) % 360 : null,
      r1: isNumber(r1[i]) ? Math.min(Math.max(r1[i], 0), 1) : null,
    });
  }
  return out;
}

/**
 * What a spectrum says in a few numbers: the peak band (frequency, period, energy density,
 * direction and r1 there), the significant wave height Hm0 = 4·√(Σ E·Δf), and a sentence of it.
 */
export function summary(spectrum) {
  const bs = bands(spectrum);
  const peak = bs.reduce((best, b) => (best === null || b.energy > best.energy ? b : best), null);
  if (!peak) return { bands: 0, peak: null, hm0: null, text: "No energy densities in this spectrum." };
  const m0 = bs.reduce((sum, b) => sum + b.energy * b.width, 0);
  const hm0 = 4 * Math.sqrt(m0);
  if (peak.energy <= 0) return { bands: bs.length, peak: null, hm0, text: `No wave energy in ${bs.length} bands.` };
  const parts = [
    `Peak ${peak.hz.toFixed(3)} Hz (${(1 / peak.hz).toFixed(1)} s)`,
    `${peak.energy.toFixed(3)} m²/Hz`,
  ];
  if (peak.dir !== null) {
    parts.push(`from ${Math.round(peak.dir)}° (${compass(peak.dir)})` + (peak.r1 !== null ? `, r1 ${peak.r1.toFixed(2)}` : ""));
  }
  parts.push(`Hm0 ${hm0.toFixed(2)} m`, `${bs.length} bands`);
  return {
    bands: bs.length,
    peak: { hz: peak.hz, periodS: 1 / peak.hz, energy: peak.energy, dirDeg: peak.dir, r1: peak.r1 },
    hm0,
    text: `${parts.join(" · ")}.`,
  };
}

/** A direction in words: the nearest of the 16 compass points. */
export function compass(deg) {
  return COMPASS[Math.round((((deg % 360) + 360) % 360) / 22.5) % 16];
}

/**
 * Builds the (empty, hidden) spectrum view of a card: heading, the Listen button (wired by
 * dashboard.js), plot and text summary.
 */
export function spectrumView(stationId) {
  const el = document.createElement("section");
  el.className = "spectrum";
  el.hidden = true;
  const head = document.createElement("div");
  head.className = "label";
  const title = document.createElement("span");
  title.textContent = "wave spectrum (m²/Hz against Hz)";
  const when = document.createElement("span");
  when.className = "num when";
  // Which spectrum the spectral voice plays (audio.js): this station's only, or the newest.
  const listen = document.createElement("button");
  listen.type = "button";
  listen.className = "listen";
  listen.setAttribute("aria-pressed", "false");
  listen.textContent = "Listen";
  listen.title = `With the sound on, play the spectra of ${stationId} only (otherwise the newest spectrum of any station)`;
  head.append(title, when, listen);
  const svg = document.createElementNS(SVG_NS, "svg");
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
  svg.setAttribute("role", "img");
  svg.setAttribute("class", "spectrum-plot");
  svg.setAttribute("aria-label", `wave spectrum of ${stationId}`);
  const text = document.createElement("p");
  text.className = "spectrum-summary";
  el.append(head, svg, text);
  return { el, svg, text, when, listen };
}

/** Draws `spectrum` into a view made by `spectrumView`, and shows it. */
export function drawSpectrum(view, spectrum) {
  const bs = bands(spectrum);
  const s = summary(spectrum);
  view.el.hidden = false;
  view.el.dataset.timestamp = spectrum.timestamp ?? "";
  view.when.textContent = String(spectrum.timestamp ?? "").replace("T", " ").slice(0, 16);
  view.text.textContent = s.text;
  view.svg.setAttribute("aria-label", `wave spectrum of ${spectrum.stationId}: ${s.text}`);
  view.svg.replaceChildren();

  const x = (hz) => LEFT + (Math.min(hz, F_MAX) / F_MAX) * (W - LEFT - RIGHT);
  const base = H - BOTTOM;
  const axis = document.createElementNS(SVG_NS, "line");
  axis.setAttribute("class", "axis");
  axis.setAttribute("x1", String(LEFT));
  axis.setAttribute("x2", String(W - RIGHT));
  axis.setAttribute("y1", String(base));
  axis.setAttribute("y2", String(base));
  view.svg.append(axis);
  for (const hz of [0.1, 0.2, 0.3, 0.4]) {
    const tick = document.createElementNS(SVG_NS, "text");
    tick.setAttribute("class", "tick");
    tick.setAttribute("x", x(hz).toFixed(1));
    tick.setAttribute("y", String(H - 3));
    tick.setAttribute("text-anchor", "middle");
    tick.textContent = `${hz} Hz`;
    view.svg.append(tick);
  }

  const top = Math.max(...bs.map((b) => b.energy), 0);
  for (const b of bs) {
    const h = top > 0 ? (b.energy / top) * (base - TOP) : 0;
    const rect = document.createElementNS(SVG_NS, "rect");
    rect.setAttribute("class", b.dir === null ? "band nodir" : "band");
    rect.setAttribute("x", (x(b.hz - b.width / 2) + 0.15).toFixed(2));
    rect.setAttribute("width", Math.max(x(b.hz + b.width / 2) - x(b.hz - b.width / 2) - 0.3, 0.4).toFixed(2));
    rect.setAttribute("y", (base - h).toFixed(2));
    rect.setAttribute("height", h.toFixed(2));
    // Hue is the direction the band's waves come from (0° red, 120° green, 240° blue); opacity
    // grows with r1 (a narrow directional spread).
    if (b.dir !== null) rect.setAttribute("fill", `hsl(${Math.round(b.dir)}, 75%, 62%)`);
    rect.setAttribute("fill-opacity", (b.r1 === null ? 0.85 : 0.3 + 0.7 * b.r1).toFixed(2));
    const title = document.createElementNS(SVG_NS, "title");
    title.textContent = `${b.hz.toFixed(3)} Hz (${(1 / b.hz).toFixed(1)} s): ${b.energy.toFixed(3)} m²/Hz` +
      (b.dir !== null ? `, from ${Math.round(b.dir)}°` : "") + (b.r1 !== null ? `, r1 ${b.r1.toFixed(2)}` : "");
    rect.append(title);
    view.svg.append(rect);
  }
  if (s.peak) {
    const marker = document.createElementNS(SVG_NS, "path");
    marker.setAttribute("class", "peak");
    const px = x(s.peak.hz);
    marker.setAttribute("d", `M${px.toFixed(2)},${(TOP - 1).toFixed(2)} l-2.5,-4 h5 Z`);
    view.svg.append(marker);
  }
  return s;
}

function isNumber(v) {
  return typeof v === "number" && Number.isFinite(v);
}
