//! Storage faults, injected for real, never lose an acknowledged write or reuse a seq, and the
//! store heals by itself when the fault ends.
//!
//! SQLite: a full database (`PRAGMA max_page_count` gives a deterministic `SQLITE_FULL`), files
//! made immutable (`chattr +i`, as root), and the write lock held by another connection.
//! PostgreSQL (a real server): backends killed mid-transaction and the server restarted, under
//! concurrent publish load. The process-kill loop of the whole binary is in `crash_recovery.rs`.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::process::Command;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use buoycast::domain::{Observation, Seq, StationId, StoredObservation, VALUE_COUNT};
use buoycast::store::{AfterQuery, PgStore, SqliteStore, Store, StoreError, StoreFault};
use buoycast_testkit::services::PostgresServer;
use chrono::{DateTime, TimeZone, Utc};
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{Connection, SqliteConnection};

/// An observation of `station` at `minute` minutes after a fixed epoch, every value set.
fn observation(station: &str, minute: i64) -> Observation {
    let epoch = Utc
        .with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
        .single()
        .expect("epoch");
    let mut values = [None; VALUE_COUNT];
    for (i, v) in values.iter_mut().enumerate() {
        *v = Some(i as f64 + (minute % 7) as f64 / 10.0);
    }
    Observation::from_values(
        StationId::parse(station).expect("station id"),
        epoch + chrono::Duration::minutes(minute),
        values,
    )
}

fn batch(station: &str, from: i64, n: i64) -> Vec<Observation> {
    (from..from + n).map(|m| observation(station, m)).collect()
}

fn everything() -> AfterQuery {
    AfterQuery {
        after: Seq::ZERO,
        limit: 10_000_000,
        ..AfterQuery::default()
    }
}

/// Every stored row by (station, time): its seq and observation.
async fn rows(store: &dyn Store) -> BTreeMap<(String, DateTime<Utc>), StoredObservation> {
    store
        .observations_after(&everything())
        .await
        .expect("reading the log")
        .into_iter()
        .map(|s| {
            (
                (
                    s.observation.station_id.as_str().to_owned(),
                    s.observation.timestamp,
                ),
                s,
            )
        })
        .collect()
}

/// Checks that every acknowledged write is stored exactly as acknowledged (same seq, same
/// values), that no seq was acknowledged twice, and that the counter is past all of them.
async fn assert_all_acknowledged_present(store: &dyn Store, acknowledged: &[StoredObservation]) {
    let stored = rows(store).await;
    let mut seen = HashSet::new();
    for ack in acknowledged {
        assert!(seen.insert(ack.seq), "seq {} acknowledged twice", ack.seq);
        let key = (
            ack.observation.station_id.as_str().to_owned(),
            ack.observation.timestamp,
        );
        let row = stored
            .get(&key)
            .unwrap_or_else(|| panic!("acknowledged write {key:?} (seq {}) is lost", ack.seq));
        assert_eq!(row.seq, ack.seq, "{key:?} is stored under another seq");
        assert_eq!(row.observation, ack.observation, "{key:?} changed");
    }
    let max = store.max_seq().await.expect("max_seq");
    if let Some(top) = acknowledged.iter().map(|a| a.seq).max() {
        assert!(
            max >= top,
            "max seq {max} is below an acknowledged seq {top}"
        );
    }
}

/// SQLite store on `path` with extra connection pragmas.
async fn sqlite(path: &Path, pragmas: &[(&str, &str)]) -> SqliteStore {
    let mut options =
        SqliteConnectOptions::from_str(&format!("sqlite://{}", path.display())).expect("url");
    for (k, v) in pragmas {
        options = options.pragma(k.to_string(), v.to_string());
    }
    let store = SqliteStore::connect_with(options).await.expect("connect");
    store.migrate().await.expect("migrate");
    store
}

/// A second, independent connection to the same file (as another process would have).
async fn raw(path: &Path) -> SqliteConnection {
    let options = SqliteConnectOptions::from_str(&format!("sqlite://{}", path.display()))
        .expect("url")
        .busy_timeout(Duration::from_secs(10));
    SqliteConnection::connect_with(&options)
        .await
        .expect("a second connection")
}

