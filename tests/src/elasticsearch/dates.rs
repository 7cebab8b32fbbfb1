//! Dates, date math and time values as Elasticsearch reads them.
//!
//! Formats modelled: `strict_date_optional_time` (the default, with
//! `epoch_millis`), `date_optional_time`, `strict_date_optional_time_nanos`,
//! `strict_date_time`, `date_time`, `strict_date`, `date`, `epoch_millis`,
//! `epoch_second`, combined with `||`. Custom Java patterns are refused.

use std::time::Duration;

use chrono::{DateTime, Datelike, NaiveDate, TimeZone, Timelike, Utc};

use super::error::EsError;

pub(crate) const DEFAULT_FORMAT: &str = "strict_date_optional_time||epoch_millis";

/// Milliseconds since the epoch, as a `date` field stores them.
pub(crate) type Millis = i64;

/// Parse `text` with a format list such as `strict_date_optional_time||epoch_millis`.
pub(crate) fn parse_date(text: &str, format: &str) -> Option<Millis> {
    format
        .split("||")
        .map(str::trim)
        .filter(|f| is_known_format(f))
        .find_map(|f| parse_with(text, f))
}

pub(crate) fn is_known_format(f: &str) -> bool {
    matches!(
        f,
        "strict_date_optional_time"
            | "date_optional_time"
            | "strict_date_optional_time_nanos"
            | "strict_date_time"
            | "date_time"
            | "strict_date"
            | "date"
            | "epoch_millis"
            | "epoch_second"
    )
}

fn parse_with(text: &str, f: &str) -> Option<Millis> {
    match f {
        "epoch_millis" => parse_epoch(text, 1),
        "epoch_second" => parse_epoch(text, 1000),
        "strict_date" | "date" => {
            let ms = parse_iso(text, f == "date")?;
            (text.len() <= 10).then_some(ms)
        }
        "strict_date_time" | "date_time" => text
            .contains('T')
            .then(|| parse_iso(text, f == "date_time"))
            .flatten(),
        _ => parse_iso(text, f == "date_optional_time"),
    }
}

fn parse_epoch(text: &str, scale: i64) -> Option<Millis> {
    let (int, frac) = text.split_once('.').unwrap_or((text, ""));
    let digits = int.strip_prefix('-').unwrap_or(int);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let v: i64 = int.parse().ok()?;
    v.checked_mul(scale)
}

/// `yyyy[-MM[-dd[THH[:mm[:ss[.fraction]]]]]][zone]`, strict = fixed widths.
fn parse_iso(text: &str, lenient: bool) -> Option<Millis> {
    let b = text.as_bytes();
    let mut i = 0usize;
    let num = |i: &mut usize, min: usize, max: usize| -> Option<u32> {
        let start = *i;
        while *i < b.len() && b[*i].is_ascii_digit() && *i - start < max {
            *i += 1;
        }
        let len = *i - start;
        if len < min {
            return None;
        }
        text[start..*i].parse().ok()
    };
    let year = num(&mut i, if lenient { 1 } else { 4 }, 4)? as i32;
    let (mut month, mut day, mut hour, mut minute, mut second, mut nanos) = (1, 1, 0, 0, 0, 0u32);
    let mut offset_secs: i32 = 0;
    'parse: {
        if i == b.len() {
            break 'parse;
        }
        if b[i] != b'-' {
            return None;
        }
        i += 1;
        month = num(&mut i, if lenient { 1 } else { 2 }, 2)?;
        if i == b.len() {
            break 'parse;
        }
        if b[i] != b'-' {
            return None;
        }
        i += 1;
        day = num(&mut i, if lenient { 1 } else { 2 }, 2)?;
        if i == b.len() {
            break 'parse;
        }
        if b[i] != b'T' {
            return None;
        }
        i += 1;
        hour = num(&mut i, if lenient { 1 } else { 2 }, 2)?;
        if i < b.len() && b[i] == b':' {
            i += 1;
            minute = num(&mut i, if lenient { 1 } else { 2 }, 2)?;
            if i < b.len() && b[i] == b':' {
                i += 1;
                second = num(&mut i, if lenient { 1 } else { 2 }, 2)?;
                if i < b.len() && (b[i] == b'.' || b[i] == b',') {
                    i += 1;
                    let start = i;
                    while i < b.len() && b[i].is_ascii_digit() && i - start < 9 {
                        i += 1;
                    }
                    if i == start {
                        return None;
                    }
                    let frac = &text[start..i];
                    nanos = format!("{frac:0<9}").parse().ok()?;
                }
            }
        }
        if i == b.len() {
            break 'parse;
        }
        match b[i] {
            b'Z' if i + 1 == b.len() => {}
            b'+' | b'-' => {
                let sign = if b[i] == b'-' { -1 } else { 1 };
                i += 1;
                let hh = num(&mut i, 2, 2)? as i32;
                let mut mm = 0;
                if i < b.len() && b[i] == b':' {
                    i += 1;
                }
                if i < b.len() {
                    mm = num(&mut i, 2, 2)? as i32;
                }
                if i != b.len() || hh > 18 || mm > 59 {
                    return None;
                }
                offset_secs = sign * (hh * 3600 + mm * 60);
            }
            _ => return None,
        }
    }
    let date = NaiveDate::from_ymd_opt(year, month, day)?;
    let dt = date.and_hms_nano_opt(hour, minute, second, nanos)?;
    let utc = Utc.from_utc_datetime(&dt) - chrono::Duration::seconds(offset_secs as i64);
    Some(utc.timestamp_millis())
}

