//! The working-day calendar (DESIGN §4): the exceptions to the weekend rule that working days are
//! counted with — statutory holidays on weekdays (放假) and weekend days worked in exchange (调休上班).

use crate::audit::{self, Actor, Entry};
use crate::error::{AppError, AppResult};
use chrono::{Datelike, NaiveDate, Weekday};
use sqlx::PgConnection;

/// Years the calendar can hold: wide enough for any real plan, narrow enough to catch typos.
pub const YEARS: std::ops::RangeInclusive<i32> = 2000..=2099;

const WEEKDAYS: [&str; 7] = [
    "星期一",
    "星期二",
    "星期三",
    "星期四",
    "星期五",
    "星期六",
    "星期日",
];

pub fn weekday_label(day: NaiveDate) -> &'static str {
    WEEKDAYS[day.weekday().num_days_from_monday() as usize]
}

pub fn is_weekend(day: NaiveDate) -> bool {
    matches!(day.weekday(), Weekday::Sat | Weekday::Sun)
}

/// A YYYY-MM-DD date within `YEARS`.
pub fn parse_day(s: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d")
        .ok()
        .filter(|d| YEARS.contains(&d.year()))
}

/// Set (insert or replace) one day's exception; the audit entry keeps what it was.
pub async fn set(
    conn: &mut PgConnection,
    actor: &Actor,
    day: NaiveDate,
    is_workday: bool,
    note: &str,
) -> AppResult<()> {
    let old = sqlx::query!(
        "SELECT is_workday, note FROM calendar_days WHERE day = $1 FOR UPDATE",
        day
    )
    .fetch_optional(&mut *conn)
    .await?;
    sqlx::query!(
        "INSERT INTO calendar_days (day, is_workday, note) VALUES ($1, $2, $3)
         ON CONFLICT (day) DO UPDATE SET is_workday = EXCLUDED.is_workday, note = EXCLUDED.note",
        day,
        is_workday,
        note
    )
    .execute(&mut *conn)
    .await?;
    let detail = serde_json::json!({
        "day": day.to_string(), "is_workday": is_workday, "note": note,
        "from": old.map(|o| serde_json::json!({"is_workday": o.is_workday, "note": o.note})),
    });
    let entry = Entry::ok("calendar.set")
        .on("calendar_day", day)
        .detail(detail);
    audit::record(&mut *conn, actor, entry).await?;
    Ok(())
}

/// Remove one day's exception: it follows the weekend rule again.
pub async fn delete(conn: &mut PgConnection, actor: &Actor, day: NaiveDate) -> AppResult<()> {
    let old = sqlx::query!(
        "DELETE FROM calendar_days WHERE day = $1 RETURNING is_workday, note",
        day
    )
    .fetch_optional(&mut *conn)
    .await?
    .ok_or(AppError::NotFound)?;
    let detail =
        serde_json::json!({"day": day.to_string(), "is_workday": old.is_workday, "note": old.note});
    let entry = Entry::ok("calendar.delete")
        .on("calendar_day", day)
        .detail(detail);
    audit::record(&mut *conn, actor, entry).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_parse_strictly_and_name_their_weekday() {
        let d = parse_day(" 2026-10-01 ").unwrap();
        assert_eq!(weekday_label(d), "星期四");
        assert!(!is_weekend(d));
        assert!(is_weekend(parse_day("2026-09-27").unwrap()));
        for bad in [
            "",
            "2026-02-30",
            "2026/10/01",
            "1899-01-01",
            "99999-01-01",
            "x",
        ] {
            assert!(parse_day(bad).is_none(), "{bad}");
        }
    }
}