/// The highest seq, read by another connection straight from the file.
async fn max_seq_on_disk(path: &Path) -> i64 {
    let mut c = raw(path).await;
    let max: Option<i64> = sqlx::query_scalar("SELECT MAX(seq) FROM observations")
        .fetch_one(&mut c)
        .await
        .expect("max(seq)");
    let _ = c.close().await;
    max.unwrap_or(0)
}

#[tokio::test]
async fn consecutive_disk_full_failures_never_lose_an_acknowledged_write() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("store.db");
    // Room to spare, taken by a table the "operator" drops later to give the space back.
    {
        let store = sqlite(&path, &[]).await;
        drop(store);
        let mut c = raw(&path).await;
        sqlx::query("CREATE TABLE ballast (b BLOB)")
            .execute(&mut c)
            .await
            .expect("ballast");
        sqlx::query("INSERT INTO ballast VALUES (zeroblob(400000))")
            .execute(&mut c)
            .await
            .expect("ballast row");
        let _ = c.close().await;
    }
    let page_count = {
        let mut c = raw(&path).await;
        sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(&mut c)
            .await
            .expect("checkpoint");
        let pages: i64 = sqlx::query_scalar("PRAGMA page_count")
            .fetch_one(&mut c)
            .await
            .expect("page_count");
        let _ = c.close().await;
        pages
    };
    let limit = (page_count + 40).to_string();
    let store = sqlite(&path, &[("max_page_count", &limit)]).await;

    let mut acknowledged = Vec::new();
    let mut minute = 0;
    let mut failures = Vec::new();
    // Fill the database until three writes in a row fail.
    while failures.len() < 3 {
        match store
            .insert_observations(&batch("FULL1", minute, 200))
            .await
        {
            Ok(stored) => {
                failures.clear();
                acknowledged.extend(stored);
            }
            Err(e) => failures.push(e),
        }
        minute += 200;
        assert!(minute < 200_000, "the database never filled up");
    }
    for e in &failures {
        assert_eq!(StoreFault::of(e), StoreFault::Full, "{e}");
    }
    assert_eq!(store.check_writable().await, Err(StoreFault::Full));
    // Single rows fail too while the database is full... or fit in a partly used page; either
    // way an acknowledged one must be durable.
    for _ in 0..3 {
        if let Ok(stored) = store.insert_observations(&batch("FULL1", minute, 1)).await {
            acknowledged.extend(stored);
        }
        minute += 1;
    }
    assert_all_acknowledged_present(&store, &acknowledged).await;

    // The space comes back: another connection drops the ballast.
    {
        let mut c = raw(&path).await;
        sqlx::query("DROP TABLE ballast")
            .execute(&mut c)
            .await
            .expect("dropping the ballast");
        let _ = c.close().await;
    }
    // Without a restart, every write is now acknowledged, readable at once, and on disk.
    for i in 0..3 {
        let stored = store
            .insert_observations(&batch("LOST1", i, 1))
            .await
            .expect("a write after the space came back");
        assert_eq!(stored.len(), 1);
        let seq = stored[0].seq;
        let history = rows(&store).await;
        assert_eq!(
            history
                .get(&("LOST1".to_owned(), stored[0].observation.timestamp))
                .map(|s| s.seq),
            Some(seq),
            "an acknowledged write is not readable"
        );
        assert_eq!(max_seq_on_disk(&path).await, seq.get(), "not on disk");
        acknowledged.extend(stored);
    }
    assert_eq!(store.check_writable().await, Ok(()));
    let last = acknowledged
        .iter()
        .map(|a| a.seq)
        .max()
        .expect("acknowledged");

    // After a restart everything acknowledged is there and the next seq is new.
    drop(store);
    let store = sqlite(&path, &[]).await;
    assert_all_acknowledged_present(&store, &acknowledged).await;
    let next = store
        .insert_observations(&batch("LOST1", 100, 1))
        .await
        .expect("write after restart");
    assert_eq!(next[0].seq, last.next(), "a seq was reused or skipped");
    let mut c = raw(&path).await;
    let check: String = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_one(&mut c)
        .await
        .expect("integrity_check");
    assert_eq!(check, "ok");
}

