//! The keystore's integration tests: one suite, run against every backend on real services
//! (a throwaway SoftHSM2 token, an OpenBao dev server, temp files).

#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test: a panic is the failure report"
)]

mod child;
mod config;
mod dev;
mod fixtures;
mod pkcs11;
mod sealed;
mod suite;
mod transit;
mod wrap;

#[test]
fn keystore_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<planbok_keystore::Keystore>();
}
