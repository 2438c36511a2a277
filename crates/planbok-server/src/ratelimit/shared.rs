//! The same limits shared by every server replica through Redis: each bucket is one Redis
//! key holding its GCRA "theoretical arrival time", read and moved by one Lua script, so a
//! check is atomic across replicas and costs one round trip. Time is Redis's own clock
//! (`TIME`), so replicas with skewed clocks still share one budget. Keys expire once
//! their bucket is full again: Redis holds only the clients of the last period.

use std::net::IpAddr;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use super::Category;
use crate::config::{Rate, RateLimitConfig};

/// Checks every bucket against GCRA and, when `ARGV[1]` is 1 and all allow, moves them
/// all: a request refused by one bucket takes from none. `ARGV[2k]`, `ARGV[2k+1]`: key
/// k's cell interval and tolerance (burst × interval), in microseconds. Returns 1 when
/// allowed. Times are formatted with `%.0f`: Lua's default number formatting would round
/// microsecond timestamps.
const GCRA: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local next_tat = {}
for i, key in ipairs(KEYS) do
  local interval = tonumber(ARGV[2 * i])
  local tolerance = tonumber(ARGV[2 * i + 1])
  local tat = tonumber(redis.call('GET', key)) or now
  if tat < now then tat = now end
  local n = tat + interval
  if n - now > tolerance then return 0 end
  next_tat[i] = n
end
if ARGV[1] == '1' then
  for i, key in ipairs(KEYS) do
    local ttl_ms = math.max(1, math.ceil((next_tat[i] - now) / 1000))
    redis.call('SET', key, string.format('%.0f', next_tat[i]), 'PX', ttl_ms)
  end
end
return 1
";

/// How long one limiter round trip may take before the request is refused
/// (`rate_limiter_unavailable`) rather than let through unlimited.
const TIMEOUT: Duration = Duration::from_millis(1000);

/// Redis did not answer (in time): the request is refused, never let through unlimited.
#[derive(Debug)]
pub struct Unavailable;

/// Rate limits kept in Redis.
#[derive(Clone)]
pub struct SharedLimits {
    conn: ConnectionManager,
    script: redis::Script,
    config: RateLimitConfig,
}

impl std::fmt::Debug for SharedLimits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL may carry a password: never printed.
        f.write_str("SharedLimits { .. }")
    }
}

/// One bucket: its key and rate (count 0 = off, left out).
struct Bucket {
    key: String,
    rate: Rate,
}

fn micros(rate: Rate) -> (u64, u64) {
    let count = u64::from(rate.count.max(1));
    let interval = (rate.period_ms.max(1) * 1000 / count).max(1);
    (interval, interval * count)
}

impl SharedLimits {
    /// Connects (and loads the script) so a wrong URL fails the start, not the first request.
    pub async fn connect(url: &str, config: &RateLimitConfig) -> Result<Self, redis::RedisError> {
        let client = redis::Client::open(url)?;
        let cm = ConnectionManagerConfig::new()
            .set_connection_timeout(TIMEOUT)
            .set_response_timeout(TIMEOUT)
            .set_number_of_retries(1);
        let mut conn = ConnectionManager::new_with_config(client, cm).await?;
        let script = redis::Script::new(GCRA);
        script.prepare_invoke().load_async(&mut conn).await?;
        Ok(SharedLimits {
            conn,
            script,
            config: config.clone(),
        })
    }

    fn buckets(&self, category: Category, org: Option<&str>, ip: IpAddr) -> Vec<Bucket> {
        let (name, limits) = match category {
            Category::Authentication => ("auth", self.config.authentication),
            Category::Management => ("mgmt", self.config.management),
            Category::Signing => ("sign", self.config.signing),
            Category::Reads => ("read", self.config.reads),
            Category::None => return Vec::new(),
        };
        let mut out = vec![Bucket {
            key: format!("planbok:rl:{name}:ip:{ip}"),
            rate: limits.per_ip,
        }];
        if let Some(org) = org {
            out.push(Bucket {
                key: format!("planbok:rl:{name}:org:{org}"),
                rate: limits.per_org,
            });
        }
        out.retain(|b| b.rate.count > 0);
        out
    }

    async fn run(&self, take: bool, buckets: &[Bucket]) -> Result<bool, Unavailable> {
        if buckets.is_empty() {
            return Ok(true);
        }
        let mut invocation = self.script.prepare_invoke();
        invocation.arg(u8::from(take));
        for b in buckets {
            let (interval, tolerance) = micros(b.rate);
            invocation.key(&b.key).arg(interval).arg(tolerance);
        }
        let mut conn = self.conn.clone();
        match tokio::time::timeout(TIMEOUT, invocation.invoke_async::<i64>(&mut conn)).await {
            Ok(Ok(allowed)) => Ok(allowed == 1),
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "the shared rate limiter (Redis) failed; refusing");
                Err(Unavailable)
            }
            Err(_) => {
                tracing::warn!("the shared rate limiter (Redis) did not answer in time; refusing");
                Err(Unavailable)
            }
        }
    }

    /// Takes one request from the category's buckets; `Ok(false)` = over the limit.
    pub async fn check(
        &self,
        category: Category,
        org: Option<&str>,
        ip: IpAddr,
    ) -> Result<bool, Unavailable> {
        self.run(true, &self.buckets(category, org, ip)).await
    }

    /// The authentication budget of `ip`, looked at (`take` false) or taken from.
    pub async fn authentication(&self, ip: IpAddr, take: bool) -> Result<bool, Unavailable> {
        let mut buckets = self.buckets(Category::Authentication, None, ip);
        buckets.truncate(1);
        self.run(take, &buckets).await
    }

    /// Whether Redis answers: `/ready`.
    pub async fn ping(&self) -> bool {
        let mut conn = self.conn.clone();
        matches!(
            tokio::time::timeout(TIMEOUT, redis::cmd("PING").query_async::<String>(&mut conn))
                .await,
            Ok(Ok(_))
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_become_microsecond_cells_and_a_burst_of_count_cells() {
        assert_eq!(
            micros(Rate {
                count: 20,
                period_ms: 1000
            }),
            (50_000, 1_000_000)
        );
        assert_eq!(
            micros(Rate {
                count: 5,
                period_ms: 300_000
            }),
            (60_000_000, 300_000_000)
        );
        // Faster than a microsecond per cell still moves time forward.
        assert_eq!(
            micros(Rate {
                count: 5000,
                period_ms: 1
            }),
            (1, 5000)
        );
    }
}
