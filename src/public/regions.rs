//! The public site by region: a region by its code, the way down to it, the places under it and
//! its reception days. Every query of days is scoped to the region's subtree
//! (`jurisdiction_subtree`) by where the day happens (the host); only public days (a published
//! notice, as on `/schedule`) are read.

use crate::admin::reference::region_rules::is_grouping;
use crate::clock::china_date;
use crate::prepare::plan;
use crate::public::calendar::{self, Branch, Entry, Place};
use chrono::{DateTime, Duration, NaiveDate, NaiveTime, Utc};
use sqlx::PgPool;

/// Coming days a county's page lists.
const UPCOMING: usize = 10;

/// A province, city or county with a public page.
pub struct Region {
    pub id: i64,
    pub code: String,
    pub name: String,
    pub level: String,
}

/// The region of `code`; None for an unknown code or a township (whose days are its county's).
pub async fn find(db: &PgPool, code: &str) -> sqlx::Result<Option<Region>> {
    sqlx::query_as!(
        Region,
        "SELECT id, code, name, level FROM jurisdictions WHERE code = $1 AND level <> 'township'",
        code
    )
    .fetch_optional(db)
    .await
}

/// The way down to `id` from its province, itself last, without groupings (市辖区): the
/// breadcrumbs, as (code, name).
pub async fn way_down(db: &PgPool, id: i64) -> sqlx::Result<Vec<(String, String)>> {
    let rows = sqlx::query!(
        r#"WITH RECURSIVE up AS (
               SELECT id, parent_id, 0 AS depth FROM jurisdictions WHERE id = $1
               UNION ALL
               SELECT j.id, j.parent_id, up.depth + 1 FROM jurisdictions j JOIN up ON j.id = up.parent_id
           )
           SELECT j.code, j.name FROM up JOIN jurisdictions j ON j.id = up.id ORDER BY up.depth DESC"#,
        id
    )
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .filter(|r| !is_grouping(&r.name))
        .map(|r| (r.code, r.name))
        .collect())
}

/// The places to choose under `root` (a province's cities, a city's counties; a grouping such as
/// 市辖区 gives way to its children), each with its upcoming public days.
pub async fn choices(db: &PgPool, root: i64, today: NaiveDate) -> sqlx::Result<Vec<Place>> {
    let two_levels = sqlx::query_as!(
        Place,
        r#"SELECT j.id, j.code, j.name, j.parent_id, 0::bigint AS "upcoming!" FROM jurisdictions j
           WHERE j.level <> 'township'
             AND (j.parent_id = $1 OR j.parent_id IN (SELECT c.id FROM jurisdictions c WHERE c.parent_id = $1))"#,
        root
    )
    .fetch_all(db)
    .await?;
    let mut places: Vec<Place> = calendar::tree(&two_levels)
        .into_iter()
        .map(|b| b.place)
        .collect();
    let ids: Vec<i64> = places.iter().map(|p| p.id).collect();
    let counts = sqlx::query!(
        r#"SELECT p.id AS "id!",
                  (SELECT count(*) FROM visits v
                   WHERE v.county_id IN (SELECT jurisdiction_subtree(p.id))
                     AND v.visit_date >= $2 AND v.status <> 'cancelled'
                     AND EXISTS (SELECT 1 FROM notices n WHERE n.visit_id = v.id AND n.status = 'published')) AS "upcoming!"
           FROM unnest($1::bigint[]) AS p(id)"#,
        &ids,
        today
    )
    .fetch_all(db)
    .await?;
    for c in counts {
        if let Some(p) = places.iter_mut().find(|p| p.id == c.id) {
            p.upcoming = c.upcoming;
        }
    }
    Ok(places)
}

/// The home page's chooser: the provinces, cities and counties where public reception days are
/// held, as a tree; and every province, for a citizen whose province has none yet.
pub struct Chooser {
    pub served: Vec<Branch>,
    pub provinces: Vec<Place>,
}

