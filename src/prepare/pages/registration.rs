//! `/staff/visits/{id}/registrations/new`: staff register on a citizen's behalf (phone channel),
//! with the public form's validation and booking.

use crate::prepare::registration::{Channel, RegistrationForm};
use crate::prepare::registration_view::{Handled, PageInput, handle, load_visit, page};
use crate::state::AppState;
use crate::web::form::Form;
use crate::web::page::{Page, render_status};
use crate::web::{Ctx, redirect_with_flash};
use axum::extract::{Path, State};
use axum::http::StatusCode;

/// `GET /staff/visits/{id}/registrations/new`
pub async fn staff_form(State(state): State<AppState>, ctx: Ctx, Path(id): Path<i64>) -> Page {
    let visit = load_visit(&state, id).await?;
    Ok(render_status(
        StatusCode::OK,
        &page(&state, &ctx, visit, Channel::Phone, PageInput::blank()).await?,
    ))
}

/// `POST /staff/visits/{id}/registrations/new`: the same validation and transaction as the public form.
pub async fn staff_submit(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<i64>,
    Form(f): Form<RegistrationForm>,
) -> Page {
    let visit = load_visit(&state, id).await?;
    let created_by = ctx.user.as_ref().map(|u| u.id);
    let outcome = handle(&state, &ctx, visit, Channel::Phone, f, None, created_by).await?;
    Ok(match outcome {
        Handled::Page(r) => r,
        Handled::Done {
            code,
            window,
            waitlisted,
            ..
        } => {
            let message = if window.is_empty() {
                format!("该表单已提交过。登记编号：{code}")
            } else if waitlisted {
                format!("已代为登记并加入 {window} 时段候补。登记编号：{code}（请告知来访人）")
            } else {
                format!("已代为登记，接访时段 {window}。登记编号：{code}（请告知来访人）")
            };
            let to = format!("/staff/visits/{id}/registrations/new");
            redirect_with_flash(&state, &to, &message)
        }
    })
}
