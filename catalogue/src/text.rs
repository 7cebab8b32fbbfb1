//! Text a plugin controls (metadata, values, errors, details) meets a
//! person's terminal: these rules say what may not pass unescaped.
//!
//! Forbidden: C0 controls (except, where text may span lines, `\n` and
//! `\t`), DEL, C1 controls (U+0080–U+009F, among them U+009B, a one-byte
//! CSI), and the bidirectional formatting characters (U+061C, U+200E,
//! U+200F, U+202A–U+202E, U+2066–U+2069) that can make a line read
//! differently from what it holds.

use std::borrow::Cow;

/// Whether `c` may not reach a terminal as is.
pub fn is_forbidden(c: char) -> bool {
    matches!(c,
        '\u{0}'..='\u{1f}' | '\u{7f}'..='\u{9f}'
        | '\u{61c}' | '\u{200e}' | '\u{200f}'
        | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// The first forbidden character of `s` (outside `\n` and `\t` when
/// `multiline`), if any.
pub fn first_forbidden(s: &str, multiline: bool) -> Option<char> {
    s.chars()
        .find(|&c| is_forbidden(c) && !(multiline && (c == '\n' || c == '\t')))
}

/// `s` with every forbidden character written as `\u{XX}`: what a person
/// sees is what the text holds.
pub fn escape(s: &str) -> Cow<'_, str> {
    if !s.chars().any(is_forbidden) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if is_forbidden(c) {
            out.push_str(&format!("\\u{{{:x}}}", c as u32));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// JSON text with every forbidden character that JSON allows raw (C1,
/// bidi formatting) written as a `\uXXXX` escape: the same JSON value,
/// safe to print. serde_json already escapes C0 and DEL stays raw, so
/// both are escaped here too.
pub fn escape_json(json: &str) -> Cow<'_, str> {
    // serde_json writes newlines inside strings as `\n`: a raw one is the
    // layout of pretty-printed JSON, kept as it is.
    let is_forbidden = |c: char| c != '\n' && is_forbidden(c);
    if !json.chars().any(is_forbidden) {
        return Cow::Borrowed(json);
    }
    let mut out = String::with_capacity(json.len() + 8);
    for c in json.chars() {
        // Outside strings JSON has no such characters; inside, `\uXXXX`
        // means the same character (all of them are in the BMP).
        if is_forbidden(c) {
            out.push_str(&format!("\\u{:04x}", c as u32));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// At most `max` bytes of `s` (cut at a character boundary), escaped, with
/// the full length said when cut: for echoing untrusted text in errors.
pub fn shorten(s: &str, max: usize) -> String {
    if s.len() <= max {
        return escape(s).into_owned();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} bytes)", escape(&s[..end]), s.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_what_could_forge_a_terminal() {
        let hostile = "ok\u{1b}[2J\u{9b}31m\u{202e}txt.exe\u{7}";
        let shown = escape(hostile);
        assert!(!shown.chars().any(is_forbidden), "{shown}");
        assert_eq!(shown, "ok\\u{1b}[2J\\u{9b}31m\\u{202e}txt.exe\\u{7}");
        assert!(matches!(escape("plain ✓ text"), Cow::Borrowed(_)));
        assert_eq!(first_forbidden("a\nb\tc", true), None);
        assert_eq!(first_forbidden("a\nb", false), Some('\n'));
    }

    #[test]
    fn escaped_json_is_the_same_value() {
        let value = serde_json::json!({"t": "a\u{9b}b\u{202e}c\u{1b}d\u{7f}"});
        let raw = serde_json::to_string(&value).unwrap();
        let safe = escape_json(&raw);
        assert!(!safe.chars().any(is_forbidden), "{safe}");
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&safe).unwrap(),
            value
        );
        let pretty = serde_json::to_string_pretty(&value).unwrap();
        assert_eq!(escape_json(&pretty).lines().count(), 3, "layout kept");
    }

    #[test]
    fn shortened_echoes_are_bounded() {
        let huge = "x".repeat(40 << 20);
        let s = shorten(&huge, 64);
        assert!(s.len() < 100, "{}", s.len());
        assert!(s.ends_with(&format!("({} bytes)", 40 << 20)));
        assert_eq!(shorten("é\u{1b}", 64), "é\\u{1b}");
        assert!(shorten("ééé", 3).starts_with('é'));
    }
}
