//! The kinds of entry NDBC publishes (SPEC §3a) and the files they come from.

/// A kind of entry: the SSE event name and the `kind` of every payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// Standard meteorological data (`.txt`).
    Observation,
    /// Spectral wave summary (`.spec`).
    WaveSummary,
    /// Spectral wave density and directions (`.data_spec`, `.swdir`, `.swdir2`, `.swr1`, `.swr2`).
    Spectrum,
    /// Oceanographic data (`.ocean`).
    Ocean,
    /// Continuous winds (`.cwind`).
    ContinuousWind,
    /// Water column height of DART tsunami buoys (`.dart`).
    Tsunami,
    /// Supplemental measurements (`.supl`).
    Supplemental,
    /// Solar radiation (`.srad`).
    SolarRadiation,
    /// Hourly rain (`.rain`).
    Rain,
    /// Drifting buoys (`.drift`).
    Drift,
    /// Ocean currents (`.adcp`).
    Currents,
    /// Derived measurements (`.dmv`).
    Derived,
}

impl Kind {
    /// Every kind, `observation` first.
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

    /// The event name.
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

    /// The kind with this event name (exact).
    pub fn from_name(name: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.name() == name)
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}
