//! The MIDI example of docs/AUDIO_CLIENTS.md (`examples/midi/waves_to_midi.py`, Python `mido`)
//! against a real server: observations published while it listens become the documented notes
//! in the MIDI file it writes, read back with `mido`.

use std::process::{Command, Stdio};
use std::time::Duration;

use buoycast::domain::{Observation, StationId, VALUE_COUNT};
use serde_json::Value;

use buoycast_testkit::{at, eventually, spawn_app};

const SCRIPT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/examples/midi/waves_to_midi.py"
);

/// An observation with a wave height, wind speed and dominant period (indices 0, 1 and 6 of the
/// contract's value order).
fn waves(minute: i64, height: Option<f64>, wind: Option<f64>, period: Option<f64>) -> Observation {
    let mut values = [None; VALUE_COUNT];
    values[0] = height;
    values[1] = wind;
    values[6] = period;
    values[4] = Some(1013.0);
    Observation::from_values(
        StationId::parse("MIDI1").expect("station"),
        at(minute),
        values,
    )
}

/// The documented mapping, written out independently: (note, velocity, ticks at 120 bpm with
/// 480 ticks per beat, so 960 per second).
fn expected(height: f64, wind: Option<f64>, period: Option<f64>) -> (i64, i64, i64) {
    let note = (48 + (height / 0.25).round() as i64).clamp(48, 96);
    let velocity = wind.map_or(64, |w| ((40.0 + 4.0 * w).round() as i64).clamp(1, 127));
    let ticks = (period.map_or(0.5, |p| p / 4.0) * 960.0).round() as i64;
    (note, velocity, ticks)
}

#[tokio::test]
async fn wave_heights_become_the_documented_notes() {
    let app = spawn_app().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("waves.mid");
    let mut child = Command::new("python3")
        .arg(SCRIPT)
        .args(["--url", &app.url("/v1/observations/stream")])
        .arg("--out")
        .arg(&out)
        .args(["--max-events", "4"])
        .stdout(Stdio::inherit())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("python3 runs (the MIDI example needs python3 with mido)");
    eventually(
        Duration::from_secs(20),
        "the example to open its stream",
        || app.hub_streams() == 1,
    )
    .await;
    let cases = [
        (Some(1.0), Some(5.0), Some(8.0)),
        (None, Some(9.0), Some(7.0)), // no wave height: no note
        (Some(20.0), None, None),     // clamped at C7; default velocity and length
        (Some(0.6), Some(30.0), Some(6.0)),
        (Some(0.0), Some(0.0), Some(10.0)),
    ];
    let batch: Vec<Observation> = cases
        .iter()
        .enumerate()
        .map(|(i, &(h, w, p))| waves(i as i64 * 10, h, w, p))
        .collect();
    app.publish(&batch).await;

    let status = tokio::task::spawn_blocking(move || {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = child.try_wait().expect("wait") {
                return status;
            }
            if std::time::Instant::now() > deadline {
                let _ = child.kill();
                panic!("the example did not stop after 4 notes");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    })
    .await
    .expect("join");
    assert!(status.success(), "the example failed: {status}");

    let read = Command::new("python3")
        .arg("-c")
        .arg(
            "import json, sys, mido\n\
             f = mido.MidiFile(sys.argv[1])\n\
             print(json.dumps({'tpb': f.ticks_per_beat, 'tempo': [m.tempo for m in f.tracks[0] if m.type == 'set_tempo'],\n\
               'notes': [[m.type, m.note, m.velocity, m.time] for m in f.tracks[0] if m.type in ('note_on', 'note_off')]}))",
        )
        .arg(&out)
        .output()
        .expect("python3 with mido reads the file back");
    assert!(
        read.status.success(),
        "{}",
        String::from_utf8_lossy(&read.stderr)
    );
    let file: Value = serde_json::from_slice(&read.stdout).expect("json");
    assert_eq!(file["tpb"], 480);
    assert_eq!(file["tempo"], serde_json::json!([500_000]));
    let mut want = Vec::new();
    for &(h, w, p) in &cases {
        let Some(h) = h else { continue };
        let (note, velocity, ticks) = expected(h, w, p);
        want.push(serde_json::json!(["note_on", note, velocity, 0]));
        want.push(serde_json::json!(["note_off", note, 0, ticks]));
    }
    assert_eq!(file["notes"], Value::Array(want));
    // The mapping's corners, spelled out: 1 m → E3 (52); 20 m → C7 (96); 30 m/s → 127.
    assert_eq!(file["notes"][0][1], 52);
    assert_eq!(file["notes"][2][1], 96);
    assert_eq!(file["notes"][4][2], 127);
}
