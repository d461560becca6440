//! The security administrator's actions on `/admin/users/{id}` (三员分立): an account's authority
//! (role, jurisdiction and link), unlocking it, and a password reset link shown once in the response.

use super::users::{ResetLink, Shown, refusal_error, user_page};
use crate::admin::accounts::{self, Authority};
use crate::admin::resets;
use crate::clock::china_minute;
use crate::state::AppState;
use crate::web::auth::Role;
use crate::web::form::{Errors, Form, opt_id};
use crate::web::page::{Page, render, render_status};
use crate::web::{Ctx, base_url, redirect_with_flash};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use serde::Deserialize;

/// The authority form: a role (empty: none), the jurisdiction and the link the role needs.
#[derive(Deserialize, Default)]
#[serde(default)]
pub struct AuthorityForm {
    pub role: String,
    pub jurisdiction_id: String,
    pub department_id: String,
    pub leader_id: String,
}

impl AuthorityForm {
    /// The form as the account stands.
    pub fn of(
        role: Option<&str>,
        jurisdiction_id: Option<i64>,
        department_id: Option<i64>,
        leader_id: Option<i64>,
    ) -> Self {
        let id = |i: Option<i64>| i.map(|i| i.to_string()).unwrap_or_default();
        AuthorityForm {
            role: role.unwrap_or_default().to_owned(),
            jurisdiction_id: id(jurisdiction_id),
            department_id: id(department_id),
            leader_id: id(leader_id),
        }
    }

    /// A handler needs a department, a leader account a leader; any other link is dropped.
    fn validate(&self, errors: &mut Errors) -> Option<Authority> {
        let role = match self.role.trim() {
            "" => None,
            r => {
                let role = Role::parse(r);
                if role.is_none() {
                    errors.add("role", "请选择角色");
                }
                Some(role?)
            }
        };
        let department_id = opt_id(&self.department_id).filter(|_| role == Some(Role::Handler));
        let leader_id = opt_id(&self.leader_id).filter(|_| role == Some(Role::Leader));
        // Empty: the account stays where it is (the form always shows its jurisdiction chosen).
        let jurisdiction_id = match self.jurisdiction_id.trim() {
            "" => None,
            j => {
                let id = opt_id(j);
                if id.is_none() {
                    errors.add("jurisdiction_id", "请选择所属辖区");
                }
                Some(id?)
            }
        };
        if role == Some(Role::Handler) && department_id.is_none() {
            errors.add("department_id", "承办单位经办人须选择所属单位");
        }
        if role == Some(Role::Leader) && leader_id.is_none() {
            errors.add("leader_id", "接访领导账号须选择对应领导");
        }
        errors.is_empty().then_some(Authority {
            role,
            jurisdiction_id,
            department_id,
            leader_id,
        })
    }
}

/// Grant, change or revoke the role and its link. Nobody sets their own (refused in the domain).
pub async fn update(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<i64>,
    Form(f): Form<AuthorityForm>,
) -> Page {
    let mut errors = Errors::default();
    let mut tx = state.db.begin().await?;
    if let Some(authority) = f.validate(&mut errors) {
        let now = state.clock.now();
        match accounts::set_authority(&mut tx, &ctx.actor(), id, &authority, now).await? {
            Ok(()) => {
                tx.commit().await?;
                let to = format!("/admin/users/{id}");
                return Ok(redirect_with_flash(&state, &to, "权限已保存。"));
            }
            Err(refusal) => refusal_error(refusal, &mut errors),
        }
    }
    drop(tx);
    let shown = Shown {
        authority: Some(f),
        errors,
        ..Shown::default()
    };
    let page = user_page(&state, &ctx, id, shown).await?;
    Ok(render_status(StatusCode::UNPROCESSABLE_ENTITY, &page))
}

pub async fn unlock(State(state): State<AppState>, ctx: Ctx, Path(id): Path<i64>) -> Page {
    let mut tx = state.db.begin().await?;
    accounts::unlock(&mut tx, &ctx.actor(), id).await?;
    tx.commit().await?;
    let to = format!("/admin/users/{id}");
    Ok(redirect_with_flash(&state, &to, "账号已解锁。"))
}

/// Issue a reset link and show it in this response only: never in a cookie, never again.
pub async fn reset_link(
    State(state): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    Path(id): Path<i64>,
) -> Page {
    let mut tx = state.db.begin().await?;
    let issued = resets::issue(&mut tx, &ctx.actor(), id, state.clock.now()).await?;
    tx.commit().await?;
    let link = ResetLink {
        url: format!(
            "{}/reset/{}",
            base_url(&state.config, &headers),
            issued.token
        ),
        expires_at: china_minute(issued.expires_at),
    };
    let shown = Shown {
        reset_link: Some(link),
        ..Shown::default()
    };
    let mut page = render(&user_page(&state, &ctx, id, shown).await?)?;
    // The page holds a live credential: no cache keeps it.
    page.headers_mut().insert(
        axum::http::header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("no-store"),
    );
    Ok(page)
}
