//! `/admin/users`: accounts, one role each (三员分立), created with a one-time password.

use crate::admin::{Choice, opt_id};
use crate::audit::{self, Entry};
use crate::clock::china_minute;
use crate::error::AppError;
use crate::state::AppState;
use crate::web::account::hash_password;
use crate::web::auth::Role;
use crate::web::form::{Errors, Form, text};
use crate::web::page::{Layout, Page, render, render_status};
use crate::web::{Ctx, redirect_with_flash, session};
use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use rand::seq::IndexedRandom;
use serde::Deserialize;
use sqlx::PgExecutor;

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

/// Why a new username cannot be used, if it cannot.
pub async fn check_new_username(
    db: impl PgExecutor<'_>,
    username: &str,
) -> sqlx::Result<Option<&'static str>> {
    if !username
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
        || !(3..=32).contains(&username.len())
    {
        return Ok(Some("用户名为 3–32 位字母、数字或 _ . -"));
    }
    let taken = sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM users WHERE lower(username) = lower($1)) AS "e!""#,
        username
    )
    .fetch_one(db)
    .await?;
    Ok(taken.then_some("该用户名已被使用"))
}

struct UserRow {
    id: i64,
    username: String,
    display_name: String,
    role: String,
    link: String,
    active: bool,
    locked: bool,
}

