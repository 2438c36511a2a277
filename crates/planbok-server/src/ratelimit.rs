//! Rate limits per category, keyed per organization and per client IP (GCRA, in memory;
//! a restart forgets them, and each server replica limits on its own).

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::config::{CategoryLimits, Rate, RateLimitConfig};

/// What a route counts against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Category {
    /// Organization creation, failed authentication.
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
}

/// All categories' limiters.
#[derive(Debug)]
pub struct RateLimits {
    auth: Pair,
    management: Pair,
    signing: Pair,
    reads: Pair,
}

impl RateLimits {
    /// Limiters for a configuration.
    pub fn new(c: &RateLimitConfig) -> Self {
        RateLimits {
            auth: Pair::new(c.authentication),
            management: Pair::new(c.management),
            signing: Pair::new(c.signing),
            reads: Pair::new(c.reads),
        }
    }

    /// Takes one request from the category's buckets; `false` = over the limit.
    pub fn check(&self, category: Category, org: Option<&str>, ip: IpAddr) -> bool {
        match category {
            Category::Authentication => self.auth.check(org, ip),
            Category::Management => self.management.check(org, ip),
            Category::Signing => self.signing.check(org, ip),
            Category::Reads => self.reads.check(org, ip),
            Category::None => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
