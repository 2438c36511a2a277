//! What is not one behaviour on every backend: URL handling, SQLite specifics, `Debug`.

use planbok_store::{
    Custody, KeyRecord, NewKey, NodeStore, OrgKeyRecord, OrgSecretRecord, StoreError,
};
use sqlx::{AnyConnection, Connection};

#[tokio::test]
async fn unsupported_url_is_refused() {
    for url in ["mysql://root@127.0.0.1/test", "node.db", ""] {
        assert!(
            matches!(
                NodeStore::connect(url).await,
                Err(StoreError::InvalidUrl(_))
            ),
            "{url}"
        );
    }
    // A known scheme with a malformed rest is the caller's URL too, not a database error.
    for url in [
        "postgres://postgres@127.0.0.1:notaport/test",
        "postgres://postgres@127.0.0.1:5432/test?sslmode=bogus",
        "sqlite:///tmp/planbok-never-created.db?mode=bogus",
    ] {
        let err = NodeStore::connect(url).await.unwrap_err();
        assert!(matches!(err, StoreError::InvalidUrl(_)), "{url}: {err:?}");
    }
}

#[tokio::test]
async fn unreachable_postgres_is_unavailable() {
    // Port 1 on loopback: nothing listens there, so the connection is refused at once.
    let err = NodeStore::connect("postgres://postgres@127.0.0.1:1/test")
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_in_memory_works() {
    let store = NodeStore::connect("sqlite::memory:").await.unwrap();
    assert_eq!(store.backend(), "sqlite");
    assert!(store.record_grant(&[1; 16], 0).await.unwrap());
    // Every call goes through the pool; all must see the one in-memory database. Calls at
    // the same time are the ones a pool would serve from extra connections (each a new,
    // empty database without tables): one after the other would all reuse the first.
    let calls: Vec<_> = (0..8)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.record_grant(&[1; 16], 0).await })
        })
        .collect();
    for call in calls {
        assert!(!call.await.unwrap().unwrap());
    }
    // A second store on the same URL is a different, empty database.
    let other = NodeStore::connect("sqlite::memory:").await.unwrap();
    assert!(other.record_grant(&[1; 16], 0).await.unwrap());
}

#[tokio::test]
async fn sqlite_file_is_created_in_wal_mode() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sub-less.db");
    assert!(!path.exists());
    let url = format!("sqlite://{}", path.display());
    let _store = NodeStore::connect(&url).await.unwrap();
    assert!(path.exists());
    let mut conn = AnyConnection::connect(&url).await.unwrap();
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(mode, "wal");
}

#[tokio::test]
async fn sqlite_missing_directory_is_an_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!(
        "sqlite://{}",
        dir.path().join("no/such/dir/node.db").display()
    );
    assert!(NodeStore::connect(&url).await.is_err());
}

#[test]
fn debug_prints_no_blob_bytes() {
    // 0xA5 repeated: would show up as "165, 165" in a derived Debug.
    let blob = vec![0xA5u8; 40];
    let new_key = NewKey {
        key_id: "k1".into(),
        org_id: "o".into(),
        protocol: "cggmp21".into(),
        public_key: blob.clone(),
        chain_code: Some(blob.clone()),
        sealed_share: blob.clone(),
        custody: Custody::Trustless,
        customer_id: None,
    };
    let NewKey {
        key_id,
        org_id,
        protocol,
        public_key,
        chain_code,
        sealed_share,
        custody,
        customer_id,
    } = new_key.clone();
    let key = KeyRecord {
        key_id,
        org_id,
        protocol,
        public_key,
        chain_code,
        sealed_share,
        created_at_ms: 1,
        share_version: 1,
        pending_share_version: None,
        custody: Some(custody),
        disabled: None,
        customer_id,
    };
    let org_key = OrgKeyRecord {
        org_id: "o".into(),
        public_key_pem: "PEM".into(),
        sealed_private_key: blob.clone(),
        created_at_ms: 1,
    };
    let secret = OrgSecretRecord {
        org_id: "o".into(),
        mode: "standard".into(),
        verifier: [0xA5; 32],
        sealed_secret: Some(blob.clone()),
        created_at_ms: 1,
        require_binding: false,
    };
    for printed in [
        format!("{new_key:?}"),
        format!("{key:?}"),
        format!("{org_key:?}"),
        format!("{secret:?}"),
    ] {
        assert!(!printed.contains("165"), "{printed}");
        assert!(!printed.to_lowercase().contains("a5"), "{printed}");
        assert!(printed.contains("bytes>"), "{printed}");
    }
    assert!(format!("{key:?}").contains("k1"));
}
