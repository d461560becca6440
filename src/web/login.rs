//! Signing in (the password step, lockout counting, a fresh session, the audit trail) and changing
//! one's own password: the transactions behind the pages of `web::account`, with no HTTP in them
//! (DESIGN §7). The second step of signing in is `web::second_factor`.
//!
//! They take the pool rather than a connection: the argon2id check runs on a blocking thread and
//! should not hold a connection meanwhile.

use crate::audit::{self, Actor, Entry};
use crate::error::AppResult;
use crate::privacy::Keys;
use crate::web::auth::Role;
use crate::web::password::{
    ChangeProblem, change_problems, dummy_hash, hash_password, verify_password,
};
use crate::web::{second_factor, session};
use chrono::{DateTime, Duration, Utc};
use sqlx::{PgConnection, PgPool};
use std::net::IpAddr;

/// How many wrong passwords in a row lock an account, and for how long.
pub struct Lockout {
    pub failures: i32,
    pub duration: Duration,
}

/// A sign-in attempt as typed, with where it came from.
pub struct Attempt<'a> {
    /// Already trimmed and cut to 40 characters.
    pub username: &'a str,
    pub password: String,
    pub ip: IpAddr,
    pub user_agent: Option<&'a str>,
    /// The session cookie the browser brought, if any: it is ended at sign-in.
    pub old_session: Option<&'a str>,
    /// Where to go once signed in (kept with the challenge of the second factor).
    pub next: &'a str,
}

/// What the password step needs to know of the second factor.
pub struct FactorSetup<'a> {
    pub keys: &'a Keys,
    /// `serve --demo`: demo accounts skip the second factor (never by their flag alone).
    pub demo_mode: bool,
}

pub enum LoginOutcome {
    /// A demo account while the server runs in demo mode: no second factor.
    SignedIn {
        token: String,
        role: Role,
        must_change_password: bool,
    },
    /// The right password: a challenge for the second factor (`enrol`: the account has none yet).
    SecondFactor { challenge: String, enrol: bool },
    /// Unknown user, wrong password, inactive or locked: the page does not say which.
    Refused,
    /// The right password, but the security administrator has not assigned a role yet: no session
    /// (nothing in the system is open to an account without a role).
    AwaitingRole,
}

struct Account {
    id: i64,
    role: Option<String>,
    password_hash: String,
    active: bool,
    is_demo: bool,
    enrolled: bool,
}

/// Check the password, count a failure (locking at `lockout.failures`) or open the challenge of
/// the second factor (a session at once only for a demo account in demo mode).
///
/// Every path runs one argon2id verification (against a dummy hash for an unknown name), and the
/// lock is decided in the statements that write it, never from a value read before the hash ran:
/// parallel guesses cannot slip past it. The failure count is reset only when the second factor
/// is answered, so a known password gives no fresh run of code guesses.
pub async fn sign_in(
    db: &PgPool,
    attempt: Attempt<'_>,
    now: DateTime<Utc>,
    lockout: &Lockout,
    factor: &FactorSetup<'_>,
) -> AppResult<LoginOutcome> {
    let user = sqlx::query_as!(
        Account,
        r#"SELECT id, role, password_hash, active, is_demo, totp_secret IS NOT NULL AS "enrolled!"
           FROM users WHERE lower(username) = lower($1)"#,
        attempt.username
    )
    .fetch_optional(db)
    .await?;
    let hash = user
        .as_ref()
        .map(|u| u.password_hash.clone())
        .unwrap_or_else(dummy_hash);
    let password_ok = verify_password(attempt.password.clone(), hash).await;
    let Some(account) = user else {
        let actor = typed_actor(&attempt, None, None);
        let entry = Entry::failed("login").detail(serde_json::json!({"reason": "unknown_user"}));
        audit::record(db, &actor, entry).await?;
        return Ok(LoginOutcome::Refused);
    };
    if !account.active {
        refuse(db, &attempt, &account, "inactive").await?;
        return Ok(LoginOutcome::Refused);
    }
    if !password_ok {
        let actor = account_actor(&attempt, &account);
        count_failure(db, &actor, account.id, now, lockout, "wrong_password").await?;
        return Ok(LoginOutcome::Refused);
    }
    let outcome = if account.is_demo && factor.demo_mode {
        open_session(db, &attempt, &account, now).await?
    } else {
        open_challenge(db, &attempt, &account, now, factor.keys).await?
    };
    match outcome {
        Some(outcome) => Ok(outcome),
        None => {
            refuse(db, &attempt, &account, "locked").await?;
            Ok(LoginOutcome::Refused)
        }
    }
}

