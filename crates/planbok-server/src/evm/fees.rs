//! Fee levels from `eth_feeHistory`: the 10th, 50th and 90th percentile priority fees of
//! the last blocks (the median over blocks of each), at least a floor per level, and a
//! `maxFeePerGas` that covers the next block's base fee growing (1.25×, 2×, 3×).

use super::rpc::{Rpc, RpcError};

/// How many blocks the history covers.
const BLOCKS: u64 = 10;
/// The reward percentiles asked for, one per level.
const PERCENTILES: [f64; 3] = [10.0, 50.0, 90.0];
/// The least priority fee per level, wei (0.1, 1 and 2 gwei): an idle chain's history
/// says 0, which a busy next block would not take.
const FLOORS: [u128; 3] = [100_000_000, 1_000_000_000, 2_000_000_000];
/// The next base fee's multiplier per level, in quarters.
const BASE_QUARTERS: [u128; 3] = [5, 8, 12];

/// One level's fee fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Fees {
    pub(crate) max_fee_per_gas: u128,
    pub(crate) max_priority_fee_per_gas: u128,
}

/// The three levels, low to high, from a fee history.
pub(crate) fn levels_from(next_base: u128, rewards: &[Vec<u128>]) -> [Fees; 3] {
    let mut out = [Fees {
        max_fee_per_gas: 0,
        max_priority_fee_per_gas: 0,
    }; 3];
    let mut previous_tip = 0u128;
    for (k, level) in out.iter_mut().enumerate() {
        let mut tips: Vec<u128> = rewards.iter().filter_map(|r| r.get(k).copied()).collect();
        tips.sort_unstable();
        let median = tips.get(tips.len() / 2).copied().unwrap_or(0);
        let tip = median.max(FLOORS[k]).max(previous_tip);
        previous_tip = tip;
        let base = next_base.saturating_mul(BASE_QUARTERS[k]) / 4;
        *level = Fees {
            max_fee_per_gas: base.saturating_add(tip),
            max_priority_fee_per_gas: tip,
        };
    }
    out
}

/// The three levels for the chain behind `rpc`.
pub(crate) async fn levels(rpc: &Rpc) -> Result<[Fees; 3], RpcError> {
    let (next_base, rewards) = rpc.fee_history(BLOCKS, &PERCENTILES).await?;
    Ok(levels_from(next_base, &rewards))
}

/// The index of `name` (`low`, `medium`, `high`).
pub(crate) fn level_index(name: &str) -> Option<usize> {
    planbok_api::FEE_LEVELS.iter().position(|l| *l == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_are_ordered_and_floored() {
        let l = levels_from(1_000, &[]);
        assert_eq!(l[0].max_priority_fee_per_gas, FLOORS[0]);
        assert_eq!(l[1].max_fee_per_gas, 2_000 + FLOORS[1]);
        let busy = vec![vec![5_000_000_000, 9_000_000_000, 1]; 3];
        let l = levels_from(40_000_000_000, &busy);
        // The 90th percentile column is lower than the 50th here: the high level keeps
        // at least the medium tip.
        assert_eq!(l[0].max_priority_fee_per_gas, 5_000_000_000);
        assert_eq!(l[1].max_priority_fee_per_gas, 9_000_000_000);
        assert_eq!(l[2].max_priority_fee_per_gas, 9_000_000_000);
        for w in l.windows(2) {
            assert!(w[0].max_fee_per_gas <= w[1].max_fee_per_gas);
        }
        assert_eq!(level_index("medium"), Some(1));
        assert_eq!(level_index("urgent"), None);
    }
}
