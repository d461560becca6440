//! 手机验证码: before an online registration counts, the citizen proves they hold the phone with a
//! 6-digit code sent by SMS. The rules (a code's validity and tries, the limit windows, the
//! messages) are pure; `request` and `redeem` apply them in the caller's transaction. A code is
//! stored only as a keyed MAC bound to its row, the phone sealed with a blind index (migration
//! 0029); the clear code is in the outbox body only until the SMS is sent.

use crate::config::rules::PhoneCodes;
use crate::error::AppError;
use crate::notify;
use crate::privacy::{self, Column, Field, Keys};
use chrono::{DateTime, Duration, DurationRound, Utc};
use sqlx::PgConnection;
use std::net::IpAddr;

pub const CODE_DIGITS: usize = 6;

/// The purpose a code's MAC is made for (apart from every other use of the keys).
const MAC_PURPOSE: &str = "phone_code";

pub fn new_code(rng: &mut impl rand::Rng) -> String {
    format!("{:06}", rng.random_range(0..1_000_000u32))
}

/// What people type: spaces dropped, full-width digits (中文输入法) made ASCII.
pub fn normalize(typed: &str) -> String {
    typed
        .chars()
        .filter(|c| !c.is_whitespace())
        .map(|c| match c {
            '０'..='９' => char::from(b'0' + (c as u32 - '０' as u32) as u8),
            c => c,
        })
        .collect()
}

/// The MAC stored for code `code` of row `id`: the same code on two rows hashes apart.
fn mac(keys: &Keys, id: i64, code: &str) -> Vec<u8> {
    keys.sign(MAC_PURPOSE, format!("{id}:{code}").as_bytes())
}

// ---- checking a code ----------------------------------------------------------------------

/// The phone's latest code, as `judge` sees it.
pub struct Latest {
    pub id: i64,
    pub expires_at: DateTime<Utc>,
    pub used: bool,
    pub wrong_tries: i32,
    /// The typed code is this one.
    pub matches: bool,
}

/// Why a typed code does not verify the phone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Nothing typed.
    Empty,
    /// No code was sent to this phone.
    NoneSent,
    Used,
    Expired,
    /// Tries used up: a new code is needed, even for the right one.
    TooManyTries,
    /// A wrong code: the try counts on code `id`.
    Wrong {
        id: i64,
        tries_left: u32,
    },
}

impl Refusal {
    /// The message beside the code field.
    pub fn message(self) -> String {
        match self {
            Refusal::Empty => "请填写短信验证码（先点击“获取验证码”）".into(),
            Refusal::NoneSent => "请先点击“获取验证码”，再填写短信中的 6 位验证码".into(),
            Refusal::Used => "该验证码已使用，请重新获取".into(),
            Refusal::Expired => "验证码已过期，请重新获取".into(),
            Refusal::TooManyTries => "验证码错误次数过多，请重新获取".into(),
            Refusal::Wrong { tries_left: 0, .. } => {
                "验证码不正确，错误次数已达上限，请重新获取".into()
            }
            Refusal::Wrong { tries_left, .. } => {
                format!("验证码不正确，还可以再试 {tries_left} 次")
            }
        }
    }
}

/// Whether the typed code verifies the phone: the latest code sent to it, unused, unexpired, and
/// tried wrongly fewer than `max_wrong` times.
pub fn judge(
    latest: Option<&Latest>,
    typed: &str,
    now: DateTime<Utc>,
    max_wrong: u32,
) -> Result<i64, Refusal> {
    if typed.is_empty() {
        return Err(Refusal::Empty);
    }
    let Some(c) = latest else {
        return Err(Refusal::NoneSent);
    };
    let tried = u32::try_from(c.wrong_tries).unwrap_or(0);
    if c.used {
        Err(Refusal::Used)
    } else if tried >= max_wrong {
        Err(Refusal::TooManyTries)
    } else if now >= c.expires_at {
        Err(Refusal::Expired)
    } else if !c.matches {
        Err(Refusal::Wrong {
            id: c.id,
            tries_left: max_wrong - tried - 1,
        })
    } else {
        Ok(c.id)
    }
}

// ---- the limits on sending ----------------------------------------------------------------

/// A fixed counting window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Period {
    Hour,
    /// A calendar day in China (UTC+8, no daylight saving).
    ChinaDay,
}

