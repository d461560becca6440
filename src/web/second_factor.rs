//! The second step of signing in (DESIGN §7): a right password opens only a challenge (5 minutes,
//! server-side, keyed by the hash of a random cookie value); a TOTP code — or, once enrolled, a
//! recovery code — answers it and only then is a session opened. The first answer of an account
//! enrols it. A code of a step at or before the last accepted one is refused (no replay); wrong
//! answers count towards the password lockout. No HTTP here: the pages are
//! `web::pages::second_factor`.

use crate::audit::{self, Actor, Entry};
use crate::error::AppResult;
use crate::privacy::{Column, Keys};
use crate::web::auth::Role;
use crate::web::login::{self, Lockout};
use crate::web::session;
use crate::web::totp::{self, Typed};
use axum_extra::extract::cookie::{Cookie, SameSite};
use chrono::{DateTime, Duration, Utc};
use sqlx::{PgConnection, PgExecutor, PgPool};
use std::net::IpAddr;

/// The challenge cookie: only the sign-in pages see it.
pub const COOKIE: &str = "xf_login";

/// How long a right password waits for its second factor.
pub fn ttl() -> Duration {
    Duration::minutes(5)
}

/// Open a challenge for `user_id` after a right password; an account not enrolled yet gets a
/// candidate secret (encrypted) to enrol with. Returns the cookie value.
pub async fn open(
    db: impl PgExecutor<'_>,
    keys: &Keys,
    user_id: i64,
    enrolled: bool,
    next: &str,
    now: DateTime<Utc>,
) -> AppResult<String> {
    let token = session::new_token();
    let id_hash = session::hash(&token);
    let sealed = (!enrolled)
        .then(|| {
            let secret = hex::encode(totp::new_secret());
            keys.encrypt(
                Column::CHALLENGE_ENROL_SECRET,
                hex::encode(&id_hash),
                &secret,
            )
        })
        .transpose()?;
    let next: String = next.chars().take(2000).collect();
    sqlx::query!(
        "INSERT INTO login_challenges (id_hash, user_id, created_at, expires_at, next, enrol_secret, enrol_key_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        id_hash,
        user_id,
        now,
        now + ttl(),
        next,
        sealed.as_ref().map(|s| s.bytes.clone()),
        sealed.as_ref().map(|s| s.key_id),
    )
    .execute(db)
    .await?;
    Ok(token)
}

/// A live challenge: whose it is, the secret its code is checked against, and where to go after.
pub struct Pending {
    pub user_id: i64,
    pub username: String,
    display_name: String,
    role: Option<Role>,
    /// The account's secret, or (while enrolling) the candidate one.
    pub secret: Vec<u8>,
    pub enrolling: bool,
    pub next: String,
}

impl Pending {
    fn actor(&self, ip: IpAddr) -> Actor {
        Actor {
            id: Some(self.user_id),
            name: self.username.clone(),
            role: self.role.map(Role::as_str),
            ip: Some(ip),
            jurisdiction_id: None,
        }
    }
}

/// The challenge behind a cookie value, unless it expired or the account is no longer active.
pub async fn pending(
    db: &PgPool,
    keys: &Keys,
    token: &str,
    now: DateTime<Utc>,
) -> AppResult<Option<Pending>> {
    let Some(row) = sqlx::query!(
        r#"SELECT c.user_id, c.next, c.enrol_secret, c.enrol_key_id, u.username, u.display_name, u.role,
                  u.totp_secret, u.totp_key_id
           FROM login_challenges c JOIN users u ON u.id = c.user_id
           WHERE c.id_hash = $1 AND c.expires_at > $2 AND u.active"#,
        session::hash(token),
        now
    )
    .fetch_optional(db)
    .await?
    else {
        return Ok(None);
    };
    let open = |column: Column, row: String, bytes: &[u8], key: i16| -> AppResult<Vec<u8>> {
        let text = keys.decrypt(column, row, key, bytes)?;
        Ok(hex::decode(text).map_err(anyhow::Error::from)?)
    };
    let user = row.user_id.to_string();
    let challenge = hex::encode(session::hash(token));
    let (secret, enrolling) = match (row.totp_secret, row.totp_key_id) {
        (Some(s), Some(k)) => (open(Column::USER_TOTP_SECRET, user, &s, k)?, false),
        _ => match (row.enrol_secret, row.enrol_key_id) {
            (Some(s), Some(k)) => (
                open(Column::CHALLENGE_ENROL_SECRET, challenge, &s, k)?,
                true,
            ),
            // Reset since the password step: start again.
            _ => return Ok(None),
        },
    };
    Ok(Some(Pending {
        user_id: row.user_id,
        username: row.username,
        display_name: row.display_name,
        role: row.role.as_deref().and_then(Role::parse),
        secret,
        enrolling,
        next: row.next,
    }))
}

/// An answer as typed, with where it came from.
pub struct Answer<'a> {
    pub challenge: &'a str,
    pub code: &'a str,
    pub ip: IpAddr,
    pub user_agent: Option<&'a str>,
    /// The session cookie the browser brought, if any: it is ended at sign-in.
    pub old_session: Option<&'a str>,
}

