//! SMM binary measures: plus, minus, multiply, divide of two inputs.

use smm_catalogue::derived::BinaryOp;

pub fn apply(op: BinaryOp, left: f64, right: f64) -> Result<f64, String> {
    let v = match op {
        BinaryOp::Plus => left + right,
        BinaryOp::Minus => left - right,
        BinaryOp::Multiply => left * right,
        BinaryOp::Divide if right == 0.0 => {
            return Err(format!("division by zero ({left} / 0)"));
        }
        BinaryOp::Divide => left / right,
    };
    if v.is_finite() {
        Ok(v)
    } else {
        Err(format!("the result of {op:?} is not a finite number"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operators_and_zero_denominators() {
        assert_eq!(apply(BinaryOp::Plus, 2.0, 3.0), Ok(5.0));
        assert_eq!(apply(BinaryOp::Minus, 2.0, 3.0), Ok(-1.0));
        assert_eq!(apply(BinaryOp::Multiply, 2.0, 3.0), Ok(6.0));
        assert_eq!(apply(BinaryOp::Divide, 3.0, 2.0), Ok(1.5));
        assert!(
            apply(BinaryOp::Divide, 3.0, 0.0)
                .unwrap_err()
                .contains("division by zero")
        );
        assert!(
            apply(BinaryOp::Multiply, f64::MAX, 2.0).is_err(),
            "overflow is not inf"
        );
    }
}
