//! Public pages of stage 1: the monthly schedule, a visit, a notice and its printable poster.
//! Only what was announced is public: a visit without a published notice does not exist here.

use crate::clock::china_date;
use crate::clock::{cn_date, cn_minute};
use crate::error::AppError;
use crate::prepare::notice_store::{NoticeView, published_for};
use crate::prepare::notice_text::{self, Block, Facts};
use crate::prepare::plan::{self, hours};
use crate::prepare::visit_store::facts;
use crate::public::published::{is_public, published_notice};
use crate::public::regions;
use crate::state::AppState;
use crate::web::Ctx;
use crate::web::base_url;
use crate::web::page::{Layout, Page, render};
use askama::Template;
use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use chrono::{DateTime, NaiveDate, Utc};

// ---------------------------------------------------------------------------------------------
// /schedule?month=YYYY-MM
// ---------------------------------------------------------------------------------------------

struct ScheduleRow {
    id: i64,
    date: String,
    hours: String,
    title: String,
    leaders: String,
    venue: String,
    cancelled: bool,
}

struct CountyGroup {
    name: String,
    rows: Vec<ScheduleRow>,
}

#[derive(Template)]
#[template(path = "public/schedule.html")]
struct SchedulePage {
    layout: Layout,
    month_label: String,
    prev: String,
    next: String,
    counties: Vec<CountyGroup>,
}

/// The month asked for (`?month=YYYY-MM`); a bad or missing month is the current one.
pub fn asked_month(query: Option<String>, today: NaiveDate) -> NaiveDate {
    query
        .and_then(|q| serde_urlencoded::from_str::<Vec<(String, String)>>(&q).ok())
        .and_then(|pairs| {
            pairs
                .into_iter()
                .find(|(k, _)| k == "month")
                .map(|(_, v)| v)
        })
        .and_then(|m| plan::parse_month(&m))
        .unwrap_or_else(|| plan::parse_month(&today.format("%Y-%m").to_string()).unwrap_or(today))
}

/// The public visits of the month starting `first`, by county.
async fn month_by_county(db: &sqlx::PgPool, first: NaiveDate) -> sqlx::Result<Vec<CountyGroup>> {
    let rows = sqlx::query!(
        r#"SELECT v.id, v.title, v.visit_date, v.starts_at, v.ends_at, v.venue, v.status, c.name AS county,
                  (SELECT string_agg(l.name || '（' || l.title || '）', '、' ORDER BY (l.id = v.lead_leader_id) DESC, l.name)
                   FROM leaders l WHERE l.id = v.lead_leader_id OR l.id IN (SELECT leader_id FROM visit_leaders WHERE visit_id = v.id)) AS "leaders!"
           FROM visits v JOIN jurisdictions c ON c.id = v.county_id
           WHERE v.visit_date >= $1 AND v.visit_date < $2
             AND EXISTS (SELECT 1 FROM notices n WHERE n.visit_id = v.id AND n.status = 'published')
           ORDER BY c.name, v.visit_date, v.starts_at, v.id"#,
        first,
        plan::next_month(first)
    )
    .fetch_all(db)
    .await?;
    let mut counties: Vec<CountyGroup> = Vec::new();
    for r in rows {
        let row = ScheduleRow {
            id: r.id,
            date: format!(
                "{}（{}）",
                cn_date(r.visit_date),
                plan::weekday(r.visit_date)
            ),
            hours: hours(r.starts_at, r.ends_at),
            title: r.title,
            leaders: r.leaders,
            venue: r.venue,
            cancelled: r.status == "cancelled",
        };
        match counties.last_mut() {
            Some(g) if g.name == r.county => g.rows.push(row),
            _ => counties.push(CountyGroup {
                name: r.county,
                rows: vec![row],
            }),
        }
    }
    Ok(counties)
}

pub async fn schedule(State(state): State<AppState>, ctx: Ctx, RawQuery(query): RawQuery) -> Page {
    let first = asked_month(query, china_date(state.clock.now()));
    let counties = month_by_county(&state.db, first).await?;
    let month_label = first.format("%Y年%-m月").to_string();
    render(&SchedulePage {
        layout: ctx.layout(&format!("{month_label}领导接访安排")),
        month_label,
        prev: plan::prev_month(first).format("%Y-%m").to_string(),
        next: plan::next_month(first).format("%Y-%m").to_string(),
        counties,
    })
}

// ---------------------------------------------------------------------------------------------
// /visits/{id}
// ---------------------------------------------------------------------------------------------

struct NoticeLink {
    id: i64,
    label: &'static str,
    title: String,
    published: String,
}

