#!/usr/bin/env python3
"""Wave height to MIDI notes, live from a buoycast stream.

Each observation with a wave height becomes one note:
  - pitch: C3 (MIDI 48) for a flat sea, one semitone up per 0.25 m, at most C7 (96);
  - velocity: 40 + 4 per m/s of wind, within 1..127 (64 when the wind is not reported);
  - length: a quarter of the dominant wave period (an 8 s swell plays for 2 s), 0.5 s when the
    period is not reported.
Observations without a wave height are skipped (a missing value is not a flat sea).

Send the notes to a MIDI output port (needs `pip install mido python-rtmidi`):
    python3 waves_to_midi.py --url http://localhost:8080/v1/observations/stream --port "IAC Bus 1"
or write them to a MIDI file (needs only `pip install mido`):
    python3 waves_to_midi.py --url ... --out waves.mid --max-events 100

The stream is read with the standard library; on a dropped connection it reconnects with
`Last-Event-ID`, so no observation is played twice or skipped.
"""

import argparse
import json
import sys
import time
import urllib.request

import mido

TICKS_PER_BEAT = 480
TEMPO = 500_000  # µs per beat: 120 bpm, so one second is 960 ticks


def note_for(observation):
    """(note, velocity, seconds) for an observation, or None without a wave height."""
    height = observation.get("waveHeightM")
    if height is None:
        return None
    note = min(96, max(48, 48 + round(height / 0.25)))
    wind = observation.get("windSpeedMps")
    velocity = 64 if wind is None else min(127, max(1, round(40 + 4 * wind)))
    period = observation.get("dominantWavePeriodS")
    seconds = 0.5 if period is None else period / 4
    return note, velocity, seconds


def events(url, last_id=None):
    """Yields (id, event, data) from the SSE stream at `url`, reconnecting with Last-Event-ID."""
    delay = 1.0
    while True:
        headers = {"Accept": "text/event-stream"}
        if last_id is not None:
            headers["Last-Event-ID"] = str(last_id)
        try:
            with urllib.request.urlopen(urllib.request.Request(url, headers=headers)) as response:
                delay = 1.0
                event_id, event, data = None, "message", []
                for raw in response:
                    line = raw.decode("utf-8").rstrip("\r\n")
                    if line == "":
                        if data:
                            if event_id is not None:
                                last_id = event_id
                            yield event_id, event, "\n".join(data)
                        elif event_id is not None:
                            last_id = event_id
                        event_id, event, data = None, "message", []
                        continue
                    field, _, value = line.partition(":")
                    value = value[1:] if value.startswith(" ") else value
                    if field == "id":
                        event_id = int(value)
                    elif field == "event":
                        event = value
                    elif field == "data":
                        data.append(value)
                    elif field == "retry":
                        delay = int(value) / 1000
        except OSError as error:  # refused, reset, or an HTTP error status
            print(f"stream failed ({error}); reconnecting in {delay:.1f} s", file=sys.stderr)
        time.sleep(delay)
        delay = min(delay * 2, 30.0)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True, help="the stream URL (add ?stations=... to filter)")
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--port", help="a MIDI output port name (see mido.get_output_names())")
    where.add_argument("--out", help="write a MIDI file instead")
    parser.add_argument("--max-events", type=int, default=0, help="stop after this many notes")
    args = parser.parse_args()

    port = mido.open_output(args.port) if args.port else None
    track = mido.MidiTrack()
    track.append(mido.MetaMessage("set_tempo", tempo=TEMPO, time=0))
    played = 0
    for _, event, data in events(args.url):
        if event != "observation":
            continue
        note = note_for(json.loads(data))
        if note is None:
            continue
        pitch, velocity, seconds = note
        length = round(mido.second2tick(seconds, TICKS_PER_BEAT, TEMPO))
        track.append(mido.Message("note_on", note=pitch, velocity=velocity, time=0))
        track.append(mido.Message("note_off", note=pitch, velocity=0, time=length))
        if port is not None:
            port.send(mido.Message("note_on", note=pitch, velocity=velocity))
            time.sleep(seconds)
            port.send(mido.Message("note_off", note=pitch, velocity=0))
        played += 1
        if args.out:
            # Written after every note, so the file is complete whenever the script stops.
            song = mido.MidiFile(ticks_per_beat=TICKS_PER_BEAT)
            song.tracks.append(track)
            song.save(args.out)
        if args.max_events and played >= args.max_events:
            break


if __name__ == "__main__":
    main()
