//! The kinds of entry buoycast streams (SPEC §3a) and the NDBC realtime2 file products that
//! make them: names, file extensions and the mapping between the two, defined once here.

use std::fmt;
use std::str::FromStr;

/// One kind of entry: an SSE event name of its own (SPEC §3a).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// Standard meteorological observation (`.txt`), event `observation`.
    Observation,
    /// Detailed wave summary (`.spec`), event `waveSummary`.
    WaveSummary,
    /// Spectral wave data (`.data_spec` + `.swdir` + `.swdir2` + `.swr1` + `.swr2`), event `spectrum`.
    Spectrum,
    /// Oceanographic data (`.ocean`), event `ocean`.
    Ocean,
    /// Continuous winds (`.cwind`), event `continuousWind`.
    ContinuousWind,
    /// DART tsunameter water-column height (`.dart`), event `tsunami`.
    Tsunami,
    /// Supplemental measurements (`.supl`), event `supplemental`.
    Supplemental,
    /// Solar radiation (`.srad`), event `solarRadiation`.
    SolarRadiation,
    /// Hourly rain accumulation (`.rain`), event `rain`.
    Rain,
    /// Drifting-buoy meteorological data (`.drift`), event `drift`.
    Drift,
    /// ADCP ocean currents (`.adcp`), event `currents`.
    Currents,
    /// Derived meteorological values (`.dmv`), event `derived`.
    Derived,
}

impl Kind {
    /// Every kind, in declaration order.
    pub const ALL: [Kind; 12] = [
        Kind::Observation,
        Kind::WaveSummary,
        Kind::Spectrum,
        Kind::Ocean,
        Kind::ContinuousWind,
        Kind::Tsunami,
        Kind::Supplemental,
        Kind::SolarRadiation,
        Kind::Rain,
        Kind::Drift,
        Kind::Currents,
        Kind::Derived,
    ];

    /// The SPEC event name, e.g. `"waveSummary"`.
    pub const fn name(self) -> &'static str {
        match self {
            Kind::Observation => "observation",
            Kind::WaveSummary => "waveSummary",
            Kind::Spectrum => "spectrum",
            Kind::Ocean => "ocean",
            Kind::ContinuousWind => "continuousWind",
            Kind::Tsunami => "tsunami",
            Kind::Supplemental => "supplemental",
            Kind::SolarRadiation => "solarRadiation",
            Kind::Rain => "rain",
            Kind::Drift => "drift",
            Kind::Currents => "currents",
            Kind::Derived => "derived",
        }
    }

    /// The kind with this exact (case-sensitive) event name.
    pub fn from_name(name: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.name() == name)
    }

    /// The file products making this kind (five for [`Kind::Spectrum`], one otherwise).
    pub fn products(self) -> &'static [Product] {
        match self {
            Kind::Observation => &[Product::Stdmet],
            Kind::WaveSummary => &[Product::Spec],
            Kind::Spectrum => &[
                Product::DataSpec,
                Product::Swdir,
                Product::Swdir2,
                Product::Swr1,
                Product::Swr2,
            ],
            Kind::Ocean => &[Product::Ocean],
            Kind::ContinuousWind => &[Product::Cwind],
            Kind::Tsunami => &[Product::Dart],
            Kind::Supplemental => &[Product::Supl],
            Kind::SolarRadiation => &[Product::Srad],
            Kind::Rain => &[Product::Rain],
            Kind::Drift => &[Product::Drift],
            Kind::Currents => &[Product::Adcp],
            Kind::Derived => &[Product::Dmv],
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The name given to [`Kind::from_str`] is no kind's event name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown kind {0:?} (expected one of observation, waveSummary, spectrum, ocean, continuousWind, tsunami, supplemental, solarRadiation, rain, drift, currents, derived)"
)]
pub struct UnknownKind(pub String);

impl FromStr for Kind {
    type Err = UnknownKind;

    fn from_str(s: &str) -> Result<Kind, UnknownKind> {
        Kind::from_name(s).ok_or_else(|| UnknownKind(s.to_owned()))
    }
}

/// One NDBC realtime2 file product, named by its file extension (`<STATION>.<ext>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Product {
    /// `.txt`: standard meteorological data.
    Stdmet,
    /// `.spec`: detailed wave summary.
    Spec,
    /// `.data_spec`: spectral wave density (with the separation frequency).
    DataSpec,
    /// `.swdir`: spectral mean wave direction α1.
    Swdir,
    /// `.swdir2`: spectral principal wave direction α2.
    Swdir2,
    /// `.swr1`: spectral first normalized polar coordinate r1.
    Swr1,
    /// `.swr2`: spectral second normalized polar coordinate r2.
    Swr2,
    /// `.ocean`: oceanographic data.
    Ocean,
    /// `.cwind`: continuous winds.
    Cwind,
    /// `.dart`: DART tsunameter water-column height.
    Dart,
    /// `.supl`: supplemental measurements (hourly lowest pressure, highest wind).
    Supl,
    /// `.srad`: solar radiation.
    Srad,
    /// `.rain`: hourly rain accumulation.
    Rain,
    /// `.drift`: drifting-buoy data.
    Drift,
    /// `.adcp`: ADCP currents by depth bin.
    Adcp,
    /// `.dmv`: derived meteorological values.
    Dmv,
}

