//! Rate limits per category, keyed per organization and per client IP (GCRA). By default
//! in this process's memory (a restart forgets them, and each replica limits on its own);
//! with `[rate_limits] redis_url`, in Redis, shared by every replica ([`shared`]).
//!
//! Every keyed state is dropped once it is indistinguishable from a fresh one
//! ([`RateLimits::prune`], run every minute by the server), so memory follows the clients
//! of the last period, not every client ever seen.

use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::config::{CategoryLimits, Rate, RateLimitConfig};

mod shared;
pub use shared::{SharedLimits, Unavailable};

/// The limiter a server uses: its own memory, or Redis shared by every replica. A shared
/// limiter that cannot answer refuses ([`Unavailable`]): no request goes unlimited.
#[derive(Debug)]
pub enum Limiter {
    /// This process's memory.
    Local(Box<RateLimits>),
    /// Redis.
    Shared(SharedLimits),
}

impl Limiter {
    /// Takes one request from the category's buckets; `Ok(false)` = over the limit.
    pub async fn check(
        &self,
        category: Category,
        org: Option<&str>,
        ip: IpAddr,
    ) -> Result<bool, Unavailable> {
        match self {
            Limiter::Local(l) => Ok(l.check(category, org, ip)),
            Limiter::Shared(s) => s.check(category, org, ip).await,
        }
    }

    /// Whether `ip` has authentication budget left, without taking any.
    pub async fn may_authenticate(&self, ip: IpAddr) -> Result<bool, Unavailable> {
        match self {
            Limiter::Local(l) => Ok(l.may_authenticate(ip)),
            Limiter::Shared(s) => s.authentication(ip, false).await,
        }
    }

    /// Takes one failed authentication from `ip`'s budget; `Ok(false)` = over the limit.
    pub async fn authentication_failed(&self, ip: IpAddr) -> Result<bool, Unavailable> {
        match self {
            Limiter::Local(l) => Ok(l.authentication_failed(ip)),
            Limiter::Shared(s) => s.authentication(ip, true).await,
        }
    }

    /// Drops local states that are full again (Redis expires its keys itself).
    pub fn prune(&self) {
        if let Limiter::Local(l) = self {
            l.prune();
        }
    }

    /// Keyed states held in this process: a metric (0 when they live in Redis).
    pub fn len(&self) -> usize {
        match self {
            Limiter::Local(l) => l.len(),
            Limiter::Shared(_) => 0,
        }
    }

    /// For `/ready`: `None` when local, else whether Redis answers.
    pub async fn ready(&self) -> Option<bool> {
        match self {
            Limiter::Local(_) => None,
            Limiter::Shared(s) => Some(s.ping().await),
        }
    }
}

/// What a route counts against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Category {
    /// Organization creation and failed authentication: one budget per client IP, which a
    /// request with an API key must have left before its key is even looked up.
    Authentication,
    /// Changes to members, keys, wallet sets, wallets.
    Management,
    /// Signing and export.
    Signing,
    /// Reads.
    Reads,
    /// Not limited (health, readiness, metrics, the API document).
    None,
}

#[derive(Debug)]
struct Pair {
    per_org: Option<DefaultKeyedRateLimiter<String>>,
    per_ip: Option<DefaultKeyedRateLimiter<IpAddr>>,
}

fn quota(r: Rate) -> Option<Quota> {
    let count = NonZeroU32::new(r.count)?;
    let per_cell = Duration::from_millis(r.period_ms.max(1)) / count.get();
    Quota::with_period(per_cell.max(Duration::from_nanos(1))).map(|q| q.allow_burst(count))
}

impl Pair {
    fn new(l: CategoryLimits) -> Self {
        Pair {
            per_org: quota(l.per_org).map(RateLimiter::keyed),
            per_ip: quota(l.per_ip).map(RateLimiter::keyed),
        }
    }

    fn check(&self, org: Option<&str>, ip: IpAddr) -> bool {
        let ip_ok = self
            .per_ip
            .as_ref()
            .is_none_or(|l| l.check_key(&ip).is_ok());
        let org_ok = match (org, &self.per_org) {
            (Some(org), Some(l)) => l.check_key(&org.to_owned()).is_ok(),
            _ => true,
        };
        ip_ok && org_ok
    }