/// A tmpfs mounted on a temporary directory (needs root, as here and in CI), unmounted on drop.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(size: &str) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .status()
            .expect("running mount");
        assert!(status.success(), "mounting a tmpfs (needs root) failed");
        Self { dir }
    }

    fn resize(&self, size: &str) {
        let status = Command::new("mount")
            .args(["-o", &format!("remount,size={size}")])
            .arg(self.dir.path())
            .status()
            .expect("running mount");
        assert!(status.success(), "resizing the tmpfs failed");
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

#[tokio::test]
async fn a_full_file_system_fails_writes_and_nothing_acknowledged_is_lost_when_space_returns() {
    let fs = Tmpfs::mount("2m");
    let path = fs.path().join("store.db");
    let mut acknowledged = Vec::new();
    {
        let store = sqlite(&path, &[]).await;
        let (mut minute, mut failures_in_a_row) = (0, 0);
        while failures_in_a_row < 3 {
            match store
                .insert_observations(&batch("FULL2", minute, 1000))
                .await
            {
                Ok(stored) => {
                    failures_in_a_row = 0;
                    acknowledged.extend(stored);
                }
                Err(e) => {
                    failures_in_a_row += 1;
                    assert_eq!(StoreFault::of(&e), StoreFault::Full, "{e}");
                }
            }
            minute += 1000;
            assert!(minute < 1_000_000, "the file system never filled up");
        }
        assert!(
            store.check_writable().await.is_err(),
            "ready while writes fail"
        );
        fs.resize("64m");
        for i in 0..3 {
            let stored = store
                .insert_observations(&batch("LOST1", i, 1))
                .await
                .expect("a write once space is back");
            assert_eq!(
                max_seq_on_disk(&path).await,
                stored[0].seq.get(),
                "an acknowledged write is not on disk"
            );
            acknowledged.extend(stored);
        }
        assert_eq!(store.check_writable().await, Ok(()));
    }
    let store = sqlite(&path, &[]).await;
    assert_all_acknowledged_present(&store, &acknowledged).await;
    let last = acknowledged
        .iter()
        .map(|a| a.seq)
        .max()
        .expect("acknowledged");
    let next = store
        .insert_observations(&batch("LOST1", 100, 1))
        .await
        .expect("a write after restart");
    assert_eq!(next[0].seq, last.next(), "a seq was reused");
}

/// `chattr` on `path` (needs root and a file system with attributes, as here and in CI).
fn chattr(flag: &str, path: &Path) {
    let output = Command::new("chattr")
        .arg(flag)
        .arg(path)
        .output()
        .expect("running chattr (e2fsprogs)");
    assert!(
        output.status.success(),
        "chattr {flag} {} failed: {}",
        path.display(),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[tokio::test]
async fn immutable_files_fail_writes_and_the_store_heals_when_they_are_writable_again() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("store.db");
    let store = sqlite(&path, &[]).await;
    let mut acknowledged = store
        .insert_observations(&batch("RO1", 0, 10))
        .await
        .expect("first write");
    let files: Vec<_> = ["store.db", "store.db-wal"]
        .iter()
        .map(|f| dir.path().join(f))
        .filter(|p| p.exists())
        .collect();
    for f in &files {
        chattr("+i", f);
    }
    let mut failed = 0;
    for i in 0..4 {
        match store.insert_observations(&batch("RO1", 10 + i, 1)).await {
            Ok(stored) => acknowledged.extend(stored),
            Err(e) => {
                failed += 1;
                let fault = StoreFault::of(&e);
                assert!(
                    matches!(
                        fault,
                        StoreFault::ReadOnly | StoreFault::Io | StoreFault::Unreachable
                    ),
                    "unexpected fault {fault:?}: {e}"
                );
            }
        }
    }
    let while_immutable = store.check_writable().await;
    for f in &files {
        chattr("-i", f);
    }
    assert!(failed >= 2, "writes to immutable files succeeded");
    assert!(while_immutable.is_err(), "ready while writes fail");
    for i in 0..3 {
        let stored = store
            .insert_observations(&batch("RO2", i, 1))
            .await
            .expect("a write once the files are writable again");
        assert_eq!(max_seq_on_disk(&path).await, stored[0].seq.get());
        acknowledged.extend(stored);
    }
    drop(store);
    let store = sqlite(&path, &[]).await;
    assert_all_acknowledged_present(&store, &acknowledged).await;
}

#[tokio::test]
async fn a_write_waits_for_a_lock_held_by_another_connection() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("store.db");
    let store = Arc::new(sqlite(&path, &[]).await);
    let first = store
        .insert_observations(&batch("LOCK1", 0, 5))
        .await
        .expect("first write");
    // Another process takes the write lock, writes, and commits a second later.
    let mut other = raw(&path).await;
    sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut other)
        .await
        .expect("BEGIN IMMEDIATE elsewhere");
    sqlx::query("INSERT INTO stations (id, name) VALUES ('LOCK1', 'held')")
        .execute(&mut other)
        .await
        .expect("write elsewhere");
    let writer = {
        let store = Arc::clone(&store);
        tokio::spawn(async move { store.insert_observations(&batch("LOCK1", 5, 5)).await })
    };
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert!(!writer.is_finished(), "the write did not wait for the lock");
    sqlx::query("COMMIT")
        .execute(&mut other)
        .await
        .expect("COMMIT elsewhere");
    let second = writer
        .await
        .expect("task")
        .expect("a write that waited for the lock");
    assert_eq!(second.len(), 5);
    assert_eq!(second[0].seq, first[4].seq.next());
}

