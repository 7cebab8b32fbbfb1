//! SMM rescaled measures: `offset + multiplier × value`.

pub fn rescale(value: f64, offset: f64, multiplier: f64) -> Result<f64, String> {
    let v = offset + multiplier * value;
    if v.is_finite() {
        Ok(v)
    } else {
        Err("the rescaled value is not a finite number".into())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn offset_and_multiplier() {
        // Seconds to hours, and a Celsius-like shift.
        assert_eq!(super::rescale(7200.0, 0.0, 1.0 / 3600.0), Ok(2.0));
        assert_eq!(super::rescale(10.0, 32.0, 1.8), Ok(50.0));
    }
}
