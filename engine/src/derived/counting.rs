//! SMM counting measures (derived): how many measurements in a window have
//! a value inside the predicate interval.

use smm_catalogue::derived::Interval;

pub fn count(values: &[f64], predicate: &Interval) -> f64 {
    values.iter().filter(|&&v| predicate.contains(v)).count() as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_with_open_and_closed_endpoints() {
        let v = [1.0, 5.0, 7.0, 7.0, 9.0];
        let at_least_7 = Interval {
            lower: Some(7.0),
            lower_closed: true,
            upper: None,
            upper_closed: true,
            symbol: None,
            rank: None,
        };
        assert_eq!(count(&v, &at_least_7), 3.0);
        let above_7 = Interval {
            lower_closed: false,
            ..at_least_7
        };
        assert_eq!(count(&v, &above_7), 1.0);
        assert_eq!(count(&[], &above_7), 0.0);
    }
}
