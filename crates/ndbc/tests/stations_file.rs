//! Integration tests: the real `activestations.xml` station list.

mod common;

use common::read;
use ndbc::{StationMeta, StationsError, parse_active_stations};

fn stations() -> Vec<StationMeta> {
    parse_active_stations(&read("metadata/activestations.xml")).expect("activestations.xml parses")
}

/// The file declares count="1348" and holds 1348 `<station>` elements; every one has a usable id/lat/lon.
#[test]
fn all_1348_stations_parse() {
    let st = stations();
    assert_eq!(st.len(), 1348);
    let ids: std::collections::HashSet<&str> = st.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ids.len(), 1348, "ids are unique");
}

#[test]
fn ids_are_uppercase() {
    let st = stations();
    assert_eq!(st[0].id, "0Y2W3", "first station, lower-case in the file");
    for s in &st {
        assert!(!s.id.is_empty());
        assert!(
            s.id.bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()),
            "{}",
            s.id
        );
    }
    // 4-character Marine METAR ids and 7-digit saildrone ids exist.
    assert!(st.iter().any(|s| s.id == "KGBK"));
    assert!(st.iter().any(|s| s.id == "1801593"));
}

#[test]
fn spot_check_44009_and_41002() {
    let st = stations();
    let find = |id: &str| st.iter().find(|s| s.id == id).cloned().expect(id);
    assert_eq!(
        find("44009"),
        StationMeta {
            id: "44009".into(),
            name: Some("DELAWARE BAY 26 NM Southeast of Cape May, NJ".into()),
            latitude: 38.46,
            longitude: -74.692,
            elevation_m: Some(0.0),
            owner: Some("NDBC".into()),
            program: Some("NDBC Meteorological/Ocean".into()),
            station_type: Some("buoy".into()),
            has_met: true,
            has_currents: false,
            has_water_quality: false,
            is_dart: false,
        }
    );
    let s = find("41002");
    assert_eq!(
        s.name.as_deref(),
        Some("SOUTH HATTERAS - 225 NM South of Cape Hatteras")
    );
    assert_eq!((s.latitude, s.longitude), (31.759, -74.936));
    assert_eq!(s.station_type.as_deref(), Some("other"));
    assert!(s.has_met);
}

#[test]
fn entities_optional_attributes_and_flags() {
    let st = stations();
    let find = |id: &str| st.iter().find(|s| s.id == id).cloned().expect(id);
    assert_eq!(
        find("KGBK").name.as_deref(),
        Some("Garden Banks 783 / Magnolia TLP (W&T Offshore)")
    );
    assert_eq!(find("62114").name.as_deref(), Some("Tartan \"A\" AWS"));
    assert!(find("42092").owner.expect("owner").contains("Texas A&M"));
    // No elev attribute.
    assert_eq!(find("ZBQN7").elevation_m, None);
    assert_eq!(
        find("ZBQN7").name.as_deref(),
        Some("Zeke's Basin, North Carolina")
    );
    // TAO buoys lack met/currents/... attributes: flags default to false.
    let tao = find("32303");
    assert_eq!(tao.station_type.as_deref(), Some("tao"));
    assert!(!tao.has_met && !tao.is_dart);
    assert_eq!(st.iter().filter(|s| s.is_dart).count(), 58);
    assert_eq!(st.iter().filter(|s| s.has_currents).count(), 55);
    assert_eq!(st.iter().filter(|s| s.has_water_quality).count(), 142);
    assert_eq!(st.iter().filter(|s| s.elevation_m.is_some()).count(), 1085);
}

/// stationmetadata.xml also has a <stations> root, but its <station> elements carry no lat/lon
/// (positions live in nested <history> elements), so nothing usable comes out of it.
#[test]
fn stationmetadata_yields_no_stations() {
    for file in [
        "metadata/stationmetadata.xml",
        "metadata/2025-01/stationmetadata.xml",
    ] {
        let st = parse_active_stations(&read(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(st, vec![], "{file}");
    }
}

#[test]
fn wrong_root_is_rejected() {
    let err = parse_active_stations(
        b"<?xml version=\"1.0\"?><html><station id=\"a\" lat=\"1\" lon=\"1\"/></html>",
    )
    .expect_err("wrong root");
    assert!(
        matches!(err, StationsError::UnexpectedRoot { ref found } if found == "html"),
        "{err:?}"
    );
}

#[test]
fn truncated_real_file_is_an_error() {
    let bytes = read("metadata/activestations.xml");
    let cut = &bytes[..bytes.len() / 2];
    assert!(parse_active_stations(cut).is_err());
}
