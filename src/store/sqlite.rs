//! The embedded store: one SQLite file in WAL mode, one writer connection, a few readers.
//!
//! Every write runs in its own `BEGIN IMMEDIATE` transaction on the one writer connection (so a
//! lock held by another process is waited for, up to the busy timeout, instead of failing at
//! commit). After any failed write the connection is closed and a fresh one opened for the next
//! write: SQLite may roll a transaction back by itself (disk full, I/O error), after which the
//! driver's own ROLLBACK fails and its transaction depth stays wrong, so that later `begin()`
//! calls would open savepoints of a transaction that never commits. A fresh connection is a
//! known-good state. Every write runs on a thread of its own ([`WriterThread`]), so that the
//! fan-out's load on the server's runtime does not stretch each of its round trips.

use std::str::FromStr;
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteRow, SqliteSynchronous,
};
use sqlx::{AssertSqlSafe, ConnectOptions, Connection, Row};
use tokio::sync::Mutex;

use super::sql::{self, STATION_COLUMNS, normalise_batch};
use super::writer_thread::WriterThread;

use super::{
    AfterQuery, HistoryQuery, StationMeta, Store, StoreError, StoreFault, WRITE_PROBE, WriteHealth,
    join_metadata, newest, one_station,
};
use crate::domain::{Entry, KindSet, Seq, Station, StationFilter, StationId, StoredEntry};

/// Columns of a log row, in the order [`sql::entry`] reads them.
static COLUMNS: LazyLock<String> = LazyLock::new(sql::columns);

/// Insert-or-update of one log row: returns a row only when something was written.
static UPSERT: LazyLock<String> = LazyLock::new(|| sql::upsert(|n| format!("?{n}"), "IS NOT"));

/// Shared WHERE clause of "after" queries; parameters ?1..?5 as bound by [`bind_after`].
const AFTER_WHERE: &str = "seq > ?1 AND (?2 IS NULL OR seq <= ?2) \
     AND (?3 IS NULL OR station_id IN (SELECT value FROM json_each(?3))) \
     AND (?4 IS NULL OR observed_at >= ?4) \
     AND (?5 IS NULL OR kind IN (SELECT value FROM json_each(?5)))";

static AFTER: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {} FROM observations WHERE {AFTER_WHERE} ORDER BY seq LIMIT ?6",
        *COLUMNS
    )
});

static CUTOFF: LazyLock<String> = LazyLock::new(|| {
    format!("SELECT seq FROM observations WHERE {AFTER_WHERE} ORDER BY seq DESC LIMIT 1 OFFSET ?6")
});

static HISTORY: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {} FROM observations WHERE station_id = ?1 \
         AND (?2 IS NULL OR observed_at >= ?2) AND (?3 IS NULL OR observed_at <= ?3) \
         AND (?5 IS NULL OR kind IN (SELECT value FROM json_each(?5))) \
         ORDER BY observed_at DESC, kind LIMIT ?4",
        *COLUMNS
    )
});

static LATEST: LazyLock<String> = LazyLock::new(|| {
    let cols = COLUMNS
        .split(", ")
        .map(|c| format!("o.{c}"))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "SELECT {cols} FROM observations o JOIN (\
           SELECT station_id, kind, MAX(observed_at) AS t FROM observations \
           WHERE (?1 IS NULL OR station_id IN (SELECT value FROM json_each(?1))) \
           AND (?2 IS NULL OR kind IN (SELECT value FROM json_each(?2))) \
           GROUP BY station_id, kind) l \
         ON o.station_id = l.station_id AND o.kind = l.kind AND o.observed_at = l.t \
         ORDER BY o.station_id, o.kind"
    )
});

/// How long a write waits for a lock held by another connection or process.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Read connections in the pool (resume replays, REST reads, readiness).
const READERS: u32 = 4;

/// Page cache of the writer connection, in KiB (SQLite's `cache_size` takes a negative number
/// as KiB). SQLite's default is 2,000 KiB per connection; a fixed, smaller cache bounds the
/// store's memory at 512 + 4 × 256 KiB and lets it fill within minutes rather than the hour
/// it took at a few events per second (docs/BENCHMARKS.md, "Soak"). Pages it drops are read
/// back from the operating system's file cache.
const WRITER_CACHE_KIB: &str = "-512";

