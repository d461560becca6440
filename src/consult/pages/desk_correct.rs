//! `/staff/visits/{id}/rooms/{room}/desk/{reg}/correct` — 更正接谈记录: the saved reception of a
//! batch in the record form, for whoever recorded it, on that day (`consult::correction`).

use crate::consult::correction::{self, Corrected, NOT_YOURS_TODAY, Saved};
use crate::consult::pages::desk::{case_links, desk_url, invalid_status, open_room, recorder};
use crate::consult::pages::desk_form::{FormState, Purpose, RecordForm, record_form};
use crate::consult::pages::reception_form;
use crate::consult::reception::{Choices, DeskError, DeskRoom};
use crate::error::AppError;
use crate::state::AppState;
use crate::web::auth::CurrentUser;
use crate::web::form::Form;
use crate::web::page::{Layout, Page, render_status};
use crate::web::{Ctx, redirect_with_flash_links};
use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;

#[derive(Template)]
#[template(path = "consult/desk_correct.html")]
struct CorrectPage {
    layout: Layout,
    desk: String,
    room_name: String,
    visit_title: String,
    code: String,
    form: RecordForm,
}

async fn render(
    state: &AppState,
    ctx: &Ctx,
    room: &DeskRoom,
    reg: i64,
    mut saved: Saved,
    typed: Option<FormState>,
    status: StatusCode,
) -> Page {
    let shown = typed.unwrap_or_else(|| FormState::saved(&mut saved, room));
    let purpose = Purpose {
        action: format!("{}/{reg}/correct", desk_url(room.visit_id, room.id)),
        submit: "保存更正",
        kept: saved.kept,
    };
    let mut conn = state.db.acquire().await?;
    let page = CorrectPage {
        layout: ctx.layout(&format!("更正接谈记录：{}", saved.code)),
        desk: desk_url(room.visit_id, room.id),
        room_name: room.name.clone(),
        visit_title: room.visit_title.clone(),
        code: saved.code,
        form: record_form(&mut conn, room, None, Some(shown), purpose).await?,
    };
    Ok(render_status(status, &page))
}

/// The saved reception, if this user may still correct it (else the refusal, 409).
async fn correctable(
    state: &AppState,
    user: &CurrentUser,
    ids: (i64, i64, i64),
) -> Result<(DeskRoom, Saved), AppError> {
    let mut conn = state.db.acquire().await?;
    let room = open_room(&mut conn, user, ids.0, ids.1).await?;
    let now = state.clock.now();
    let saved = correction::saved(&mut conn, &state.keys, &room, ids.2, user.id, now).await?;
    match saved.correctable {
        true => Ok((room, saved)),
        false => Err(AppError::Conflict(NOT_YOURS_TODAY.into())),
    }
}

pub async fn page(
    State(state): State<AppState>,
    ctx: Ctx,
    user: CurrentUser,
    Path(ids): Path<(i64, i64, i64)>,
) -> Page {
    let (room, saved) = correctable(&state, &user, ids).await?;
    render(&state, &ctx, &room, ids.2, saved, None, StatusCode::OK).await
}

pub async fn save(
    State(state): State<AppState>,
    ctx: Ctx,
    user: CurrentUser,
    Path(ids): Path<(i64, i64, i64)>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Page {
    let (room, saved) = correctable(&state, &user, ids).await?;
    let input = reception_form::parse(&pairs);
    let actor = ctx.actor();
    let by = recorder(&state, &user, &actor);
    let check = |c: &Choices<'_>, kept: bool| reception_form::submitted(&input, c, kept);
    let mut tx = state.db.begin().await?;
    match correction::correct(&mut tx, &room, ids.2, check, &by).await {
        Ok(c) => {
            tx.commit().await?;
            Ok(corrected(&state, &room, &c))
        }
        Err(DeskError::Invalid(invalid)) => {
            drop(tx);
            let status = invalid_status(&input);
            let typed = Some(FormState { input, invalid });
            render(&state, &ctx, &room, ids.2, saved, typed, status).await
        }
        Err(DeskError::Refused(m)) => Err(AppError::Conflict(m)),
        Err(DeskError::NoOtherRoom(_)) => Err(AppError::NotFound),
        Err(DeskError::Failed(e)) => Err(e),
    }
}

/// Back to the desk, saying which version is now current and linking the cases it made.
fn corrected(state: &AppState, room: &DeskRoom, c: &Corrected) -> Response {
    let mut msg = format!(
        "已更正 {} 的接谈记录（现为第 {} 版，原记录已留存）。",
        c.code, c.version
    );
    if !c.cases.is_empty() {
        msg.push_str("新交办件：");
    }
    let desk = desk_url(room.visit_id, room.id);
    redirect_with_flash_links(state, &desk, &msg, &case_links(&c.cases))
}
