// Sonification with Web Audio, off until the Sound button is pressed: wave height → pitch, wind
// speed → noise, water temperature → waveform, station longitude → pan; and the spectral voice,
// the newest wave spectrum as an additive voice, one sine per band, transposed 12 octaves up,
// each band's amplitude from its energy density and its pan from its mean direction (α1) and r1
// (docs/AUDIO_CLIENTS.md, "The dashboard's spectral voice"); a card's Listen button keeps it on
// that station's spectra.

import { $ } from "/dashboard/state.js";

let audio = null; // { ctx, master, noiseGain, noiseFilter, spectral }, made on the first press
let soundOn = false;
/**
 * The spectrum the spectral voice plays: the newest one received, or of the station followed
 * (kept while the sound is off).
 */
let spectrumPlayed = null;
/** The station whose spectra the voice plays (a card's Listen button), or null: any station's. */
let followed = null;

/** Wave frequency × this = the voice's frequency: 12 octaves up (0.033 Hz → 135 Hz, 0.485 Hz → 1987 Hz). */
export const TRANSPOSE = 2 ** 12;
/** The spectral voice's level: the sum of its bands' amplitudes. */
const VOICE_LEVEL = 0.2;
/** Time constant (s) of every change of the spectral voice: a new spectrum glides in. */
const GLIDE_S = 0.8;
let notesThisSecond = 0;
setInterval(() => { notesThisSecond = 0; }, 1000);

/** The Sound button's action: starts (on the first press, builds) or suspends the audio. */
export async function toggleSound() {
  const button = $("sound");
  const on = button.getAttribute("aria-pressed") !== "true";
  if (on) {
    // Created on this click only: browsers start audio only after a user gesture.
    if (!audio) audio = buildAudioGraph();
    await audio.ctx.resume();
  } else if (audio) {
    await audio.ctx.suspend();
  }
  soundOn = on;
  if (on && spectrumPlayed) playSpectrum(spectrumPlayed);
  button.setAttribute("aria-pressed", String(on));
  button.textContent = on ? "Sound: on" : "Sound: off";
  $("legend").hidden = !on;
}

function buildAudioGraph() {
  const AudioContextClass = window.AudioContext ?? window.webkitAudioContext;
  const ctx = new AudioContextClass();
  const compressor = ctx.createDynamicsCompressor();
  compressor.connect(ctx.destination);
  const master = ctx.createGain();
  master.gain.value = 0.5;
  master.connect(compressor);

  // Wind: looped white noise through a low-pass filter; level and brightness follow wind speed.
  const buffer = ctx.createBuffer(1, ctx.sampleRate * 2, ctx.sampleRate);
  const data = buffer.getChannelData(0);
  for (let i = 0; i < data.length; i += 1) data[i] = Math.random() * 2 - 1;
  const noise = ctx.createBufferSource();
  noise.buffer = buffer;
  noise.loop = true;
  const noiseFilter = ctx.createBiquadFilter();
  noiseFilter.type = "lowpass";
  noiseFilter.frequency.value = 400;
  noiseFilter.Q.value = 0.7;
  const noiseGain = ctx.createGain();
  noiseGain.gain.value = 0;
  noise.connect(noiseFilter).connect(noiseGain).connect(master);
  noise.start();

  // The spectral voice: its oscillators come with the first spectrum played.
  const spectralGain = ctx.createGain();
  spectralGain.gain.value = 1;
  spectralGain.connect(master);
  return { ctx, master, noiseGain, noiseFilter, spectral: { out: spectralGain, voices: [] } };
}

/**
 * The spectral voice's settings for a spectrum: one band per frequency with an energy density,
 * `hz` its wave frequency × TRANSPOSE, `gain` ∝ √E (so the sound's power in each band follows
 * the energy density, as the plot draws it, and the loudest sine is the plot's peak), normalised
 * so that the bands' gains add up to VOICE_LEVEL (all 0 for a calm sea), and `pan` = sin(α1) × r1
 * (waves from the east on the right, from the west on the left; a wide spread, low r1, nearer
 * the middle; 0 without a direction).
 */
export function spectralVoice(spectrum) {
  const f = Array.isArray(spectrum?.frequenciesHz) ? spectrum.frequenciesHz : [];
  const e = Array.isArray(spectrum?.energyDensityM2PerHz) ? spectrum.energyDensityM2PerHz : [];
  const dir = Array.isArray(spectrum?.meanDirDeg) ? spectrum.meanDirDeg : [];
  const r1 = Array.isArray(spectrum?.r1) ? spectrum.r1 : [];
  const num = (v) => typeof v === "number" && Number.isFinite(v);
  const bands = [];
  for (let i = 0; i < f.length; i += 1) {
    if (!num(f[i]) || f[i] <= 0) continue;
    const amplitude = num(e[i]) ? Math.sqrt(Math.max(e[i], 0)) : 0;
    const spread = num(r1[i]) ? Math.min(Math.max(r1[i], 0), 1) : 1;
    const pan = num(dir[i]) ? Math.sin((dir[i] * Math.PI) / 180) * spread : 0;
    bands.push({ hz: f[i] * TRANSPOSE, amplitude, pan: Math.max(-1, Math.min(1, pan)) });
  }
  const total = bands.reduce((sum, b) => sum + b.amplitude, 0);
  return bands.map(({ hz, amplitude, pan }) => ({ hz, gain: total > 0 ? (amplitude / total) * VOICE_LEVEL : 0, pan }));
}