impl From<(i64, String, String, DateTime<Utc>)> for NoticeLink {
    fn from((id, kind, title, at): (i64, String, String, DateTime<Utc>)) -> Self {
        NoticeLink {
            id,
            label: plan::notice_kind_label(&kind),
            title,
            published: cn_minute(at),
        }
    }
}

#[derive(Template)]
#[template(path = "public/visit.html")]
struct VisitPage {
    layout: Layout,
    /// Breadcrumbs to the host's region page, from its province.
    way: Vec<(String, String)>,
    id: i64,
    facts: Facts,
    status: String,
    opens: String,
    closes: String,
    open: bool,
    notices: Vec<NoticeLink>,
}

impl VisitPage {
    fn status_label(&self) -> &'static str {
        plan::status_label(&self.status)
    }
    fn badge(&self) -> &'static str {
        plan::status_badge(&self.status)
    }
    fn leader_lines(&self) -> Vec<String> {
        self.facts
            .leaders
            .iter()
            .map(|l| {
                if l.portfolio.is_empty() {
                    format!("{}（{}）", l.name, l.title)
                } else {
                    format!("{}（{}）：{}", l.name, l.title, l.portfolio)
                }
            })
            .collect()
    }
}

pub async fn visit(
    State(state): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    Path(id): Path<i64>,
) -> Page {
    if !is_public(&state.db, id).await? {
        return Err(AppError::NotFound);
    }
    let facts = facts(
        &mut *state.db.acquire().await?,
        state.config.registration_close_time,
        id,
        &base_url(&state.config, &headers),
    )
    .await?;
    let v = sqlx::query!("SELECT status, county_id FROM visits WHERE id = $1", id)
        .fetch_one(&state.db)
        .await?;
    let status = v.status;
    let published = published_for(&state.db, id).await?;
    let opened_at = published.iter().find(|n| n.1 == "first").map(|n| n.3);
    let now = state.clock.now();
    let open =
        status == "announced" && opened_at.is_some_and(|t| t <= now) && now < facts.closes_at;
    let notices = published.into_iter().map(NoticeLink::from).collect();
    render(&VisitPage {
        layout: ctx.layout(&facts.title),
        way: regions::way_down(&state.db, v.county_id).await?,
        id,
        opens: opened_at.map(cn_minute).unwrap_or_default(),
        closes: cn_minute(facts.closes_at),
        open,
        status,
        facts,
        notices,
    })
}

// ---------------------------------------------------------------------------------------------
// /notices/{id} and /notices/{id}/print
// ---------------------------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "public/notice.html")]
struct NoticePage {
    layout: Layout,
    notice: NoticeView,
    visit_id: i64,
}

pub async fn notice(State(state): State<AppState>, ctx: Ctx, Path(id): Path<i64>) -> Page {
    let p = published_notice(&state.db, id).await?;
    render(&NoticePage {
        layout: ctx.layout(&p.view.title),
        notice: p.view,
        visit_id: p.visit_id,
    })
}

#[derive(Template)]
#[template(path = "public/poster.html")]
struct PosterPage {
    layout: Layout,
    notice: NoticeView,
    county: String,
    heading: &'static str,
    blocks: Vec<Block>,
    published_on: String,
    register_url: String,
    qr: String,
}

impl PosterPage {
    /// Longer notices print smaller, so that the poster stays one A4 page with its QR code.
    fn size_class(&self) -> &'static str {
        match self.notice.body.chars().count() {
            0..=400 => "",
            401..=750 => " poster-dense",
            _ => " poster-denser",
        }
    }
    fn subtitle(&self) -> &'static str {
        match self.notice.kind.as_str() {
            "first" => "（一次公告）",
            "second" => "（二次公告）",
            _ => "",
        }
    }
}

pub async fn print(
    State(state): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    Path(id): Path<i64>,
) -> Page {
    let p = published_notice(&state.db, id).await?;
    let county = sqlx::query_scalar!(
        "SELECT c.name FROM visits v JOIN jurisdictions c ON c.id = v.county_id WHERE v.id = $1",
        p.visit_id
    )
    .fetch_one(&state.db)
    .await?;
    let register_url = format!(
        "{}/visits/{}/register",
        base_url(&state.config, &headers),
        p.visit_id
    );
    let heading = match p.view.kind.as_str() {
        "correction" => "领导下访接访更正公告",
        "cancellation" => "领导下访接访取消公告",
        _ => "领导下访接访公告",
    };
    // A cancelled day has nothing to register for.
    let qr = if p.view.kind == "cancellation" {
        String::new()
    } else {
        plan::qr_svg(&register_url)
    };
    render(&PosterPage {
        layout: ctx.layout(&p.view.title),
        blocks: notice_text::blocks(&p.view.body),
        notice: p.view,
        county,
        heading,
        published_on: p.published_on,
        register_url,
        qr,
    })
}