    fn prune(&self) {
        if let Some(l) = &self.per_org {
            l.retain_recent();
            l.shrink_to_fit();
        }
        if let Some(l) = &self.per_ip {
            l.retain_recent();
            l.shrink_to_fit();
        }
    }

    fn len(&self) -> usize {
        self.per_org.as_ref().map_or(0, |l| l.len()) + self.per_ip.as_ref().map_or(0, |l| l.len())
    }
}

/// A GCRA bucket per IP that can be looked at without taking from it (governor cannot):
/// the authentication budget is checked before a key is looked up, and taken from only
/// when the authentication fails.
#[derive(Debug)]
struct PeekableBudget {
    /// One cell: `period / count`.
    interval: Duration,
    /// The burst: `count` cells.
    burst: Duration,
    /// Per IP, the theoretical arrival time of the next request.
    tat: Mutex<HashMap<IpAddr, Instant>>,
}

impl PeekableBudget {
    fn new(r: Rate) -> Option<Self> {
        let count = NonZeroU32::new(r.count)?;
        let period = Duration::from_millis(r.period_ms.max(1));
        let interval = (period / count.get()).max(Duration::from_nanos(1));
        Some(PeekableBudget {
            interval,
            burst: interval * count.get(),
            tat: Mutex::new(HashMap::new()),
        })
    }

    fn next_tat(&self, map: &HashMap<IpAddr, Instant>, ip: IpAddr, now: Instant) -> Instant {
        map.get(&ip).copied().unwrap_or(now).max(now) + self.interval
    }

    fn allows(&self, ip: IpAddr, now: Instant) -> bool {
        let Ok(map) = self.tat.lock() else {
            return false;
        };
        self.next_tat(&map, ip, now) <= now + self.burst
    }

    fn take(&self, ip: IpAddr, now: Instant) -> bool {
        let Ok(mut map) = self.tat.lock() else {
            return false;
        };
        let next = self.next_tat(&map, ip, now);
        if next > now + self.burst {
            return false;
        }
        map.insert(ip, next);
        true
    }

    fn prune(&self, now: Instant) {
        if let Ok(mut map) = self.tat.lock() {
            map.retain(|_, tat| *tat > now);
            map.shrink_to_fit();
        }
    }

    fn len(&self) -> usize {
        self.tat.lock().map_or(0, |m| m.len())
    }
}

/// All categories' limiters.
#[derive(Debug)]
pub struct RateLimits {
    /// Per organization: organization creation has none, failed authentications are
    /// counted per IP; kept for the configuration's shape.
    auth_org: Option<DefaultKeyedRateLimiter<String>>,
    auth_ip: Option<PeekableBudget>,
    management: Pair,
    signing: Pair,
    reads: Pair,
}

impl RateLimits {
    /// Limiters for a configuration.
    pub fn new(c: &RateLimitConfig) -> Self {
        RateLimits {
            auth_org: quota(c.authentication.per_org).map(RateLimits::keyed),
            auth_ip: PeekableBudget::new(c.authentication.per_ip),
            management: Pair::new(c.management),
            signing: Pair::new(c.signing),
            reads: Pair::new(c.reads),
        }
    }

    /// Takes one request from the category's buckets; `false` = over the limit.
    pub fn check(&self, category: Category, org: Option<&str>, ip: IpAddr) -> bool {
        match category {
            Category::Authentication => {
                let ip_ok = self
                    .auth_ip
                    .as_ref()
                    .is_none_or(|b| b.take(ip, Instant::now()));
                let org_ok = match (org, &self.auth_org) {
                    (Some(org), Some(l)) => l.check_key(&org.to_owned()).is_ok(),
                    _ => true,
                };
                ip_ok && org_ok
            }
            Category::Management => self.management.check(org, ip),
            Category::Signing => self.signing.check(org, ip),
            Category::Reads => self.reads.check(org, ip),
            Category::None => true,
        }
    }

    /// Whether `ip` has authentication budget left, without taking any: asked before an
    /// API key is looked up, so an IP that used its budget costs no database read.
    pub fn may_authenticate(&self, ip: IpAddr) -> bool {
        self.auth_ip
            .as_ref()
            .is_none_or(|b| b.allows(ip, Instant::now()))
    }

    /// Takes one failed authentication from `ip`'s budget; `false` = over the limit.
    pub fn authentication_failed(&self, ip: IpAddr) -> bool {
        self.auth_ip
            .as_ref()
            .is_none_or(|b| b.take(ip, Instant::now()))
    }

