//! The duty rota, the domain: a county's month of duty days, set by hand or in turn. A duty day is
//! a visit (`visits.duty`) made by the planning stage's own functions — the visit, one room with
//! the leader seated, its reception windows and its notice — so registration, the queue and the
//! desk work as on any reception day. Every write holds the county's row, one rota edit at a time.

use crate::audit::{self, Actor, Entry};
use crate::clock::china_date;
use crate::duty::rota::{self, Asked, Pick};
use crate::error::AppError;
use crate::followup::workdays::Calendar;
use crate::prepare::notice_store::{self, Content, Drafting};
use crate::prepare::notice_text::{self, Change};
use crate::prepare::plan::{self, NoticeDays};
use crate::prepare::visit_store::{self, CancelEnv, Cancellation, PLANNABLE, Valid, facts};
use crate::prepare::{room_store, windows};
use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use sqlx::{PgConnection, PgExecutor};

/// A county whose rota is shown or changed (already checked to lie in the viewer's reach).
pub struct County {
    pub id: i64,
    pub name: String,
}

/// A leader who may be put on duty.
pub struct Leader {
    pub id: i64,
    pub label: String,
}

/// A day's duty as it stands.
pub struct Duty {
    pub visit_id: i64,
    pub leader_id: i64,
    pub leader: String,
    pub status: String,
    pub registrations: i64,
}

pub struct Day {
    pub date: NaiveDate,
    pub workday: bool,
    /// The calendar's note: 国庆节, 春节调休上班.
    pub note: String,
    pub duty: Option<Duty>,
}

pub struct Month {
    pub days: Vec<Day>,
    /// The county's active county-level leaders, in the order the rota takes them.
    pub leaders: Vec<Leader>,
}

/// Who changes the rota, when, and the configuration the days' visits and notices need.
pub struct Env<'a> {
    pub now: DateTime<Utc>,
    pub user_id: i64,
    pub actor: &'a Actor,
    pub base_url: &'a str,
    pub close_time: NaiveTime,
    pub notice_days: &'a NoticeDays,
}

async fn calendar(
    db: impl PgExecutor<'_>,
    first: NaiveDate,
) -> sqlx::Result<(Calendar, Vec<(NaiveDate, String)>)> {
    let rows = sqlx::query!(
        "SELECT day, is_workday, note FROM calendar_days WHERE day >= $1 AND day < $2",
        first,
        plan::next_month(first)
    )
    .fetch_all(db)
    .await?;
    let notes = rows.iter().map(|r| (r.day, r.note.clone())).collect();
    Ok((
        Calendar::new(rows.into_iter().map(|r| (r.day, r.is_workday))),
        notes,
    ))
}

async fn eligible_leaders(db: impl PgExecutor<'_>, county: i64) -> sqlx::Result<Vec<Leader>> {
    sqlx::query_as!(
        Leader,
        r#"SELECT id, name || '（' || title || '）' AS "label!" FROM leaders
           WHERE county_id = $1 AND level = 'county' AND active ORDER BY id"#,
        county
    )
    .fetch_all(db)
    .await
}

async fn duties(
    db: impl PgExecutor<'_>,
    county: i64,
    first: NaiveDate,
) -> sqlx::Result<Vec<(NaiveDate, Duty)>> {
    let rows = sqlx::query!(
        r#"SELECT v.id, v.visit_date, v.lead_leader_id, v.status, l.name || '（' || l.title || '）' AS "leader!",
                  (SELECT count(*) FROM registrations r WHERE r.visit_id = v.id
                     AND r.status NOT IN ('cancelled', 'rejected')) AS "registrations!"
           FROM visits v JOIN leaders l ON l.id = v.lead_leader_id
           WHERE v.duty AND v.county_id = $1 AND v.status <> 'cancelled'
             AND v.visit_date >= $2 AND v.visit_date < $3"#,
        county,
        first,
        plan::next_month(first)
    )
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let duty = Duty {
                visit_id: r.id,
                leader_id: r.lead_leader_id,
                leader: r.leader,
                status: r.status,
                registrations: r.registrations,
            };
            (r.visit_date, duty)
        })
        .collect())
}

