//! Accounts, one role each (三员分立): creating them with a one-time password, changing their role
//! and link, (de)activating them, resetting their password. Every change is audited in its
//! transaction; the `/admin/users` pages and `xiafang user add` call these.

use crate::audit::{self, Actor, Entry};
use crate::error::{AppError, AppResult};
use crate::web::auth::Role;
use crate::web::password::hash_password;
use crate::web::session;
use crate::web::tokens::revoke_all;
use chrono::{DateTime, Utc};
use rand::seq::IndexedRandom;
use sqlx::{PgConnection, PgExecutor};

/// A one-time password that satisfies the policy; the user must change it at first login.
pub fn one_time_password() -> String {
    // No look-alikes (0/O, 1/l/I), so it can be read out or copied by hand.
    const LOWER: &[u8] = b"abcdefghijkmnpqrstuvwxyz";
    const UPPER: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ";
    const DIGIT: &[u8] = b"23456789";
    let mut rng = rand::rng();
    let mut out = String::new();
    for set in [
        UPPER, LOWER, DIGIT, LOWER, DIGIT, UPPER, LOWER, DIGIT, UPPER, LOWER, DIGIT, LOWER,
    ] {
        out.push(*set.choose(&mut rng).unwrap() as char);
    }
    out
}

pub struct NewAccount<'a> {
    pub username: &'a str,
    pub display_name: &'a str,
    pub role: Role,
    pub department_id: Option<i64>,
    pub leader_id: Option<i64>,
    pub is_demo: bool,
}

/// Insert an account with `password_hash`; `must_change` for one-time passwords.
pub async fn insert_account(
    db: impl PgExecutor<'_>,
    a: &NewAccount<'_>,
    password_hash: &str,
    must_change: bool,
) -> sqlx::Result<i64> {
    sqlx::query_scalar!(
        "INSERT INTO users (username, display_name, role, department_id, leader_id, password_hash, must_change_password, is_demo)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
        a.username,
        a.display_name,
        a.role.as_str(),
        a.department_id,
        a.leader_id,
        password_hash,
        must_change,
        a.is_demo
    )
    .fetch_one(db)
    .await
}

pub const USERNAME_SHAPE: &str = "用户名为 3–32 位字母、数字或 _ . -";
pub const USERNAME_TAKEN: &str = "该用户名已被使用";

/// A username is 3–32 ASCII letters, digits or `_ . -` (a pure rule).
pub fn username_well_formed(username: &str) -> bool {
    username
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
        && (3..=32).contains(&username.len())
}

/// Usernames are unique regardless of case.
pub async fn username_taken(db: impl PgExecutor<'_>, username: &str) -> sqlx::Result<bool> {
    sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM users WHERE lower(username) = lower($1)) AS "e!""#,
        username
    )
    .fetch_one(db)
    .await
}

/// Why a new username cannot be used, if it cannot.
pub async fn check_new_username(
    db: impl PgExecutor<'_>,
    username: &str,
) -> sqlx::Result<Option<&'static str>> {
    if !username_well_formed(username) {
        return Ok(Some(USERNAME_SHAPE));
    }
    Ok(username_taken(db, username)
        .await?
        .then_some(USERNAME_TAKEN))
}

/// A leader has at most one active account.
pub async fn leader_has_account(db: impl PgExecutor<'_>, leader_id: i64) -> sqlx::Result<bool> {
    sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM users WHERE leader_id = $1 AND active) AS "e!""#,
        Some(leader_id)
    )
    .fetch_one(db)
    .await
}

/// The checked fields of an account: a handler has a department, a leader account a leader.
pub struct AccountInput {
    pub display_name: String,
    pub role: Role,
    pub department_id: Option<i64>,
    pub leader_id: Option<i64>,
}

/// Why an account cannot be created as asked.
#[derive(Debug, PartialEq)]
pub enum AccountRefusal {
    UsernameTaken,
    LeaderHasAccount,
}

pub struct Created {
    pub id: i64,
    /// The one-time password, shown once to the sysadmin.
    pub password: String,
}

/// Create an account with a one-time password (`username` already well-formed).
pub async fn create(
    conn: &mut PgConnection,
    actor: &Actor,
    username: &str,
    input: &AccountInput,
) -> AppResult<Result<Created, AccountRefusal>> {
    if username_taken(&mut *conn, username).await? {
        return Ok(Err(AccountRefusal::UsernameTaken));
    }
    if let Some(leader) = input.leader_id
        && leader_has_account(&mut *conn, leader).await?
    {
        return Ok(Err(AccountRefusal::LeaderHasAccount));
    }
    let password = one_time_password();
    let hash = hash_password(password.clone()).await?;
    let account = NewAccount {
        username,
        display_name: &input.display_name,
        role: input.role,
        department_id: input.department_id,
        leader_id: input.leader_id,
        is_demo: false,
    };
    let id = insert_account(&mut *conn, &account, &hash, true).await?;
    let detail = serde_json::json!({"username": username, "role": input.role.as_str()});
    let entry = Entry::ok("user.create").on("user", id).detail(detail);
    audit::record(&mut *conn, actor, entry).await?;
    Ok(Ok(Created { id, password }))
}