impl Product {
    /// Every product, in declaration order.
    pub const ALL: [Product; 16] = [
        Product::Stdmet,
        Product::Spec,
        Product::DataSpec,
        Product::Swdir,
        Product::Swdir2,
        Product::Swr1,
        Product::Swr2,
        Product::Ocean,
        Product::Cwind,
        Product::Dart,
        Product::Supl,
        Product::Srad,
        Product::Rain,
        Product::Drift,
        Product::Adcp,
        Product::Dmv,
    ];

    /// The file extension, without the dot (`"txt"`, `"data_spec"`, ...).
    pub const fn extension(self) -> &'static str {
        match self {
            Product::Stdmet => "txt",
            Product::Spec => "spec",
            Product::DataSpec => "data_spec",
            Product::Swdir => "swdir",
            Product::Swdir2 => "swdir2",
            Product::Swr1 => "swr1",
            Product::Swr2 => "swr2",
            Product::Ocean => "ocean",
            Product::Cwind => "cwind",
            Product::Dart => "dart",
            Product::Supl => "supl",
            Product::Srad => "srad",
            Product::Rain => "rain",
            Product::Drift => "drift",
            Product::Adcp => "adcp",
            Product::Dmv => "dmv",
        }
    }

    /// The product with this file extension (no dot), ASCII case-insensitive.
    pub fn from_extension(ext: &str) -> Option<Product> {
        Product::ALL
            .into_iter()
            .find(|p| p.extension().eq_ignore_ascii_case(ext))
    }

    /// The kind of entry this product makes.
    pub const fn kind(self) -> Kind {
        match self {
            Product::Stdmet => Kind::Observation,
            Product::Spec => Kind::WaveSummary,
            Product::DataSpec
            | Product::Swdir
            | Product::Swdir2
            | Product::Swr1
            | Product::Swr2 => Kind::Spectrum,
            Product::Ocean => Kind::Ocean,
            Product::Cwind => Kind::ContinuousWind,
            Product::Dart => Kind::Tsunami,
            Product::Supl => Kind::Supplemental,
            Product::Srad => Kind::SolarRadiation,
            Product::Rain => Kind::Rain,
            Product::Drift => Kind::Drift,
            Product::Adcp => Kind::Currents,
            Product::Dmv => Kind::Derived,
        }
    }

    /// Split a base file name into station and product: `"44013.swdir2"` →
    /// `Some(("44013", Product::Swdir2))`. `None` for an unknown extension, an empty station or
    /// a name with a directory (`/` or `\`).
    pub fn split_file_name(name: &str) -> Option<(&str, Product)> {
        if name.contains(['/', '\\']) {
            return None;
        }
        let (station, ext) = name.rsplit_once('.')?;
        if station.is_empty() {
            return None;
        }
        Some((station, Product::from_extension(ext)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for k in Kind::ALL {
            assert_eq!(Kind::from_name(k.name()), Some(k));
            assert_eq!(k.to_string().parse::<Kind>(), Ok(k));
            for p in k.products() {
                assert_eq!(p.kind(), k);
            }
        }
        assert_eq!(Kind::from_name("WaveSummary"), None);
        for p in Product::ALL {
            assert_eq!(Product::from_extension(p.extension()), Some(p));
            assert_eq!(
                Product::from_extension(&p.extension().to_ascii_uppercase()),
                Some(p)
            );
            assert!(p.kind().products().contains(&p));
        }
    }

    #[test]
    fn file_names() {
        assert_eq!(
            Product::split_file_name("44013.swdir2"),
            Some(("44013", Product::Swdir2))
        );
        assert_eq!(
            Product::split_file_name("44013.data_spec"),
            Some(("44013", Product::DataSpec))
        );
        assert_eq!(
            Product::split_file_name("TPLM2.TXT"),
            Some(("TPLM2", Product::Stdmet))
        );
        assert_eq!(Product::split_file_name("a/44013.txt"), None);
        assert_eq!(Product::split_file_name(".txt"), None);
        assert_eq!(Product::split_file_name("44013.gz"), None);
        assert_eq!(Product::split_file_name("44013"), None);
    }
}