/// The month starting `first` of `county`'s rota: every day, with its duty if any.
pub async fn month(db: &sqlx::PgPool, county: i64, first: NaiveDate) -> sqlx::Result<Month> {
    let (cal, notes) = calendar(db, first).await?;
    let mut duties = duties(db, county, first).await?;
    let days = rota::month_days(first)
        .into_iter()
        .map(|date| Day {
            date,
            workday: cal.is_workday(date),
            note: notes
                .iter()
                .find(|n| n.0 == date)
                .map(|n| n.1.clone())
                .unwrap_or_default(),
            duty: duties
                .iter()
                .position(|d| d.0 == date)
                .map(|i| duties.swap_remove(i).1),
        })
        .collect();
    Ok(Month {
        days,
        leaders: eligible_leaders(db, county).await?,
    })
}

async fn lock_county(tx: &mut PgConnection, county: i64) -> sqlx::Result<()> {
    sqlx::query!(
        "SELECT id FROM jurisdictions WHERE id = $1 FOR UPDATE",
        county
    )
    .fetch_one(&mut *tx)
    .await?;
    Ok(())
}

/// The leader a form names for a day.
async fn resolve(tx: &mut PgConnection, county: i64, raw: &str) -> sqlx::Result<Pick> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok(Pick::Nobody);
    }
    let Ok(id) = raw.parse::<i64>() else {
        return Ok(Pick::Unknown);
    };
    let eligible = sqlx::query_scalar!(
        r#"SELECT (county_id IS NOT DISTINCT FROM $2 AND level = 'county' AND active) AS "eligible!"
           FROM leaders WHERE id = $1"#,
        id,
        county
    )
    .fetch_optional(&mut *tx)
    .await?;
    Ok(match eligible {
        Some(eligible) => Pick::Leader { id, eligible },
        None => Pick::Unknown,
    })
}

/// Set the leaders the form names, day by day (None: nobody). Ok(Ok(days changed)), or Ok(Err)
/// with the message beside each refused day and nothing written.
pub async fn set_days(
    tx: &mut PgConnection,
    county: &County,
    first: NaiveDate,
    picks: &[(NaiveDate, String)],
    env: &Env<'_>,
) -> Result<Result<usize, Vec<(NaiveDate, String)>>, AppError> {
    lock_county(tx, county.id).await?;
    let (cal, _) = calendar(&mut *tx, first).await?;
    let current = duties(&mut *tx, county.id, first).await?;
    let today = china_date(env.now);
    let (mut refused, mut changes) = (Vec::new(), Vec::new());
    for (day, raw) in picks {
        let duty = current.iter().find(|d| d.0 == *day).map(|d| &d.1);
        let pick = resolve(tx, county.id, raw).await?;
        let unchanged = match (&pick, duty) {
            (Pick::Nobody, None) => true,
            (Pick::Leader { id, .. }, Some(d)) => *id == d.leader_id,
            _ => false,
        };
        if unchanged {
            continue;
        }
        let asked = Asked {
            day: *day,
            first,
            today,
            workday: cal.is_workday(*day),
            county: &county.name,
        };
        match (rota::check_pick(&asked, &pick), duty) {
            (Err(m), _) => refused.push((*day, m)),
            (Ok(None), Some(d)) if d.registrations > 0 => refused.push((
                *day,
                format!(
                    "该日已有 {} 人登记，不能撤销值守；如需换人，请选择其他领导",
                    d.registrations
                ),
            )),
            (Ok(_), Some(d)) if !PLANNABLE.contains(&d.status.as_str()) => refused.push((
                *day,
                format!("该值守日{}，不能再更改", plan::status_label(&d.status)),
            )),
            (Ok(leader), d) => changes.push((*day, d.map(|d| d.visit_id), leader)),
        }
    }
    if !refused.is_empty() {
        return Ok(Err(refused));
    }
    for (day, visit, leader) in &changes {
        match (visit, leader) {
            (None, Some(l)) => create_day(tx, county, *day, *l, env).await?,
            (Some(v), Some(l)) => change_leader(tx, *v, *l, env).await?,
            (Some(v), None) => withdraw(tx, *v, env).await?,
            (None, None) => {}
        }
    }
    Ok(Ok(changes.len()))
}

