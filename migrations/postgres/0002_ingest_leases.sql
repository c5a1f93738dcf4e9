-- Per-station ingest leases: which ingest process polls a station in the current interval.
-- Expiry is judged by the database's clock, so processes with skewed clocks agree.
CREATE TABLE IF NOT EXISTS ingest_leases (
    station_id TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL
);