/// Format millis as `strict_date_optional_time` output (`…T…​.SSSZ`).
pub(crate) fn format_millis(ms: Millis) -> String {
    match Utc.timestamp_millis_opt(ms).single() {
        Some(dt) => dt.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
        None => ms.to_string(),
    }
}

pub(crate) fn now_millis() -> Millis {
    Utc::now().timestamp_millis()
}

/// Date math (`now-1d/d`, `2026-11-27||+1M`); `round_up` for `gt`/`lte`.
pub(crate) fn parse_date_math(text: &str, format: &str, round_up: bool) -> Option<Millis> {
    let (anchor, mut ops) = if let Some(rest) = text.strip_prefix("now") {
        (now_millis(), rest)
    } else if let Some((anchor, rest)) = text.split_once("||") {
        (parse_date(anchor, format)?, rest)
    } else {
        return parse_date(text, format);
    };
    let mut dt: DateTime<Utc> = Utc.timestamp_millis_opt(anchor).single()?;
    while !ops.is_empty() {
        let op = ops.as_bytes()[0];
        ops = &ops[1..];
        let digits = ops.bytes().take_while(u8::is_ascii_digit).count();
        let n: i64 = if digits == 0 {
            1
        } else {
            ops[..digits].parse().ok()?
        };
        ops = &ops[digits..];
        let unit = ops.chars().next()?;
        ops = &ops[unit.len_utf8()..];
        match op {
            b'+' | b'-' => {
                let n = if op == b'-' { -n } else { n };
                dt = match unit {
                    'y' => add_months(dt, n * 12)?,
                    'M' => add_months(dt, n)?,
                    'w' => dt + chrono::Duration::weeks(n),
                    'd' => dt + chrono::Duration::days(n),
                    'h' | 'H' => dt + chrono::Duration::hours(n),
                    'm' => dt + chrono::Duration::minutes(n),
                    's' => dt + chrono::Duration::seconds(n),
                    _ => return None,
                };
            }
            b'/' if digits == 0 => {
                let floor = round_down(dt, unit)?;
                dt = if round_up {
                    let next = match unit {
                        'y' => add_months(floor, 12)?,
                        'M' => add_months(floor, 1)?,
                        'w' => floor + chrono::Duration::weeks(1),
                        'd' => floor + chrono::Duration::days(1),
                        'h' | 'H' => floor + chrono::Duration::hours(1),
                        'm' => floor + chrono::Duration::minutes(1),
                        's' => floor + chrono::Duration::seconds(1),
                        _ => return None,
                    };
                    next - chrono::Duration::milliseconds(1)
                } else {
                    floor
                };
            }
            _ => return None,
        }
    }
    Some(dt.timestamp_millis())
}

fn add_months(dt: DateTime<Utc>, n: i64) -> Option<DateTime<Utc>> {
    let total = dt.year() as i64 * 12 + dt.month0() as i64 + n;
    let (y, m) = (total.div_euclid(12) as i32, total.rem_euclid(12) as u32 + 1);
    let day = dt.day().min(days_in_month(y, m));
    let d = NaiveDate::from_ymd_opt(y, m, day)?.and_time(dt.time());
    Some(Utc.from_utc_datetime(&d))
}