impl UserRow {
    fn role_label(&self) -> &'static str {
        Role::parse(&self.role).map(Role::label).unwrap_or("未知")
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct AccountForm {
    username: String,
    display_name: String,
    role: String,
    department_id: String,
    leader_id: String,
}

#[derive(Template)]
#[template(path = "admin/users.html")]
struct UsersPage {
    layout: Layout,
    users: Vec<UserRow>,
    form: AccountForm,
    errors: Errors,
    roles: Vec<(&'static str, &'static str)>,
    departments: Vec<Choice>,
    leaders: Vec<Choice>,
}

fn role_choices() -> Vec<(&'static str, &'static str)> {
    Role::ALL.iter().map(|r| (r.as_str(), r.label())).collect()
}

async fn departments(state: &AppState) -> sqlx::Result<Vec<Choice>> {
    sqlx::query_as!(
        Choice,
        r#"SELECT id, name AS label FROM departments WHERE active ORDER BY name"#
    )
    .fetch_all(&state.db)
    .await
}

async fn leaders(state: &AppState) -> sqlx::Result<Vec<Choice>> {
    sqlx::query_as!(Choice, r#"SELECT id, name || '（' || title || '）' AS "label!" FROM leaders WHERE active ORDER BY name"#)
        .fetch_all(&state.db)
        .await
}

async fn users_page(
    state: &AppState,
    ctx: &Ctx,
    form: AccountForm,
    errors: Errors,
) -> Result<UsersPage, AppError> {
    let now = state.clock.now();
    let users = sqlx::query!(
        r#"SELECT u.id, u.username, u.display_name, u.role, u.active, u.locked_until,
                  COALESCE(d.name, l.name || '（' || l.title || '）', '') AS "link!"
           FROM users u LEFT JOIN departments d ON d.id = u.department_id LEFT JOIN leaders l ON l.id = u.leader_id
           ORDER BY u.active DESC, u.role, u.username"#
    )
    .fetch_all(&state.db)
    .await?
    .into_iter()
    .map(|r| UserRow {
        id: r.id,
        username: r.username,
        display_name: r.display_name,
        role: r.role,
        link: r.link,
        active: r.active,
        locked: r.locked_until.is_some_and(|t| t > now),
    })
    .collect();
    Ok(UsersPage {
        layout: ctx.layout("用户管理"),
        users,
        form,
        errors,
        roles: role_choices(),
        departments: departments(state).await?,
        leaders: leaders(state).await?,
    })
}

pub async fn list(State(state): State<AppState>, ctx: Ctx) -> Page {
    render(&users_page(&state, &ctx, AccountForm::default(), Errors::default()).await?)
}

/// Check the role and its link: a handler needs a department, a leader account a leader, others neither.
fn validate(
    f: &AccountForm,
    errors: &mut Errors,
) -> (String, Option<Role>, Option<i64>, Option<i64>) {
    let display_name = text(errors, "display_name", "姓名", &f.display_name, 1, 30);
    let role = Role::parse(&f.role);
    if role.is_none() {
        errors.add("role", "请选择角色");
    }
    let department_id = opt_id(&f.department_id).filter(|_| role == Some(Role::Handler));
    let leader_id = opt_id(&f.leader_id).filter(|_| role == Some(Role::Leader));
    if role == Some(Role::Handler) && department_id.is_none() {
        errors.add("department_id", "承办单位经办人须选择所属责任单位");
    }
    if role == Some(Role::Leader) && leader_id.is_none() {
        errors.add("leader_id", "领导账号须关联一位领导");
    }
    (display_name, role, department_id, leader_id)
}

pub async fn create(State(state): State<AppState>, ctx: Ctx, Form(f): Form<AccountForm>) -> Page {
    let mut errors = Errors::default();
    let username = f.username.trim().to_owned();
    if let Some(problem) = check_new_username(&state.db, &username).await? {
        errors.add("username", problem);
    }
    let (display_name, role, department_id, leader_id) = validate(&f, &mut errors);
    if leader_id.is_some()
        && sqlx::query_scalar!(
            r#"SELECT EXISTS (SELECT 1 FROM users WHERE leader_id = $1 AND active) AS "e!""#,
            leader_id
        )
        .fetch_one(&state.db)
        .await?
    {
        errors.add("leader_id", "这位领导已有账号");
    }
    let Some(role) = role.filter(|_| errors.is_empty()) else {
        let page = users_page(&state, &ctx, f, errors).await?;
        return Ok(render_status(StatusCode::UNPROCESSABLE_ENTITY, &page));
    };
    let password = one_time_password();
    let hash = hash_password(password.clone()).await?;
    let account = NewAccount {
        username: &username,
        display_name: &display_name,
        role,
        department_id,
        leader_id,
        is_demo: false,
    };
    let mut tx = state.db.begin().await?;
    let id = insert_account(&mut *tx, &account, &hash, true).await?;
    audit::record(
        &mut *tx,
        &ctx.actor(),
        Entry::ok("user.create")
            .on("user", id)
            .detail(serde_json::json!({"username": username, "role": role.as_str()})),
    )
    .await?;
    tx.commit().await?;
    let message = format!(
        "已创建用户 {username}。一次性密码：{password}（只显示这一次，请当面告知本人；首次登录须修改密码）"
    );
    Ok(redirect_with_flash(
        &state,
        &format!("/admin/users/{id}"),
        &message,
    ))
}

#[derive(Template)]
#[template(path = "admin/user.html")]
struct UserPage {
    layout: Layout,
    id: i64,
    username: String,
    active: bool,
    locked_until: String,
    password_changed_at: String,
    form: AccountForm,
    errors: Errors,
    roles: Vec<(&'static str, &'static str)>,
    departments: Vec<Choice>,
    leaders: Vec<Choice>,
    /// Live API tokens (created by the user at /me/tokens; the sysadmin can only revoke them).
    tokens: i64,
}

async fn user_page(
    state: &AppState,
    ctx: &Ctx,
    id: i64,
    form: Option<AccountForm>,
    errors: Errors,
) -> Result<UserPage, AppError> {
    let u = sqlx::query!(
        "SELECT id, username, display_name, role, department_id, leader_id, active, locked_until, password_changed_at FROM users WHERE id = $1",
        id
    )
    .fetch_optional(&state.db)
    .await?
    .ok_or(AppError::NotFound)?;
    let now = state.clock.now();
    let form = form.unwrap_or(AccountForm {
        username: u.username.clone(),
        display_name: u.display_name,
        role: u.role,
        department_id: u.department_id.map(|i| i.to_string()).unwrap_or_default(),
        leader_id: u.leader_id.map(|i| i.to_string()).unwrap_or_default(),
    });
    Ok(UserPage {
        layout: ctx.layout(&format!("用户：{}", u.username)),
        id: u.id,
        username: u.username,
        active: u.active,
        locked_until: u
            .locked_until
            .filter(|t| *t > now)
            .map(china_minute)
            .unwrap_or_default(),
        password_changed_at: china_minute(u.password_changed_at),
        form,
        errors,
        roles: role_choices(),
        departments: departments(state).await?,
        leaders: leaders(state).await?,
        tokens: crate::web::tokens::active_count(&state.db, id).await?,
    })
}

pub async fn show(State(state): State<AppState>, ctx: Ctx, Path(id): Path<i64>) -> Page {
    render(&user_page(&state, &ctx, id, None, Errors::default()).await?)
}

pub async fn update(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<i64>,
    Form(f): Form<AccountForm>,
) -> Page {
    let mut errors = Errors::default();
    let (display_name, role, department_id, leader_id) = validate(&f, &mut errors);
    let Some(role) = role.filter(|_| errors.is_empty()) else {
        let page = user_page(&state, &ctx, id, Some(f), errors).await?;
        return Ok(render_status(StatusCode::UNPROCESSABLE_ENTITY, &page));
    };
    let mut tx = state.db.begin().await?;
    let old_role = sqlx::query_scalar!("SELECT role FROM users WHERE id = $1 FOR UPDATE", id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(AppError::NotFound)?;
    sqlx::query!(
        "UPDATE users SET display_name = $2, role = $3, department_id = $4, leader_id = $5 WHERE id = $1",
        id,
        display_name,
        role.as_str(),
        department_id,
        leader_id
    )
    .execute(&mut *tx)
    .await?;
    let action = if old_role != role.as_str() {
        "user.role_change"
    } else {
        "user.update"
    };
    let detail = serde_json::json!({"from_role": old_role, "role": role.as_str(), "department_id": department_id, "leader_id": leader_id});
    audit::record(
        &mut *tx,
        &ctx.actor(),
        Entry::ok(action).on("user", id).detail(detail),
    )
    .await?;
    tx.commit().await?;
    Ok(redirect_with_flash(
        &state,
        &format!("/admin/users/{id}"),
        "已保存。",
    ))
}

async fn set_active(state: &AppState, ctx: &Ctx, id: i64, active: bool) -> Page {
    if ctx.user.as_ref().is_some_and(|u| u.id == id) {
        return Err(AppError::BadRequest("不能停用自己的账号。".into()));
    }
    let mut tx = state.db.begin().await?;
    let n = sqlx::query!("UPDATE users SET active = $2 WHERE id = $1", id, active)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    if n == 0 {
        return Err(AppError::NotFound);
    }
    if !active {
        session::end_all(&mut *tx, id).await?;
    }
    let action = if active {
        "user.activate"
    } else {
        "user.deactivate"
    };
    audit::record(&mut *tx, &ctx.actor(), Entry::ok(action).on("user", id)).await?;
    tx.commit().await?;
    state.refresh_demo_flag().await?;
    Ok(redirect_with_flash(
        state,
        &format!("/admin/users/{id}"),
        if active {
            "账号已启用。"
        } else {
            "账号已停用，其登录已全部退出。"
        },
    ))
}

pub async fn deactivate(State(state): State<AppState>, ctx: Ctx, Path(id): Path<i64>) -> Page {
    set_active(&state, &ctx, id, false).await
}

pub async fn activate(State(state): State<AppState>, ctx: Ctx, Path(id): Path<i64>) -> Page {
    set_active(&state, &ctx, id, true).await
}

/// A new one-time password; the sysadmin learns it but gains no access to what the account sees.
pub async fn reset_password(State(state): State<AppState>, ctx: Ctx, Path(id): Path<i64>) -> Page {
    let password = one_time_password();
    let hash = hash_password(password.clone()).await?;
    let mut tx = state.db.begin().await?;
    let username = sqlx::query_scalar!(
        "UPDATE users SET password_hash = $2, must_change_password = true, failed_logins = 0, locked_until = NULL,
                password_changed_at = $3 WHERE id = $1 RETURNING username",
        id,
        hash,
        state.clock.now()
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(AppError::NotFound)?;
    session::end_all(&mut *tx, id).await?;
    audit::record(
        &mut *tx,
        &ctx.actor(),
        Entry::ok("password.reset").on("user", id),
    )
    .await?;
    tx.commit().await?;
    let message = format!(
        "已重置 {username} 的密码。一次性密码：{password}（只显示这一次；下次登录须修改密码）"
    );
    Ok(redirect_with_flash(
        &state,
        &format!("/admin/users/{id}"),
        &message,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::web::account::check_password;

    #[test]
    fn one_time_passwords_pass_the_policy_and_differ() {
        let a = one_time_password();
        assert_eq!(a.len(), 12);
        assert!(check_password("someone", &a).is_ok());
        assert_ne!(a, one_time_password());
    }
}
