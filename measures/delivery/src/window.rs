//! The period a statistic is taken over.

use chrono::{DateTime, TimeDelta, Utc};

/// A half-open period of time, `[start, end)`: an instant equal to `start`
/// is in it, one equal to `end` is not, so consecutive windows (a month,
/// then the next) never count an event twice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Window {
    /// The first instant in the window.
    pub start: DateTime<Utc>,
    /// The first instant after the window.
    pub end: DateTime<Utc>,
}

impl Window {
    /// The window `[start, end)`, or `None` when `end` is not after `start`
    /// (an empty or reversed window).
    pub fn new(start: DateTime<Utc>, end: DateTime<Utc>) -> Option<Window> {
        (start < end).then_some(Window { start, end })
    }

    /// The window of `length` ending at `end` (excluded): the last 30 days
    /// before a measurement, for instance. `None` when `length` is not
    /// positive or the start would be out of range.
    pub fn ending_at(end: DateTime<Utc>, length: TimeDelta) -> Option<Window> {
        Window::new(end.checked_sub_signed(length)?, end)
    }

    /// Whether `t` is in the window: `start <= t < end`.
    pub fn contains(&self, t: DateTime<Utc>) -> bool {
        self.start <= t && t < self.end
    }

    /// The window's length in days (fractional).
    pub fn days(&self) -> f64 {
        hours(self.end - self.start) / 24.0
    }
}

/// A duration in hours, fractional (to the millisecond).
pub fn hours(d: TimeDelta) -> f64 {
    d.num_milliseconds() as f64 / 3_600_000.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::at;

    #[test]
    fn start_is_in_and_end_is_out() {
        let w = Window::new(at("2024-01-01T00:00:00Z"), at("2024-01-31T00:00:00Z")).unwrap();
        assert!(w.contains(at("2024-01-01T00:00:00Z")));
        assert!(w.contains(at("2024-01-30T23:59:59Z")));
        assert!(!w.contains(at("2024-01-31T00:00:00Z")));
        assert!(!w.contains(at("2023-12-31T23:59:59Z")));
        assert_eq!(w.days(), 30.0);
    }

    #[test]
    fn empty_and_reversed_windows_are_refused() {
        let t = at("2024-01-01T00:00:00Z");
        assert_eq!(Window::new(t, t), None);
        assert_eq!(Window::new(t, at("2023-01-01T00:00:00Z")), None);
        assert_eq!(Window::ending_at(t, TimeDelta::zero()), None);
        let w = Window::ending_at(t, TimeDelta::days(7)).unwrap();
        assert_eq!(w.start, at("2023-12-25T00:00:00Z"));
        assert_eq!(w.end, t);
    }
}