/// The window `now` falls in: its start, its length in seconds and the seconds until it ends.
pub fn window(period: Period, now: DateTime<Utc>) -> (DateTime<Utc>, i32, i64) {
    let china = Duration::hours(8);
    let (length, start) = match period {
        Period::Hour => {
            let len = Duration::hours(1);
            (len, now.duration_trunc(len).unwrap_or(now))
        }
        Period::ChinaDay => {
            let len = Duration::days(1);
            (
                len,
                (now + china).duration_trunc(len).unwrap_or(now) - china,
            )
        }
    };
    (
        start,
        length.num_seconds() as i32,
        seconds_until(start + length, now),
    )
}

/// Whole seconds from `now` until `t`, rounded up (a client waiting that long is never early).
pub fn seconds_until(t: DateTime<Utc>, now: DateTime<Utc>) -> i64 {
    let ms = (t - now).num_milliseconds();
    ((ms + 999) / 1000).max(1)
}

/// Why no code is sent now; each answers 429 with Retry-After.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Limited {
    /// One code per phone per interval.
    TooSoon {
        retry_after: i64,
    },
    PhoneToday {
        limit: u32,
        retry_after: i64,
    },
    Ip {
        retry_after: i64,
    },
    /// The deployment's hourly ceiling.
    Busy {
        retry_after: i64,
    },
}

impl Limited {
    pub fn retry_after(self) -> i64 {
        match self {
            Limited::TooSoon { retry_after }
            | Limited::PhoneToday { retry_after, .. }
            | Limited::Ip { retry_after }
            | Limited::Busy { retry_after } => retry_after,
        }
    }

    /// The message beside the phone field, saying when to try again.
    pub fn message(self, now: DateTime<Utc>) -> String {
        let when = retry_when(self.retry_after(), now);
        match self {
            Limited::TooSoon { .. } => {
                format!("验证码已发送，每个手机号码每分钟只能获取一次，请{when}再试")
            }
            Limited::PhoneToday { limit, .. } => {
                format!("该手机号码今天获取验证码已达 {limit} 次，请{when}再试")
            }
            Limited::Ip { .. } => format!("您所在的网络获取验证码过于频繁，请{when}再试"),
            Limited::Busy { .. } => format!("验证码发送繁忙，请{when}再试"),
        }
    }
}

/// When to try again, in words: "45 秒后", "12 分钟后", "明天 00:00 以后".
pub fn retry_when(retry_after: i64, now: DateTime<Utc>) -> String {
    if retry_after <= 90 {
        return format!(" {retry_after} 秒后");
    }
    if retry_after < 3600 {
        return format!(" {} 分钟后", (retry_after + 59) / 60);
    }
    let at = now + Duration::seconds(retry_after);
    let day = if crate::clock::china_date(at) == crate::clock::china_date(now) {
        "今天"
    } else {
        "明天"
    };
    let time = at.with_timezone(&chrono_tz::Asia::Shanghai).format("%H:%M");
    format!("{day} {time} 以后")
}

/// Count one code in `bucket`'s current window: the count now, and the seconds until the window ends.
async fn count(
    conn: &mut PgConnection,
    bucket: &str,
    period: Period,
    now: DateTime<Utc>,
) -> sqlx::Result<(i64, i64)> {
    let (start, seconds, retry_after) = window(period, now);
    let n = sqlx::query_scalar!(
        "INSERT INTO rate_limits (bucket, window_start, window_seconds, count) VALUES ($1, $2, $3, 1)
         ON CONFLICT (bucket, window_start) DO UPDATE SET count = rate_limits.count + 1 RETURNING count",
        bucket,
        start,
        seconds
    )
    .fetch_one(&mut *conn)
    .await?;
    Ok((i64::from(n), retry_after))
}

/// A code sent (queued in the outbox with its SMS).
#[derive(Debug)]
pub struct Sent {
    pub id: i64,
    /// `138****5678`, for "验证码已发送至 …".
    pub mask: String,
}

/// Send a code to `phone` (valid, normalised) unless a limit says no. The counters go up in the
/// caller's transaction and come down with a refusal: only codes sent are counted. Taken in one
/// order (IP, phone, deployment), the phone's counter row also makes two requests for one phone
/// wait for each other, so the interval holds between them.
pub async fn request(
    conn: &mut PgConnection,
    keys: &Keys,
    rules: &PhoneCodes,
    phone: &str,
    ip: IpAddr,
    now: DateTime<Utc>,
) -> Result<Result<Sent, Limited>, AppError> {
    sqlx::query("SAVEPOINT phone_code")
        .execute(&mut *conn)
        .await?;
    let sent = request_in_savepoint(conn, keys, rules, phone, ip, now).await?;
    let end = match sent {
        Ok(_) => "RELEASE SAVEPOINT phone_code",
        Err(_) => "ROLLBACK TO SAVEPOINT phone_code",
    };
    sqlx::query(end).execute(&mut *conn).await?;
    Ok(sent)
}

