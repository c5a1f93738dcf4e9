//! Whether the store can commit: why a write failed (a short code, never driver text), and the
//! outcome of the last real write, which `/ready` reports.

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use sqlx::error::DatabaseError;
use sqlx::postgres::PgDatabaseError;
use sqlx::sqlite::SqliteError;

use super::StoreError;

/// The readiness probe of both stores: a write that commits and changes nothing. It needs the
/// write lock and a journal append, so it fails where a real write would (a read-only or full
/// file system, a read-only server, a lock held too long).
pub(crate) const WRITE_PROBE: &str = "UPDATE seq_counter SET value = value WHERE id = 1";

/// How long a failed write keeps the store "not ready" when no write has succeeded since.
pub const FAILURE_MEMORY: Duration = Duration::from_secs(30);

/// Why a store call failed, as a stable code for `/ready`, logs and the
/// `store_write_failures_total{kind}` metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreFault {
    /// No space left: the disk, the file system or a size limit is full.
    Full,
    /// The database, its files or its server refuse writes.
    ReadOnly,
    /// Another writer holds the lock longer than the busy timeout.
    Locked,
    /// The database cannot be reached, opened, or the connection broke.
    Unreachable,
    /// An I/O error below the database.
    Io,
    /// The database reports corruption.
    Corrupt,
    /// The check did not finish in time.
    Timeout,
    /// Anything else.
    Other,
}

impl StoreFault {
    /// The code: `full`, `read_only`, `locked`, `unreachable`, `io`, `corrupt`, `timeout`, `other`.
    pub fn code(self) -> &'static str {
        match self {
            Self::Full => "full",
            Self::ReadOnly => "read_only",
            Self::Locked => "locked",
            Self::Unreachable => "unreachable",
            Self::Io => "io",
            Self::Corrupt => "corrupt",
            Self::Timeout => "timeout",
            Self::Other => "other",
        }
    }

    /// The kind of a store error.
    pub fn of(error: &StoreError) -> Self {
        match error {
            StoreError::Unavailable(e)
            | StoreError::Migrate(sqlx::migrate::MigrateError::Execute(e)) => Self::of_sqlx(e),
            StoreError::Migrate(_) => Self::Other,
            StoreError::Open(_) => Self::Unreachable,
            StoreError::Corrupt(_) => Self::Corrupt,
        }
    }

    fn of_sqlx(error: &sqlx::Error) -> Self {
        match error {
            sqlx::Error::Database(db) => Self::of_database(db.as_ref()),
            sqlx::Error::Io(_) | sqlx::Error::Tls(_) | sqlx::Error::Protocol(_) => {
                Self::Unreachable
            }
            sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::WorkerCrashed => {
                Self::Unreachable
            }
            _ => Self::Other,
        }
    }

    fn of_database(db: &dyn DatabaseError) -> Self {
        if let Some(e) = db.try_downcast_ref::<SqliteError>() {
            let code = e.code().and_then(|c| c.parse::<i32>().ok()).unwrap_or(0);
            // The primary result code is the low byte of the extended one.
            return match code & 0xff {
                13 => Self::Full,         // SQLITE_FULL
                8 | 23 => Self::ReadOnly, // SQLITE_READONLY, SQLITE_AUTH
                3 => Self::ReadOnly,      // SQLITE_PERM
                5 | 6 => Self::Locked,    // SQLITE_BUSY, SQLITE_LOCKED
                10 => Self::Io,           // SQLITE_IOERR
                14 => Self::Unreachable,  // SQLITE_CANTOPEN
                11 | 26 => Self::Corrupt, // SQLITE_CORRUPT, SQLITE_NOTADB
                _ => Self::Other,
            };
        }
        if let Some(e) = db.try_downcast_ref::<PgDatabaseError>() {
            let state = e.code();
            return match state {
                "53100" => Self::Full,                              // disk_full
                "25006" => Self::ReadOnly,                          // read_only_sql_transaction
                "55P03" | "40P01" => Self::Locked,                  // lock_not_available, deadlock
                "58030" => Self::Io,                                // io_error
                "XX001" | "XX002" => Self::Corrupt, // data_corrupted, index_corrupted
                _ if state.starts_with("08") => Self::Unreachable, // connection exception
                _ if state.starts_with("57P") => Self::Unreachable, // shutdown, cannot connect now
                _ if state.starts_with("53") => Self::Full, // insufficient resources
                _ => Self::Other,
            };
        }
        Self::Other
    }
}

/// The outcome of the last real write (probes do not clear a failure: a probe can commit while
/// a larger write still cannot, e.g. when a size limit is reached).
#[derive(Debug, Default)]
pub struct WriteHealth {
    /// The last failure and when it happened; `None` once a write succeeded after it.
    last_failure: Mutex<Option<(Instant, StoreFault)>>,
}

impl WriteHealth {
    /// Records a committed write.
    pub fn succeeded(&self) {
        *self
            .last_failure
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = None;
    }

    /// Records a failed write (counts it by kind and logs it); returns its kind.
    pub fn failed(&self, error: &StoreError) -> StoreFault {
        let fault = StoreFault::of(error);
        metrics::counter!("store_write_failures_total", "kind" => fault.code()).increment(1);
        tracing::warn!(event = "store_write_failed", kind = fault.code(), error = %error, "a write failed");
        *self
            .last_failure
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some((Instant::now(), fault));
        fault
    }

    /// The last failure, if it happened within [`FAILURE_MEMORY`] and nothing succeeded since.
    pub fn recent_failure(&self) -> Option<StoreFault> {
        let last = *self
            .last_failure
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        last.filter(|(at, _)| at.elapsed() < FAILURE_MEMORY)
            .map(|(_, fault)| fault)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_success_clears_a_failure() {
        let health = WriteHealth::default();
        assert_eq!(health.recent_failure(), None);
        let fault = health.failed(&StoreError::Corrupt("x".into()));
        assert_eq!(fault, StoreFault::Corrupt);
        assert_eq!(health.recent_failure(), Some(StoreFault::Corrupt));
        health.succeeded();
        assert_eq!(health.recent_failure(), None);
    }

    #[test]
    fn pool_timeouts_are_unreachable() {
        let error = StoreError::Unavailable(sqlx::Error::PoolTimedOut);
        assert_eq!(StoreFault::of(&error), StoreFault::Unreachable);
        assert_eq!(StoreFault::of(&error).code(), "unreachable");
    }
}
