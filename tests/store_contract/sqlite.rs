//! The contract against SQLite.

use std::sync::Arc;

use buoycast::store::{SqliteStore, Store};

use crate::checks::store_suite;

/// A fresh, migrated store in its own directory (kept alive by the returned guard).
async fn fresh() -> (tempfile::TempDir, SqliteStore) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("store.db");
    let store = SqliteStore::connect(&format!("sqlite://{}", path.display()))
        .await
        .expect("connect");
    store.migrate().await.expect("migrate");
    (dir, store)
}

store_suite!(fresh, |fresh| &fresh.1);
crate::kinds::kinds_suite!(fresh, |fresh| &fresh.1);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_inserts_share_one_sequence() {
    let (_dir, store) = fresh().await;
    crate::checks::concurrent_inserts_share_one_sequence(Arc::new(store) as Arc<dyn Store>).await;
}

#[tokio::test]
async fn migrating_twice_is_harmless() {
    let (_dir, store) = fresh().await;
    store.migrate().await.expect("second migrate");
    crate::checks::max_seq_follows_the_log(&store).await;
}