/**
 * Plays a spectrum (kind `spectrum`) on the spectral voice: the newest one received, whichever
 * station it comes from; kept while the sound is off and played when it is turned on. Each
 * change glides (setTargetAtTime); a spectrum with other bands than the voice has rebuilds it.
 * Dispatches `buoycast:voice` (see web/dashboard.js) when the voice sounds it.
 */
export function sonifySpectrum(spectrum) {
  if (followed !== null && spectrum.stationId !== followed) return;
  spectrumPlayed = spectrum;
  if (!audio || !soundOn || audio.ctx.state !== "running") return;
  playSpectrum(spectrum);
}

/**
 * Follows the spectra of `stationId` only (its newest, `spectrum`, plays at once when the sound
 * is on), or of any station again when it was followed already; returns the station followed.
 */
export function followSpectra(stationId, spectrum) {
  followed = followed === stationId ? null : stationId;
  if (followed !== null && spectrum) sonifySpectrum(spectrum);
  return followed;
}

function playSpectrum(spectrum) {
  const { ctx, spectral } = audio;
  const bands = spectralVoice(spectrum);
  const now = ctx.currentTime;
  const same = spectral.voices.length === bands.length;
  if (!same) {
    // Other bands: the old oscillators fade out and stop; new ones fade in.
    for (const v of spectral.voices) {
      v.gain.gain.setTargetAtTime(0, now, GLIDE_S / 4);
      v.osc.stop(now + GLIDE_S * 2);
    }
    spectral.voices = bands.map((band) => {
      const osc = ctx.createOscillator();
      osc.type = "sine";
      osc.frequency.value = band.hz;
      const gain = ctx.createGain();
      gain.gain.value = 0;
      const pan = ctx.createStereoPanner();
      pan.pan.value = band.pan;
      osc.connect(gain).connect(pan).connect(spectral.out);
      osc.start(now);
      return { osc, gain, pan };
    });
  }
  bands.forEach((band, i) => {
    const v = spectral.voices[i];
    v.osc.frequency.setTargetAtTime(band.hz, now, GLIDE_S);
    v.gain.gain.setTargetAtTime(band.gain, now, GLIDE_S);
    v.pan.pan.setTargetAtTime(band.pan, now, GLIDE_S);
  });
  document.dispatchEvent(new CustomEvent("buoycast:voice", {
    detail: { stationId: spectrum.stationId, timestamp: spectrum.timestamp, rebuilt: !same, bands },
  }));
}

/** Plays an observation (nothing while the sound is off). */
export function sonify(observation, station) {
  if (!audio || !soundOn || audio.ctx.state !== "running") return;
  const { ctx, master, noiseGain, noiseFilter } = audio;
  const now = ctx.currentTime;
  if (typeof observation.windSpeedMps === "number") {
    const w = Math.min(Math.max(observation.windSpeedMps / 25, 0), 1);
    noiseGain.gain.setTargetAtTime(0.02 + w * 0.18, now, 1.5);
    noiseFilter.frequency.setTargetAtTime(300 + w * 3200, now, 1.5);
  }
  const h = observation.waveHeightM;
  if (typeof h !== "number" || notesThisSecond >= 8) return; // bursts (a replay) stay bearable
  notesThisSecond += 1;
  // 0–8 m over three octaves of a major pentatonic scale from A2.
  const steps = [0, 2, 4, 7, 9];
  const degree = Math.round(Math.min(Math.max(h / 8, 0), 1) * 15);
  const midi = 45 + 12 * Math.floor(degree / 5) + steps[degree % 5];
  const osc = ctx.createOscillator();
  const t = observation.waterTempC;
  osc.type = typeof t !== "number" ? "sine" : t < 8 ? "sine" : t < 16 ? "triangle" : t < 24 ? "square" : "sawtooth";
  osc.frequency.value = 440 * 2 ** ((midi - 69) / 12);
  const tone = ctx.createBiquadFilter();
  tone.type = "lowpass";
  tone.frequency.value = 2400;
  const env = ctx.createGain();
  env.gain.setValueAtTime(0, now);
  env.gain.linearRampToValueAtTime(0.25, now + 0.01);
  env.gain.exponentialRampToValueAtTime(0.0001, now + 1.6);
  const pan = ctx.createStereoPanner();
  const lon = station?.longitude;
  pan.pan.value = typeof lon === "number" ? Math.max(-1, Math.min(1, (lon + 120) / 60)) : 0;
  osc.connect(tone).connect(env).connect(pan).connect(master);
  osc.start(now);
  osc.stop(now + 1.7);
}
