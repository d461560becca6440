//! `/admin/users`: accounts (三员分立). Both administrators see those within their jurisdiction's
//! subtree (any other id is not found); the sysadmin creates them (no role, no password, in the
//! sysadmin's jurisdiction) and edits who they are; the security administrator's authority form and
//! actions are in `authority`, rendered on the same detail page.

use super::authority::AuthorityForm;
use crate::admin::accounts::{self, AccountRefusal, Profile};
use crate::clock::china_minute;
use crate::error::AppError;
use crate::state::AppState;
use crate::web::auth::Role;
use crate::web::form::{Choice, Errors, Form, text};
use crate::web::page::{Layout, Page, render, render_status};
use crate::web::{Ctx, redirect_with_flash};
use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;

/// A role's label, or 未分配 for an account still waiting for one.
fn role_label(role: Option<&str>) -> &'static str {
    match role {
        None => "未分配",
        Some(r) => Role::parse(r).map(Role::label).unwrap_or("未知"),
    }
}

struct UserRow {
    id: i64,
    username: String,
    display_name: String,
    role_label: &'static str,
    jurisdiction: String,
    link: String,
    active: bool,
    locked: bool,
}

/// The sysadmin's form: who the account is. Any other field posted (role, links) is not read.
#[derive(Deserialize, Default)]
#[serde(default)]
pub struct ProfileForm {
    username: String,
    display_name: String,
}

impl ProfileForm {
    fn validate(&self, errors: &mut Errors) -> Option<Profile> {
        let username = self.username.trim().to_owned();
        if !accounts::username_well_formed(&username) {
            errors.add("username", accounts::USERNAME_SHAPE);
        }
        let display_name = text(errors, "display_name", "姓名", &self.display_name, 1, 30);
        errors.is_empty().then_some(Profile {
            username,
            display_name,
        })
    }
}

#[derive(Template)]
#[template(path = "admin/users.html")]
struct UsersPage {
    layout: Layout,
    users: Vec<UserRow>,
    form: ProfileForm,
    errors: Errors,
    /// Only the sysadmin creates accounts.
    can_create: bool,
}

fn has_role(ctx: &Ctx, role: Role) -> bool {
    ctx.user.as_ref().is_some_and(|u| u.role == role)
}

async fn users_page(
    state: &AppState,
    ctx: &Ctx,
    form: ProfileForm,
    errors: Errors,
) -> Result<UsersPage, AppError> {
    let now = state.clock.now();
    let viewer = ctx.user.as_ref().and_then(|u| u.jurisdiction_id);
    let users = sqlx::query!(
        r#"SELECT u.id, u.username, u.display_name, u.role, u.active, u.locked_until,
                  COALESCE(d.name, l.name || '（' || l.title || '）', '') AS "link!",
                  COALESCE(j.name, '') AS "jurisdiction!"
           FROM users u LEFT JOIN departments d ON d.id = u.department_id LEFT JOIN leaders l ON l.id = u.leader_id
                LEFT JOIN jurisdictions j ON j.id = u.jurisdiction_id
           WHERE u.jurisdiction_id IN (SELECT jurisdiction_subtree($1))
              OR (u.jurisdiction_id IS NULL AND EXISTS (SELECT 1 FROM jurisdictions WHERE id = $1 AND parent_id IS NULL))
           ORDER BY u.active DESC, u.role NULLS FIRST, u.username"#,
        viewer
    )
    .fetch_all(&state.db)
    .await?
    .into_iter()
    .map(|r| UserRow {
        id: r.id,
        username: r.username,
        display_name: r.display_name,
        role_label: role_label(r.role.as_deref()),
        jurisdiction: r.jurisdiction,
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
        can_create: has_role(ctx, Role::Sysadmin),
    })
}

pub async fn list(State(state): State<AppState>, ctx: Ctx) -> Page {
    render(&users_page(&state, &ctx, ProfileForm::default(), Errors::default()).await?)
}

pub(super) fn refusal_error(refusal: AccountRefusal, errors: &mut Errors) {
    match refusal {
        AccountRefusal::UsernameTaken => errors.add("username", accounts::USERNAME_TAKEN),
        AccountRefusal::LeaderHasAccount => errors.add("leader_id", "这位领导已有账号"),
        AccountRefusal::JurisdictionOutside => {
            errors.add("jurisdiction_id", "只能选择本辖区或下级辖区")
        }
        AccountRefusal::DepartmentOutside => {
            errors.add("department_id", "只能选择本辖区或下级辖区的单位")
        }
        AccountRefusal::LeaderOutside => errors.add("leader_id", "只能选择本辖区或下级辖区的领导"),
    }
}

