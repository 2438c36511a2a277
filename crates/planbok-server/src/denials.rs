//! Authorization failures in the audit trail, aggregated per key.
//!
//! Every denial used to be one append-only entry, so anyone knowing a key id could grow its
//! organization's chain without bound (the per-IP budget does not help against many IPs).
//! Now, per chain and per key (or per actor, for requests without a key), a window opens
//! with the first denial and lasts [`WINDOW_MS`]: its first [`INDIVIDUAL_PER_WINDOW`]
//! denials are appended one by one, as before, before the response is sent; later ones are
//! only counted, and the count becomes one `auth.denied` entry (`detail.count`,
//! `detail.codes`, `detail.fromMs`, `detail.toMs`, the last request's IP, user agent and
//! request id) when the window has closed: at the next denial for that key, or at the
//! server's periodic flush (every [`FLUSH_EVERY`]), or at shutdown. A chain thus grows by at
//! most `INDIVIDUAL_PER_WINDOW + 1` entries per key per minute, whatever the traffic.
//!
//! Crash-safety: the individual entries are written before their requests are answered,
//! as every audit entry is; a count not yet flushed is lost if the process dies (it is
//! logged as it grows, at debug level, so the log keeps a trace).

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::Duration;

use planbok_store::server::AuditDraft;

/// How long a key's window lasts.
pub const WINDOW_MS: i64 = 60_000;

/// Denials per key and window appended one by one.
pub const INDIVIDUAL_PER_WINDOW: u32 = 10;

/// How often closed windows are flushed without waiting for a next denial.
pub const FLUSH_EVERY: Duration = Duration::from_secs(10);

/// One key's window.
#[derive(Debug)]
struct Window {
    opened_ms: i64,
    individual: u32,
    counted: u64,
    codes: BTreeMap<String, u64>,
    first_counted_ms: i64,
    /// The last counted denial: its IP, user agent, request id go into the summary.
    last: Option<AuditDraft>,
}

impl Window {
    fn new(now_ms: i64) -> Window {
        Window {
            opened_ms: now_ms,
            individual: 0,
            counted: 0,
            codes: BTreeMap::new(),
            first_counted_ms: 0,
            last: None,
        }
    }

    fn closed(&self, now_ms: i64) -> bool {
        now_ms - self.opened_ms >= WINDOW_MS
    }

    /// The summary of what was counted, if anything was.
    fn summary(&mut self, now_ms: i64) -> Option<AuditDraft> {
        let mut d = self.last.take()?;
        let last_ms = d.at_ms;
        d.at_ms = now_ms;
        d.detail = serde_json::json!({
            "code": d.detail.get("code").cloned().unwrap_or_default(),
            "count": self.counted,
            "codes": std::mem::take(&mut self.codes),
            "fromMs": self.first_counted_ms,
            "toMs": last_ms,
        });
        self.counted = 0;
        Some(d)
    }
}

/// The open windows, per (chain, key id or actor).
#[derive(Debug, Default)]
pub struct Denials(Mutex<HashMap<(String, String), Window>>);

impl Denials {
    /// Takes one denial (`draft`, whose `detail.code` names the refusal) at `now_ms`;
    /// returns the entries to append now, in order: perhaps the summary of the key's
    /// previous window, then perhaps `draft` itself.
    pub fn record(&self, draft: AuditDraft, now_ms: i64) -> Vec<AuditDraft> {
        let Ok(mut map) = self.0.lock() else {
            // A poisoned lock: better one entry too many than a denial lost.
            return vec![draft];
        };
        let who = draft
            .api_key_id
            .clone()
            .unwrap_or_else(|| draft.actor.clone());
        let w = map
            .entry((draft.chain.clone(), who))
            .or_insert_with(|| Window::new(now_ms));
        let mut out = Vec::new();
        if w.closed(now_ms) {
            out.extend(w.summary(now_ms));
            *w = Window::new(now_ms);
        }
        if w.individual < INDIVIDUAL_PER_WINDOW {
            w.individual += 1;
            out.push(draft);
        } else {
            let code = draft
                .detail
                .get("code")
                .and_then(|c| c.as_str())
                .unwrap_or("unknown")
                .to_owned();
            if w.counted == 0 {
                w.first_counted_ms = draft.at_ms;
            }
            w.counted += 1;
            *w.codes.entry(code).or_default() += 1;
            tracing::debug!(chain = %draft.chain, actor = %draft.actor, counted = w.counted, request_id = %draft.request_id, "authorization failure counted, not appended");
            w.last = Some(draft);
        }
        out
    }

