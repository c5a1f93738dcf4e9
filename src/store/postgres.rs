//! The distributed store: PostgreSQL, shared by every `serve` and `ingest` process.
//!
//! Seq order is commit order across processes: every insert transaction first takes one
//! transaction-scoped advisory lock ([`SEQ_LOCK`]), so writers run one after another, each
//! reading the counter the previous one committed. Times are stored as `timestamptz`; station
//! ids use the `"C"` collation so that they sort bytewise, as in SQLite.

use std::str::FromStr;
use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use sqlx::postgres::{PgArguments, PgConnectOptions, PgConnection, PgPool, PgPoolOptions, PgRow};
use sqlx::{AssertSqlSafe, Connection, Postgres, Row};

use super::sql::{self, STATION_COLUMNS, normalise_batch};
use super::{
    AfterQuery, HistoryQuery, StationMeta, Store, StoreError, StoreFault, WRITE_PROBE, WriteHealth,
    join_metadata, newest, one_station,
};
use crate::config::redact_url;
use crate::domain::{Entry, KindSet, Seq, Station, StationFilter, StationId, StoredEntry};

/// Key of the advisory lock that serialises inserts ("buoycast" in ASCII).
const SEQ_LOCK: i64 = 0x6275_6f79_6361_7374;
/// Connections per process: streams replaying, REST reads and one writer at a time.
const MAX_CONNECTIONS: u32 = 10;
/// How long a request waits for a connection before the store counts as unavailable (REST then
/// answers 503 instead of hanging while PostgreSQL is down).
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);
/// How long [`PgStore::connect`] waits for a server that does not answer yet.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Pause between two connection attempts at start-up.
const CONNECT_RETRY: Duration = Duration::from_millis(250);

/// Columns of a log row, in the order [`sql::entry`] reads them.
static COLUMNS: LazyLock<String> = LazyLock::new(sql::columns);

/// Insert-or-update of one log row: returns a row only when something was written.
static UPSERT: LazyLock<String> =
    LazyLock::new(|| sql::upsert(|n| format!("${n}"), "IS DISTINCT FROM"));

/// Shared WHERE clause of "after" queries; parameters $1..$5 as bound by [`bind_after`].
const AFTER_WHERE: &str = "seq > $1 AND ($2::bigint IS NULL OR seq <= $2) \
     AND ($3::text[] IS NULL OR station_id = ANY($3)) \
     AND ($4::timestamptz IS NULL OR observed_at >= $4) \
     AND ($5::text[] IS NULL OR kind = ANY($5))";

static AFTER: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {} FROM observations WHERE {AFTER_WHERE} ORDER BY seq LIMIT $6",
        *COLUMNS
    )
});

static CUTOFF: LazyLock<String> = LazyLock::new(|| {
    format!("SELECT seq FROM observations WHERE {AFTER_WHERE} ORDER BY seq DESC LIMIT 1 OFFSET $6")
});

static HISTORY: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {} FROM observations WHERE station_id = $1 \
         AND ($2::timestamptz IS NULL OR observed_at >= $2) \
         AND ($3::timestamptz IS NULL OR observed_at <= $3) \
         AND ($5::text[] IS NULL OR kind = ANY($5)) \
         ORDER BY observed_at DESC, kind LIMIT $4",
        *COLUMNS
    )
});

static LATEST: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT DISTINCT ON (station_id, kind) {} FROM observations \
         WHERE ($1::text[] IS NULL OR station_id = ANY($1)) \
         AND ($2::text[] IS NULL OR kind = ANY($2)) \
         ORDER BY station_id, kind, observed_at DESC",
        *COLUMNS
    )
});

/// The PostgreSQL implementation of [`Store`].
#[derive(Debug, Clone)]
pub struct PgStore {
    /// One pool for reads and writes: PostgreSQL runs them side by side, and the advisory lock,
    /// not the pool, serialises the writers (of this and every other process).
    pool: PgPool,
    /// The outcome of the last write, for readiness.
    health: Arc<WriteHealth>,
}

