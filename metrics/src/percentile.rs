//! Linear-interpolated percentiles, the same as PostgreSQL's `percentile_cont` and numpy's
//! default, so numbers computed here match what an analyst gets from the raw rows.

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
    if len == 0 || p.is_nan() {
        return None;
    }
    let last = len - 1;
    let rank = p.clamp(0.0, 1.0) * last as f64;
    let floor = rank.floor();
    // rank ≤ last, so the cast is in range; `min` guards against rounding at the top.
    let lower = (floor as usize).min(last);
    let upper = (lower + 1).min(last);
    let low = value_at(lower)?;
    let fraction = rank - floor;
    if fraction == 0.0 {
        // Exactly on a sample: return it untouched.
        return Some(low);
    }
    let high = value_at(upper)?;
    Some(low + fraction * (high - low))
}

/// Sorts samples in place and returns (median, p90).
pub(crate) fn median_and_p90(samples: &mut [f64]) -> (Option<f64>, Option<f64>) {
    samples.sort_by(f64::total_cmp);
    (percentile(samples, 0.5), percentile(samples, 0.9))
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn median_and_p90_sorts() {
        let mut samples = [10.0, 1.0, 4.0, 2.0];
        assert_eq!(median_and_p90(&mut samples).0, Some(3.0));
        assert_eq!(samples, [1.0, 2.0, 4.0, 10.0]);
        assert_eq!(median_and_p90(&mut []), (None, None));
    }
}
