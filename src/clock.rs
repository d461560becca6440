//! Time, always read through an injectable clock and interpreted in China Standard Time (DESIGN §4).

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};
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
    at.with_timezone(&Shanghai)
        .format("%Y-%m-%d %H:%M")
        .to_string()
}

/// "2026年12月2日"
pub fn cn_date(d: NaiveDate) -> String {
    d.format("%Y年%-m月%-d日").to_string()
}

/// "2026年12月11日 17:00" in Asia/Shanghai.
pub fn cn_minute(at: DateTime<Utc>) -> String {
    let local = at.with_timezone(&Shanghai);
    format!("{} {}", cn_date(local.date_naive()), local.format("%H:%M"))
}

/// A local (Asia/Shanghai) date and time as an instant.
pub fn china_instant(date: NaiveDate, time: NaiveTime) -> DateTime<Utc> {
    let local = NaiveDateTime::new(date, time);
    // Shanghai has no DST: every local time exists exactly once.
    Shanghai
        .from_local_datetime(&local)
        .single()
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|| Utc.from_utc_datetime(&local))
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