impl PgStore {
    /// Connects to the database named by a `postgres://` URL (it must exist), waiting up to
    /// [`CONNECT_TIMEOUT`] for the server.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Self::connect_within(url, CONNECT_TIMEOUT).await
    }

    /// Connects, retrying a server that does not answer for up to `timeout` (one that answers
    /// with an error, such as a wrong password, fails at once). A failure is one
    /// [`StoreError::Open`] line with the host, port, database, user, cause and time waited.
    pub async fn connect_within(url: &str, timeout: Duration) -> Result<Self, StoreError> {
        let options = PgConnectOptions::from_str(url).map_err(|e| {
            StoreError::Open(format!(
                "--database-url {}: not a PostgreSQL URL: {e}",
                redact_url(url)
            ))
        })?;
        let target = format!(
            "PostgreSQL at {}:{} (database {}, user {})",
            options.get_host(),
            options.get_port(),
            options.get_database().unwrap_or("(default)"),
            options.get_username()
        );
        let started = Instant::now();
        loop {
            let left = timeout.saturating_sub(started.elapsed());
            let attempt = tokio::time::timeout(left, PgConnection::connect_with(&options)).await;
            let cause = match attempt {
                Ok(Ok(connection)) => {
                    let _ = connection.close().await;
                    break;
                }
                Ok(Err(sqlx::Error::Database(e))) => {
                    return Err(StoreError::Open(format!(
                        "{target} refused the connection: {}; check --database-url",
                        e.message()
                    )));
                }
                Ok(Err(e)) => e.to_string(),
                Err(_) => "no answer".to_owned(),
            };
            if started.elapsed() >= timeout {
                return Err(StoreError::Open(format!(
                    "cannot reach {target} after {:.1} s: {cause}; is the server running, and \
                     is --database-url right? (--connect-timeout-secs sets the wait)",
                    started.elapsed().as_secs_f64()
                )));
            }
            tokio::time::sleep(CONNECT_RETRY.min(timeout.saturating_sub(started.elapsed()))).await;
        }
        let pool = PgPoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options)
            .await?;
        Ok(Self {
            pool,
            health: Arc::default(),
        })
    }
}

/// A station filter as a text array for `= ANY($n)`.
fn filter_array(filter: Option<&StationFilter>) -> Option<Vec<String>> {
    filter.map(|f| f.iter().map(|s| s.as_str().to_owned()).collect())
}

fn decode(row: &PgRow) -> Result<StoredEntry, StoreError> {
    sql::entry(row, row.try_get(2)?)
}

fn decode_all(rows: &[PgRow]) -> Result<Vec<StoredEntry>, StoreError> {
    rows.iter().map(decode).collect()
}

type PgQuery<'q> = sqlx::query::Query<'q, Postgres, PgArguments>;

fn bind_after<'q>(q: PgQuery<'q>, query: &AfterQuery) -> PgQuery<'q> {
    q.bind(query.after.get())
        .bind(query.until.map(Seq::get))
        .bind(filter_array(query.stations.as_ref()))
        .bind(query.since)
        .bind(sql::kind_names(query.kinds))
}