/// The list page again with the form as typed and its errors.
async fn refuse_create(state: &AppState, ctx: &Ctx, f: ProfileForm, mut errors: Errors) -> Page {
    let username = f.username.trim();
    if errors.get("username").is_empty() && accounts::username_taken(&state.db, username).await? {
        refusal_error(AccountRefusal::UsernameTaken, &mut errors);
    }
    let page = users_page(state, ctx, f, errors).await?;
    Ok(render_status(StatusCode::UNPROCESSABLE_ENTITY, &page))
}

/// A new account without a role or a password: the security administrator assigns the role and
/// issues the reset link through which the holder sets their first password.
pub async fn create(State(state): State<AppState>, ctx: Ctx, Form(f): Form<ProfileForm>) -> Page {
    let mut errors = Errors::default();
    let Some(profile) = f.validate(&mut errors) else {
        return refuse_create(&state, &ctx, f, errors).await;
    };
    let mut tx = state.db.begin().await?;
    let id = match accounts::create(&mut tx, &ctx.actor(), &profile).await? {
        Ok(id) => id,
        Err(refusal) => {
            drop(tx);
            refusal_error(refusal, &mut errors);
            return refuse_create(&state, &ctx, f, errors).await;
        }
    };
    tx.commit().await?;
    let message = format!(
        "已创建用户 {}。该账号尚无角色和密码：请安全管理员分配角色并签发重置密码链接。",
        profile.username
    );
    Ok(redirect_with_flash(
        &state,
        &format!("/admin/users/{id}"),
        &message,
    ))
}

/// A reset link just issued, shown once in the response of the POST that made it.
pub struct ResetLink {
    pub url: String,
    pub expires_at: String,
}

#[derive(Template)]
#[template(path = "admin/user.html")]
pub struct UserPage {
    layout: Layout,
    id: i64,
    username: String,
    role_label: &'static str,
    jurisdiction: String,
    link: String,
    active: bool,
    locked_until: String,
    password_changed_at: String,
    /// Live API tokens (created by the user at /me/tokens; the secadmin can only revoke them).
    tokens: i64,
    profile: ProfileForm,
    authority: AuthorityForm,
    errors: Errors,
    roles: Vec<(&'static str, &'static str)>,
    departments: Vec<Choice>,
    leaders: Vec<Choice>,
    /// The jurisdictions the security administrator may place the account in.
    jurisdictions: Vec<Choice>,
    is_sysadmin: bool,
    is_secadmin: bool,
    /// The viewer's own account: no authority form (nobody sets their own).
    is_self: bool,
    reset_link: Option<ResetLink>,
    second_factor: super::second_factor::SecondFactorBox,
}

/// What a detail page shows besides the stored account: forms as typed, errors, a new link.
#[derive(Default)]
pub struct Shown {
    pub profile: Option<ProfileForm>,
    pub authority: Option<AuthorityForm>,
    pub errors: Errors,
    pub reset_link: Option<ResetLink>,
}

/// The active departments and leaders within the viewer's subtree, labelled with their jurisdiction.
async fn choices(
    state: &AppState,
    viewer: Option<i64>,
) -> sqlx::Result<(Vec<Choice>, Vec<Choice>)> {
    let departments = sqlx::query_as!(
        Choice,
        r#"SELECT d.id, d.name || COALESCE('（' || j.name || '）', '') AS "label!"
           FROM departments d LEFT JOIN jurisdictions j ON j.id = d.jurisdiction_id
           WHERE d.active AND (d.jurisdiction_id IN (SELECT jurisdiction_subtree($1))
              OR (d.jurisdiction_id IS NULL AND EXISTS (SELECT 1 FROM jurisdictions WHERE id = $1 AND parent_id IS NULL)))
           ORDER BY j.code NULLS FIRST, d.name"#,
        viewer
    )
    .fetch_all(&state.db)
    .await?;
    let leaders = sqlx::query_as!(
        Choice,
        r#"SELECT l.id, l.name || '（' || COALESCE(j.name, '') || l.title || '）' AS "label!"
           FROM leaders l LEFT JOIN jurisdictions j ON j.id = l.county_id
           WHERE l.active AND (l.county_id IN (SELECT jurisdiction_subtree($1))
              OR (l.county_id IS NULL AND EXISTS (SELECT 1 FROM jurisdictions WHERE id = $1 AND parent_id IS NULL)))
           ORDER BY l.name"#,
        viewer
    )
    .fetch_all(&state.db)
    .await?;
    Ok((departments, leaders))
}