/// The right password of an account not locked at this moment: a challenge for the second
/// factor; `None` when a lock is in force.
async fn open_challenge(
    db: &PgPool,
    attempt: &Attempt<'_>,
    account: &Account,
    now: DateTime<Utc>,
    keys: &Keys,
) -> AppResult<Option<LoginOutcome>> {
    let mut tx = db.begin().await?;
    let open = sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM users WHERE id = $1 AND active
                  AND (locked_until IS NULL OR locked_until <= $2)) AS "open!""#,
        account.id,
        now
    )
    .fetch_one(&mut *tx)
    .await?;
    if !open {
        return Ok(None);
    }
    if account.role.as_deref().and_then(Role::parse).is_none() {
        drop(tx);
        refuse(db, attempt, account, "no_role").await?;
        return Ok(Some(LoginOutcome::AwaitingRole));
    }
    // Challenges left behind by abandoned sign-ins go here rather than in a job.
    sqlx::query!("DELETE FROM login_challenges WHERE expires_at <= $1", now)
        .execute(&mut *tx)
        .await?;
    let challenge = second_factor::open(
        &mut *tx,
        keys,
        account.id,
        account.enrolled,
        attempt.next,
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(Some(LoginOutcome::SecondFactor {
        challenge,
        enrol: !account.enrolled,
    }))
}

/// The actor of a sign-in: only the name that was typed, and the account once it is known.
fn typed_actor(attempt: &Attempt<'_>, id: Option<i64>, role: Option<&'static str>) -> Actor {
    Actor {
        id,
        name: attempt.username.to_owned(),
        role,
        ip: Some(attempt.ip),
        jurisdiction_id: None,
    }
}

fn account_actor(attempt: &Attempt<'_>, account: &Account) -> Actor {
    let role = account
        .role
        .as_deref()
        .and_then(Role::parse)
        .map(Role::as_str);
    typed_actor(attempt, Some(account.id), role)
}

/// A refusal that counts nothing (inactive account, or the right password while locked).
async fn refuse(
    db: &PgPool,
    attempt: &Attempt<'_>,
    account: &Account,
    reason: &str,
) -> AppResult<()> {
    let entry = Entry::failed("login").detail(serde_json::json!({"reason": reason}));
    audit::record(db, &account_actor(attempt, account), entry).await?;
    Ok(())
}

/// What one counted failure did to the account's lock.
#[derive(Debug, PartialEq, Eq)]
enum FailureEffect {
    /// Not (yet) locked.
    Counted,
    /// This failure reached the limit and set the lock.
    Locked,
    /// The account was locked already (the count goes on, the lock's end does not move).
    AlreadyLocked,
}

/// From the row as the counting statement left it: a lock in force with the count exactly at the
/// limit was set by this failure (a count restarts at 1 once a lock has ended).
fn failure_effect(
    failed_logins: i32,
    locked_until: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    limit: i32,
) -> FailureEffect {
    match locked_until {
        Some(t) if t > now && failed_logins == limit => FailureEffect::Locked,
        Some(t) if t > now => FailureEffect::AlreadyLocked,
        _ => FailureEffect::Counted,
    }
}

/// Which factor a counted failure was of, for the audit.
fn factor_of(reason: &str) -> &'static str {
    match reason {
        "wrong_password" => "password",
        "wrong_recovery_code" => "recovery_code",
        _ => "totp",
    }
}

/// Count a wrong password or second-factor code and lock at the limit, in ONE statement:
/// concurrent failures neither lose a count nor miss the lock.
pub(crate) async fn count_failure(
    db: &PgPool,
    actor: &Actor,
    user_id: i64,
    now: DateTime<Utc>,
    lockout: &Lockout,
    reason: &str,
) -> AppResult<()> {
    let mut tx = db.begin().await?;
    let row = sqlx::query!(
        "UPDATE users SET
            failed_logins = CASE WHEN locked_until <= $3 THEN 1 ELSE failed_logins + 1 END,
            locked_until = CASE
                WHEN locked_until > $3 THEN locked_until
                WHEN (CASE WHEN locked_until <= $3 THEN 1 ELSE failed_logins + 1 END) >= $2 THEN $4
                ELSE NULL END
         WHERE id = $1 RETURNING failed_logins, locked_until",
        user_id,
        lockout.failures,
        now,
        now + lockout.duration
    )
    .fetch_one(&mut *tx)
    .await?;
    let effect = failure_effect(row.failed_logins, row.locked_until, now, lockout.failures);
    if effect == FailureEffect::Locked {
        let entry = Entry::ok("account.locked").on("user", user_id);
        audit::record(&mut *tx, actor, entry).await?;
    }
    let counted = match effect {
        FailureEffect::AlreadyLocked => "locked",
        _ => reason,
    };
    let detail = serde_json::json!({"reason": counted, "factor": factor_of(reason)});
    audit::record(&mut *tx, actor, Entry::failed("login").detail(detail)).await?;
    tx.commit().await?;
    Ok(())
}

/// Where a new session comes from.
pub(crate) struct SessionStart<'a> {
    pub user_id: i64,
    pub old_session: Option<&'a str>,
    pub ip: IpAddr,
    pub user_agent: Option<&'a str>,
}