/// Fill the month's open working days (after today, nobody on duty yet) with the county's leaders
/// in turn, after whoever was on duty last. Ok(Ok(days filled)), or Ok(Err(why)) without leaders.
pub async fn generate(
    tx: &mut PgConnection,
    county: &County,
    first: NaiveDate,
    env: &Env<'_>,
) -> Result<Result<usize, String>, AppError> {
    lock_county(tx, county.id).await?;
    let leaders: Vec<i64> = eligible_leaders(&mut *tx, county.id)
        .await?
        .iter()
        .map(|l| l.id)
        .collect();
    if leaders.is_empty() {
        return Ok(Err(format!(
            "{}尚无在任的县级领导，请系统管理员先在“领导”中登记。",
            county.name
        )));
    }
    let (cal, _) = calendar(&mut *tx, first).await?;
    let taken: Vec<NaiveDate> = duties(&mut *tx, county.id, first)
        .await?
        .into_iter()
        .map(|d| d.0)
        .collect();
    let today = china_date(env.now);
    let open: Vec<NaiveDate> = rota::working_days(&cal, first)
        .into_iter()
        .filter(|d| *d > today && !taken.contains(d))
        .collect();
    let Some(from) = open.first() else {
        return Ok(Ok(0));
    };
    let last = sqlx::query_scalar!(
        "SELECT lead_leader_id FROM visits WHERE duty AND county_id = $1 AND status <> 'cancelled' AND visit_date < $2
         ORDER BY visit_date DESC LIMIT 1",
        county.id,
        from
    )
    .fetch_optional(&mut *tx)
    .await?;
    let assigned = rota::round_robin(&leaders, &open, rota::start_after(&leaders, last));
    for (day, leader) in &assigned {
        create_day(tx, county, *day, *leader, env).await?;
    }
    Ok(Ok(assigned.len()))
}

/// A duty day: the visit, its room with the leader seated, its windows and its notice.
async fn create_day(
    tx: &mut PgConnection,
    county: &County,
    day: NaiveDate,
    leader: i64,
    env: &Env<'_>,
) -> Result<(), AppError> {
    let (starts_at, ends_at) = rota::hours();
    let venue = rota::venue(&county.name);
    let visit = Valid {
        title: rota::TITLE.into(),
        county_id: county.id,
        lead_leader_id: leader,
        leader_ids: Vec::new(),
        visit_date: day,
        starts_at,
        ends_at,
        venue: venue.clone(),
        address: String::new(),
        scope: rota::SCOPE.into(),
        department_ids: Vec::new(),
        slot_minutes: rota::SLOT_MINUTES,
        registration_closes_at: None,
        deadline_days: rota::DEADLINE_DAYS,
        checkin_opens_eve: false,
    };
    let id = visit_store::create(tx, &visit, county.id, env.user_id, env.actor).await?;
    sqlx::query!("UPDATE visits SET duty = true WHERE id = $1", id)
        .execute(&mut *tx)
        .await?;
    let room = room_store::Valid {
        name: rota::ROOM.into(),
        location: venue,
        leader_ids: vec![leader],
        department_ids: Vec::new(),
        category_ids: Vec::new(),
    };
    room_store::create(tx, id, &room, env.actor)
        .await?
        .map_err(|m| AppError::Conflict(m.into()))?;
    windows::generate(tx, id, env.actor).await?;
    announce(tx, id, env).await
}

