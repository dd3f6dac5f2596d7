//! How sure a target's verdict is: a bootstrap interval of the margin
//! between one system's median and the bound set by another's.
//!
//! A target compares two medians of one run. With 51 fresh processes per
//! system and a spread of tens of microseconds, two systems a microsecond
//! apart are a coin toss; the interval says so next to the verdict, so that a
//! reader does not take "missed by 1 µs" for a difference the run measured.
//! The verdict itself stays the medians' comparison.
//!
//! Percentile bootstrap: each system's samples are resampled with
//! replacement (independently, the same number of samples), the margin
//! `median(mine) - (factor * median(theirs) + plus)` is computed for each
//! resample, and the 2.5th and 97.5th percentiles of those margins are the
//! interval. It treats samples as independent, which the rounds of a run
//! (systems taking turns) make close to true. It says nothing of what moves
//! between runs (the machine's speed, which vCPUs processes land on). The
//! generator is seeded with a constant: the same samples give the same
//! interval.

use crate::table::quantile;

/// Resamples per interval: enough for stable 2.5% tails, a few milliseconds
/// for the bench's sample counts.
const RESAMPLES: usize = 2000;

/// The 95% interval of `median(mine) - (factor * median(theirs) + plus)`,
/// or `None` without samples on either side.
pub fn margin_interval(mine: &[f64], theirs: &[f64], factor: f64, plus: f64) -> Option<(f64, f64)> {
    if mine.is_empty() || theirs.is_empty() {
        return None;
    }
    let mut rng = SplitMix64(0x5eed_1e55_ba5e_ba11);
    let mut scratch = Vec::with_capacity(mine.len().max(theirs.len()));
    let mut margins = Vec::with_capacity(RESAMPLES);
    for _ in 0..RESAMPLES {
        let a = resampled_median(mine, &mut rng, &mut scratch)?;
        let b = resampled_median(theirs, &mut rng, &mut scratch)?;
        margins.push(a - (factor * b + plus));
    }
    margins.sort_by(f64::total_cmp);
    Some((quantile(&margins, 0.025)?, quantile(&margins, 0.975)?))
}

fn resampled_median(samples: &[f64], rng: &mut SplitMix64, scratch: &mut Vec<f64>) -> Option<f64> {
    scratch.clear();
    for _ in 0..samples.len() {
        scratch.push(*samples.get(rng.below(samples.len()))?);
    }
    scratch.sort_by(f64::total_cmp);
    quantile(scratch, 0.5)
}

/// Vigna's splitmix64: small, fast, and good enough to pick sample indexes.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// An index below `n` (n > 0); the modulo bias is below 2^-50 for the
    /// bench's sample counts.
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Samples spread evenly over [centre - 50, centre + 50].
    fn spread(centre: f64, n: usize) -> Vec<f64> {
        (0..n)
            .map(|i| centre - 50.0 + 100.0 * i as f64 / (n - 1) as f64)
            .collect()
    }

    #[test]
    fn equal_systems_give_an_interval_around_zero() {
        let (lo, hi) = margin_interval(&spread(200.0, 51), &spread(200.0, 51), 1.0, 0.0).unwrap();
        assert!(lo < 0.0 && hi > 0.0, "{lo} {hi}");
        // Symmetric samples: a symmetric interval, within the spread.
        assert!((lo + hi).abs() < 10.0 && hi < 50.0, "{lo} {hi}");
    }

    #[test]
    fn a_difference_far_beyond_the_spread_excludes_zero() {
        let (lo, hi) = margin_interval(&spread(400.0, 51), &spread(200.0, 51), 1.0, 0.0).unwrap();
        assert!(lo > 150.0 && hi < 250.0, "{lo} {hi}");
    }

    #[test]
    fn the_bound_is_the_factor_and_the_constant_applied_to_the_other() {
        // Constant samples: every resample has the same medians.
        let (lo, hi) = margin_interval(&[300.0; 9], &[100.0; 9], 2.0, 50.0).unwrap();
        assert_eq!((lo, hi), (50.0, 50.0));
    }

    #[test]
    fn more_samples_give_a_narrower_interval_and_the_same_samples_the_same_one() {
        let few = margin_interval(&spread(200.0, 21), &spread(200.0, 21), 1.0, 0.0).unwrap();
        let many = margin_interval(&spread(200.0, 401), &spread(200.0, 401), 1.0, 0.0).unwrap();
        assert!(many.1 - many.0 < (few.1 - few.0) / 2.0, "{few:?} {many:?}");
        assert_eq!(
            few,
            margin_interval(&spread(200.0, 21), &spread(200.0, 21), 1.0, 0.0).unwrap()
        );
    }

    #[test]
    fn no_samples_no_interval() {
        assert_eq!(margin_interval(&[], &[1.0], 1.0, 0.0), None);
        assert_eq!(margin_interval(&[1.0], &[], 1.0, 0.0), None);
    }
}
