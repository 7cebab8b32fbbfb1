//! The small expression form of derived measures, e.g. `100 * failed / deployed`:
//! numbers, input names, `+ - * /`, unary minus and parentheses, with the
//! usual precedence. Parsed at registration (so a typo is refused there);
//! evaluated by the engine.

use std::collections::BTreeSet;

/// A parsed expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    Number(f64),
    Input(String),
    Neg(Box<Expr>),
    Binary(Box<Expr>, Op, Box<Expr>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Add,
    Sub,
    Mul,
    Div,
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Number(f64),
    Name(String),
    Op(char),
    Open,
    Close,
}

fn tokens(src: &str) -> Result<Vec<(usize, Token)>, String> {
    let mut out = Vec::new();
    let chars: Vec<(usize, char)> = src.char_indices().collect();
    let mut i = 0;
    while i < chars.len() {
        let (at, c) = chars[i];
        match c {
            c if c.is_whitespace() => i += 1,
            '+' | '-' | '*' | '/' => {
                out.push((at, Token::Op(c)));
                i += 1;
            }
            '(' => {
                out.push((at, Token::Open));
                i += 1;
            }
            ')' => {
                out.push((at, Token::Close));
                i += 1;
            }
            c if c.is_ascii_digit() || c == '.' => {
                let start = i;
                while i < chars.len() && (chars[i].1.is_ascii_digit() || chars[i].1 == '.') {
                    i += 1;
                }
                let text: String = chars[start..i].iter().map(|(_, c)| c).collect();
                let n = text
                    .parse()
                    .map_err(|_| format!("at column {}: {text:?} is not a number", at + 1))?;
                out.push((at, Token::Number(n)));
            }
            c if c.is_ascii_alphabetic() || c == '_' => {
                let start = i;
                while i < chars.len() && (chars[i].1.is_ascii_alphanumeric() || chars[i].1 == '_') {
                    i += 1;
                }
                out.push((
                    at,
                    Token::Name(chars[start..i].iter().map(|(_, c)| c).collect()),
                ));
            }
            other => return Err(format!("at column {}: unexpected {other:?}", at + 1)),
        }
    }
    Ok(out)
}

struct Parser {
    tokens: Vec<(usize, Token)>,
    pos: usize,
    len: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos).map(|(_, t)| t)
    }

    fn column(&self) -> usize {
        self.tokens.get(self.pos).map_or(self.len, |(at, _)| *at) + 1
    }

    /// One left-associative precedence level: `next (op next)*`, where
    /// `ops` maps an operator character to its [`Op`].
    fn level(
        &mut self,
        ops: fn(char) -> Option<Op>,
        next: fn(&mut Self) -> Result<Expr, String>,
    ) -> Result<Expr, String> {
        let mut left = next(self)?;
        while let Some(op) = match self.peek() {
            Some(Token::Op(c)) => ops(*c),
            _ => None,
        } {
            self.pos += 1;
            left = Expr::Binary(Box::new(left), op, Box::new(next(self)?));
        }
        Ok(left)
    }

    /// sum := product (('+' | '-') product)*
    fn sum(&mut self) -> Result<Expr, String> {
        self.level(
            |c| match c {
                '+' => Some(Op::Add),
                '-' => Some(Op::Sub),
                _ => None,
            },
            Self::product,
        )
    }

    /// product := unary (('*' | '/') unary)*
    fn product(&mut self) -> Result<Expr, String> {
        self.level(
            |c| match c {
                '*' => Some(Op::Mul),
                '/' => Some(Op::Div),
                _ => None,
            },
            Self::unary,
        )
    }

    /// unary := '-' unary | atom
    fn unary(&mut self) -> Result<Expr, String> {
        if let Some(Token::Op('-')) = self.peek() {
            self.pos += 1;
            return Ok(Expr::Neg(Box::new(self.unary()?)));
        }
        self.atom()
    }

    /// atom := number | name | '(' sum ')'
    fn atom(&mut self) -> Result<Expr, String> {
        let column = self.column();
        match self.tokens.get(self.pos).map(|(_, t)| t.clone()) {
            Some(Token::Number(n)) => {
                self.pos += 1;
                Ok(Expr::Number(n))
            }
            Some(Token::Name(n)) => {
                self.pos += 1;
                Ok(Expr::Input(n))
            }
            Some(Token::Open) => {
                self.pos += 1;
                let inner = self.sum()?;
                match self.peek() {
                    Some(Token::Close) => {
                        self.pos += 1;
                        Ok(inner)
                    }
                    _ => Err(format!("at column {}: expected ')'", self.column())),
                }
            }
            Some(t) => Err(format!("at column {column}: unexpected {t:?}")),
            None => Err(format!("at column {column}: the expression ends too early")),
        }
    }
}

impl Expr {
    /// Parse `src`; the error names the column.
    pub fn parse(src: &str) -> Result<Expr, String> {
        let mut p = Parser {
            tokens: tokens(src)?,
            pos: 0,
            len: src.len(),
        };
        let e = p.sum()?;
        if p.pos != p.tokens.len() {
            return Err(format!(
                "at column {}: unexpected text after the expression",
                p.column()
            ));
        }
        Ok(e)
    }

    /// Names of the inputs the expression reads.
    pub fn names(&self) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        fn walk(e: &Expr, out: &mut BTreeSet<String>) {
            match e {
                Expr::Number(_) => {}
                Expr::Input(n) => {
                    out.insert(n.clone());
                }
                Expr::Neg(e) => walk(e, out),
                Expr::Binary(l, _, r) => {
                    walk(l, out);
                    walk(r, out);
                }
            }
        }
        walk(self, &mut out);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn precedence_parentheses_and_unary_minus() {
        let e = Expr::parse("100 * failed / (deployed - -2)").unwrap();
        assert_eq!(
            e.names(),
            BTreeSet::from(["failed".to_string(), "deployed".to_string()])
        );
        let Expr::Binary(left, Op::Div, _) = e else {
            panic!("{e:?}")
        };
        assert!(
            matches!(*left, Expr::Binary(_, Op::Mul, _)),
            "left to right"
        );
        assert!(matches!(
            Expr::parse("1 + 2 * 3").unwrap(),
            Expr::Binary(_, Op::Add, _)
        ));
    }

    #[test]
    fn errors_name_the_column() {
        assert!(Expr::parse("100 * ").unwrap_err().contains("column 7"));
        assert!(Expr::parse("(a + b").unwrap_err().contains("expected ')'"));
        assert!(Expr::parse("a $ b").unwrap_err().contains("column 3"));
        assert!(Expr::parse("a b").unwrap_err().contains("unexpected text"));
        assert!(Expr::parse("1.2.3").unwrap_err().contains("not a number"));
    }
}
