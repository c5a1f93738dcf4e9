-- The ordered log of observations, station metadata and the seq counter (PostgreSQL).
-- Times are timestamptz (UTC); the SQLite store keeps Unix milliseconds instead.
CREATE TABLE IF NOT EXISTS observations (
    seq BIGINT PRIMARY KEY,
    station_id TEXT COLLATE "C" NOT NULL, -- bytewise order, as in SQLite
    observed_at TIMESTAMPTZ NOT NULL,
    wave_height_m DOUBLE PRECISION,
    wind_speed_mps DOUBLE PRECISION,
    wind_dir_deg DOUBLE PRECISION,
    water_temp_c DOUBLE PRECISION,
    pressure_hpa DOUBLE PRECISION,
    gust_mps DOUBLE PRECISION,
    dominant_wave_period_s DOUBLE PRECISION,
    average_wave_period_s DOUBLE PRECISION,
    mean_wave_dir_deg DOUBLE PRECISION,
    air_temp_c DOUBLE PRECISION,
    dew_point_c DOUBLE PRECISION,
    visibility_nmi DOUBLE PRECISION,
    pressure_tendency_hpa DOUBLE PRECISION,
    tide_ft DOUBLE PRECISION,
    UNIQUE (station_id, observed_at)
);

CREATE INDEX IF NOT EXISTS observations_by_station_time
    ON observations (station_id, observed_at DESC);

-- The last seq handed out; never goes down, even when rows are updated with a new seq.
-- Writers serialise on a transaction-scoped advisory lock before reading it.
CREATE TABLE IF NOT EXISTS seq_counter (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    value BIGINT NOT NULL
);
INSERT INTO seq_counter (id, value) VALUES (1, 0) ON CONFLICT (id) DO NOTHING;

CREATE TABLE IF NOT EXISTS stations (
    id TEXT COLLATE "C" PRIMARY KEY,
    name TEXT,
    latitude DOUBLE PRECISION,
    longitude DOUBLE PRECISION,
    elevation_m DOUBLE PRECISION,
    station_type TEXT,
    owner TEXT,
    program TEXT
);
