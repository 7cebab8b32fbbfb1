//! SMM collective measures: one accumulator over the values in a window.

use smm_catalogue::derived::Accumulator;

/// Accumulate `values` (finite numbers). `percentile` is used by
/// [`Accumulator::Percentile`]. An empty window is an error, except for
/// `count` (0) and `sum` (0).
pub fn accumulate(
    acc: Accumulator,
    values: &mut [f64],
    percentile: Option<f64>,
) -> Result<f64, String> {
    let n = values.len();
    match acc {
        Accumulator::Count => return Ok(n as f64),
        Accumulator::Sum => return Ok(values.iter().sum()),
        _ if n == 0 => return Err("the window holds no measurement".into()),
        _ => {}
    }
    Ok(match acc {
        Accumulator::Maximum => values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        Accumulator::Minimum => values.iter().copied().fold(f64::INFINITY, f64::min),
        Accumulator::Average => mean(values),
        Accumulator::Product => values.iter().product(),
        Accumulator::StandardDeviation => {
            if n < 2 {
                return Err("a standard deviation needs at least 2 measurements".into());
            }
            let m = mean(values);
            (values.iter().map(|v| (v - m) * (v - m)).sum::<f64>() / (n - 1) as f64).sqrt()
        }
        Accumulator::Median => quantile(values, 0.5),
        Accumulator::Percentile => quantile(values, percentile.unwrap_or(50.0) / 100.0),
        Accumulator::Count | Accumulator::Sum => unreachable!("handled above"),
    })
}

/// Mean by Kahan-compensated summation (1M values stay exact to ~1e-15).
fn mean(values: &[f64]) -> f64 {
    let (mut sum, mut c) = (0.0f64, 0.0f64);
    for &v in values {
        let y = v - c;
        let t = sum + y;
        c = (t - sum) - y;
        sum = t;
    }
    sum / values.len() as f64
}

/// Quantile `q` in [0, 1] with linear interpolation between closest ranks
/// (the "linear" method of numpy and R type 7).
fn quantile(values: &mut [f64], q: f64) -> f64 {
    values.sort_by(f64::total_cmp);
    let pos = q * (values.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    values[lo] + (values[hi] - values[lo]) * (pos - lo as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acc(a: Accumulator, v: &[f64]) -> Result<f64, String> {
        accumulate(a, &mut v.to_vec(), Some(90.0))
    }

    #[test]
    fn accumulators_match_hand_computed_values() {
        let v = [2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0];
        assert_eq!(acc(Accumulator::Sum, &v), Ok(40.0));
        assert_eq!(acc(Accumulator::Average, &v), Ok(5.0));
        assert_eq!(acc(Accumulator::Maximum, &v), Ok(9.0));
        assert_eq!(acc(Accumulator::Minimum, &v), Ok(2.0));
        assert_eq!(acc(Accumulator::Count, &v), Ok(8.0));
        assert_eq!(acc(Accumulator::Median, &v), Ok(4.5));
        // Sample standard deviation: sum of squares 32, / 7, sqrt.
        assert!(
            (acc(Accumulator::StandardDeviation, &v).unwrap() - (32.0f64 / 7.0).sqrt()).abs()
                < 1e-12
        );
        assert_eq!(acc(Accumulator::Product, &[2.0, 3.0, 0.5]), Ok(3.0));
        // 90th percentile of 8 values: position 6.3 -> 7 + 0.3 * (9 - 7).
        assert!((acc(Accumulator::Percentile, &v).unwrap() - 7.6).abs() < 1e-12);
    }

    #[test]
    fn empty_windows() {
        assert_eq!(acc(Accumulator::Count, &[]), Ok(0.0));
        assert_eq!(acc(Accumulator::Sum, &[]), Ok(0.0));
        assert!(
            acc(Accumulator::Average, &[])
                .unwrap_err()
                .contains("no measurement")
        );
        assert!(acc(Accumulator::StandardDeviation, &[1.0]).is_err());
    }
}
