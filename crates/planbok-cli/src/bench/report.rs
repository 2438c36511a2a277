//! What a benchmark run measured: samples per operation, percentiles, and the two ways to
//! print them (a table for people, JSON for scripts).

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

/// One request: how long it took and, if it failed, the error's stable code
/// (`transport` when no envelope came back).
#[derive(Debug, Clone)]
pub struct Sample {
    pub op: &'static str,
    pub latency: Duration,
    pub error: Option<String>,
}

/// Latency percentiles in milliseconds, over the successful requests.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq)]
pub struct Latency {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
    pub mean: f64,
}

/// The figures for one operation, or for all of them.
#[derive(Debug, Clone, Serialize)]
pub struct Figures {
    pub op: String,
    /// Every request, failed ones included.
    pub count: u64,
    pub ok: u64,
    /// Requests per second over the whole load phase.
    pub throughput: f64,
    pub latency_ms: Latency,
    /// Failed requests by error code.
    pub errors: BTreeMap<String, u64>,
}

/// The whole report, as `--json` prints it.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub url: String,
    pub clients: usize,
    pub custody: String,
    pub protocols: Vec<String>,
    pub mix: Vec<(String, u32)>,
    pub elapsed_s: f64,
    pub operations: Vec<Figures>,
    pub overall: Figures,
}

/// The `q`-quantile of sorted `ms` (nearest rank).
fn quantile(ms: &[f64], q: f64) -> f64 {
    if ms.is_empty() {
        return 0.0;
    }
    let rank = (q * ms.len() as f64).ceil() as usize;
    ms[rank.clamp(1, ms.len()) - 1]
}

fn figures(op: &str, samples: &[&Sample], elapsed: Duration) -> Figures {
    let mut ms: Vec<f64> = samples
        .iter()
        .filter(|s| s.error.is_none())
        .map(|s| s.latency.as_secs_f64() * 1e3)
        .collect();
    ms.sort_by(f64::total_cmp);
    let mut errors = BTreeMap::new();
    for s in samples {
        if let Some(code) = &s.error {
            *errors.entry(code.clone()).or_insert(0) += 1;
        }
    }
    let secs = elapsed.as_secs_f64().max(1e-9);
    Figures {
        op: op.into(),
        count: samples.len() as u64,
        ok: ms.len() as u64,
        throughput: samples.len() as f64 / secs,
        latency_ms: Latency {
            p50: quantile(&ms, 0.50),
            p90: quantile(&ms, 0.90),
            p99: quantile(&ms, 0.99),
            max: ms.last().copied().unwrap_or(0.0),
            mean: if ms.is_empty() {
                0.0
            } else {
                ms.iter().sum::<f64>() / ms.len() as f64
            },
        },
        errors,
    }
}

/// Per-operation figures in `ops` order (operations that ran), and the overall line.
pub fn summarize(
    ops: &[&'static str],
    samples: &[Sample],
    elapsed: Duration,
) -> (Vec<Figures>, Figures) {
    let per_op = ops
        .iter()
        .filter_map(|op| {
            let mine: Vec<&Sample> = samples.iter().filter(|s| s.op == *op).collect();
            (!mine.is_empty()).then(|| figures(op, &mine, elapsed))
        })
        .collect();
    let all: Vec<&Sample> = samples.iter().collect();
    (per_op, figures("overall", &all, elapsed))
}

fn ms(v: f64) -> String {
    if v >= 1000.0 {
        format!("{:.2} s", v / 1000.0)
    } else if v >= 10.0 {
        format!("{v:.1} ms")
    } else {
        format!("{v:.2} ms")
    }
}

impl Report {
    /// The human table.
    pub fn print_table(&self) {
        println!(
            "planbok bench: {} clients, {:.1} s, custody {}, protocols {}",
            self.clients,
            self.elapsed_s,
            self.custody,
            self.protocols.join(",")
        );
        println!(
            "{:<24} {:>7} {:>9} {:>10} {:>10} {:>10} {:>10}  errors",
            "operation", "count", "req/s", "p50", "p90", "p99", "max"
        );
        for f in self.operations.iter().chain(std::iter::once(&self.overall)) {
            let errors = if f.errors.is_empty() {
                "0".to_owned()
            } else {
                f.errors
                    .iter()
                    .map(|(c, n)| format!("{c}={n}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            };
            println!(
                "{:<24} {:>7} {:>9.1} {:>10} {:>10} {:>10} {:>10}  {}",
                f.op,
                f.count,
                f.throughput,
                ms(f.latency_ms.p50),
                ms(f.latency_ms.p90),
                ms(f.latency_ms.p99),
                ms(f.latency_ms.max),
                errors
            );
        }
        println!("latencies over successful requests; req/s counts every request");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(op: &'static str, ms: u64, error: Option<&str>) -> Sample {
        Sample {
            op,
            latency: Duration::from_millis(ms),
            error: error.map(str::to_owned),
        }
    }

    #[test]
    fn percentiles_are_nearest_rank_over_successes() {
        let mut v: Vec<Sample> = (1..=100).map(|i| s("a", i, None)).collect();
        v.push(s("a", 5000, Some("node_unavailable")));
        v.push(s("b", 7, None));
        let (ops, all) = summarize(&["a", "b", "c"], &v, Duration::from_secs(2));
        assert_eq!(ops.len(), 2, "c never ran");
        let a = &ops[0];
        assert_eq!((a.count, a.ok), (101, 100));
        assert_eq!(a.latency_ms.p50, 50.0);
        assert_eq!(a.latency_ms.p90, 90.0);
        assert_eq!(a.latency_ms.p99, 99.0);
        assert_eq!(a.latency_ms.max, 100.0);
        assert_eq!(a.errors["node_unavailable"], 1);
        assert_eq!(a.throughput, 50.5);
        assert_eq!(all.count, 102);
    }
}