/// Page cache of each read connection, in KiB. Reads are mostly of the newest rows.
const READER_CACHE_KIB: &str = "-256";

/// The SQLite implementation of [`Store`].
#[derive(Debug, Clone)]
pub struct SqliteStore {
    /// Exactly one writer: writes are serialised, so seq order is commit order.
    writer: Arc<Writer>,
    /// Readers; WAL lets them run beside the writer.
    reader: SqlitePool,
}

/// Why the SQLite file at `path` could not be opened, in one line, with a fix where there is
/// an obvious one.
fn open_error(path: &std::path::Path, error: &sqlx::Error) -> String {
    let cause = match error {
        sqlx::Error::Database(db) => db.message().to_owned(),
        sqlx::Error::Io(io) => io.to_string(),
        other => other.to_string(),
    };
    let parent = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    let hint = if !parent.is_dir() {
        format!(
            "the directory {} does not exist: create it, or choose another path",
            parent.display()
        )
    } else if path.is_dir() {
        "that is a directory: name a file in it, e.g. sqlite://DIR/buoycast.db".to_owned()
    } else {
        "check that this user may read and write the file and its directory".to_owned()
    };
    format!(
        "cannot open the SQLite database {}: {cause}; {hint}",
        path.display()
    )
}

/// The writer connection, opened on demand and replaced after any failed write.
#[derive(Debug)]
struct Writer {
    /// How to open it again.
    options: SqliteConnectOptions,
    /// `None` until the first write, and after a failed one.
    connection: Mutex<Option<SqliteConnection>>,
    /// The outcome of the last write, for readiness.
    health: WriteHealth,
    /// Where writes run.
    thread: WriterThread,
}

impl SqliteStore {
    /// Opens (creating if missing) the database named by a `sqlite:` URL or a plain path.
    /// A failure to open it is one [`StoreError::Open`] line naming the file, the cause and
    /// the fix.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let url = if url.starts_with("sqlite:") {
            url.to_owned()
        } else {
            format!("sqlite://{url}")
        };
        let options = SqliteConnectOptions::from_str(&url)
            .map_err(|e| StoreError::Open(format!("--database-url {url}: {e}")))?
            .synchronous(SqliteSynchronous::Full);
        let path = options.get_filename().to_owned();
        Self::connect_with(options).await.map_err(|e| match e {
            StoreError::Unavailable(e) => StoreError::Open(open_error(&path, &e)),
            other => other,
        })
    }

    /// Opens the database with these options plus WAL and the busy timeout. `synchronous` is
    /// the options' own (`FULL` unless changed: a commit is on disk before it is acknowledged,
    /// docs/DURABILITY.md); tests add pragmas such as `max_page_count` to provoke real faults.
    pub async fn connect_with(options: SqliteConnectOptions) -> Result<Self, StoreError> {
        let options = options
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .busy_timeout(BUSY_TIMEOUT)
            .pragma("cache_size", WRITER_CACHE_KIB);
        // Open the writer once now, so that a bad path or an unwritable file fails at start-up.
        let first = options.connect().await?;
        // Every read connection is opened now and kept: the store's descriptors, threads and
        // memory are fixed from the start (the front door's descriptor reserve counts on it),
        // not a number that grows with the first reads.
        let reader = SqlitePoolOptions::new()
            .min_connections(READERS)
            .max_connections(READERS)
            .connect_with(
                options
                    .clone()
                    .read_only(true)
                    .pragma("cache_size", READER_CACHE_KIB),
            )
            .await?;
        let writer = Writer {
            options,
            connection: Mutex::new(Some(first)),
            health: WriteHealth::default(),
            thread: WriterThread::start().map_err(sqlx::Error::Io)?,
        };
        Ok(Self {
            writer: Arc::new(writer),
            reader,
        })
    }

    /// Runs a write on the writer thread ([`WriterThread`]).
    async fn on_writer_thread<T: Send + 'static>(
        &self,
        work: impl Future<Output = Result<T, StoreError>> + Send + 'static,
    ) -> Result<T, StoreError> {
        self.writer.thread.run(work).await
    }

    /// Takes the writer connection (opening one if there is none) until the returned lease is
    /// finished with the outcome of its work.
    async fn writer(&self) -> Result<WriterLease<'_>, StoreError> {
        let mut slot = self.writer.connection.lock().await;
        let connection = match slot.take() {
            Some(connection) => connection,
            None => match self.writer.options.connect().await {
                Ok(connection) => connection,
                Err(e) => {
                    let error = StoreError::from(e);
                    self.writer.health.failed(&error);
                    return Err(error);
                }
            },
        };
        Ok(WriterLease {
            slot,
            connection,
            health: &self.writer.health,
        })
    }
}

