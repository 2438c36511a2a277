//! The wall clock: the one place this crate reads it (`clippy.toml` refuses
//! `SystemTime::now` elsewhere; `planbok-tidy` checks it). Everything else takes the time
//! as an argument or calls [`now_ms`].

/// Unix time in milliseconds; 0 if the clock is before 1970.
#[expect(
    clippy::disallowed_methods,
    reason = "the crate's one reading of the wall clock"
)]
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}