/// Publish the day's part of the 每月领导接访安排 as its first notice, which opens registration
/// (no 10-day period: see `rota`).
async fn announce(tx: &mut PgConnection, id: i64, env: &Env<'_>) -> Result<(), AppError> {
    let drafting = Drafting {
        user_id: env.user_id,
        actor: env.actor,
        base_url: env.base_url,
        close_time: env.close_time,
        notice_days: env.notice_days,
    };
    let notice = notice_store::generate_draft(tx, id, "first", drafting).await?;
    let draft = notice_store::lock_draft(tx, id, notice).await?;
    let (title, body) = rota::notice(&facts(tx, env.close_time, id, env.base_url).await?);
    let content = Content {
        title,
        body,
        channels: rota::CHANNELS.map(String::from).to_vec(),
    };
    notice_store::save_draft(
        tx,
        &draft,
        &content,
        Some((env.now, env.user_id)),
        env.actor,
    )
    .await
}

/// Another leader on an existing day: the visit and its room follow, and once announced a
/// correction notice tells the public and an SMS everyone registered.
async fn change_leader(
    tx: &mut PgConnection,
    id: i64,
    leader: i64,
    env: &Env<'_>,
) -> Result<(), AppError> {
    let old = facts(tx, env.close_time, id, env.base_url).await?;
    let from = sqlx::query_scalar!(
        "SELECT lead_leader_id FROM visits WHERE id = $1 FOR UPDATE",
        id
    )
    .fetch_one(&mut *tx)
    .await?;
    sqlx::query!(
        "UPDATE visits SET lead_leader_id = $2 WHERE id = $1",
        id,
        leader
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query!(
        "UPDATE room_leaders SET leader_id = $3 WHERE leader_id = $2 AND room_id IN (SELECT id FROM rooms WHERE visit_id = $1)",
        id,
        from,
        leader
    )
    .execute(&mut *tx)
    .await?;
    let new = facts(tx, env.close_time, id, env.base_url).await?;
    let first = sqlx::query_scalar!(
        "SELECT id FROM notices WHERE visit_id = $1 AND kind = 'first' AND status = 'published'",
        id
    )
    .fetch_optional(&mut *tx)
    .await?;
    let label = |f: &notice_text::Facts| {
        f.leaders
            .first()
            .map(|l| format!("{}（{}）", l.name, l.title))
            .unwrap_or_default()
    };
    let change = Change {
        label: "值守领导",
        old: label(&old),
        new: label(&new),
    };
    if let Some(first) = first {
        let (title, body) = notice_text::compose_correction(
            &old,
            std::slice::from_ref(&change),
            rota::CHANGE_REASON,
        );
        sqlx::query!(
            "INSERT INTO notices (visit_id, kind, corrects_notice_id, title, body, channels, planned_date, status, published_at, published_by, created_by)
             VALUES ($1, 'correction', $2, $3, $4, $5, $6, 'published', $7, $8, $8)",
            id,
            first,
            title,
            body,
            &rota::CHANNELS.map(String::from),
            china_date(env.now),
            env.now,
            env.user_id
        )
        .execute(&mut *tx)
        .await?;
        let params =
            serde_json::json!({"date": crate::clock::cn_date(old.date), "leader": change.new});
        visit_store::notify_registrants(tx, id, "duty.leader_changed", params).await?;
    }
    let detail = serde_json::json!({"from": from, "to": leader, "date": old.date});
    audit::record(
        &mut *tx,
        env.actor,
        Entry::ok("duty.leader").on("visit", id).detail(detail),
    )
    .await?;
    Ok(())
}

/// Nobody on duty that day any more: the day is cancelled like a visit (its cancellation notice
/// published); only asked for days nobody registered for.
async fn withdraw(tx: &mut PgConnection, id: i64, env: &Env<'_>) -> Result<(), AppError> {
    let cancellation = Cancellation {
        reason: rota::CHANGE_REASON.into(),
        channels: rota::CHANNELS.map(String::from).to_vec(),
        fields_ok: true,
    };
    let cancel_env = CancelEnv {
        now: env.now,
        user_id: env.user_id,
        actor: env.actor,
        base_url: env.base_url,
        close_time: env.close_time,
    };
    match visit_store::cancel(tx, id, &cancellation, cancel_env).await? {
        Ok(_) => Ok(()),
        Err(_) => Err(AppError::Conflict("该值守日不能撤销。".into())),
    }
}