pub async fn chooser(db: &PgPool) -> sqlx::Result<Chooser> {
    Ok(Chooser {
        served: calendar::tree(&served(db).await?),
        provinces: provinces(db).await?,
    })
}

/// The places where public reception days have been held or are announced, with their ancestors.
async fn served(db: &PgPool) -> sqlx::Result<Vec<Place>> {
    sqlx::query_as!(
        Place,
        r#"WITH RECURSIVE up AS (
               SELECT j.id, j.parent_id FROM jurisdictions j
               WHERE j.id IN (SELECT v.county_id FROM visits v
                              WHERE EXISTS (SELECT 1 FROM notices n WHERE n.visit_id = v.id AND n.status = 'published'))
               UNION
               SELECT j.id, j.parent_id FROM jurisdictions j JOIN up ON j.id = up.parent_id
           )
           SELECT j.id, j.code, j.name, j.parent_id, 0::bigint AS "upcoming!"
           FROM jurisdictions j WHERE j.id IN (SELECT id FROM up) AND j.level <> 'township'"#
    )
    .fetch_all(db)
    .await
}

async fn provinces(db: &PgPool) -> sqlx::Result<Vec<Place>> {
    sqlx::query_as!(
        Place,
        r#"SELECT id, code, name, parent_id, 0::bigint AS "upcoming!" FROM jurisdictions
           WHERE level = 'province' ORDER BY code"#
    )
    .fetch_all(db)
    .await
}

/// The public reception days held within `root` from `from` (inclusive) to `until` (exclusive),
/// of every level, with their organiser. `now` and `close_time` tell whether registration is open.
pub async fn days(
    db: &PgPool,
    root: i64,
    from: NaiveDate,
    until: NaiveDate,
    now: DateTime<Utc>,
    close_time: NaiveTime,
) -> sqlx::Result<Vec<Entry>> {
    let rows = sqlx::query!(
        r#"SELECT v.id, v.title, v.visit_date, v.starts_at, v.ends_at, v.venue, v.status, v.registration_closes_at, v.duty,
                  o.level, o.name AS organiser, h.name AS host, h.code AS host_code,
                  (SELECT string_agg(l.name || '（' || l.title || '）', '、' ORDER BY (l.id = v.lead_leader_id) DESC, l.name)
                   FROM leaders l WHERE l.id = v.lead_leader_id OR l.id IN (SELECT leader_id FROM visit_leaders WHERE visit_id = v.id)) AS "leaders!"
           FROM visits v JOIN jurisdictions h ON h.id = v.county_id JOIN jurisdictions o ON o.id = v.organiser_id
           WHERE v.county_id IN (SELECT jurisdiction_subtree($1))
             AND v.visit_date >= $2 AND v.visit_date < $3
             AND EXISTS (SELECT 1 FROM notices n WHERE n.visit_id = v.id AND n.status = 'published')
           ORDER BY v.visit_date, v.starts_at, v.id"#,
        root,
        from,
        until
    )
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| Entry {
            open: r.status == "announced"
                && now
                    < plan::registration_closes_at(
                        r.visit_date,
                        r.registration_closes_at,
                        close_time,
                    ),
            cancelled: r.status == "cancelled",
            duty: r.duty,
            id: r.id,
            date: r.visit_date,
            starts: r.starts_at,
            ends: r.ends_at,
            title: r.title,
            venue: r.venue,
            leaders: r.leaders,
            level: r.level,
            organiser: r.organiser,
            host: r.host,
            host_code: r.host_code,
        })
        .collect())
}

/// A county's next public days (at most `UPCOMING`, `calendar::coming_up`).
pub async fn upcoming(
    db: &PgPool,
    root: i64,
    now: DateTime<Utc>,
    close_time: NaiveTime,
) -> sqlx::Result<Vec<Entry>> {
    let today = china_date(now);
    let coming = days(
        db,
        root,
        today,
        today + Duration::days(366),
        now,
        close_time,
    )
    .await?;
    Ok(crate::public::calendar::coming_up(coming, UPCOMING))
}