/// `/ready`'s check, first thing after start (no failed write to remember): a write lock held
/// by another process longer than the busy timeout makes the store not ready, as `locked`;
/// once the lock is gone and a write commits, it is ready again.
#[tokio::test]
async fn readiness_reports_a_lock_held_by_another_connection_as_locked() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("store.db");
    let store = sqlite(&path, &[]).await;
    assert_eq!(store.check_writable().await, Ok(()));
    let mut other = raw(&path).await;
    sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut other)
        .await
        .expect("BEGIN IMMEDIATE elsewhere");
    // The probe waits out the busy timeout (10 s), then reports the lock.
    assert_eq!(store.check_writable().await, Err(StoreFault::Locked));
    sqlx::query("ROLLBACK")
        .execute(&mut other)
        .await
        .expect("ROLLBACK elsewhere");
    // A failure is remembered until a real write succeeds (a probe does not clear it).
    assert_eq!(store.check_writable().await, Err(StoreFault::Locked));
    store
        .insert_observations(&batch("READY1", 0, 1))
        .await
        .expect("a write once the lock is gone");
    assert_eq!(store.check_writable().await, Ok(()));
}

#[tokio::test]
async fn a_write_whose_caller_gives_up_is_rolled_back() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("store.db");
    let store = sqlite(&path, &[]).await;
    let first = store
        .insert_observations(&batch("GIVE1", 0, 3))
        .await
        .expect("first write");
    // Another process holds the write lock, so the next write waits in `BEGIN IMMEDIATE`...
    let mut other = raw(&path).await;
    sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut other)
        .await
        .expect("BEGIN IMMEDIATE elsewhere");
    // ...and its caller gives up (a publisher that disconnected, a deadline that passed).
    let abandoned = batch("GIVE1", 3, 3);
    let gave_up = tokio::time::timeout(
        Duration::from_millis(300),
        store.insert_observations(&abandoned),
    )
    .await;
    assert!(
        gave_up.is_err(),
        "the write finished while the lock was held"
    );
    sqlx::query("COMMIT")
        .execute(&mut other)
        .await
        .expect("COMMIT elsewhere");
    // The abandoned write never commits, and the next write takes the next seqs.
    let next = store
        .insert_observations(&batch("GIVE1", 6, 2))
        .await
        .expect("a write after the abandoned one");
    assert_eq!(next[0].seq, first[2].seq.next());
    tokio::time::sleep(Duration::from_millis(200)).await;
    let on_disk = rows(&store).await;
    for o in &abandoned {
        assert!(
            !on_disk.contains_key(&(o.station_id.to_string(), o.timestamp)),
            "the abandoned write was committed: {o:?}"
        );
    }
    assert_eq!(on_disk.len(), 5);
    assert_eq!(max_seq_on_disk(&path).await, next[1].seq.get());
}

/// Runs `writers` tasks that each insert single new observations of a station of their own
/// until `stop` is set; returns every acknowledged write, per writer in acknowledgement order.
fn publish_load(
    store: Arc<dyn Store>,
    writers: usize,
    stop: Arc<std::sync::atomic::AtomicBool>,
) -> Vec<tokio::task::JoinHandle<(Vec<StoredObservation>, usize)>> {
    (0..writers)
        .map(|w| {
            let store = Arc::clone(&store);
            let stop = Arc::clone(&stop);
            tokio::spawn(async move {
                let station = format!("PG{w}");
                let (mut acked, mut failed, mut minute) = (Vec::new(), 0, 0);
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    match store.insert_observations(&batch(&station, minute, 3)).await {
                        Ok(stored) => acked.extend(stored),
                        Err(_) => {
                            failed += 1;
                            tokio::time::sleep(Duration::from_millis(20)).await;
                        }
                    }
                    minute += 3;
                }
                (acked, failed)
            })
        })
        .collect()
}

