//! The second-factor block of `/admin/users/{id}` and its reset button (the security
//! administrator's only, DESIGN §7); the reset itself is `admin::second_factor`.

use crate::admin::second_factor;
use crate::clock::china_minute;
use crate::error::AppError;
use crate::state::AppState;
use crate::web::auth::Role;
use crate::web::page::Page;
use crate::web::{Ctx, redirect_with_flash};
use axum::extract::{Path, State};

/// What the account page shows of the second factor.
pub struct SecondFactorBox {
    /// When it was bound (China time), empty when not enrolled.
    pub enrolled_at: String,
    /// The viewer is the security administrator (and not looking at their own account).
    pub can_reset: bool,
}

pub async fn block(state: &AppState, ctx: &Ctx, id: i64) -> Result<SecondFactorBox, AppError> {
    let enrolled = second_factor::enrolled_at(&state.db, id).await?;
    let viewer = ctx.user.as_ref();
    Ok(SecondFactorBox {
        enrolled_at: enrolled.map(china_minute).unwrap_or_default(),
        can_reset: viewer.is_some_and(|u| u.role == Role::Secadmin && u.id != id),
    })
}

/// `POST /admin/users/{id}/reset-second-factor`.
pub async fn reset(State(state): State<AppState>, ctx: Ctx, Path(id): Path<i64>) -> Page {
    let mut tx = state.db.begin().await?;
    let username = second_factor::reset(&mut tx, &ctx.actor(), id, state.clock.now()).await?;
    tx.commit().await?;
    let message =
        format!("已重置 {username} 的双因素认证：其登录已全部退出，下次登录时须重新绑定。");
    Ok(redirect_with_flash(
        &state,
        &format!("/admin/users/{id}"),
        &message,
    ))
}
