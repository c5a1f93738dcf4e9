//! The fixed-column products, each one [`Table`] of the shared engine and one builder from a
//! [`Row`] to its payload.
//!
//! Missing values, per product (besides an absent column or a row that stops early, which are
//! always `None`; `MM`, `N/A` and `//` are `None` in every column of every product here):
//!
//! | product | fill sentinels that become `None` (NDBC's format page / the files) |
//! |---|---|
//! | `.spec` | none besides `MM`; `N/A` steepness is `None` |
//! | `.ocean` | none besides `MM` |
//! | `.cwind` | `GDR` 999, `GST` 99.0, `GTIME` 9999 (no gust reported in that 10-minute segment) |
//! | `.dart` | none besides `MM` |
//! | `.supl` | `PTIME`/`WTIME` 9999; `//` direction (calm) |
//! | `.srad` | none besides `MM` (a real 99.0 W/m² stays) |
//! | `.rain` | none besides `MM` |
//! | `.drift` | none besides `MM` (999.9 hPa is kept, as in `.txt`) |
//! | `.dmv` | none besides `MM` |
//!
//! `hhmm` columns (`GTIME`, `PTIME`, `WTIME`) become ISO 8601 times on the row's date, or the
//! day before/after when that is nearer the row's time (a `2354` in the `00:00` row is the
//! previous evening).

use crate::engine::{Column, Row, Table};
use crate::payload::{
    ContinuousWind, Derived, Drift, Ocean, Payload, Rain, SolarRadiation, Supplemental, Tsunami,
    WaveSummary,
};

/// `.spec`: detailed wave summary.
pub(crate) static SPEC: Table = Table {
    product: "spectral wave summary (.spec)",
    columns: &[
        Column::number(&["WVHT"]),
        Column::number(&["SwH"]),
        Column::number(&["SwP"]),
        Column::number(&["WWH"]),
        Column::number(&["WWP"]),
        Column::text(&["SwD"]),
        Column::text(&["WWD"]),
        Column::text(&["STEEPNESS"]),
        Column::number(&["APD"]),
        Column::number(&["MWD"]),
    ],
    signature: &["SwH", "SwP", "WWH", "WWP", "SwD", "WWD", "STEEPNESS"],
};

pub(crate) fn wave_summary(r: &Row<'_>) -> Payload {
    Payload::WaveSummary(WaveSummary {
        significant_wave_height_m: r.num(0),
        swell_height_m: r.num(1),
        swell_period_s: r.num(2),
        wind_wave_height_m: r.num(3),
        wind_wave_period_s: r.num(4),
        swell_dir: r.text(5),
        wind_wave_dir: r.text(6),
        steepness: r.text(7),
        average_wave_period_s: r.num(8),
        mean_wave_dir_deg: r.num(9),
    })
}

/// `.ocean`: oceanographic data.
pub(crate) static OCEAN: Table = Table {
    product: "oceanographic (.ocean)",
    columns: &[
        Column::number(&["DEPTH"]),
        Column::number(&["OTMP"]),
        Column::number(&["COND"]),
        Column::number(&["SAL"]),
        Column::number(&["O2%"]),
        Column::number(&["O2PPM"]),
        Column::number(&["CLCON"]),
        Column::number(&["TURB"]),
        Column::number(&["PH"]),
        Column::number(&["EH"]),
    ],
    signature: &[
        "DEPTH", "OTMP", "COND", "SAL", "O2%", "O2PPM", "CLCON", "TURB", "PH", "EH",
    ],
};

pub(crate) fn ocean(r: &Row<'_>) -> Payload {
    Payload::Ocean(Ocean {
        depth_m: r.num(0),
        ocean_temp_c: r.num(1),
        conductivity_ms_per_cm: r.num(2),
        salinity_psu: r.num(3),
        oxygen_percent: r.num(4),
        oxygen_ppm: r.num(5),
        chlorophyll_ug_per_l: r.num(6),
        turbidity_ftu: r.num(7),
        ph: r.num(8),
        redox_mv: r.num(9),
    })
}

/// `.cwind`: continuous winds (historical names `DIR`/`SPD` accepted).
pub(crate) static CWIND: Table = Table {
    product: "continuous winds (.cwind)",
    columns: &[
        Column::number(&["WDIR", "DIR"]),
        Column::number(&["WSPD", "SPD"]),
        Column::filled(&["GDR"], 999.0),
        Column::filled(&["GST", "GSP"], 99.0),
        Column::clock(&["GTIME"]),
    ],
    signature: &["GDR", "GTIME", "GSP"],
};

