//! Signing in (lockout counting, a fresh session, the audit trail) and changing one's own password:
//! the transactions behind the pages of `web::account`, with no HTTP in them (DESIGN §7).
//!
//! They take the pool rather than a connection: the argon2id check runs on a blocking thread and
//! should not hold a connection meanwhile.

use crate::audit::{self, Actor, Entry};
use crate::error::AppResult;
use crate::web::auth::Role;
use crate::web::password::{
    ChangeProblem, change_problems, dummy_hash, hash_password, verify_password,
};
use crate::web::session;
use chrono::{DateTime, Duration, Utc};
use sqlx::PgPool;
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
}

pub enum LoginOutcome {
    SignedIn {
        token: String,
        role: Role,
        must_change_password: bool,
    },
    /// Unknown user, wrong password, inactive or locked: the page does not say which.
    Refused,
}

struct Account {
    id: i64,
    role: String,
    password_hash: String,
    active: bool,
    locked_until: Option<DateTime<Utc>>,
    must_change_password: bool,
}

/// Check the password, count a failure (locking at `lockout.failures`) or open a new session.
pub async fn sign_in(
    db: &PgPool,
    attempt: Attempt<'_>,
    now: DateTime<Utc>,
    lockout: &Lockout,
) -> AppResult<LoginOutcome> {
    let user = sqlx::query_as!(
        Account,
        "SELECT id, role, password_hash, active, locked_until, must_change_password
         FROM users WHERE lower(username) = lower($1)",
        attempt.username
    )
    .fetch_optional(db)
    .await?;
    let hash = user
        .as_ref()
        .map(|u| u.password_hash.clone())
        .unwrap_or_else(dummy_hash);
    let password_ok = verify_password(attempt.password.clone(), hash).await && user.is_some();
    let Some(account) = user else {
        let actor = typed_actor(&attempt, None, None);
        let entry = Entry::failed("login").detail(serde_json::json!({"reason": "unknown_user"}));
        audit::record(db, &actor, entry).await?;
        return Ok(LoginOutcome::Refused);
    };
    let locked = account.locked_until.is_some_and(|t| t > now);
    if !password_ok || !account.active || locked {
        count_failure(db, &attempt, &account, locked, now, lockout).await?;
        return Ok(LoginOutcome::Refused);
    }
    let token = open_session(db, &attempt, &account, now).await?;
    Ok(LoginOutcome::SignedIn {
        token,
        role: Role::parse(&account.role).unwrap_or(Role::Staff),
        must_change_password: account.must_change_password,
    })
}

/// The actor of a sign-in: only the name that was typed, and the account once it is known.
fn typed_actor(attempt: &Attempt<'_>, id: Option<i64>, role: Option<&'static str>) -> Actor {
    Actor {
        id,
        name: attempt.username.to_owned(),
        role,
        ip: Some(attempt.ip),
    }
}

/// Why a sign-in was refused, as the audit log records it.
fn refusal_reason(active: bool, locked: bool) -> &'static str {
    if !active {
        "inactive"
    } else if locked {
        "locked"
    } else {
        "wrong_password"
    }
}

async fn count_failure(
    db: &PgPool,
    attempt: &Attempt<'_>,
    account: &Account,
    locked: bool,
    now: DateTime<Utc>,
    lockout: &Lockout,
) -> AppResult<()> {
    let reason = refusal_reason(account.active, locked);
    let actor = typed_actor(
        attempt,
        Some(account.id),
        Role::parse(&account.role).map(Role::as_str),
    );
    let mut tx = db.begin().await?;
    if reason == "wrong_password" {
        // One statement: concurrent failures cannot lose a count.
        let row = sqlx::query!(
            "UPDATE users SET
                    failed_logins = CASE WHEN failed_logins + 1 >= $2 THEN 0 ELSE failed_logins + 1 END,
                    locked_until = CASE WHEN failed_logins + 1 >= $2 THEN $3 ELSE locked_until END
                 WHERE id = $1 RETURNING locked_until",
            account.id,
            lockout.failures,
            now + lockout.duration
        )
        .fetch_one(&mut *tx)
        .await?;
        if row.locked_until.is_some_and(|t| t > now) {
            let entry = Entry::ok("account.locked").on("user", account.id);
            audit::record(&mut *tx, &actor, entry).await?;
        }
    }
    let entry = Entry::failed("login").detail(serde_json::json!({"reason": reason}));
    audit::record(&mut *tx, &actor, entry).await?;
    tx.commit().await?;
    Ok(())
}

async fn open_session(
    db: &PgPool,
    attempt: &Attempt<'_>,
    account: &Account,
    now: DateTime<Utc>,
) -> AppResult<String> {
    let actor = typed_actor(
        attempt,
        Some(account.id),
        Role::parse(&account.role).map(Role::as_str),
    );
    let mut tx = db.begin().await?;
    sqlx::query!(
        "UPDATE users SET failed_logins = 0, locked_until = NULL WHERE id = $1",
        account.id
    )
    .execute(&mut *tx)
    .await?;
    // A new session id at every login: whatever session the browser brought is ended.
    if let Some(old) = attempt.old_session {
        session::end(&mut *tx, &session::hash(old)).await?;
    }
    let token = session::create(&mut *tx, account.id, now, attempt.ip, attempt.user_agent).await?;
    audit::record(&mut *tx, &actor, Entry::ok("login")).await?;
    tx.commit().await?;
    Ok(token)
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
