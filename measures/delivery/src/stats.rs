//! Order statistics over samples (lead times, recovery times, in hours).
//!
//! Values that are not numbers (NaN) are left out: a sample is what remains.
//! An empty sample has no statistic (`None`), never 0.

/// The median: the middle value of the sorted sample, or the mean of the two
/// middle values when the sample has an even count. `None` when empty.
///
/// Note: DevLake's dashboards take the *lower* middle value of an even
/// sample (`max(x) where percent_rank(x) <= 0.5`); this one takes the mean,
/// as statistics textbooks do, so the two differ on even samples.
pub fn median(values: &[f64]) -> Option<f64> {
    let sorted = sorted(values);
    let n = sorted.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(sorted[n / 2]),
        _ => Some((sorted[n / 2 - 1] + sorted[n / 2]) / 2.0),
    }
}

/// The `p`-th percentile (`p` in `[0, 100]`), interpolating linearly between
/// the two nearest ranks: rank `p / 100 * (n - 1)` of the sorted sample,
/// counted from 0 (the definition of NumPy's default, R's type 7 and
/// spreadsheets' `PERCENTILE.INC`). The 50th percentile is the [`median`],
/// the 0th the minimum, the 100th the maximum. `None` when the sample is
/// empty or `p` is outside `[0, 100]` (or NaN).
pub fn percentile(values: &[f64], p: f64) -> Option<f64> {
    if !(0.0..=100.0).contains(&p) {
        return None;
    }
    let sorted = sorted(values);
    let last = sorted.len().checked_sub(1)?;
    let rank = p / 100.0 * last as f64;
    let below = rank.floor() as usize;
    let above = rank.ceil() as usize;
    let fraction = rank - below as f64;
    Some(sorted[below] + (sorted[above] - sorted[below]) * fraction)
}

/// The mean, `None` when the sample is empty.
pub fn mean(values: &[f64]) -> Option<f64> {
    let sample: Vec<f64> = values.iter().copied().filter(|v| !v.is_nan()).collect();
    (!sample.is_empty()).then(|| sample.iter().sum::<f64>() / sample.len() as f64)
}

fn sorted(values: &[f64]) -> Vec<f64> {
    let mut sample: Vec<f64> = values.iter().copied().filter(|v| !v.is_nan()).collect();
    sample.sort_by(f64::total_cmp);
    sample
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_and_even_samples() {
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[7.0]), Some(7.0));
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        // Even: the mean of the two middle values, 2 and 10.
        assert_eq!(median(&[10.0, 1.0, 2.0, 40.0]), Some(6.0));
        assert_eq!(median(&[1.0, 2.0]), Some(1.5));
        // Duplicates count.
        assert_eq!(median(&[5.0, 5.0, 1.0, 9.0]), Some(5.0));
    }

    #[test]
    fn nan_is_left_out() {
        assert_eq!(median(&[f64::NAN]), None);
        assert_eq!(median(&[f64::NAN, 4.0, 2.0]), Some(3.0));
        assert_eq!(mean(&[f64::NAN, 4.0, 2.0]), Some(3.0));
        assert_eq!(percentile(&[f64::NAN, 4.0, 2.0], 100.0), Some(4.0));
    }

    #[test]
    fn percentiles_interpolate_between_ranks() {
        let v = [15.0, 20.0, 35.0, 40.0, 50.0];
        assert_eq!(percentile(&v, 0.0), Some(15.0));
        assert_eq!(percentile(&v, 100.0), Some(50.0));
        assert_eq!(percentile(&v, 50.0), Some(35.0));
        // Rank 0.4 * 4 = 1.6: 20 + 0.6 * (35 - 20) = 29.
        assert!((percentile(&v, 40.0).unwrap() - 29.0).abs() < 1e-9);
        // Rank 0.9 * 4 = 3.6: 40 + 0.6 * 10 = 46.
        assert!((percentile(&v, 90.0).unwrap() - 46.0).abs() < 1e-9);
        // The 50th percentile of an even sample is the median.
        assert_eq!(percentile(&[1.0, 2.0, 10.0, 40.0], 50.0), Some(6.0));
        assert_eq!(percentile(&[8.0], 75.0), Some(8.0));
    }

    #[test]
    fn out_of_range_percentiles_and_empty_samples_have_none() {
        assert_eq!(percentile(&[1.0], -1.0), None);
        assert_eq!(percentile(&[1.0], 100.5), None);
        assert_eq!(percentile(&[1.0], f64::NAN), None);
        assert_eq!(percentile(&[], 50.0), None);
        assert_eq!(mean(&[]), None);
        assert_eq!(mean(&[1.0, 2.0, 6.0]), Some(3.0));
    }
}