pub struct SignedIn {
    pub token: String,
    pub display_name: String,
    pub role: Role,
    pub must_change_password: bool,
    pub next: String,
    /// Only right after enrolment: shown once, never stored in clear.
    pub recovery_codes: Vec<String>,
}

pub enum Outcome {
    SignedIn(SignedIn),
    /// A wrong, replayed or used-up code, or the account is locked: the page does not say which.
    Refused,
    /// No live challenge: back to the password.
    Expired,
}

/// Which factor answered, for the audit.
enum Factor {
    Totp(i64),
    Recovery(Vec<u8>),
}

/// Answer a challenge: a right code opens a session (enrolling the account on its first one); a
/// wrong one counts towards the lockout. The lock, the replay check and the single use of a
/// recovery code are each decided in the statement that writes them.
pub async fn answer(
    db: &PgPool,
    keys: &Keys,
    answer: Answer<'_>,
    now: DateTime<Utc>,
    lockout: &Lockout,
) -> AppResult<Outcome> {
    let Some(p) = pending(db, keys, answer.challenge, now).await? else {
        return Ok(Outcome::Expired);
    };
    let actor = p.actor(answer.ip);
    let (factor, reason) = typed_factor(&p, answer.code, now);
    let Some(factor) = factor else {
        login::count_failure(db, &actor, p.user_id, now, lockout, reason).await?;
        return Ok(Outcome::Refused);
    };
    let mut tx = db.begin().await?;
    let Some((role, must_change_password)) = accept(&mut tx, keys, &p, &factor, now).await? else {
        tx.rollback().await?;
        return refuse(db, &actor, &p, &factor, now, lockout).await;
    };
    let Some(role) = role.as_deref().and_then(Role::parse) else {
        // The role was withdrawn since the password step: no session, back to the password.
        tx.rollback().await?;
        return Ok(Outcome::Expired);
    };
    let recovery_codes = if p.enrolling {
        enrolled(&mut tx, &actor, p.user_id, now).await?
    } else {
        Vec::new()
    };
    let token = open_session(&mut tx, &p, &answer, &actor, &factor, now).await?;
    tx.commit().await?;
    Ok(Outcome::SignedIn(SignedIn {
        token,
        display_name: p.display_name,
        role,
        must_change_password,
        next: p.next,
        recovery_codes,
    }))
}

/// What was typed, checked against the challenge's secret; and the reason to audit if it is wrong.
fn typed_factor(p: &Pending, code: &str, now: DateTime<Utc>) -> (Option<Factor>, &'static str) {
    match totp::parse(code) {
        Typed::Totp(code) => (
            totp::check(&p.secret, &code, now).map(Factor::Totp),
            "wrong_code",
        ),
        Typed::Recovery(code) if !p.enrolling => (
            Some(Factor::Recovery(totp::recovery_hash(&code))),
            "wrong_recovery_code",
        ),
        _ => (None, "wrong_code"),
    }
}

/// The challenge is answered: it goes, and a new session comes with its audit entry.
async fn open_session(
    tx: &mut PgConnection,
    p: &Pending,
    answer: &Answer<'_>,
    actor: &Actor,
    factor: &Factor,
    now: DateTime<Utc>,
) -> AppResult<String> {
    sqlx::query!(
        "DELETE FROM login_challenges WHERE id_hash = $1",
        session::hash(answer.challenge)
    )
    .execute(&mut *tx)
    .await?;
    let detail = factor_detail(&mut *tx, p.user_id, factor, p.enrolling).await?;
    let start = login::SessionStart {
        user_id: p.user_id,
        old_session: answer.old_session,
        ip: answer.ip,
        user_agent: answer.user_agent,
    };
    Ok(login::start_session(&mut *tx, &start, actor, detail, now).await?)
}

/// Take the factor and reset the failure count, unless the account is locked, the step was used
/// already, or the recovery code is unknown or used: `None` then.
async fn accept(
    tx: &mut PgConnection,
    keys: &Keys,
    p: &Pending,
    factor: &Factor,
    now: DateTime<Utc>,
) -> AppResult<Option<(Option<String>, bool)>> {
    let step = match factor {
        Factor::Totp(step) => Some(*step),
        Factor::Recovery(_) => None,
    };
    // Enrolment: the candidate secret is encrypted anew for the account's row.
    let sealed = p
        .enrolling
        .then(|| keys.encrypt(Column::USER_TOTP_SECRET, p.user_id, &hex::encode(&p.secret)))
        .transpose()?;
    let row = match &sealed {
        Some(sealed) => sqlx::query!(
            "UPDATE users SET failed_logins = 0, locked_until = NULL, totp_secret = $3, totp_key_id = $4,
                    totp_enrolled_at = $2, totp_last_step = $5
             WHERE id = $1 AND active AND (locked_until IS NULL OR locked_until <= $2) AND totp_secret IS NULL
             RETURNING role, must_change_password",
            p.user_id, now, sealed.bytes, sealed.key_id, step
        )
        .fetch_optional(&mut *tx)
        .await?
        .map(|r| (r.role, r.must_change_password)),
        None => sqlx::query!(
            "UPDATE users SET failed_logins = 0, locked_until = NULL, totp_last_step = COALESCE($3, totp_last_step)
             WHERE id = $1 AND active AND (locked_until IS NULL OR locked_until <= $2) AND totp_secret IS NOT NULL
               AND ($3::bigint IS NULL OR totp_last_step IS NULL OR totp_last_step < $3)
             RETURNING role, must_change_password",
            p.user_id, now, step
        )
        .fetch_optional(&mut *tx)
        .await?
        .map(|r| (r.role, r.must_change_password)),
    };
    if let (Some(_), Factor::Recovery(hash)) = (&row, factor) {
        let used = sqlx::query!(
            "UPDATE recovery_codes SET used_at = $3 WHERE user_id = $1 AND code_hash = $2 AND used_at IS NULL",
            p.user_id,
            hash,
            now
        )
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if used == 0 {
            return Ok(None);
        }
    }
    Ok(row)
}

