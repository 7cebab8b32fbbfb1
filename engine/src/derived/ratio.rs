//! SMM ratio measures: a division reported as a ratio or a percentage.

use smm_catalogue::derived::BinaryOp;

pub fn ratio(numerator: f64, denominator: f64, percent: bool) -> Result<f64, String> {
    let r = super::binary::apply(BinaryOp::Divide, numerator, denominator)?;
    Ok(if percent { 100.0 * r } else { r })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratio_and_percentage() {
        assert_eq!(ratio(1.0, 4.0, false), Ok(0.25));
        assert_eq!(ratio(1.0, 4.0, true), Ok(25.0));
        assert!(ratio(1.0, 0.0, true).is_err());
    }
}
