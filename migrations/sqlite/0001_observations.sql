-- The ordered log of observations, station metadata and the seq counter.
CREATE TABLE IF NOT EXISTS observations (
    seq INTEGER PRIMARY KEY,
    station_id TEXT NOT NULL,
    observed_at INTEGER NOT NULL, -- Unix milliseconds, UTC
    wave_height_m REAL,
    wind_speed_mps REAL,
    wind_dir_deg REAL,
    water_temp_c REAL,
    pressure_hpa REAL,
    gust_mps REAL,
    dominant_wave_period_s REAL,
    average_wave_period_s REAL,
    mean_wave_dir_deg REAL,
    air_temp_c REAL,
    dew_point_c REAL,
    visibility_nmi REAL,
    pressure_tendency_hpa REAL,
    tide_ft REAL,
    UNIQUE (station_id, observed_at)
);

CREATE INDEX IF NOT EXISTS observations_by_station_time
    ON observations (station_id, observed_at DESC);

-- The last seq handed out; never goes down, even when rows are updated with a new seq.
CREATE TABLE IF NOT EXISTS seq_counter (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    value INTEGER NOT NULL
);
INSERT OR IGNORE INTO seq_counter (id, value) VALUES (1, 0);

CREATE TABLE IF NOT EXISTS stations (
    id TEXT PRIMARY KEY,
    name TEXT,
    latitude REAL,
    longitude REAL,
    elevation_m REAL,
    station_type TEXT,
    owner TEXT,
    program TEXT
);
