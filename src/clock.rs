//! Time, always read through an injectable clock and interpreted in China Standard Time (DESIGN §4).

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Asia::Shanghai;
use std::sync::{Arc, Mutex};

pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}

pub type SharedClock = Arc<dyn Clock>;

pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock the tests move by hand.
pub struct ManualClock(Mutex<DateTime<Utc>>);

impl ManualClock {
    pub fn new(at: DateTime<Utc>) -> Arc<Self> {
        Arc::new(Self(Mutex::new(at)))
    }
    pub fn advance(&self, by: chrono::Duration) {
        *self.0.lock().unwrap() += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap()
    }
}

/// The calendar date in Asia/Shanghai, whatever the server's own time zone.
pub fn china_date(at: DateTime<Utc>) -> NaiveDate {
    at.with_timezone(&Shanghai).date_naive()
}

/// "2026-11-22 09:05" in Asia/Shanghai, for pages.
pub fn china_minute(at: DateTime<Utc>) -> String {
    at.with_timezone(&Shanghai).format("%Y-%m-%d %H:%M").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn china_date_rolls_over_at_shanghai_midnight() {
        let before = "2026-11-21T15:59:00Z".parse().unwrap();
        let after = "2026-11-21T16:00:00Z".parse().unwrap();
        assert_eq!(china_date(before).to_string(), "2026-11-21");
        assert_eq!(china_date(after).to_string(), "2026-11-22");
        assert_eq!(china_minute(after), "2026-11-22 00:00");
    }

    #[test]
    fn manual_clock_moves_only_when_told() {
        let clock = ManualClock::new("2026-01-01T00:00:00Z".parse().unwrap());
        let t0 = clock.now();
        clock.advance(chrono::Duration::minutes(30));
        assert_eq!(clock.now() - t0, chrono::Duration::minutes(30));
    }
}
