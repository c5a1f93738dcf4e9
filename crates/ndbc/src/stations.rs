//! Parser for NDBC's station list `activestations.xml`
//! (<https://www.ndbc.noaa.gov/activestations.xml>).
//!
//! The document is a `<stations>` root holding one `<station .../>` element per
//! station, with attributes `id lat lon elev name owner pgm type met currents
//! waterquality dart` (`elev`, `met`, `currents`, `waterquality`, `dart` and
//! `seq` are optional). Station ids are returned upper-cased, as used in
//! realtime2 URLs. A station whose `id` is missing or not alphanumeric, or
//! whose `lat`/`lon` is missing, unparseable or out of range, is skipped; any
//! XML syntax error, an unknown entity, a wrong root element or a truncated
//! document is an error for the whole file.

use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};

/// Metadata for one station from `activestations.xml`.
#[derive(Debug, Clone, PartialEq)]
pub struct StationMeta {
    /// Station id, upper-cased (`"0y2w3"` becomes `"0Y2W3"`).
    pub id: String,
    /// Human-readable station name (`name` attribute), entities decoded.
    pub name: Option<String>,
    /// Latitude in decimal degrees, north positive.
    pub latitude: f64,
    /// Longitude in decimal degrees, east positive.
    pub longitude: f64,
    /// Site elevation above mean sea level in metres (`elev`), when given.
    pub elevation_m: Option<f64>,
    /// Owning organisation (`owner` attribute).
    pub owner: Option<String>,
    /// Programme the station belongs to (`pgm` attribute).
    pub program: Option<String>,
    /// The `type` attribute: `buoy`, `fixed`, `dart`, `other`, `oilrig`, `tao`, `usv`...
    pub station_type: Option<String>,
    /// `met="y"`: the station reports meteorological data.
    pub has_met: bool,
    /// `currents="y"`: the station reports ocean currents.
    pub has_currents: bool,
    /// `waterquality="y"`: the station reports water quality.
    pub has_water_quality: bool,
    /// `dart="y"`: the station is a DART tsunameter.
    pub is_dart: bool,
}

/// The document as a whole could not be read as an NDBC station list.
#[derive(Debug, thiserror::Error)]
pub enum StationsError {
    /// The input is not well-formed XML (syntax error, bad attribute, unknown entity, invalid UTF-8...).
    #[error("malformed XML at byte {position}: {message}")]
    Xml {
        /// Byte offset in the input near which the error was detected.
        position: u64,
        /// Description of the XML error.
        message: String,
    },
    /// The document contains no element at all.
    #[error("no <stations> element found")]
    NoRoot,
    /// The root element is not `<stations>`.
    #[error("not an NDBC station list: root element is <{found}>, expected <stations>")]
    UnexpectedRoot {
        /// Name of the root element found.
        found: String,
    },
    /// The document ends before its elements are closed.
    #[error("document truncated: <{element}> is never closed")]
    Truncated {
        /// Name of the innermost unclosed element.
        element: String,
    },
}

