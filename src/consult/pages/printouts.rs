//! `GET /staff/visits/{id}/schedule/rooms/{room}/print` (a room's list, A4) and
//! `GET /staff/visits/{id}/checkin/{reg}/ticket` (a queue ticket, 80 mm).

use crate::clock::cn_date;
use crate::consult::printouts::{self, RoomList, Ticket};
use crate::state::AppState;
use crate::web::Ctx;
use crate::web::page::{Layout, Page, render};
use askama::Template;
use axum::extract::{Path, State};
use axum::http::HeaderMap;

#[derive(Template)]
#[template(path = "consult/room_list.html")]
struct RoomListPage {
    layout: Layout,
    back: String,
    date: String,
    list: RoomList,
}

pub async fn room_list(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((id, room)): Path<(i64, i64)>,
) -> Page {
    let mut conn = state.db.acquire().await?;
    let list = printouts::room_list(&mut conn, id, room).await?;
    render(&RoomListPage {
        layout: ctx.layout(&format!("{} 接待名单", list.room)),
        back: format!("/staff/visits/{id}/schedule#room-{room}"),
        date: cn_date(list.visit_date),
        list,
    })
}

#[derive(Template)]
#[template(path = "consult/ticket.html")]
struct TicketPage {
    layout: Layout,
    back: String,
    /// None: no place in a queue yet, so nothing to print.
    ticket: Option<Ticket>,
    /// The citizen's status page as a QR code.
    qr: String,
}

pub async fn ticket(
    State(state): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    Path((id, reg)): Path<(i64, i64)>,
) -> Page {
    let mut conn = state.db.acquire().await?;
    let ticket = printouts::ticket(&mut conn, id, reg).await?;
    let base = crate::web::base_url(&state.config, &headers);
    let qr = ticket.as_ref().map_or_else(String::new, |t| {
        crate::web::qr::svg(
            &format!("{base}/registrations/{}", t.code),
            "登记状态查询二维码",
        )
    });
    render(&TicketPage {
        layout: ctx.layout("排队小票"),
        back: format!("/staff/visits/{id}/checkin"),
        ticket,
        qr,
    })
}