/// Change name, role and link; a change of role is audited as such and revokes the account's API
/// tokens (DESIGN §7: a token does not outlive the authority it was issued under).
pub async fn update(
    conn: &mut PgConnection,
    actor: &Actor,
    id: i64,
    input: &AccountInput,
    now: DateTime<Utc>,
) -> AppResult<()> {
    let old_role = sqlx::query_scalar!("SELECT role FROM users WHERE id = $1 FOR UPDATE", id)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or(AppError::NotFound)?;
    let role = input.role.as_str();
    let (department_id, leader_id) = (input.department_id, input.leader_id);
    sqlx::query!(
        "UPDATE users SET display_name = $2, role = $3, department_id = $4, leader_id = $5 WHERE id = $1",
        id,
        input.display_name,
        role,
        department_id,
        leader_id
    )
    .execute(&mut *conn)
    .await?;
    let role_changed = old_role != role;
    let action = if role_changed {
        "user.role_change"
    } else {
        "user.update"
    };
    let mut detail = serde_json::json!({"from_role": old_role, "role": role, "department_id": department_id, "leader_id": leader_id});
    if role_changed {
        detail["tokens_revoked"] = revoke_all(&mut *conn, id, now).await?.into();
    }
    let entry = Entry::ok(action).on("user", id).detail(detail);
    audit::record(&mut *conn, actor, entry).await?;
    Ok(())
}

/// (De)activate an account; deactivation ends its sessions and revokes its API tokens. Nobody
/// deactivates themselves.
pub async fn set_active(
    conn: &mut PgConnection,
    actor: &Actor,
    id: i64,
    active: bool,
    now: DateTime<Utc>,
) -> AppResult<()> {
    if actor.id == Some(id) {
        return Err(AppError::BadRequest("不能停用自己的账号。".into()));
    }
    let n = sqlx::query!("UPDATE users SET active = $2 WHERE id = $1", id, active)
        .execute(&mut *conn)
        .await?
        .rows_affected();
    if n == 0 {
        return Err(AppError::NotFound);
    }
    let entry = if active {
        Entry::ok("user.activate").on("user", id)
    } else {
        session::end_all(&mut *conn, id).await?;
        let revoked = revoke_all(&mut *conn, id, now).await?;
        let detail = serde_json::json!({"tokens_revoked": revoked});
        Entry::ok("user.deactivate").on("user", id).detail(detail)
    };
    audit::record(&mut *conn, actor, entry).await?;
    Ok(())
}

/// A new one-time password (returned with the username); the account's sessions end, its API
/// tokens are revoked and its lockout is lifted. The sysadmin learns the password but gains no access to what the account sees.
pub async fn reset_password(
    conn: &mut PgConnection,
    actor: &Actor,
    id: i64,
    now: DateTime<Utc>,
) -> AppResult<(String, String)> {
    let password = one_time_password();
    let hash = hash_password(password.clone()).await?;
    let username = sqlx::query_scalar!(
        "UPDATE users SET password_hash = $2, must_change_password = true, failed_logins = 0, locked_until = NULL,
                password_changed_at = $3 WHERE id = $1 RETURNING username",
        id,
        hash,
        now
    )
    .fetch_optional(&mut *conn)
    .await?
    .ok_or(AppError::NotFound)?;
    session::end_all(&mut *conn, id).await?;
    let revoked = revoke_all(&mut *conn, id, now).await?;
    let detail = serde_json::json!({"tokens_revoked": revoked});
    let entry = Entry::ok("password.reset").on("user", id).detail(detail);
    audit::record(&mut *conn, actor, entry).await?;
    Ok((username, password))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::web::password::check_password;

    #[test]
    fn one_time_passwords_pass_the_policy_and_differ() {
        let a = one_time_password();
        assert_eq!(a.len(), 12);
        assert!(check_password("someone", &a).is_ok());
        assert_ne!(a, one_time_password());
    }

    #[test]
    fn usernames_have_a_shape() {
        assert!(username_well_formed("zhang.san-1"));
        assert!(!username_well_formed("x"));
        assert!(!username_well_formed("张三丰"));
        assert!(!username_well_formed(&"a".repeat(33)));
    }
}
