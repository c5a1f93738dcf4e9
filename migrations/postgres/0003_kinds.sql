-- Every NDBC product on the same ordered log (SPEC §3a): each row has a kind, and is unique per
-- (station, kind, time). An `observation` keeps its typed value columns; every other kind keeps
-- its fields as a JSON object (text, so its member order is kept as written) in `fields`.
ALTER TABLE observations ADD COLUMN kind TEXT COLLATE "C" NOT NULL DEFAULT 'observation';
ALTER TABLE observations ADD COLUMN fields TEXT;
ALTER TABLE observations DROP CONSTRAINT observations_station_id_observed_at_key;
ALTER TABLE observations ADD CONSTRAINT observations_station_kind_time_key
    UNIQUE (station_id, kind, observed_at);
DROP INDEX IF EXISTS observations_by_station_time;
CREATE INDEX observations_by_station_time ON observations (station_id, kind, observed_at DESC);
