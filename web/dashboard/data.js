// Data from the REST API: the initial stations and their history (and the resume point the
// stream starts from), the newest entry of each other kind the cards show, a station's metadata,
// and the history of a station shown later.

import { HISTORY, shown, token } from "/dashboard/state.js";
import { addToHistory, ensureCard, render } from "/dashboard/cards.js";

/**
 * Loads the stations shown and their recent history into the cards; returns the seq the stream
 * resumes after.
 *
 * Resuming after the newest seq of the station list (one snapshot) means the hand-over has no
 * gap; a history read a moment later may hold newer rows, which the stream then delivers again
 * and the cards take in place (same measurement time). Resuming after those instead would skip
 * what other stations published between the two reads.
 */
export async function loadInitial() {
  let resumeAfter = 0;
  try {
    const { stations } = await getJson("/v1/stations");
    const wanted = stations.filter((s) => shown(s.id));
    for (const station of wanted) {
      ensureCard(station.id, station);
      if (station.latest?.seq > resumeAfter) resumeAfter = station.latest.seq;
    }
    await Promise.all(wanted.map(async (station) => {
      const path = `/v1/observations/by-station/${encodeURIComponent(station.id)}?limit=${HISTORY}`;
      const { observations } = await getJson(path);
      for (const stored of observations.reverse()) addToHistory(stored.stationId, stored, stored.seq);
      render(station.id);
    }));
  } catch (error) {
    console.warn("[buoycast] could not load the initial data; showing live data only:", String(error));
  }
  return resumeAfter;
}

/**
 * The newest stored entry of each of `kinds` per station (`/v1/observations/latest?kinds=`),
 * of the stations shown, oldest seq first; none when the read fails.
 */
export async function loadLatestKinds(kinds) {
  try {
    const { observations } = await getJson(`/v1/observations/latest?kinds=${kinds.join(",")}`);
    return observations
      .filter((entry) => shown(String(entry.stationId ?? "").toUpperCase()))
      .sort((a, b) => (a.seq ?? 0) - (b.seq ?? 0));
  } catch (error) {
    console.warn("[buoycast] could not load the newest spectra, tsunami and ocean values; showing live ones only:", String(error));
    return [];
  }
}

/** Names the card of `id` from the station's metadata, if the server has any. */
export async function loadStationMeta(id) {
  try {
    const station = await getJson(`/v1/stations/${encodeURIComponent(id)}`);
    ensureCard(id, station);
  } catch {
    // Metadata is optional; the card shows the id alone.
  }
}

/** The recent history of a station that was not shown before (it joined the filter). */
export async function loadHistory(id) {
  try {
    const { observations } = await getJson(`/v1/observations/by-station/${encodeURIComponent(id)}?limit=${HISTORY}`);
    if (observations.length === 0) return;
    for (const stored of observations.reverse()) addToHistory(id, stored, stored.seq);
    render(id);
    void loadStationMeta(id);
  } catch {
    // Unknown station: nothing to show until it reports.
  }
}

async function getJson(path) {
  const headers = { Accept: "application/json" };
  if (token) headers.Authorization = `Bearer ${token}`;
  const response = await fetch(path, { headers });
  if (!response.ok) throw new Error(`${path}: HTTP ${response.status}`);
  return response.json();
}
