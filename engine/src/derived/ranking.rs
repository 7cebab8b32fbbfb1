//! SMM ranking measures: the rank of the interval a value falls in.

use smm_catalogue::derived::Interval;

pub fn rank(value: f64, intervals: &[Interval]) -> Result<f64, String> {
    intervals
        .iter()
        .find(|i| i.contains(value))
        .and_then(|i| i.rank)
        .ok_or_else(|| format!("the value {value} falls in no ranking interval"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranks_by_interval() {
        let r = [
            Interval {
                lower: None,
                lower_closed: true,
                upper: Some(10.0),
                upper_closed: false,
                symbol: None,
                rank: Some(1.0),
            },
            Interval {
                lower: Some(10.0),
                lower_closed: true,
                upper: None,
                upper_closed: true,
                symbol: None,
                rank: Some(2.0),
            },
        ];
        assert_eq!(rank(-1e9, &r), Ok(1.0));
        assert_eq!(rank(10.0, &r), Ok(2.0));
        assert_eq!(rank(9.99, &r), Ok(1.0));
    }
}
