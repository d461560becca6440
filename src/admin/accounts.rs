//! Accounts, one role each (三员分立, DESIGN §2): the sysadmin creates them (with no role and no
//! usable password), edits who they are and (de)activates them; the security administrator sets
//! their authority (role, jurisdiction and link) and unlocks them; nobody changes their own. Both
//! act only on accounts within their jurisdiction's subtree (any other id is not found). Every
//! change is audited in its transaction; the `/admin/users` pages and `xiafang user add` call these.

use super::scope;
use crate::audit::{self, Actor, Entry};
use crate::error::{AppError, AppResult};
use crate::web::auth::Role;
use crate::web::password::hash_password;
use crate::web::session;
use crate::web::tokens::revoke_all;
use chrono::{DateTime, Utc};
use rand::seq::IndexedRandom;
use sqlx::{PgConnection, PgExecutor};

/// A one-time password that satisfies the policy, for `xiafang user add` (the operator's first
/// administrators, printed on the host's terminal); the user must change it at first login.
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
    pub jurisdiction_id: Option<i64>,
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
        "INSERT INTO users (username, display_name, role, department_id, leader_id, password_hash, must_change_password, is_demo, jurisdiction_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
        a.username,
        a.display_name,
        a.role.as_str(),
        a.department_id,
        a.leader_id,
        password_hash,
        must_change,
        a.is_demo,
        a.jurisdiction_id
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

/// Who an account is: what the sysadmin may set (never what the account may do).
pub struct Profile {
    pub username: String,
    pub display_name: String,
}

/// Why an account cannot be created or changed as asked.
#[derive(Debug, PartialEq)]
pub enum AccountRefusal {
    UsernameTaken,
    LeaderHasAccount,
    /// The jurisdiction, department or leader is outside the actor's subtree.
    JurisdictionOutside,
    DepartmentOutside,
    LeaderOutside,
}

/// Create an account with no role and no usable password (`username` already well-formed), in the
/// actor's own jurisdiction: it gets a role (and, from the security administrator, perhaps a
/// jurisdiction lower down) and its first password through a reset link.
pub async fn create(
    conn: &mut PgConnection,
    actor: &Actor,
    profile: &Profile,
) -> AppResult<Result<i64, AccountRefusal>> {
    if username_taken(&mut *conn, &profile.username).await? {
        return Ok(Err(AccountRefusal::UsernameTaken));
    }
    // The hash of a random secret nobody keeps: no password opens the account.
    let hash = hash_password(session::new_token()).await?;
    let id = sqlx::query_scalar!(
        "INSERT INTO users (username, display_name, role, password_hash, must_change_password, jurisdiction_id)
         VALUES ($1, $2, NULL, $3, false, $4) RETURNING id",
        profile.username,
        profile.display_name,
        hash,
        actor.jurisdiction_id
    )
    .fetch_one(&mut *conn)
    .await?;
    let detail = serde_json::json!({
        "username": profile.username, "display_name": profile.display_name,
        "jurisdiction_id": actor.jurisdiction_id,
    });
    let entry = Entry::ok("user.create").on("user", id).detail(detail);
    audit::record(&mut *conn, actor, entry).await?;
    Ok(Ok(id))
}

/// Change an account's username and name (the sysadmin's edit); its authority is untouched.
pub async fn update_profile(
    conn: &mut PgConnection,
    actor: &Actor,
    id: i64,
    profile: &Profile,
) -> AppResult<Result<(), AccountRefusal>> {
    scope::account(&mut *conn, actor.jurisdiction_id, id).await?;
    let old = sqlx::query!(
        "SELECT username, display_name FROM users WHERE id = $1 FOR UPDATE",
        id
    )
    .fetch_optional(&mut *conn)
    .await?
    .ok_or(AppError::NotFound)?;
    let taken = sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM users WHERE lower(username) = lower($1) AND id <> $2) AS "e!""#,
        profile.username,
        id
    )
    .fetch_one(&mut *conn)
    .await?;
    if taken {
        return Ok(Err(AccountRefusal::UsernameTaken));
    }
    sqlx::query!(
        "UPDATE users SET username = $2, display_name = $3 WHERE id = $1",
        id,
        profile.username,
        profile.display_name
    )
    .execute(&mut *conn)
    .await?;
    let detail = serde_json::json!({
        "from": {"username": old.username, "display_name": old.display_name},
        "username": profile.username, "display_name": profile.display_name,
    });
    let entry = Entry::ok("user.update").on("user", id).detail(detail);
    audit::record(&mut *conn, actor, entry).await?;
    Ok(Ok(()))
}

/// What an account may do: its role (none until granted), where it belongs and the link the role
/// needs — a handler's department, a leader account's leader (checked by the page; the database
/// holds it too).
#[derive(Debug, PartialEq)]
pub struct Authority {
    pub role: Option<Role>,
    /// `None`: the account stays where it is.
    pub jurisdiction_id: Option<i64>,
    pub department_id: Option<i64>,
    pub leader_id: Option<i64>,
}

/// The audited name of an authority change.
fn authority_action(from: Option<&str>, to: Option<Role>) -> &'static str {
    match (from, to) {
        (_, None) => "user.role_revoke",
        (None, Some(_)) => "user.role_grant",
        (Some(old), Some(new)) if old != new.as_str() => "user.role_change",
        _ => "user.link_change",
    }
}

