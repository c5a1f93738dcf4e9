//! The contract against PostgreSQL: a real server started once for this test binary, a fresh
//! database per test.

use std::sync::Arc;

use buoycast::domain::{Entry, KindSet, Seq, Station, StationFilter, StationId, StoredEntry};
use buoycast::store::{
    AfterQuery, HistoryQuery, PgStore, StationMeta, Store, StoreError, StoreFault,
};
use buoycast_testkit::services::shared_postgres;

use crate::checks::store_suite;

/// A fresh, migrated store on a database of its own.
async fn fresh() -> PgStore {
    let url = shared_postgres().create_database().await;
    let store = PgStore::connect(&url).await.expect("connect");
    store.migrate().await.expect("migrate");
    store
}

store_suite!(fresh, |store| &store);
crate::kinds::kinds_suite!(fresh, |store| &store);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_inserts_share_one_sequence() {
    let store = fresh().await;
    crate::checks::concurrent_inserts_share_one_sequence(Arc::new(store) as Arc<dyn Store>).await;
}

/// Writers in separate pools (as separate processes would be) still share one sequence:
/// the advisory lock, not a pool, serialises them.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn writers_of_separate_pools_share_one_sequence() {
    let url = shared_postgres().create_database().await;
    let stores: Vec<PgStore> = futures_util::future::join_all(
        (0..4).map(|_| async { PgStore::connect(&url).await.expect("connect") }),
    )
    .await;
    // Concurrent migrators wait for each other (sqlx's own advisory lock).
    futures_util::future::join_all(stores.iter().map(|s| s.migrate()))
        .await
        .into_iter()
        .for_each(|r| r.expect("concurrent migrate"));
    let split = SplitStore(stores.into_iter().map(Arc::new).collect());
    crate::checks::concurrent_inserts_share_one_sequence(Arc::new(split) as Arc<dyn Store>).await;
}

#[tokio::test]
async fn migrating_twice_is_harmless() {
    let store = fresh().await;
    store.migrate().await.expect("second migrate");
    crate::checks::max_seq_follows_the_log(&store).await;
}

/// A store that sends each insert to the next of several pools, round-robin, and every
/// read to the first.
#[derive(Debug)]
struct SplitStore(Vec<Arc<PgStore>>);

static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

#[async_trait::async_trait]
impl Store for SplitStore {
    async fn migrate(&self) -> Result<(), StoreError> {
        self.0[0].migrate().await
    }
    async fn ping(&self) -> Result<(), StoreError> {
        self.0[0].ping().await
    }
    async fn check_writable(&self) -> Result<(), StoreFault> {
        self.0[0].check_writable().await
    }
    async fn insert_entries(&self, batch: &[Entry]) -> Result<Vec<StoredEntry>, StoreError> {
        let i = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % self.0.len();
        self.0[i].insert_entries(batch).await
    }
    async fn entries_after(&self, query: &AfterQuery) -> Result<Vec<StoredEntry>, StoreError> {
        self.0[0].entries_after(query).await
    }
    async fn replay_cutoff(&self, query: &AfterQuery, max: u32) -> Result<Option<Seq>, StoreError> {
        self.0[0].replay_cutoff(query, max).await
    }
    async fn max_seq(&self) -> Result<Seq, StoreError> {
        self.0[0].max_seq().await
    }
    async fn history_entries(&self, query: &HistoryQuery) -> Result<Vec<StoredEntry>, StoreError> {
        self.0[0].history_entries(query).await
    }
    async fn latest_entries(
        &self,
        stations: Option<&StationFilter>,
        kinds: KindSet,
    ) -> Result<Vec<StoredEntry>, StoreError> {
        self.0[0].latest_entries(stations, kinds).await
    }
    async fn upsert_stations(&self, stations: &[StationMeta]) -> Result<usize, StoreError> {
        self.0[0].upsert_stations(stations).await
    }
    async fn stations(&self) -> Result<Vec<Station>, StoreError> {
        self.0[0].stations().await
    }
    async fn station(&self, id: &StationId) -> Result<Option<Station>, StoreError> {
        self.0[0].station(id).await
    }
    async fn try_acquire_lease(
        &self,
        station: &StationId,
        holder: &str,
        ttl: std::time::Duration,
    ) -> Result<bool, StoreError> {
        self.0[0].try_acquire_lease(station, holder, ttl).await
    }
}