    /// Drops every keyed state that is back to full (a fresh one would be the same).
    pub fn prune(&self) {
        if let Some(l) = &self.auth_org {
            l.retain_recent();
            l.shrink_to_fit();
        }
        if let Some(b) = &self.auth_ip {
            b.prune(Instant::now());
        }
        for p in [&self.management, &self.signing, &self.reads] {
            p.prune();
        }
    }

    /// How many keyed states are held (organizations and IPs, all categories): a metric.
    pub fn len(&self) -> usize {
        self.auth_org.as_ref().map_or(0, |l| l.len())
            + self.auth_ip.as_ref().map_or(0, PeekableBudget::len)
            + [&self.management, &self.signing, &self.reads]
                .iter()
                .map(|p| p.len())
                .sum::<usize>()
    }

    fn keyed(q: Quota) -> DefaultKeyedRateLimiter<String> {
        RateLimiter::keyed(q)
    }
}

#[cfg(test)]
#[expect(clippy::expect_used, reason = "a test: a panic is the failure report")]
mod tests {
    use super::*;

    fn rate(count: u32, period_ms: u64) -> Rate {
        Rate { count, period_ms }
    }

    #[test]
    fn the_authentication_budget_can_be_looked_at_without_taking() {
        let b = PeekableBudget::new(rate(3, 60_000)).expect("on");
        let ip: IpAddr = [192, 0, 2, 1].into();
        let t0 = Instant::now();
        for _ in 0..100 {
            assert!(b.allows(ip, t0), "looking takes nothing");
        }
        assert!((0..3).all(|_| b.take(ip, t0)));
        assert!(!b.allows(ip, t0));
        assert!(!b.take(ip, t0));
        // One cell (20 s) later, one more.
        let t1 = t0 + Duration::from_secs(20);
        assert!(b.allows(ip, t1));
        assert!(b.take(ip, t1));
        assert!(!b.take(ip, t1));
        // Another IP is untouched.
        assert!(b.allows([192, 0, 2, 2].into(), t1));
    }

    #[test]
    fn pruning_forgets_ips_whose_buckets_are_full_again() {
        let b = PeekableBudget::new(rate(5, 1000)).expect("on");
        let t0 = Instant::now();
        for i in 0..10_000u32 {
            assert!(b.take(IpAddr::from(i.to_be_bytes()), t0));
        }
        assert_eq!(b.len(), 10_000);
        // Within the period the state still matters and is kept.
        b.prune(t0 + Duration::from_millis(100));
        assert_eq!(b.len(), 10_000);
        // After it, every bucket is as good as new: all gone.
        b.prune(t0 + Duration::from_millis(300));
        assert_eq!(b.len(), 0);
        assert!(b.take([0, 0, 0, 1].into(), t0 + Duration::from_millis(300)));
    }

    #[test]
    fn pruning_bounds_the_governor_limiters_too() {
        let mut c = RateLimitConfig::unlimited();
        c.reads = CategoryLimits {
            per_org: rate(1000, 50),
            per_ip: rate(1000, 50),
        };
        c.authentication.per_ip = rate(1000, 50);
        let l = RateLimits::new(&c);
        for i in 0..2_000u32 {
            let ip = IpAddr::from(i.to_be_bytes());
            assert!(l.check(Category::Reads, Some(&format!("org_{}", i % 7)), ip));
            assert!(l.authentication_failed(ip));
        }
        assert_eq!(l.len(), 2_000 + 7 + 2_000);
        std::thread::sleep(Duration::from_millis(120));
        l.prune();
        assert_eq!(l.len(), 0);
    }

    #[test]
    fn a_limit_refuses_past_its_burst_and_zero_means_off() {
        let mut c = RateLimitConfig::unlimited();
        c.signing.per_org = Rate {
            count: 3,
            period_ms: 60_000,
        };
        let l = RateLimits::new(&c);
        let ip: IpAddr = [127, 0, 0, 1].into();
        let ok = (0..5)
            .filter(|_| l.check(Category::Signing, Some("org_a"), ip))
            .count();
        assert_eq!(ok, 3);
        assert!(l.check(Category::Signing, Some("org_b"), ip), "per org");
        assert!((0..100).all(|_| l.check(Category::Reads, Some("org_a"), ip)));
    }
}