/// A new session id at every login (whatever session the browser brought is ended), and the
/// `login` audit entry with how the account proved itself.
pub(crate) async fn start_session(
    tx: &mut PgConnection,
    start: &SessionStart<'_>,
    actor: &Actor,
    detail: serde_json::Value,
    now: DateTime<Utc>,
) -> sqlx::Result<String> {
    if let Some(old) = start.old_session {
        session::end(&mut *tx, &session::hash(old)).await?;
    }
    let token = session::create(&mut *tx, start.user_id, now, start.ip, start.user_agent).await?;
    audit::record(&mut *tx, actor, Entry::ok("login").detail(detail)).await?;
    Ok(token)
}

/// A demo account in demo mode: reset the count and open a session at once, but only if no lock
/// is in force at this moment (checked in the statement that resets it); `None` when it is.
async fn open_session(
    db: &PgPool,
    attempt: &Attempt<'_>,
    account: &Account,
    now: DateTime<Utc>,
) -> AppResult<Option<LoginOutcome>> {
    let mut tx = db.begin().await?;
    let opened = sqlx::query!(
        "UPDATE users SET failed_logins = 0, locked_until = NULL
         WHERE id = $1 AND active AND (locked_until IS NULL OR locked_until <= $2)
         RETURNING role, must_change_password",
        account.id,
        now
    )
    .fetch_optional(&mut *tx)
    .await?;
    let Some(opened) = opened else {
        return Ok(None);
    };
    let Some(role) = opened.role.as_deref().and_then(Role::parse) else {
        drop(tx);
        refuse(db, attempt, account, "no_role").await?;
        return Ok(Some(LoginOutcome::AwaitingRole));
    };
    let start = SessionStart {
        user_id: account.id,
        old_session: attempt.old_session,
        ip: attempt.ip,
        user_agent: attempt.user_agent,
    };
    let detail = serde_json::json!({"factor": "password", "second_factor": "demo_mode"});
    let actor = account_actor(attempt, account);
    let token = start_session(&mut tx, &start, &actor, detail, now).await?;
    tx.commit().await?;
    Ok(Some(LoginOutcome::SignedIn {
        token,
        role,
        must_change_password: opened.must_change_password,
    }))
}

/// A password change as typed.
pub struct PasswordChange {
    pub current: String,
    pub new: String,
    pub confirm: String,
}

impl PasswordChange {
    fn problems(&self, username: &str, current_ok: bool) -> Vec<ChangeProblem> {
        change_problems(
            username,
            current_ok,
            &self.current,
            &self.new,
            &self.confirm,
        )
    }
}

/// Change the signed-in user's password: every other session ends and this browser gets a fresh one
/// (its token is returned); or every problem with the change, to show beside the fields.
pub async fn change_password(
    db: &PgPool,
    actor: &Actor,
    ip: IpAddr,
    user_id: i64,
    username: &str,
    change: PasswordChange,
    now: DateTime<Utc>,
) -> AppResult<Result<String, Vec<ChangeProblem>>> {
    let hash: String =
        sqlx::query_scalar!("SELECT password_hash FROM users WHERE id = $1", user_id)
            .fetch_one(db)
            .await?;
    let current_ok = verify_password(change.current.clone(), hash).await;
    let problems = change.problems(username, current_ok);
    if !problems.is_empty() {
        return Ok(Err(problems));
    }
    let new_hash = hash_password(change.new).await?;
    let mut tx = db.begin().await?;
    sqlx::query!(
        "UPDATE users SET password_hash = $2, must_change_password = false, password_changed_at = $3 WHERE id = $1",
        user_id,
        new_hash,
        now
    )
    .execute(&mut *tx)
    .await?;
    // Every other browser signed in as this user is signed out; this one gets a fresh session.
    session::end_all(&mut *tx, user_id).await?;
    let token = session::create(&mut *tx, user_id, now, ip, None).await?;
    let revoked = crate::web::tokens::revoke_all(&mut *tx, user_id, now).await?;
    let detail = serde_json::json!({"tokens_revoked": revoked});
    let entry = Entry::ok("password.change")
        .on("user", user_id)
        .detail(detail);
    audit::record(&mut *tx, actor, entry).await?;
    tx.commit().await?;
    Ok(Ok(token))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_failure_that_reaches_the_limit_sets_the_lock() {
        let now: DateTime<Utc> = "2026-11-22T01:02:45Z".parse().unwrap();
        let later = Some(now + Duration::minutes(30));
        assert_eq!(failure_effect(4, None, now, 5), FailureEffect::Counted);
        assert_eq!(failure_effect(5, later, now, 5), FailureEffect::Locked);
        assert_eq!(
            failure_effect(6, later, now, 5),
            FailureEffect::AlreadyLocked
        );
        let ended = Some(now - Duration::seconds(1));
        assert_eq!(failure_effect(1, ended, now, 5), FailureEffect::Counted);
    }
}