/// Each writer's acknowledged seqs increase (commit order), no seq is acknowledged twice, and
/// everything acknowledged is stored as acknowledged.
async fn check_load(
    store: &dyn Store,
    results: Vec<(Vec<StoredObservation>, usize)>,
) -> (usize, usize) {
    let (mut all, mut failures) = (Vec::new(), 0);
    for (acked, failed) in results {
        assert!(
            acked.windows(2).all(|w| w[0].seq < w[1].seq),
            "a writer's acknowledged seqs go backwards"
        );
        failures += failed;
        all.extend(acked);
    }
    assert_all_acknowledged_present(store, &all).await;
    (all.len(), failures)
}

async fn terminate_backends(admin_url: &str, database: &str) -> u64 {
    let mut admin = sqlx::PgConnection::connect(admin_url)
        .await
        .expect("admin connection");
    let killed: Vec<bool> = sqlx::query_scalar(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = $1 AND pid <> pg_backend_pid()",
    )
    .bind(database)
    .fetch_all(&mut admin)
    .await
    .expect("pg_terminate_backend");
    let _ = admin.close().await;
    killed.into_iter().filter(|k| *k).count() as u64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_backends_killed_mid_transaction_lose_no_acknowledged_write() {
    let server = PostgresServer::start();
    let url = server.create_database().await;
    let database = url.rsplit('/').next().expect("database name").to_owned();
    let store: Arc<dyn Store> = Arc::new(PgStore::connect(&url).await.expect("connect"));
    store.migrate().await.expect("migrate");
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let tasks = publish_load(Arc::clone(&store), 4, Arc::clone(&stop));
    let mut killed = 0;
    for _ in 0..15 {
        tokio::time::sleep(Duration::from_millis(150)).await;
        killed += terminate_backends(&server.url("postgres"), &database).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let results = futures_util::future::join_all(tasks)
        .await
        .into_iter()
        .map(|r| r.expect("writer task"))
        .collect();
    let (acked, failures) = check_load(store.as_ref(), results).await;
    assert!(killed > 0, "no backend was terminated");
    assert!(
        failures > 0,
        "no write was interrupted (the fault was not injected)"
    );
    assert!(acked > 0, "nothing was acknowledged");
    // The store works again without a restart.
    store
        .insert_observations(&batch("AFTER", 0, 1))
        .await
        .expect("a write after the faults");
    assert_eq!(store.check_writable().await, Ok(()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_postgres_restart_under_load_loses_no_acknowledged_write() {
    let mut server = PostgresServer::start();
    let url = server.create_database().await;
    let store: Arc<dyn Store> = Arc::new(PgStore::connect(&url).await.expect("connect"));
    store.migrate().await.expect("migrate");
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let tasks = publish_load(Arc::clone(&store), 4, Arc::clone(&stop));
    tokio::time::sleep(Duration::from_millis(500)).await;
    tokio::task::block_in_place(|| server.stop());
    let down = store.insert_observations(&batch("DOWN", 0, 1)).await;
    assert!(
        matches!(&down, Err(e @ StoreError::Unavailable(_)) if StoreFault::of(e) == StoreFault::Unreachable),
        "a write while the server is down: {down:?}"
    );
    assert!(store.check_writable().await.is_err(), "ready while down");
    tokio::time::sleep(Duration::from_millis(500)).await;
    tokio::task::block_in_place(|| server.restart());
    tokio::time::sleep(Duration::from_millis(1500)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let results = futures_util::future::join_all(tasks)
        .await
        .into_iter()
        .map(|r| r.expect("writer task"))
        .collect();
    let (acked, failures) = check_load(store.as_ref(), results).await;
    assert!(failures > 0, "no write failed while the server was down");
    assert!(acked > 0, "nothing was acknowledged");
    store
        .insert_observations(&batch("AFTER", 0, 1))
        .await
        .expect("a write after the restart");
    assert_eq!(store.check_writable().await, Ok(()));
}
