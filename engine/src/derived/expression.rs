//! The expression form of derived measures: evaluates an expression parsed
//! (and checked against its inputs) at registration.

use std::collections::BTreeMap;

use smm_catalogue::expression::{Expr, Op};

/// Evaluate `expression` with the inputs' values. Division by zero and
/// non-finite results are errors.
pub fn evaluate(expression: &str, values: &BTreeMap<&str, f64>) -> Result<f64, String> {
    let expr = Expr::parse(expression)?;
    let v = eval(&expr, values)?;
    if v.is_finite() {
        Ok(v)
    } else {
        Err(format!("{expression} is not a finite number"))
    }
}

fn eval(e: &Expr, values: &BTreeMap<&str, f64>) -> Result<f64, String> {
    Ok(match e {
        Expr::Number(n) => *n,
        Expr::Input(name) => *values
            .get(name.as_str())
            .ok_or_else(|| format!("no value for input `{name}`"))?,
        Expr::Neg(e) => -eval(e, values)?,
        Expr::Binary(l, op, r) => {
            let (l, r) = (eval(l, values)?, eval(r, values)?);
            match op {
                Op::Add => l + r,
                Op::Sub => l - r,
                Op::Mul => l * r,
                Op::Div if r == 0.0 => return Err(format!("division by zero ({l} / 0)")),
                Op::Div => l / r,
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evaluates_with_precedence_and_refuses_zero_denominators() {
        let v = BTreeMap::from([("failed", 3.0), ("deployed", 12.0), ("zero", 0.0)]);
        assert_eq!(evaluate("100 * failed / deployed", &v), Ok(25.0));
        assert_eq!(evaluate("1 + 2 * 3 - -1", &v), Ok(8.0));
        assert_eq!(evaluate("(1 + 2) * 3", &v), Ok(9.0));
        assert!(
            evaluate("failed / zero", &v)
                .unwrap_err()
                .contains("division by zero")
        );
        assert!(evaluate("failed / (deployed - 12)", &v).is_err());
    }
}