/// Parse `activestations.xml`, returning the stations in document order.
///
/// Stations with a missing or unusable id, latitude or longitude are skipped;
/// malformed XML is an error. Never panics.
pub fn parse_active_stations(input: &[u8]) -> Result<Vec<StationMeta>, StationsError> {
    let mut reader = Reader::from_reader(input);
    let config = reader.config_mut();
    config.check_end_names = true;
    config.check_comments = true;

    let mut stations = Vec::new();
    let mut open: Vec<String> = Vec::new();
    let mut root_seen = false;
    loop {
        let position = reader.buffer_position();
        let event = reader.read_event().map_err(|e| xml_error(position, &e))?;
        match event {
            Event::Start(ref e) | Event::Empty(ref e) => {
                let name = String::from_utf8_lossy(e.name().as_ref()).into_owned();
                if open.is_empty() {
                    if root_seen {
                        return Err(StationsError::Xml {
                            position,
                            message: format!("second root element <{name}>"),
                        });
                    }
                    root_seen = true;
                    if name != "stations" {
                        return Err(StationsError::UnexpectedRoot { found: name });
                    }
                } else if open.len() == 1
                    && name == "station"
                    && let Some(st) = station(e, &reader, position)?
                {
                    stations.push(st);
                }
                if matches!(event, Event::Start(_)) {
                    open.push(name);
                }
            }
            Event::End(_) => {
                open.pop();
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if let Some(element) = open.pop() {
        return Err(StationsError::Truncated { element });
    }
    if !root_seen {
        return Err(StationsError::NoRoot);
    }
    Ok(stations)
}

fn xml_error(position: u64, e: &dyn std::fmt::Display) -> StationsError {
    StationsError::Xml {
        position,
        message: e.to_string(),
    }
}

/// Read one `<station>` element; `Ok(None)` if it lacks a usable id/lat/lon.
fn station(
    e: &BytesStart<'_>,
    reader: &Reader<&[u8]>,
    position: u64,
) -> Result<Option<StationMeta>, StationsError> {
    let mut id = None;
    let mut lat = None;
    let mut lon = None;
    let mut meta = StationMeta {
        id: String::new(),
        name: None,
        latitude: 0.0,
        longitude: 0.0,
        elevation_m: None,
        owner: None,
        program: None,
        station_type: None,
        has_met: false,
        has_currents: false,
        has_water_quality: false,
        is_dart: false,
    };
    for attr in e.attributes() {
        let attr = attr.map_err(|err| xml_error(position, &err))?;
        let value = attr
            .decode_and_unescape_value(reader.decoder())
            .map_err(|err| xml_error(position, &err))?;
        let value = value.trim();
        let text = || (!value.is_empty()).then(|| value.to_owned());
        match attr.key.as_ref() {
            b"id" => id = Some(value.to_ascii_uppercase()),
            b"lat" => lat = parse_coord(value, 90.0),
            b"lon" => lon = parse_coord(value, 180.0),
            b"elev" => meta.elevation_m = value.parse::<f64>().ok().filter(|v| v.is_finite()),
            b"name" => meta.name = text(),
            b"owner" => meta.owner = text(),
            b"pgm" => meta.program = text(),
            b"type" => meta.station_type = text(),
            b"met" => meta.has_met = is_yes(value),
            b"currents" => meta.has_currents = is_yes(value),
            b"waterquality" => meta.has_water_quality = is_yes(value),
            b"dart" => meta.is_dart = is_yes(value),
            _ => {}
        }
    }
    let (Some(id), Some(latitude), Some(longitude)) = (id, lat, lon) else {
        return Ok(None);
    };
    if id.is_empty() || !id.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Ok(None);
    }
    meta.id = id;
    meta.latitude = latitude;
    meta.longitude = longitude;
    Ok(Some(meta))
}

fn parse_coord(value: &str, limit: f64) -> Option<f64> {
    value
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite() && v.abs() <= limit)
}

fn is_yes(value: &str) -> bool {
    value.eq_ignore_ascii_case("y")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entities_and_skips() {
        let xml = br#"<?xml version="1.0"?>
<stations count="4">
  <station id="abc12" lat="1.5" lon="-2" name="A &amp; B&apos;s &quot;C&quot;" type="buoy" met="y" dart="n"/>
  <station id="nolat" lon="3"/>
  <station id="x" lat="north" lon="3"/>
  <station lat="1" lon="3"/>
  <station id="ok" lat="-90" lon="180" elev="x"></station>
</stations>"#;
        let st = parse_active_stations(xml).expect("parse");
        assert_eq!(st.len(), 2);
        assert_eq!(st[0].id, "ABC12");
        assert_eq!(st[0].name.as_deref(), Some("A & B's \"C\""));
        assert!(st[0].has_met && !st[0].is_dart);
        assert_eq!(st[1].id, "OK");
        assert_eq!(st[1].elevation_m, None);
    }

    #[test]
    fn structural_errors() {
        assert!(matches!(
            parse_active_stations(b""),
            Err(StationsError::NoRoot)
        ));
        assert!(matches!(
            parse_active_stations(b"<foo/>"),
            Err(StationsError::UnexpectedRoot { .. })
        ));
        assert!(matches!(
            parse_active_stations(b"<stations><station id=\"a\" lat=\"1\" lon=\"2\"/>"),
            Err(StationsError::Truncated { .. })
        ));
        assert!(matches!(
            parse_active_stations(b"<stations><station id=\"a\" lat=\"1\" lon=\"2\"></stations>"),
            Err(StationsError::Xml { .. })
        ));
        assert!(matches!(
            parse_active_stations(
                b"<stations><station id=\"a&bogus;\" lat=\"1\" lon=\"2\"/></stations>"
            ),
            Err(StationsError::Xml { .. })
        ));
    }
}