fn days_in_month(y: i32, m: u32) -> u32 {
    let next = if m == 12 {
        NaiveDate::from_ymd_opt(y + 1, 1, 1)
    } else {
        NaiveDate::from_ymd_opt(y, m + 1, 1)
    };
    next.and_then(|n| n.pred_opt()).map_or(28, |d| d.day())
}

fn round_down(dt: DateTime<Utc>, unit: char) -> Option<DateTime<Utc>> {
    let d = dt.date_naive();
    let t = match unit {
        'y' => NaiveDate::from_ymd_opt(d.year(), 1, 1)?.and_hms_opt(0, 0, 0)?,
        'M' => NaiveDate::from_ymd_opt(d.year(), d.month(), 1)?.and_hms_opt(0, 0, 0)?,
        'w' => (d - chrono::Duration::days(d.weekday().num_days_from_monday() as i64))
            .and_hms_opt(0, 0, 0)?,
        'd' => d.and_hms_opt(0, 0, 0)?,
        'h' | 'H' => d.and_hms_opt(dt.hour(), 0, 0)?,
        'm' => d.and_hms_opt(dt.hour(), dt.minute(), 0)?,
        's' => d.and_hms_opt(dt.hour(), dt.minute(), dt.second())?,
        _ => return None,
    };
    Some(Utc.from_utc_datetime(&t))
}

/// A time value (`30s`, `1m`, `500ms`) as ES parses settings and params.
pub(crate) fn parse_time_value(text: &str, setting: &str) -> Result<Duration, EsError> {
    let bad = |why: &str| {
        EsError::parse(format!(
            "failed to parse setting [{setting}] with value [{text}] as a time value: {why}"
        ))
    };
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .ok_or_else(|| bad("unit is missing or unrecognized"))?;
    let (num, unit) = t.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| bad("negative durations are not supported"))?;
    let nanos_per = match unit.trim() {
        "nanos" => 1.0,
        "micros" => 1e3,
        "ms" => 1e6,
        "s" => 1e9,
        "m" => 60e9,
        "h" => 3600e9,
        "d" => 86400e9,
        _ => return Err(bad("unit is missing or unrecognized")),
    };
    Ok(Duration::from_nanos((n * nanos_per) as u64))
}

/// `yyyy.MM.dd` of today (UTC), as in backing index names.
pub(crate) fn today_dotted() -> String {
    Utc::now().format("%Y.%m.%d").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_default_formats() {
        let ms = parse_date("2026-11-27T10:00:00.123Z", DEFAULT_FORMAT).unwrap();
        assert_eq!(format_millis(ms), "2026-11-27T10:00:00.123Z");
        assert_eq!(
            parse_date("2026-11-27", DEFAULT_FORMAT),
            parse_date("2026-11-27T00:00:00Z", DEFAULT_FORMAT)
        );
        assert_eq!(
            parse_date("2026-11-27T11:00:00+01:00", DEFAULT_FORMAT),
            parse_date("2026-11-27T10:00:00Z", DEFAULT_FORMAT)
        );
        assert_eq!(
            parse_date("1700000000000", DEFAULT_FORMAT),
            Some(1_700_000_000_000)
        );
        assert_eq!(parse_date("yesterday", DEFAULT_FORMAT), None);
        assert_eq!(parse_date("2026-1-27", "strict_date_optional_time"), None);
        assert!(parse_date("2026-1-27", "date_optional_time").is_some());
        assert_eq!(parse_date("2026-11-27", "yyyy-MM-dd"), None);
        let d = parse_date_math("2026-11-27T10:30:00Z||/d", DEFAULT_FORMAT, false).unwrap();
        assert_eq!(format_millis(d), "2026-11-27T00:00:00.000Z");
        let d = parse_date_math("2026-11-27T10:30:00Z||+1d/d", DEFAULT_FORMAT, true).unwrap();
        assert_eq!(format_millis(d), "2026-11-28T23:59:59.999Z");
        assert_eq!(
            parse_time_value("1m", "keep_alive").unwrap(),
            Duration::from_secs(60)
        );
        assert!(parse_time_value("1x", "keep_alive").is_err());
    }
}
