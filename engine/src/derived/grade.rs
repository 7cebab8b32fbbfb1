//! SMM grade measures: the symbol of the interval a value falls in.

use smm_catalogue::derived::Interval;

pub fn grade(value: f64, intervals: &[Interval]) -> Result<String, String> {
    intervals
        .iter()
        .find(|i| i.contains(value))
        .and_then(|i| i.symbol.clone())
        .ok_or_else(|| format!("the value {value} falls in no grade interval"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn iv(
        lower: Option<f64>,
        lower_closed: bool,
        upper: Option<f64>,
        upper_closed: bool,
        s: &str,
    ) -> Interval {
        Interval {
            lower,
            lower_closed,
            upper,
            upper_closed,
            symbol: Some(s.into()),
            rank: None,
        }
    }

    #[test]
    fn endpoints_decide_the_grade() {
        // A: [0, 1), B: [1, 5], C: (5, +inf)
        let g = [
            iv(Some(0.0), true, Some(1.0), false, "A"),
            iv(Some(1.0), true, Some(5.0), true, "B"),
            iv(Some(5.0), false, None, true, "C"),
        ];
        assert_eq!(grade(0.0, &g).unwrap(), "A");
        assert_eq!(grade(0.999, &g).unwrap(), "A");
        assert_eq!(grade(1.0, &g).unwrap(), "B");
        assert_eq!(grade(5.0, &g).unwrap(), "B");
        assert_eq!(grade(5.0001, &g).unwrap(), "C");
        assert!(grade(-1.0, &g).unwrap_err().contains("no grade interval"));
    }
}