async fn request_in_savepoint(
    conn: &mut PgConnection,
    keys: &Keys,
    rules: &PhoneCodes,
    phone: &str,
    ip: IpAddr,
    now: DateTime<Utc>,
) -> Result<Result<Sent, Limited>, AppError> {
    let (n, retry_after) = count(conn, &format!("phone_code:ip:{ip}"), Period::Hour, now).await?;
    if n > i64::from(rules.per_ip_per_hour) {
        return Ok(Err(Limited::Ip { retry_after }));
    }
    let index = keys.blind_index(Field::Phone, phone);
    let bucket = format!("phone_code:phone:{}", hex::encode(&index));
    let (n, retry_after) = count(conn, &bucket, Period::ChinaDay, now).await?;
    if n > i64::from(rules.per_phone_per_day) {
        let limit = rules.per_phone_per_day;
        return Ok(Err(Limited::PhoneToday { limit, retry_after }));
    }
    let last = sqlx::query_scalar!(
        "SELECT max(created_at) FROM phone_codes WHERE phone_index = $1",
        &index
    )
    .fetch_one(&mut *conn)
    .await?;
    if let Some(last) = last.filter(|t| now < *t + rules.interval) {
        let retry_after = seconds_until(last + rules.interval, now);
        return Ok(Err(Limited::TooSoon { retry_after }));
    }
    let (n, retry_after) = count(conn, "phone_code", Period::Hour, now).await?;
    if n > i64::from(rules.per_hour) {
        return Ok(Err(Limited::Busy { retry_after }));
    }
    let id = sqlx::query_scalar!(
        r#"SELECT nextval(pg_get_serial_sequence('phone_codes', 'id')) AS "id!""#
    )
    .fetch_one(&mut *conn)
    .await?;
    let code = new_code(&mut rand::rng());
    let sealed = keys.encrypt(Column::PHONE_CODE_PHONE, id, phone)?;
    let mask = privacy::mask_phone(phone);
    sqlx::query!(
        "INSERT INTO phone_codes (id, phone_cipher, phone_key_id, phone_index, phone_mask, code_hash, created_at, expires_at)
         OVERRIDING SYSTEM VALUE VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        id,
        sealed.bytes,
        sealed.key_id,
        &index,
        mask,
        mac(keys, id, &code),
        now,
        now + rules.ttl
    )
    .execute(&mut *conn)
    .await?;
    let minutes = rules.ttl.num_minutes();
    let message = notify::Message {
        registration_id: None,
        user_id: None,
        phone_code_id: Some(id),
        recipient_mask: &mask,
        kind: "phone.code",
        params: serde_json::json!({"code": code, "minutes": minutes.to_string()}),
    };
    notify::queue(&mut *conn, message).await?;
    Ok(Ok(Sent { id, mask }))
}

/// Use the typed code for `phone`: the latest code sent to it, marked used at `now` when it
/// verifies. Its row stays locked to the end of the transaction, so one code admits one
/// registration. A wrong try is counted by `count_wrong_try` (after the caller's rollback).
pub async fn redeem(
    conn: &mut PgConnection,
    keys: &Keys,
    phone: &str,
    typed: &str,
    now: DateTime<Utc>,
    max_wrong: u32,
) -> Result<Result<i64, Refusal>, AppError> {
    let typed = normalize(typed);
    let latest = sqlx::query!(
        "SELECT id, code_hash, expires_at, used_at, wrong_tries FROM phone_codes
         WHERE phone_index = $1 ORDER BY created_at DESC, id DESC LIMIT 1 FOR UPDATE",
        keys.blind_index(Field::Phone, phone)
    )
    .fetch_optional(&mut *conn)
    .await?
    .map(|c| Latest {
        id: c.id,
        expires_at: c.expires_at,
        used: c.used_at.is_some(),
        wrong_tries: c.wrong_tries,
        matches: typed.len() == CODE_DIGITS
            && keys.verify(
                MAC_PURPOSE,
                format!("{}:{typed}", c.id).as_bytes(),
                &c.code_hash,
            ),
    });
    let verdict = judge(latest.as_ref(), &typed, now, max_wrong);
    if let Ok(id) = verdict {
        sqlx::query!("UPDATE phone_codes SET used_at = $2 WHERE id = $1", id, now)
            .execute(&mut *conn)
            .await?;
    }
    Ok(verdict)
}