/// Exclusive use of the writer connection for one unit of work. [`WriterLease::finish`] puts
/// the connection back after a success and closes it after an error; a lease dropped unfinished
/// (its caller gave up) drops the connection, which rolls back whatever it had open.
struct WriterLease<'a> {
    /// Where the connection goes back to; holding the guard serialises writes.
    slot: tokio::sync::MutexGuard<'a, Option<SqliteConnection>>,
    /// The connection, taken out of the slot.
    connection: SqliteConnection,
    /// Records the outcome.
    health: &'a WriteHealth,
}

impl WriterLease<'_> {
    /// Ends the lease with the work's outcome, which it returns.
    async fn finish<T>(self, outcome: Result<T, StoreError>) -> Result<T, StoreError> {
        let Self {
            mut slot,
            connection,
            health,
        } = self;
        match outcome {
            Ok(value) => {
                *slot = Some(connection);
                health.succeeded();
                Ok(value)
            }
            Err(error) => {
                health.failed(&error);
                // The connection is replaced: closing rolls back whatever the failed transaction
                // left open.
                if let Err(e) = connection.close().await {
                    tracing::debug!(event = "store_writer_close_failed", error = %e, "closing the failed writer connection");
                }
                Err(error)
            }
        }
    }
}

/// [`WRITE_PROBE`] in a `BEGIN IMMEDIATE` transaction.
async fn probe(connection: &mut SqliteConnection) -> Result<(), StoreError> {
    let mut tx = connection.begin_with("BEGIN IMMEDIATE").await?;
    sqlx::query(WRITE_PROBE).execute(&mut *tx).await?;
    tx.commit().await?;
    Ok(())
}

/// The insert transaction of [`Store::insert_entries`]: rows oldest first, consecutive seqs
/// from the counter, the counter updated, one commit.
async fn insert_rows(
    connection: &mut SqliteConnection,
    rows: &[&Entry],
) -> Result<Vec<StoredEntry>, StoreError> {
    let mut tx = connection.begin_with("BEGIN IMMEDIATE").await?;
    let mut last: i64 = sqlx::query_scalar("SELECT value FROM seq_counter WHERE id = 1")
        .fetch_one(&mut *tx)
        .await?;
    let mut stored = Vec::new();
    for &entry in rows {
        let row = sql::RowValues::of(entry);
        let mut q = sqlx::query(AssertSqlSafe(UPSERT.as_str()))
            .bind(last + 1)
            .bind(row.station)
            .bind(millis(entry.timestamp()));
        for v in row.values {
            q = q.bind(v);
        }
        q = q.bind(row.kind).bind(row.fields);
        if q.fetch_optional(&mut *tx).await?.is_some() {
            last += 1;
            stored.push(StoredEntry {
                seq: Seq::new(last),
                entry: entry.clone(),
            });
        }
    }
    if !stored.is_empty() {
        sqlx::query("UPDATE seq_counter SET value = ?1 WHERE id = 1")
            .bind(last)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(stored)
}

/// Unix milliseconds, the stored form of a time.
fn millis(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

/// A kind filter as the JSON array `json_each` reads; `None` for every kind.
fn kinds_json(kinds: KindSet) -> Option<String> {
    sql::kind_names(kinds).map(|names| serde_json::to_string(&names).unwrap_or_default())
}

/// A station filter as the JSON array `json_each` reads.
fn filter_json(filter: Option<&StationFilter>) -> Option<String> {
    filter.map(|f| {
        serde_json::to_string(&f.iter().map(StationId::as_str).collect::<Vec<_>>())
            .unwrap_or_default()
    })
}

fn decode(row: &SqliteRow) -> Result<StoredEntry, StoreError> {
    let millis: i64 = row.try_get(2)?;
    let timestamp = DateTime::from_timestamp_millis(millis)
        .ok_or_else(|| StoreError::Corrupt(format!("timestamp {millis} out of range")))?;
    sql::entry(row, timestamp)
}

fn decode_all(rows: &[SqliteRow]) -> Result<Vec<StoredEntry>, StoreError> {
    rows.iter().map(decode).collect()
}

type SqliteQuery<'q> = sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments>;

fn bind_after<'q>(q: SqliteQuery<'q>, query: &AfterQuery) -> SqliteQuery<'q> {
    q.bind(query.after.get())
        .bind(query.until.map(Seq::get))
        .bind(filter_json(query.stations.as_ref()))
        .bind(query.since.map(millis))
        .bind(kinds_json(query.kinds))
}