/// A right-looking factor that was not taken: a lock in force refuses without counting (as a
/// right password does); a replayed step or a used recovery code counts as a wrong answer.
async fn refuse(
    db: &PgPool,
    actor: &Actor,
    p: &Pending,
    factor: &Factor,
    now: DateTime<Utc>,
    lockout: &Lockout,
) -> AppResult<Outcome> {
    let locked = sqlx::query_scalar!(
        r#"SELECT (locked_until IS NOT NULL AND locked_until > $2) AS "locked!" FROM users WHERE id = $1"#,
        p.user_id,
        now
    )
    .fetch_one(db)
    .await?;
    if locked {
        let detail = serde_json::json!({"reason": "locked", "factor": factor_name(factor)});
        audit::record(db, actor, Entry::failed("login").detail(detail)).await?;
    } else {
        let reason = match factor {
            Factor::Totp(_) => "replayed_code",
            Factor::Recovery(_) => "wrong_recovery_code",
        };
        login::count_failure(db, actor, p.user_id, now, lockout, reason).await?;
    }
    Ok(Outcome::Refused)
}

fn factor_name(factor: &Factor) -> &'static str {
    match factor {
        Factor::Totp(_) => "totp",
        Factor::Recovery(_) => "recovery_code",
    }
}

/// The audit detail of a sign-in through the second factor.
async fn factor_detail(
    tx: &mut PgConnection,
    user_id: i64,
    factor: &Factor,
    enrolled: bool,
) -> sqlx::Result<serde_json::Value> {
    let mut detail = serde_json::json!({"factor": factor_name(factor), "enrolled": enrolled});
    if let Factor::Recovery(_) = factor {
        let left = sqlx::query_scalar!(
            r#"SELECT count(*) AS "n!" FROM recovery_codes WHERE user_id = $1 AND used_at IS NULL"#,
            user_id
        )
        .fetch_one(&mut *tx)
        .await?;
        detail["recovery_codes_left"] = left.into();
    }
    Ok(detail)
}

/// The account has just enrolled: ten new recovery codes (any earlier ones go), audited.
async fn enrolled(
    tx: &mut PgConnection,
    actor: &Actor,
    user_id: i64,
    now: DateTime<Utc>,
) -> AppResult<Vec<String>> {
    let codes = totp::new_recovery_codes();
    let hashes: Vec<Vec<u8>> = codes
        .iter()
        .map(|c| match totp::parse(c) {
            Typed::Recovery(n) => totp::recovery_hash(&n),
            _ => unreachable!("a generated code parses"),
        })
        .collect();
    sqlx::query!("DELETE FROM recovery_codes WHERE user_id = $1", user_id)
        .execute(&mut *tx)
        .await?;
    sqlx::query!(
        "INSERT INTO recovery_codes (user_id, code_hash, created_at) SELECT $1, h, $3 FROM unnest($2::bytea[]) AS h",
        user_id,
        &hashes,
        now
    )
    .execute(&mut *tx)
    .await?;
    let entry = Entry::ok("second_factor.enrol").on("user", user_id);
    audit::record(&mut *tx, actor, entry).await?;
    Ok(codes)
}

/// The challenge cookie: HttpOnly, SameSite=Strict, `__Host-` over TLS like every cookie (so its
/// path is `/`); the row behind it expires in 5 minutes.
pub fn cookie(token: String, secure: bool) -> Cookie<'static> {
    Cookie::build((session::cookie_name(COOKIE, secure), token))
        .path("/")
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(secure)
        .build()
}

pub fn removal(secure: bool) -> Cookie<'static> {
    let mut c = cookie(String::new(), secure);
    c.make_removal();
    c
}

/// The challenge the browser brought, if any.
pub fn from_jar(jar: &axum_extra::extract::cookie::CookieJar, secure: bool) -> Option<&str> {
    jar.get(&session::cookie_name(COOKIE, secure))
        .map(|c| c.value())
}