    /// The summaries of every window closed at `now_ms` (all windows with `all`), which
    /// are forgotten.
    pub fn take_closed(&self, now_ms: i64, all: bool) -> Vec<AuditDraft> {
        let Ok(mut map) = self.0.lock() else {
            return Vec::new();
        };
        let mut out = Vec::new();
        map.retain(|_, w| {
            if all || w.closed(now_ms) {
                out.extend(w.summary(now_ms));
                false
            } else {
                true
            }
        });
        out
    }

    /// How many windows are open.
    pub fn len(&self) -> usize {
        self.0.lock().map_or(0, |m| m.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn denial(key: &str, code: &str, at_ms: i64) -> AuditDraft {
        AuditDraft {
            chain: "org_a".into(),
            at_ms,
            actor: format!("key:{key}"),
            api_key_id: Some(key.into()),
            ip: Some(format!("192.0.2.{}", at_ms % 200)),
            user_agent: None,
            action: "auth.denied".into(),
            target: None,
            outcome: "failure".into(),
            request_id: format!("r{at_ms}"),
            detail: serde_json::json!({ "code": code }),
        }
    }

    #[test]
    fn a_flood_is_the_first_n_entries_and_one_count_per_window() {
        let d = Denials::default();
        let t0 = 1_000_000;
        let mut written = Vec::new();
        for i in 0..1000 {
            let code = if i % 2 == 0 {
                "unauthorized"
            } else {
                "ip_not_allowed"
            };
            written.extend(d.record(denial("key_a", code, t0 + i), t0 + i));
        }
        assert_eq!(written.len(), INDIVIDUAL_PER_WINDOW as usize);
        assert!(written.iter().all(|e| e.detail.get("count").is_none()));
        // Another key has its own window.
        assert_eq!(d.record(denial("key_b", "unauthorized", t0), t0).len(), 1);
        // Nothing closed yet.
        assert!(d.take_closed(t0 + 59_000, false).is_empty());
        assert_eq!(d.len(), 2);
        // The next denial after the window: the count, then the denial itself.
        let later = t0 + WINDOW_MS + 5;
        let out = d.record(denial("key_a", "unauthorized", later), later);
        assert_eq!(out.len(), 2, "{out:?}");
        let s = &out[0];
        assert_eq!(s.detail["count"], 990);
        assert_eq!(s.detail["codes"]["unauthorized"], 495);
        assert_eq!(s.detail["codes"]["ip_not_allowed"], 495);
        assert_eq!(s.detail["fromMs"], t0 + 10);
        assert_eq!(s.detail["toMs"], t0 + 999);
        assert_eq!(s.request_id, format!("r{}", t0 + 999));
        assert_eq!(s.at_ms, later);
        assert_eq!(out[1].request_id, format!("r{later}"));
        // The periodic flush writes nothing for windows without a count, and forgets them.
        let end = later + 2 * WINDOW_MS;
        assert!(d.take_closed(end, false).is_empty());
        assert_eq!(d.len(), 0);
    }

    #[test]
    fn closed_windows_are_flushed_without_a_next_denial_and_all_at_shutdown() {
        let d = Denials::default();
        for i in 0..15 {
            d.record(denial("key_a", "unauthorized", i), i);
            d.record(denial("key_b", "unauthorized", 30_000 + i), 30_000 + i);
        }
        let closed = d.take_closed(WINDOW_MS + 1, false);
        assert_eq!(closed.len(), 1);
        assert_eq!(
            (closed[0].api_key_id.as_deref(), &closed[0].detail["count"]),
            (Some("key_a"), &serde_json::json!(5))
        );
        let rest = d.take_closed(WINDOW_MS + 2, true);
        assert_eq!(rest.len(), 1);
        assert_eq!(rest[0].api_key_id.as_deref(), Some("key_b"));
        assert_eq!(d.len(), 0);
    }
}