/// The station-metadata upsert of [`Store::upsert_stations`], in one transaction.
async fn upsert_station_rows(
    connection: &mut SqliteConnection,
    stations: &[StationMeta],
) -> Result<usize, StoreError> {
    let mut tx = connection.begin_with("BEGIN IMMEDIATE").await?;
    let mut written = 0;
    for s in stations {
        let Ok(id) = StationId::parse(&s.id) else {
            continue;
        };
        sqlx::query(
            "INSERT INTO stations (id, name, latitude, longitude, elevation_m, station_type, owner, program) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT (id) DO UPDATE SET \
             name = COALESCE(excluded.name, stations.name), latitude = excluded.latitude, longitude = excluded.longitude, \
             elevation_m = COALESCE(excluded.elevation_m, stations.elevation_m), station_type = COALESCE(excluded.station_type, stations.station_type), \
             owner = COALESCE(excluded.owner, stations.owner), program = COALESCE(excluded.program, stations.program)",
        )
        .bind(id.as_str())
        .bind(s.name.as_deref())
        .bind(s.latitude)
        .bind(s.longitude)
        .bind(s.elevation_m)
        .bind(s.station_type.as_deref())
        .bind(s.owner.as_deref())
        .bind(s.program.as_deref())
        .execute(&mut *tx)
        .await?;
        written += 1;
    }
    tx.commit().await?;
    Ok(written)
}

