-- Every NDBC product on the same ordered log (SPEC §3a): each row has a kind, and is unique per
-- (station, kind, time). An `observation` keeps its typed value columns; every other kind keeps
-- its fields as a JSON object (text) in `fields`. SQLite cannot change a UNIQUE constraint in
-- place, so the table is rebuilt, keeping every seq.
CREATE TABLE observations_by_kind (
    seq INTEGER PRIMARY KEY,
    station_id TEXT NOT NULL,
    kind TEXT NOT NULL DEFAULT 'observation',
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
    fields TEXT, -- JSON object; NULL for `observation`
    UNIQUE (station_id, kind, observed_at)
);

INSERT INTO observations_by_kind (
    seq, station_id, kind, observed_at, wave_height_m, wind_speed_mps, wind_dir_deg, water_temp_c,
    pressure_hpa, gust_mps, dominant_wave_period_s, average_wave_period_s, mean_wave_dir_deg,
    air_temp_c, dew_point_c, visibility_nmi, pressure_tendency_hpa, tide_ft)
SELECT seq, station_id, 'observation', observed_at, wave_height_m, wind_speed_mps, wind_dir_deg,
    water_temp_c, pressure_hpa, gust_mps, dominant_wave_period_s, average_wave_period_s,
    mean_wave_dir_deg, air_temp_c, dew_point_c, visibility_nmi, pressure_tendency_hpa, tide_ft
FROM observations;

DROP TABLE observations;
ALTER TABLE observations_by_kind RENAME TO observations;

CREATE INDEX observations_by_station_time ON observations (station_id, kind, observed_at DESC);
