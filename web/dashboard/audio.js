// Sonification with Web Audio, off until the Sound button is pressed: wave height → pitch, wind
// speed → noise, water temperature → waveform, station longitude → pan.

import { $ } from "/dashboard/state.js";

let audio = null; // { ctx, master, noiseGain, noiseFilter }, made on the first press
let soundOn = false;
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
  return { ctx, master, noiseGain, noiseFilter };
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