/// A wrong try on code `id`: it counts even though the registration it came with is refused.
pub async fn count_wrong_try(conn: &mut PgConnection, id: i64) -> sqlx::Result<()> {
    sqlx::query!(
        "UPDATE phone_codes SET wrong_tries = wrong_tries + 1 WHERE id = $1",
        id
    )
    .execute(conn)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn code(wrong_tries: i32, used: bool, matches: bool) -> Latest {
        Latest {
            id: 7,
            expires_at: at("2026-12-02T08:05:00Z"),
            used,
            wrong_tries,
            matches,
        }
    }

    #[test]
    fn codes_are_six_digits_and_typing_is_forgiven() {
        let mut rng = rand::rng();
        for _ in 0..200 {
            let c = new_code(&mut rng);
            assert_eq!(c.len(), CODE_DIGITS);
            assert!(c.bytes().all(|b| b.is_ascii_digit()), "{c}");
        }
        assert_eq!(normalize(" 123 456 "), "123456");
        assert_eq!(normalize("１２３４５６"), "123456");
    }

    #[test]
    fn the_latest_code_verifies_within_five_minutes_and_once() {
        let now = at("2026-12-02T08:04:59Z");
        assert_eq!(judge(Some(&code(0, false, true)), "1", now, 5), Ok(7));
        assert_eq!(judge(Some(&code(4, false, true)), "1", now, 5), Ok(7));
        let late = at("2026-12-02T08:05:00Z");
        assert_eq!(
            judge(Some(&code(0, false, true)), "1", late, 5),
            Err(Refusal::Expired)
        );
        assert_eq!(
            judge(Some(&code(0, true, true)), "1", now, 5),
            Err(Refusal::Used)
        );
        assert_eq!(judge(None, "1", now, 5), Err(Refusal::NoneSent));
        assert_eq!(
            judge(Some(&code(0, false, true)), "", now, 5),
            Err(Refusal::Empty)
        );
    }

    #[test]
    fn five_wrong_tries_use_a_code_up_and_the_sixth_is_refused_even_when_right() {
        let now = at("2026-12-02T08:01:00Z");
        let left: Vec<_> = (0..5)
            .map(|tried| judge(Some(&code(tried, false, false)), "1", now, 5))
            .collect();
        assert_eq!(
            left,
            (0..5)
                .rev()
                .map(|tries_left| Err(Refusal::Wrong { id: 7, tries_left }))
                .collect::<Vec<_>>()
        );
        assert_eq!(
            judge(Some(&code(5, false, true)), "1", now, 5),
            Err(Refusal::TooManyTries)
        );
        assert!(
            Refusal::Wrong {
                id: 7,
                tries_left: 2
            }
            .message()
            .contains("2 次")
        );
    }

    #[test]
    fn hours_and_china_days_are_fixed_windows() {
        let (start, len, retry) = window(Period::Hour, at("2026-12-02T08:15:30Z"));
        assert_eq!(
            (start, len, retry),
            (at("2026-12-02T08:00:00Z"), 3600, 2670)
        );
        // 15:59 UTC is 23:59 in China: the day ends in a minute.
        let (start, len, retry) = window(Period::ChinaDay, at("2026-12-02T15:59:00Z"));
        assert_eq!((start, len, retry), (at("2026-12-01T16:00:00Z"), 86400, 60));
        // 16:00 UTC is midnight in China: a new day.
        let (start, _, retry) = window(Period::ChinaDay, at("2026-12-02T16:00:00Z"));
        assert_eq!((start, retry), (at("2026-12-02T16:00:00Z"), 86400));
    }

    #[test]
    fn the_message_says_when_to_try_again() {
        let now = at("2026-12-02T08:00:00Z"); // 16:00 in China
        assert_eq!(retry_when(42, now), " 42 秒后");
        assert_eq!(retry_when(601, now), " 11 分钟后");
        assert_eq!(retry_when(8 * 3600, now), "明天 00:00 以后");
        assert_eq!(retry_when(3 * 3600, now), "今天 19:00 以后");
        let limited = Limited::PhoneToday {
            limit: 5,
            retry_after: 8 * 3600,
        };
        assert_eq!(
            limited.message(now),
            "该手机号码今天获取验证码已达 5 次，请明天 00:00 以后再试"
        );
    }
}