/// The insert transaction of [`Store::insert_entries`]: the advisory lock, rows oldest first
/// with consecutive seqs from the counter, the counter updated, one commit.
async fn insert_rows(pool: &PgPool, rows: &[&Entry]) -> Result<Vec<StoredEntry>, StoreError> {
    let mut tx = pool.begin().await?;
    // Held until commit: the next writer reads the counter only after this one committed.
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(SEQ_LOCK)
        .execute(&mut *tx)
        .await?;
    let mut last: i64 = sqlx::query_scalar("SELECT value FROM seq_counter WHERE id = 1")
        .fetch_one(&mut *tx)
        .await?;
    let mut stored = Vec::new();
    for &entry in rows {
        let row = sql::RowValues::of(entry);
        let mut q = sqlx::query(AssertSqlSafe(UPSERT.as_str()))
            .bind(last + 1)
            .bind(row.station)
            .bind(entry.timestamp());
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
        sqlx::query("UPDATE seq_counter SET value = $1 WHERE id = 1")
            .bind(last)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(stored)
}

impl PgStore {
    /// Records a write's outcome for readiness and returns it.
    fn record<T>(&self, outcome: Result<T, StoreError>) -> Result<T, StoreError> {
        match &outcome {
            Ok(_) => self.health.succeeded(),
            Err(error) => {
                self.health.failed(error);
            }
        }
        outcome
    }
}

#[async_trait]
impl Store for PgStore {
    async fn migrate(&self) -> Result<(), StoreError> {
        // sqlx takes an advisory lock of its own, so concurrent migrators wait for each other.
        sqlx::migrate!("migrations/postgres")
            .run(&self.pool)
            .await?;
        Ok(())
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn check_writable(&self) -> Result<(), StoreFault> {
        if let Some(fault) = self.health.recent_failure() {
            return Err(fault);
        }
        // The row lock the probe takes is held for an instant.
        let probe = async {
            let mut tx = self.pool.begin().await?;
            sqlx::query(WRITE_PROBE).execute(&mut *tx).await?;
            tx.commit().await?;
            Ok::<_, StoreError>(())
        };
        probe.await.map_err(|e| StoreFault::of(&e))
    }

    async fn insert_entries(&self, batch: &[Entry]) -> Result<Vec<StoredEntry>, StoreError> {
        let rows = normalise_batch(batch);
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let outcome = insert_rows(&self.pool, &rows).await;
        self.record(outcome)
    }

    async fn entries_after(&self, query: &AfterQuery) -> Result<Vec<StoredEntry>, StoreError> {
        let rows = bind_after(sqlx::query(AssertSqlSafe(AFTER.as_str())), query)
            .bind(i64::from(query.limit))
            .fetch_all(&self.pool)
            .await?;
        decode_all(&rows)
    }

    async fn replay_cutoff(&self, query: &AfterQuery, max: u32) -> Result<Option<Seq>, StoreError> {
        let row = bind_after(sqlx::query(AssertSqlSafe(CUTOFF.as_str())), query)
            .bind(i64::from(max))
            .fetch_optional(&self.pool)
            .await?;
        Ok(match row {
            Some(row) => Some(Seq::new(row.try_get(0)?)),
            None => None,
        })
    }

    async fn max_seq(&self) -> Result<Seq, StoreError> {
        let max: Option<i64> = sqlx::query_scalar("SELECT MAX(seq) FROM observations")
            .fetch_one(&self.pool)
            .await?;
        Ok(Seq::new(max.unwrap_or(0)))
    }

    async fn history_entries(&self, query: &HistoryQuery) -> Result<Vec<StoredEntry>, StoreError> {
        let rows = sqlx::query(AssertSqlSafe(HISTORY.as_str()))
            .bind(query.station.as_str())
            .bind(query.from)
            .bind(query.to)
            .bind(i64::from(query.limit))
            .bind(sql::kind_names(query.kinds))
            .fetch_all(&self.pool)
            .await?;
        decode_all(&rows)
    }

    async fn latest_entries(
        &self,
        stations: Option<&StationFilter>,
        kinds: KindSet,
    ) -> Result<Vec<StoredEntry>, StoreError> {
        let rows = sqlx::query(AssertSqlSafe(LATEST.as_str()))
            .bind(filter_array(stations))
            .bind(sql::kind_names(kinds))
            .fetch_all(&self.pool)
            .await?;
        decode_all(&rows)
    }

    async fn upsert_stations(&self, stations: &[StationMeta]) -> Result<usize, StoreError> {
        let outcome = async {
            let mut tx = self.pool.begin().await?;
            let mut written = 0;
            for s in stations {
                let Ok(id) = StationId::parse(&s.id) else {
                    continue;
                };
                sqlx::query(
                    "INSERT INTO stations (id, name, latitude, longitude, elevation_m, station_type, owner, program) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (id) DO UPDATE SET \
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
            Ok::<_, StoreError>(written)
        }
        .await;
        self.record(outcome)
    }

    async fn stations(&self) -> Result<Vec<Station>, StoreError> {
        let latest = self.latest(None).await?;
        let ids: Vec<String> = latest
            .iter()
            .map(|o| o.observation.station_id.as_str().to_owned())
            .collect();
        let rows = sqlx::query(AssertSqlSafe(format!(
            "SELECT {STATION_COLUMNS} FROM stations WHERE id = ANY($1)"
        )))
        .bind(ids)
        .fetch_all(&self.pool)
        .await?;
        let metadata = rows.iter().map(sql::station).collect::<Result<_, _>>()?;
        Ok(join_metadata(latest, metadata))
    }

    async fn station(&self, id: &StationId) -> Result<Option<Station>, StoreError> {
        let row = sqlx::query(AssertSqlSafe(format!(
            "SELECT {STATION_COLUMNS} FROM stations WHERE id = $1"
        )))
        .bind(id.as_str())
        .fetch_optional(&self.pool)
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
        // The database's clock decides expiry, so processes on different hosts agree.
        let row = sqlx::query(
            "INSERT INTO ingest_leases (station_id, holder, expires_at) \
             VALUES ($1, $2, now() + make_interval(secs => $3)) \
             ON CONFLICT (station_id) DO UPDATE SET holder = excluded.holder, \
             expires_at = excluded.expires_at \
             WHERE ingest_leases.expires_at <= now() OR ingest_leases.holder = excluded.holder \
             RETURNING holder",
        )
        .bind(station.as_str())
        .bind(holder)
        .bind(ttl.as_secs_f64())
        .fetch_optional(&self.pool)
        .await
        .map(|row| row.is_some())
        .map_err(StoreError::from);
        self.record(row)
    }
}
