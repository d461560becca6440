//! `/lookup`: a citizen finds their registration with 登记编号 + 手机号码后四位, sees its status,
//! and may cancel it. A wrong pair and an unknown code get the very same answer.

use crate::prepare::booking;
use crate::prepare::registration;
use crate::public::registration_status::{LookupForm, find, limited, status_page};
use crate::state::AppState;
use crate::web::form::{Errors, Form};
use crate::web::page::{Layout, Page, render, render_status};
use crate::web::{Ctx, redirect_with_flash};
use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;

#[derive(Template)]
#[template(path = "public/lookup.html")]
struct LookupPage {
    layout: Layout,
    form: LookupForm,
    errors: Errors,
}

pub async fn page(ctx: Ctx) -> Page {
    render(&LookupPage {
        layout: ctx.layout("登记查询"),
        form: LookupForm::default(),
        errors: Errors::default(),
    })
}

/// The same words and status for an unknown code and a wrong phone: nothing says the code exists.
fn not_found(ctx: &Ctx, form: LookupForm) -> Page {
    let mut errors = Errors::default();
    errors.add(
        "code",
        "未找到与该登记编号和手机号码后四位相符的登记，请核对后重试。",
    );
    Ok(render_status(
        StatusCode::NOT_FOUND,
        &LookupPage {
            layout: ctx.layout("登记查询"),
            form,
            errors,
        },
    ))
}

/// `POST /lookup` → the status page.
pub async fn lookup(State(state): State<AppState>, ctx: Ctx, Form(f): Form<LookupForm>) -> Page {
    if let Err(too_many) = limited(&state, &ctx).await {
        return Ok(too_many);
    }
    let Some(id) = find(&state, &f).await? else {
        return not_found(&ctx, f);
    };
    render(&status_page(&state, &ctx, id, &f, None).await?)
}

/// `POST /lookup/cancel`: the same proof again (carried by the status page), then cancel.
pub async fn cancel(State(state): State<AppState>, ctx: Ctx, Form(f): Form<LookupForm>) -> Page {
    if let Err(too_many) = limited(&state, &ctx).await {
        return Ok(too_many);
    }
    let Some(id) = find(&state, &f).await? else {
        return not_found(&ctx, f);
    };
    let mut tx = state.db.begin().await?;
    let done = booking::cancel(&mut tx, id, &ctx.actor(), state.clock.now()).await?;
    tx.commit().await?;
    let message = if done {
        format!("登记 {} 已取消。", registration::normalize_code(&f.code))
    } else {
        "该登记已无法取消（已取消、已接谈或接访日已到）。".to_owned()
    };
    Ok(redirect_with_flash(&state, "/lookup", &message))
}