/// Set an account's authority (the security administrator's act), within the actor's subtree: the
/// account, its new jurisdiction, department and leader. Nobody sets their own: refused here,
/// whatever page or command asks. A change of role revokes the account's API tokens (a token
/// does not outlive the authority it was issued under); a revoked role also ends its sessions.
pub async fn set_authority(
    conn: &mut PgConnection,
    actor: &Actor,
    id: i64,
    new: &Authority,
    now: DateTime<Utc>,
) -> AppResult<Result<(), AccountRefusal>> {
    scope::account(&mut *conn, actor.jurisdiction_id, id).await?;
    if actor.id == Some(id) {
        return Err(AppError::Forbidden);
    }
    let old = sqlx::query!(
        "SELECT role, department_id, leader_id, jurisdiction_id FROM users WHERE id = $1 FOR UPDATE",
        id
    )
    .fetch_optional(&mut *conn)
    .await?
    .ok_or(AppError::NotFound)?;
    let role = new.role.map(Role::as_str);
    let jurisdiction_id = new.jurisdiction_id.or(old.jurisdiction_id);
    if (
        old.role.as_deref(),
        old.department_id,
        old.leader_id,
        old.jurisdiction_id,
    ) == (role, new.department_id, new.leader_id, jurisdiction_id)
    {
        return Ok(Ok(()));
    }
    if let Some(refusal) = outside(conn, actor, new).await? {
        return Ok(Err(refusal));
    }
    if let Some(leader) = new.leader_id.filter(|l| old.leader_id != Some(*l))
        && leader_has_account(&mut *conn, leader).await?
    {
        return Ok(Err(AccountRefusal::LeaderHasAccount));
    }
    sqlx::query!(
        "UPDATE users SET role = $2, department_id = $3, leader_id = $4, jurisdiction_id = $5 WHERE id = $1",
        id,
        role,
        new.department_id,
        new.leader_id,
        jurisdiction_id
    )
    .execute(&mut *conn)
    .await?;
    let action = authority_action(old.role.as_deref(), new.role);
    let mut detail = serde_json::json!({
        "from_role": old.role, "role": role,
        "from": {"department_id": old.department_id, "leader_id": old.leader_id,
                 "jurisdiction_id": old.jurisdiction_id},
        "department_id": new.department_id, "leader_id": new.leader_id,
        "jurisdiction_id": jurisdiction_id,
    });
    if old.role.as_deref() != role {
        detail["tokens_revoked"] = revoke_all(&mut *conn, id, now).await?.into();
    }
    if role.is_none() {
        session::end_all(&mut *conn, id).await?;
    }
    let entry = Entry::ok(action).on("user", id).detail(detail);
    audit::record(&mut *conn, actor, entry).await?;
    Ok(Ok(()))
}

/// Why the new authority reaches outside the actor's subtree, if it does.
async fn outside(
    conn: &mut PgConnection,
    actor: &Actor,
    new: &Authority,
) -> sqlx::Result<Option<AccountRefusal>> {
    let viewer = actor.jurisdiction_id;
    if let Some(j) = new.jurisdiction_id
        && !scope::contains(&mut *conn, viewer, Some(j)).await?
    {
        return Ok(Some(AccountRefusal::JurisdictionOutside));
    }
    if let Some(d) = new.department_id {
        let j = sqlx::query_scalar!("SELECT jurisdiction_id FROM departments WHERE id = $1", d)
            .fetch_optional(&mut *conn)
            .await?;
        if !scope::contains(&mut *conn, viewer, j.flatten()).await? {
            return Ok(Some(AccountRefusal::DepartmentOutside));
        }
    }
    if let Some(l) = new.leader_id {
        let j = sqlx::query_scalar!("SELECT county_id FROM leaders WHERE id = $1", l)
            .fetch_optional(&mut *conn)
            .await?;
        if !scope::contains(&mut *conn, viewer, j.flatten()).await? {
            return Ok(Some(AccountRefusal::LeaderOutside));
        }
    }
    Ok(None)
}

/// Lift a lockout before it ends (the security administrator, after checking who asks).
pub async fn unlock(conn: &mut PgConnection, actor: &Actor, id: i64) -> AppResult<()> {
    scope::account(&mut *conn, actor.jurisdiction_id, id).await?;
    let was = sqlx::query_scalar!(
        "SELECT locked_until FROM users WHERE id = $1 FOR UPDATE",
        id
    )
    .fetch_optional(&mut *conn)
    .await?
    .ok_or(AppError::NotFound)?;
    sqlx::query!(
        "UPDATE users SET failed_logins = 0, locked_until = NULL WHERE id = $1",
        id
    )
    .execute(&mut *conn)
    .await?;
    let detail = serde_json::json!({"locked_until": was});
    let entry = Entry::ok("user.unlock").on("user", id).detail(detail);
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
    scope::account(&mut *conn, actor.jurisdiction_id, id).await?;
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
    fn an_authority_change_is_named_by_what_it_does_to_the_role() {
        assert_eq!(authority_action(None, Some(Role::Staff)), "user.role_grant");
        assert_eq!(authority_action(Some("staff"), None), "user.role_revoke");
        assert_eq!(
            authority_action(Some("staff"), Some(Role::Supervisor)),
            "user.role_change"
        );
        assert_eq!(
            authority_action(Some("handler"), Some(Role::Handler)),
            "user.link_change"
        );
    }

    #[test]
    fn usernames_have_a_shape() {
        assert!(username_well_formed("zhang.san-1"));
        assert!(!username_well_formed("x"));
        assert!(!username_well_formed("张三丰"));
        assert!(!username_well_formed(&"a".repeat(33)));
    }
}