pub(crate) fn continuous_wind(r: &Row<'_>) -> Payload {
    Payload::ContinuousWind(ContinuousWind {
        wind_dir_deg: r.num(0),
        wind_speed_mps: r.num(1),
        gust_dir_deg: r.num(2),
        gust_speed_mps: r.num(3),
        gust_time: r.clock_iso(4),
    })
}

/// `.dart`: tsunameter water-column height (the time has seconds).
pub(crate) static DART: Table = Table {
    product: "DART tsunameter (.dart)",
    columns: &[Column::number(&["T"]), Column::number(&["HEIGHT"])],
    signature: &["HEIGHT"],
};

pub(crate) fn tsunami(r: &Row<'_>) -> Payload {
    let measurement_type = r
        .num(0)
        .filter(|t| t.fract() == 0.0 && (0.0..=255.0).contains(t))
        // Checked above: an integer in 0..=255, so the cast is exact.
        .map(|t| t as u8);
    Payload::Tsunami(Tsunami {
        measurement_type,
        water_column_height_m: r.num(1),
    })
}

/// `.supl`: supplemental measurements.
pub(crate) static SUPL: Table = Table {
    product: "supplemental measurements (.supl)",
    columns: &[
        Column::number(&["PRES"]),
        Column::clock(&["PTIME"]),
        Column::number(&["WSPD"]),
        Column::number(&["WDIR"]),
        Column::clock(&["WTIME"]),
    ],
    signature: &["PTIME", "WTIME"],
};

pub(crate) fn supplemental(r: &Row<'_>) -> Payload {
    Payload::Supplemental(Supplemental {
        lowest_pressure_hpa: r.num(0),
        lowest_pressure_time: r.clock_iso(1),
        highest_wind_speed_mps: r.num(2),
        highest_wind_dir_deg: r.num(3),
        highest_wind_time: r.clock_iso(4),
    })
}

/// `.srad`: solar radiation.
pub(crate) static SRAD: Table = Table {
    product: "solar radiation (.srad)",
    columns: &[
        Column::number(&["SRAD1"]),
        Column::number(&["SWRAD"]),
        Column::number(&["LWRAD"]),
    ],
    signature: &["SRAD1", "SWRAD", "LWRAD"],
};

pub(crate) fn solar_radiation(r: &Row<'_>) -> Payload {
    Payload::SolarRadiation(SolarRadiation {
        shortwave_licor_wm2: r.num(0),
        shortwave_eppley_wm2: r.num(1),
        longwave_wm2: r.num(2),
    })
}

/// `.rain`: hourly rain accumulation.
pub(crate) static RAIN: Table = Table {
    product: "hourly rain (.rain)",
    columns: &[Column::number(&["ACCUM"])],
    signature: &["ACCUM"],
};

pub(crate) fn rain(r: &Row<'_>) -> Payload {
    Payload::Rain(Rain {
        accumulation_mm: r.num(0),
    })
}

/// `.drift`: drifting buoys (`YY MM DD hhmm`).
pub(crate) static DRIFT: Table = Table {
    product: "drifting buoy (.drift)",
    columns: &[
        Column::number(&["LAT"]),
        Column::number(&["LON"]),
        Column::number(&["WDIR"]),
        Column::number(&["WSPD"]),
        Column::number(&["GST"]),
        Column::number(&["PRES"]),
        Column::number(&["PTDY"]),
        Column::number(&["ATMP"]),
        Column::number(&["WTMP"]),
    ],
    signature: &["LAT", "LON"],
};

pub(crate) fn drift(r: &Row<'_>) -> Payload {
    Payload::Drift(Drift {
        latitude: r.num(0),
        longitude: r.num(1),
        wind_dir_deg: r.num(2),
        wind_speed_mps: r.num(3),
        gust_mps: r.num(4),
        pressure_hpa: r.num(5),
        pressure_tendency_hpa: r.num(6),
        air_temp_c: r.num(7),
        water_temp_c: r.num(8),
    })
}

/// `.dmv`: derived meteorological values.
pub(crate) static DMV: Table = Table {
    product: "derived met values (.dmv)",
    columns: &[
        Column::number(&["CHILL"]),
        Column::number(&["HEAT"]),
        Column::number(&["ICE"]),
        Column::number(&["WSPD10"]),
        Column::number(&["WSPD20"]),
    ],
    signature: &["CHILL", "HEAT", "ICE", "WSPD10", "WSPD20"],
};

pub(crate) fn derived(r: &Row<'_>) -> Payload {
    Payload::Derived(Derived {
        wind_chill_c: r.num(0),
        heat_index_c: r.num(1),
        ice_accretion_cm_per_hr: r.num(2),
        wind_speed_10m_mps: r.num(3),
        wind_speed_20m_mps: r.num(4),
    })
}
