//! `/`: the region chooser (province → city → county), upcoming reception days and the latest
//! notices — what a citizen looks for first.

use crate::clock::{china_date, china_minute};
use crate::public::regions::{self, Chooser};
use crate::state::AppState;
use crate::web::Ctx;
use crate::web::page::{Layout, Page, render};
use askama::Template;
use axum::extract::State;

struct UpcomingVisit {
    id: i64,
    title: String,
    date: String,
    hours: String,
    venue: String,
    address: String,
    leader: String,
    county: String,
    county_code: String,
}

struct LatestNotice {
    id: i64,
    title: String,
    published: String,
}

#[derive(Template)]
#[template(path = "public/home.html")]
struct HomePage {
    layout: Layout,
    chooser: Chooser,
    visits: Vec<UpcomingVisit>,
    notices: Vec<LatestNotice>,
}

pub async fn page(State(state): State<AppState>, ctx: Ctx) -> Page {
    let today = china_date(state.clock.now());
    render(&HomePage {
        layout: ctx.layout("领导下访接访"),
        chooser: regions::chooser(&state.db).await?,
        visits: coming(&state.db, today).await?,
        notices: latest_notices(&state.db).await?,
    })
}

/// The next ten public days; a county's duty rota (a leader every working day) gives only its next.
async fn coming(db: &sqlx::PgPool, today: chrono::NaiveDate) -> sqlx::Result<Vec<UpcomingVisit>> {
    Ok(sqlx::query!(
        r#"WITH coming AS (
               SELECT v.id, v.title, v.visit_date, v.starts_at, v.ends_at, v.venue, v.address, v.duty,
                      l.name || '（' || l.title || '）' AS leader, c.name AS county, c.code AS county_code
               FROM visits v JOIN leaders l ON l.id = v.lead_leader_id JOIN jurisdictions c ON c.id = v.county_id
               WHERE v.visit_date >= $1 AND v.status IN ('announced', 'closed_for_registration', 'in_progress'))
           SELECT id AS "id!", title AS "title!", visit_date AS "visit_date!", starts_at AS "starts_at!", ends_at AS "ends_at!",
                  venue AS "venue!", address AS "address!", leader AS "leader!", county AS "county!", county_code AS "county_code!"
           FROM (SELECT * FROM coming WHERE NOT duty
                 UNION ALL
                 SELECT * FROM (SELECT DISTINCT ON (county_code) * FROM coming WHERE duty ORDER BY county_code, visit_date) d) x
           ORDER BY visit_date, starts_at LIMIT 10"#,
        today
    )
    .fetch_all(db)
    .await?
    .into_iter()
    .map(|v| UpcomingVisit {
        id: v.id,
        title: v.title,
        date: crate::clock::cn_date(v.visit_date),
        hours: format!("{}—{}", v.starts_at.format("%H:%M"), v.ends_at.format("%H:%M")),
        venue: v.venue,
        address: v.address,
        leader: v.leader,
        county: v.county,
        county_code: v.county_code,
    })
    .collect())
}

/// The ten latest notices, not the duty rota's day-by-day ones (the month's 安排 is their notice).
async fn latest_notices(db: &sqlx::PgPool) -> sqlx::Result<Vec<LatestNotice>> {
    Ok(sqlx::query!(
        r#"SELECT n.id, n.title, n.published_at AS "published_at!" FROM notices n JOIN visits v ON v.id = n.visit_id
           WHERE n.status = 'published' AND NOT v.duty ORDER BY n.published_at DESC LIMIT 10"#
    )
    .fetch_all(db)
    .await?
    .into_iter()
    .map(|n| LatestNotice { id: n.id, title: n.title, published: china_minute(n.published_at) })
    .collect())
}
