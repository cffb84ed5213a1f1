//! Linear-interpolated percentiles, the same as PostgreSQL's `percentile_cont` and numpy's
//! default, so numbers computed here match what an analyst gets from the raw rows.
//!
//! The metrics take their percentiles by selection ([`select_percentile`]): the two order
//! statistics a percentile needs are found in O(n), without sorting every sample (a year of
//! lead-time samples is a few hundred thousand). The answer is exactly the sorted one.

/// The `p`-th percentile (`p` in `[0, 1]`) of samples sorted ascending.
///
/// With rank = p·(n−1): x\[⌊rank⌋\] + (rank − ⌊rank⌋)·(x\[⌊rank⌋+1\] − x\[⌊rank⌋\]).
/// `None` for no samples or a NaN `p`; `p` outside `[0, 1]` is clamped. The caller guarantees
/// the order (unsorted input gives a meaningless, but finite, answer).
pub fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    percentile_of(sorted.len(), p, |k| sorted.get(k).copied())
}

/// [`percentile`] over `len` sorted values given by position, so a long run of equal values
/// (the empty buckets of deployment frequency) need not be materialised.
pub(crate) fn percentile_of(
    len: usize,
    p: f64,
    value_at: impl Fn(usize) -> Option<f64>,
) -> Option<f64> {
    let (lower, fraction) = rank(len, p)?;
    let low = value_at(lower)?;
    if fraction == 0.0 {
        // Exactly on a sample: return it untouched.
        return Some(low);
    }
    let high = value_at((lower + 1).min(len - 1))?;
    Some(low + fraction * (high - low))
}

/// Where the `p`-th percentile of `len` sorted samples lies: the position of the sample below
/// it and how far towards the next one (0 exactly on a sample). `None` for no samples or a
/// NaN `p`.
fn rank(len: usize, p: f64) -> Option<(usize, f64)> {
    if len == 0 || p.is_nan() {
        return None;
    }
    let last = len - 1;
    let rank = p.clamp(0.0, 1.0) * last as f64;
    let floor = rank.floor();
    // rank ≤ last, so the cast is in range; `min` guards against rounding at the top.
    Some(((floor as usize).min(last), rank - floor))
}

/// The `p`-th percentile of samples in any order: exactly [`percentile`] of the sorted
/// samples, found by selection (O(n) on average). Reorders the slice.
pub fn select_percentile(samples: &mut [f64], p: f64) -> Option<f64> {
    let (lower, fraction) = rank(samples.len(), p)?;
    let (_, low, above) = samples.select_nth_unstable_by(lower, f64::total_cmp);
    let low = *low;
    if fraction == 0.0 {
        return Some(low);
    }
    // The next sample in sorted order is the least of those above the selected one.
    let high = above.iter().copied().min_by(f64::total_cmp).unwrap_or(low);
    Some(low + fraction * (high - low))
}

/// (median, p90) of samples in any order, by selection. Reorders the slice.
pub(crate) fn median_and_p90(samples: &mut [f64]) -> (Option<f64>, Option<f64>) {
    (
        select_percentile(samples, 0.5),
        select_percentile(samples, 0.9),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn table() {
        let cases: &[(&[f64], f64, Option<f64>)] = &[
            (&[], 0.5, None),
            (&[], 0.0, None),
            (&[7.0], 0.0, Some(7.0)),
            (&[7.0], 0.5, Some(7.0)),
            (&[7.0], 0.9, Some(7.0)),
            (&[7.0], 1.0, Some(7.0)),
            (&[1.0, 3.0], 0.5, Some(2.0)),
            (&[1.0, 3.0], 0.9, Some(2.8)),
            (&[1.0, 3.0], 0.0, Some(1.0)),
            (&[1.0, 3.0], 1.0, Some(3.0)),
            // odd: the median is the middle sample
            (&[1.0, 2.0, 10.0], 0.5, Some(2.0)),
            // rank 0.9·2 = 1.8 → 2 + 0.8·8
            (&[1.0, 2.0, 10.0], 0.9, Some(8.4)),
            // even: the median is the mean of the middle two
            (&[1.0, 2.0, 4.0, 10.0], 0.5, Some(3.0)),
            // rank 0.9·3 = 2.7 → 4 + 0.7·6
            (&[1.0, 2.0, 4.0, 10.0], 0.9, Some(8.2)),
            // rank 0.9·9 = 8.1 → 9 + 0.1·1
            (
                &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0],
                0.9,
                Some(9.1),
            ),
            (&[1.0, 2.0, 3.0], -1.0, Some(1.0)),
            (&[1.0, 2.0, 3.0], 2.0, Some(3.0)),
            (&[1.0, 2.0, 3.0], f64::NAN, None),
            (&[5.0, 5.0, 5.0], 0.37, Some(5.0)),
        ];
        for &(samples, p, expected) in cases {
            let got = percentile(samples, p);
            match (got, expected) {
                (Some(g), Some(e)) => assert!((g - e).abs() < 1e-9, "{samples:?} p{p}: {g} ≠ {e}"),
                _ => assert_eq!(got, expected, "{samples:?} p{p}"),
            }
        }
    }

    #[test]
    fn by_position_matches_the_slice() {
        let samples = [0.0, 0.0, 0.0, 1.0, 4.0];
        for p in [0.0, 0.1, 0.5, 0.75, 0.9, 1.0] {
            assert_eq!(
                percentile_of(samples.len(), p, |k| samples.get(k).copied()),
                percentile(&samples, p)
            );
        }
    }

    #[test]
    fn median_and_p90_of_unsorted_samples() {
        let sorted = [1.0, 2.0, 4.0, 10.0];
        let mut samples = [10.0, 1.0, 4.0, 2.0];
        assert_eq!(
            median_and_p90(&mut samples),
            (percentile(&sorted, 0.5), percentile(&sorted, 0.9))
        );
        assert_eq!(median_and_p90(&mut []), (None, None));
    }

    proptest! {
        /// Selection answers exactly what sorting answers, ties and signed zeros included.
        #[test]
        fn selection_equals_the_sorted_percentile(
            samples in proptest::collection::vec(
                prop_oneof![(-5i32..5).prop_map(f64::from), proptest::num::f64::NORMAL, Just(-0.0)],
                0..60,
            ),
            p in prop_oneof![0.0..=1.0f64, Just(0.5), Just(0.9), Just(1.0)],
        ) {
            let mut sorted = samples.clone();
            sorted.sort_by(f64::total_cmp);
            let expected = percentile(&sorted, p);
            let mut shuffled = samples;
            let got = select_percentile(&mut shuffled, p);
            prop_assert_eq!(got.map(f64::to_bits), expected.map(f64::to_bits));
        }
    }
}