#[async_trait]
impl Store for SqliteStore {
    async fn migrate(&self) -> Result<(), StoreError> {
        let store = self.clone();
        self.on_writer_thread(async move {
            let mut writer = store.writer().await?;
            // `run_direct` takes the connection itself (`run` wants an `Acquire` that is not
            // `Send` for every lifetime inside an `async_trait` method).
            let outcome = sqlx::migrate!("migrations/sqlite")
                .run_direct(None, &mut writer.connection, false)
                .await
                .map_err(StoreError::from);
            writer.finish(outcome).await
        })
        .await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.reader).await?;
        Ok(())
    }

    async fn check_writable(&self) -> Result<(), StoreFault> {
        if let Some(fault) = self.writer.health.recent_failure() {
            return Err(fault);
        }
        let store = self.clone();
        self.on_writer_thread(async move {
            let mut writer = store.writer().await?;
            let outcome = probe(&mut writer.connection).await;
            writer.finish(outcome).await
        })
        .await
        .map_err(|e| StoreFault::of(&e))
    }

    async fn insert_entries(&self, batch: &[Entry]) -> Result<Vec<StoredEntry>, StoreError> {
        let rows: Vec<Entry> = normalise_batch(batch).into_iter().cloned().collect();
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let store = self.clone();
        self.on_writer_thread(async move {
            let rows: Vec<&Entry> = rows.iter().collect();
            let mut writer = store.writer().await?;
            let outcome = insert_rows(&mut writer.connection, &rows).await;
            writer.finish(outcome).await
        })
        .await
    }

    async fn entries_after(&self, query: &AfterQuery) -> Result<Vec<StoredEntry>, StoreError> {
        let rows = bind_after(sqlx::query(AssertSqlSafe(AFTER.as_str())), query)
            .bind(i64::from(query.limit))
            .fetch_all(&self.reader)
            .await?;
        decode_all(&rows)
    }

    async fn replay_cutoff(&self, query: &AfterQuery, max: u32) -> Result<Option<Seq>, StoreError> {
        let row = bind_after(sqlx::query(AssertSqlSafe(CUTOFF.as_str())), query)
            .bind(i64::from(max))
            .fetch_optional(&self.reader)
            .await?;
        Ok(match row {
            Some(row) => Some(Seq::new(row.try_get(0)?)),
            None => None,
        })
    }

    async fn max_seq(&self) -> Result<Seq, StoreError> {
        let max: Option<i64> = sqlx::query_scalar("SELECT MAX(seq) FROM observations")
            .fetch_one(&self.reader)
            .await?;
        Ok(Seq::new(max.unwrap_or(0)))
    }

    async fn history_entries(&self, query: &HistoryQuery) -> Result<Vec<StoredEntry>, StoreError> {
        let rows = sqlx::query(AssertSqlSafe(HISTORY.as_str()))
            .bind(query.station.as_str())
            .bind(query.from.map(millis))
            .bind(query.to.map(millis))
            .bind(i64::from(query.limit))
            .bind(kinds_json(query.kinds))
            .fetch_all(&self.reader)
            .await?;
        decode_all(&rows)
    }

    async fn latest_entries(
        &self,
        stations: Option<&StationFilter>,
        kinds: KindSet,
    ) -> Result<Vec<StoredEntry>, StoreError> {
        let rows = sqlx::query(AssertSqlSafe(LATEST.as_str()))
            .bind(filter_json(stations))
            .bind(kinds_json(kinds))
            .fetch_all(&self.reader)
            .await?;
        decode_all(&rows)
    }

    async fn upsert_stations(&self, stations: &[StationMeta]) -> Result<usize, StoreError> {
        let store = self.clone();
        let stations = stations.to_vec();
        self.on_writer_thread(async move {
            let mut writer = store.writer().await?;
            let outcome = upsert_station_rows(&mut writer.connection, &stations).await;
            writer.finish(outcome).await
        })
        .await
    }

    async fn stations(&self) -> Result<Vec<Station>, StoreError> {
        let latest = self.latest(None).await?;
        let ids: StationFilter = latest
            .iter()
            .map(|o| o.observation.station_id.clone())
            .collect();
        let rows = sqlx::query(AssertSqlSafe(format!(
            "SELECT {STATION_COLUMNS} FROM stations WHERE id IN (SELECT value FROM json_each(?1))"
        )))
        .bind(filter_json(Some(&ids)))
        .fetch_all(&self.reader)
        .await?;
        let metadata = rows.iter().map(sql::station).collect::<Result<_, _>>()?;
        Ok(join_metadata(latest, metadata))
    }

    async fn station(&self, id: &StationId) -> Result<Option<Station>, StoreError> {
        let row = sqlx::query(AssertSqlSafe(format!(
            "SELECT {STATION_COLUMNS} FROM stations WHERE id = ?1"
        )))
        .bind(id.as_str())
        .fetch_optional(&self.reader)
        .await?;
        let metadata = row.as_ref().map(sql::station).transpose()?;
        let latest = self.history(&newest(id)).await?.pop();
        Ok(one_station(id, metadata, latest))
    }

    async fn try_acquire_lease(
        &self,
        station: &StationId,
        holder: &str,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        // Times are this machine's clock: every process sharing a SQLite file runs on it.
        let now = millis(Utc::now());
        let expires = now.saturating_add(i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX));
        let (store, station, holder) = (self.clone(), station.clone(), holder.to_owned());
        self.on_writer_thread(async move {
            let mut writer = store.writer().await?;
            let outcome = sqlx::query(
                "INSERT INTO ingest_leases (station_id, holder, expires_at) VALUES (?1, ?2, ?4) \
             ON CONFLICT (station_id) DO UPDATE SET holder = excluded.holder, \
             expires_at = excluded.expires_at \
             WHERE ingest_leases.expires_at <= ?3 OR ingest_leases.holder = excluded.holder \
             RETURNING holder",
            )
            .bind(station.as_str())
            .bind(holder)
            .bind(now)
            .bind(expires)
            .fetch_optional(&mut writer.connection)
            .await
            .map(|row| row.is_some())
            .map_err(StoreError::from);
            writer.finish(outcome).await
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Durability rests on `synchronous = FULL` on the connection that commits (with `NORMAL`, a
    /// WAL commit is not synced, and an acknowledged write can vanish in a power loss).
    #[tokio::test]
    async fn the_writer_connection_syncs_every_commit() {
        let (_dir, store) = migrated_store().await;
        let synchronous: i64 = writer_pragma(&store, "PRAGMA synchronous").await;
        let journal: String = writer_pragma(&store, "PRAGMA journal_mode").await;
        assert_eq!(synchronous, 2, "synchronous is not FULL");
        assert_eq!(journal, "wal");
    }

    /// A migrated store in a temporary directory.
    async fn migrated_store() -> (tempfile::TempDir, SqliteStore) {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}", dir.path().join("s.db").display());
        let store = SqliteStore::connect(&url).await.expect("connect");
        store.migrate().await.expect("migrate");
        (dir, store)
    }

    /// The value of a pragma on the store's writer connection.
    async fn writer_pragma<T>(store: &SqliteStore, pragma: &'static str) -> T
    where
        T: for<'r> sqlx::Decode<'r, sqlx::Sqlite>
            + sqlx::Type<sqlx::Sqlite>
            + Send
            + Unpin
            + 'static,
    {
        let check = store.clone();
        store
            .on_writer_thread(async move {
                let mut writer = check.writer().await?;
                let read = sqlx::query_scalar(pragma)
                    .fetch_one(&mut writer.connection)
                    .await
                    .map_err(StoreError::from);
                writer.finish(read).await
            })
            .await
            .expect(pragma)
    }

    /// Every connection's page cache has the fixed size the memory bound counts on, after a
    /// reconnect too (the writer reopens from the same options after a failed write).
    #[tokio::test]
    async fn page_caches_have_a_fixed_size() {
        let (_dir, store) = migrated_store().await;
        let writer_cache: i64 = writer_pragma(&store, "PRAGMA cache_size").await;
        assert_eq!(writer_cache.to_string(), WRITER_CACHE_KIB);
        let mut reopened = store.writer.options.connect().await.expect("reopen");
        let again: i64 = sqlx::query_scalar("PRAGMA cache_size")
            .fetch_one(&mut reopened)
            .await
            .expect("reopened cache_size");
        assert_eq!(again.to_string(), WRITER_CACHE_KIB);
        assert_eq!(
            store.reader.size(),
            READERS,
            "read connections open from the start"
        );
        for _ in 0..READERS {
            let reader_cache: i64 = sqlx::query_scalar("PRAGMA cache_size")
                .fetch_one(&store.reader)
                .await
                .expect("reader cache_size");
            assert_eq!(reader_cache.to_string(), READER_CACHE_KIB);
        }
    }

    #[tokio::test]
    async fn a_plain_path_names_a_sqlite_file() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("plain.db");
        let store = SqliteStore::connect(&path.display().to_string())
            .await
            .expect("connect by path");
        store.migrate().await.expect("migrate");
        assert!(path.is_file());
    }

    #[tokio::test]
    async fn a_file_that_is_not_a_database_fails_to_open_with_one_line_naming_it() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("garbage.db");
        std::fs::write(&path, vec![0x5a; 8192]).expect("write garbage");
        let error = SqliteStore::connect(&format!("sqlite://{}", path.display()))
            .await
            .expect_err("a file of garbage is not a database");
        let StoreError::Open(message) = error else {
            panic!("not an open error: {error:?}");
        };
        assert!(
            message.starts_with(&format!(
                "cannot open the SQLite database {}:",
                path.display()
            )),
            "{message}"
        );
        assert!(message.contains("not a database"), "{message}");
        assert!(!message.contains('\n'), "{message}");
    }
}
