-- Per-station ingest leases: which ingest process polls a station in the current interval.
CREATE TABLE IF NOT EXISTS ingest_leases (
    station_id TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    expires_at INTEGER NOT NULL -- Unix milliseconds, UTC
);
