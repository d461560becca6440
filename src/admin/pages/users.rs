//! `/admin/users`: accounts, one role each (三员分立), created with a one-time password.

use crate::admin::accounts::{self, AccountInput, AccountRefusal};
use crate::clock::china_minute;
use crate::error::AppError;
use crate::state::AppState;
use crate::web::auth::Role;
use crate::web::form::{Choice, Errors, Form, opt_id, text};
use crate::web::page::{Layout, Page, render, render_status};
use crate::web::{Ctx, redirect_with_flash};
use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;

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

impl AccountForm {
    /// The username of a new account; only its shape is checked here (uniqueness in the domain).
    fn username(&self, errors: &mut Errors) -> String {
        let username = self.username.trim().to_owned();
        if !accounts::username_well_formed(&username) {
            errors.add("username", accounts::USERNAME_SHAPE);
        }
        username
    }

    /// Check the role and its link: a handler needs a department, a leader account a leader, others neither.
    fn validate(&self, errors: &mut Errors) -> Option<AccountInput> {
        let display_name = text(errors, "display_name", "姓名", &self.display_name, 1, 30);
        let role = Role::parse(&self.role);
        if role.is_none() {
            errors.add("role", "请选择角色");
        }
        let department_id = opt_id(&self.department_id).filter(|_| role == Some(Role::Handler));
        let leader_id = opt_id(&self.leader_id).filter(|_| role == Some(Role::Leader));
        if role == Some(Role::Handler) && department_id.is_none() {
            errors.add("department_id", "承办单位经办人须选择所属责任单位");
        }
        if role == Some(Role::Leader) && leader_id.is_none() {
            errors.add("leader_id", "领导账号须关联一位领导");
        }
        Some(AccountInput {
            display_name,
            role: role?,
            department_id,
            leader_id,
        })
        .filter(|_| errors.is_empty())
    }
}

fn refusal_error(refusal: AccountRefusal, errors: &mut Errors) {
    match refusal {
        AccountRefusal::UsernameTaken => errors.add("username", accounts::USERNAME_TAKEN),
        AccountRefusal::LeaderHasAccount => errors.add("leader_id", "这位领导已有账号"),
    }
}

/// The list page again with the form as typed, its errors, and the clashes the database knows of.
async fn refuse_create(state: &AppState, ctx: &Ctx, f: AccountForm, mut errors: Errors) -> Page {
    let username = f.username.trim();
    if errors.get("username").is_empty() && accounts::username_taken(&state.db, username).await? {
        refusal_error(AccountRefusal::UsernameTaken, &mut errors);
    }
    let leader = opt_id(&f.leader_id).filter(|_| f.role == Role::Leader.as_str());
    if let Some(leader) = leader
        && accounts::leader_has_account(&state.db, leader).await?
    {
        refusal_error(AccountRefusal::LeaderHasAccount, &mut errors);
    }
    let page = users_page(state, ctx, f, errors).await?;
    Ok(render_status(StatusCode::UNPROCESSABLE_ENTITY, &page))
}

pub async fn create(State(state): State<AppState>, ctx: Ctx, Form(f): Form<AccountForm>) -> Page {
    let mut errors = Errors::default();
    let username = f.username(&mut errors);
    let Some(input) = f.validate(&mut errors) else {
        return refuse_create(&state, &ctx, f, errors).await;
    };
    let mut tx = state.db.begin().await?;
    let created = match accounts::create(&mut tx, &ctx.actor(), &username, &input).await? {
        Ok(created) => created,
        Err(refusal) => {
            drop(tx);
            refusal_error(refusal, &mut errors);
            return refuse_create(&state, &ctx, f, errors).await;
        }
    };
    tx.commit().await?;
    let (id, password) = (created.id, created.password);
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
    second_factor: super::second_factor::SecondFactorBox,
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
    let locked_until = u.locked_until.filter(|t| *t > state.clock.now());
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
        locked_until: locked_until.map(china_minute).unwrap_or_default(),
        password_changed_at: china_minute(u.password_changed_at),
        form,
        errors,
        roles: role_choices(),
        departments: departments(state).await?,
        leaders: leaders(state).await?,
        tokens: crate::web::tokens::active_count(&state.db, id, state.clock.now()).await?,
        second_factor: super::second_factor::block(state, ctx, id).await?,
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
    let Some(input) = f.validate(&mut errors) else {
        let page = user_page(&state, &ctx, id, Some(f), errors).await?;
        return Ok(render_status(StatusCode::UNPROCESSABLE_ENTITY, &page));
    };
    let mut tx = state.db.begin().await?;
    accounts::update(&mut tx, &ctx.actor(), id, &input, state.clock.now()).await?;
    tx.commit().await?;
    Ok(redirect_with_flash(
        &state,
        &format!("/admin/users/{id}"),
        "已保存。",
    ))
}

async fn set_active(state: &AppState, ctx: &Ctx, id: i64, active: bool) -> Page {
    let mut tx = state.db.begin().await?;
    accounts::set_active(&mut tx, &ctx.actor(), id, active, state.clock.now()).await?;
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
    let mut tx = state.db.begin().await?;
    let now = state.clock.now();
    let (username, password) = accounts::reset_password(&mut tx, &ctx.actor(), id, now).await?;
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