pub async fn user_page(
    state: &AppState,
    ctx: &Ctx,
    id: i64,
    shown: Shown,
) -> Result<UserPage, AppError> {
    let now = state.clock.now();
    let viewer = ctx.user.as_ref().and_then(|u| u.jurisdiction_id);
    crate::admin::scope::account(&state.db, viewer, id).await?;
    let u = sqlx::query!(
        r#"SELECT u.id, u.username, u.display_name, u.role, u.department_id, u.leader_id, u.active,
                  u.locked_until, u.password_changed_at, u.jurisdiction_id,
                  COALESCE(d.name, l.name || '（' || l.title || '）', '') AS "link!",
                  COALESCE(j.name, '') AS "jurisdiction!"
           FROM users u LEFT JOIN departments d ON d.id = u.department_id LEFT JOIN leaders l ON l.id = u.leader_id
                LEFT JOIN jurisdictions j ON j.id = u.jurisdiction_id
           WHERE u.id = $1"#,
        id
    )
    .fetch_optional(&state.db)
    .await?
    .ok_or(AppError::NotFound)?;
    let (departments, leaders) = choices(state, viewer).await?;
    let authority = shown.authority.unwrap_or_else(|| {
        AuthorityForm::of(
            u.role.as_deref(),
            u.jurisdiction_id,
            u.department_id,
            u.leader_id,
        )
    });
    Ok(UserPage {
        layout: ctx.layout(&format!("用户：{}", u.username)),
        id: u.id,
        profile: shown.profile.unwrap_or(ProfileForm {
            username: u.username.clone(),
            display_name: u.display_name,
        }),
        username: u.username,
        role_label: role_label(u.role.as_deref()),
        jurisdiction: u.jurisdiction,
        link: u.link,
        active: u.active,
        locked_until: u
            .locked_until
            .filter(|t| *t > now)
            .map(china_minute)
            .unwrap_or_default(),
        password_changed_at: china_minute(u.password_changed_at),
        tokens: crate::web::tokens::active_count(&state.db, id, now).await?,
        authority,
        errors: shown.errors,
        roles: Role::ALL.iter().map(|r| (r.as_str(), r.label())).collect(),
        departments,
        leaders,
        jurisdictions: crate::admin::scope::choices(&state.db, viewer).await?,
        is_sysadmin: has_role(ctx, Role::Sysadmin),
        is_secadmin: has_role(ctx, Role::Secadmin),
        is_self: ctx.user.as_ref().is_some_and(|me| me.id == id),
        reset_link: shown.reset_link,
        second_factor: super::second_factor::block(state, ctx, id).await?,
    })
}

pub async fn show(State(state): State<AppState>, ctx: Ctx, Path(id): Path<i64>) -> Page {
    render(&user_page(&state, &ctx, id, Shown::default()).await?)
}

/// The sysadmin's edit: username and name only.
pub async fn update(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<i64>,
    Form(f): Form<ProfileForm>,
) -> Page {
    let mut errors = Errors::default();
    let mut tx = state.db.begin().await?;
    if let Some(profile) = f.validate(&mut errors) {
        match accounts::update_profile(&mut tx, &ctx.actor(), id, &profile).await? {
            Ok(()) => {
                tx.commit().await?;
                let to = format!("/admin/users/{id}");
                return Ok(redirect_with_flash(&state, &to, "已保存。"));
            }
            Err(refusal) => refusal_error(refusal, &mut errors),
        }
    }
    drop(tx);
    let shown = Shown {
        profile: Some(f),
        errors,
        ..Shown::default()
    };
    let page = user_page(&state, &ctx, id, shown).await?;
    Ok(render_status(StatusCode::UNPROCESSABLE_ENTITY, &page))
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
