//! The visit form (create and edit): its fields as typed, the choices it offers, and its one
//! validation into `visit_store::Valid`.

use crate::clock::cn_date;
use crate::prepare::plan::CHANNELS;
use crate::prepare::visit_store::Valid;
use crate::state::AppState;
use crate::web::form::{Choice, ids, opt_id};
use crate::web::form::{Errors, text};
use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use serde::Deserialize;

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct VisitForm {
    pub(super) title: String,
    pub(super) county_id: String,
    pub(super) lead_leader_id: String,
    pub(super) leader_ids: Vec<String>,
    pub(super) visit_date: String,
    pub(super) starts_at: String,
    pub(super) ends_at: String,
    pub(super) venue: String,
    pub(super) address: String,
    pub(super) scope: String,
    pub(super) department_ids: Vec<String>,
    pub(super) slot_minutes: String,
    pub(super) registration_closes_at: String,
    pub(super) deadline_days: String,
    /// A checkbox: 签到 opens from 12:00 the day before.
    pub(super) checkin_opens_eve: Option<String>,
}

impl VisitForm {
    pub(super) fn has_leader(&self, id: &i64) -> bool {
        self.leader_ids.iter().any(|c| c.trim() == id.to_string())
    }
    pub(super) fn has_department(&self, id: &i64) -> bool {
        self.department_ids
            .iter()
            .any(|c| c.trim() == id.to_string())
    }
}

pub struct Options {
    pub(super) counties: Vec<Choice>,
    pub(super) leaders: Vec<Choice>,
    pub(super) departments: Vec<Choice>,
}

impl Options {
    /// Active leaders and departments of `root`'s line (its subtree and the levels above it, or of no
    /// jurisdiction yet), plus those the visit already has (so that an edit keeps them). The
    /// counties offered are those within `root` (the user's jurisdiction).
    pub(super) async fn load(
        state: &AppState,
        root: Option<i64>,
        visit_id: Option<i64>,
    ) -> sqlx::Result<Self> {
        let counties = crate::admin::reference::regions::working_counties(&state.db, root).await?;
        let leaders = sqlx::query_as!(
            Choice,
            r#"SELECT id, name || '（' || title || '）' AS "label!" FROM leaders
               WHERE (active AND COALESCE(county_id, $2) IN (SELECT jurisdiction_line($2)))
                  OR id IN (SELECT lead_leader_id FROM visits WHERE id = $1 UNION SELECT leader_id FROM visit_leaders WHERE visit_id = $1)
               ORDER BY array_position(ARRAY['province', 'city', 'county', 'township'], level), name"#,
            visit_id,
            root
        )
        .fetch_all(&state.db)
        .await?;
        let departments = sqlx::query_as!(
            Choice,
            r#"SELECT id, name AS label FROM departments
               WHERE (active AND COALESCE(jurisdiction_id, $2) IN (SELECT jurisdiction_line($2)))
                  OR id IN (SELECT department_id FROM visit_departments WHERE visit_id = $1) ORDER BY name"#,
            visit_id,
            root
        )
        .fetch_all(&state.db)
        .await?;
        Ok(Self {
            counties,
            leaders,
            departments,
        })
    }
}

pub fn parse_date(s: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").ok()
}

/// `<input type=time>` sends HH:MM (or HH:MM:SS).
pub fn parse_time(s: &str) -> Option<NaiveTime> {
    let s = s.trim();
    NaiveTime::parse_from_str(s, "%H:%M")
        .or_else(|_| NaiveTime::parse_from_str(s, "%H:%M:%S"))
        .ok()
}

fn parse_local_minute(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    let local = NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M")
        .or_else(|_| NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M"))
        .ok()?;
    Some(crate::clock::china_instant(local.date(), local.time()))
}

fn number(
    errors: &mut Errors,
    field: &'static str,
    value: &str,
    default: i32,
    range: std::ops::RangeInclusive<i32>,
    message: &str,
) -> i32 {
    let v = value.trim();
    if v.is_empty() {
        return default;
    }
    match v.parse::<i32>() {
        Ok(n) if range.contains(&n) => n,
        _ => {
            errors.add(field, message);
            default
        }
    }
}

/// Check a visit form. `earliest_date`: the first date that leaves time for the first notice
/// (checked only when the date is new or changed).
pub fn validate(
    f: &VisitForm,
    options: &Options,
    errors: &mut Errors,
    earliest_date: Option<NaiveDate>,
) -> Option<Valid> {
    let title = text(errors, "title", "活动名称", &f.title, 1, 100);
    let county_id = opt_id(&f.county_id).filter(|id| options.counties.iter().any(|c| c.id == *id));
    if county_id.is_none() {
        errors.add("county_id", "请选择区县");
    }
    let lead_leader_id =
        opt_id(&f.lead_leader_id).filter(|id| options.leaders.iter().any(|c| c.id == *id));
    if lead_leader_id.is_none() {
        errors.add("lead_leader_id", "请选择接访领导");
    }
    let leader_ids = ids(&f.leader_ids).filter(|v| {
        v.iter()
            .all(|id| options.leaders.iter().any(|c| c.id == *id))
    });
    if leader_ids.is_none() {
        errors.add("leader_ids", "所选陪同领导不存在，请重新选择");
    }
    let visit_date = parse_date(&f.visit_date);
    match (visit_date, earliest_date) {
        (None, _) => errors.add("visit_date", "请填写接访日期，如 2026-12-12"),
        (Some(d), Some(earliest)) if d < earliest => errors.add(
            "visit_date",
            format!(
                "接访日期最早为 {}：一次公告须在接访日前至少 10 天发布",
                cn_date(earliest)
            ),
        ),
        _ => {}
    }
    let starts_at = parse_time(&f.starts_at);
    if starts_at.is_none() {
        errors.add("starts_at", "请填写开始时间，如 08:00");
    }
    let ends_at = parse_time(&f.ends_at);
    match (starts_at, ends_at) {
        (_, None) => errors.add("ends_at", "请填写结束时间，如 17:00"),
        (Some(s), Some(e)) if e <= s => errors.add("ends_at", "结束时间须晚于开始时间"),
        _ => {}
    }
    let venue = text(errors, "venue", "接访地点", &f.venue, 1, 100);
    let address = text(errors, "address", "详细地址", &f.address, 0, 200);
    let scope = text(errors, "scope", "受理范围", &f.scope, 0, 2000);
    let department_ids = ids(&f.department_ids).filter(|v| {
        v.iter()
            .all(|id| options.departments.iter().any(|c| c.id == *id))
    });
    if department_ids.is_none() {
        errors.add("department_ids", "所选参加部门不存在，请重新选择");
    }
    let slot_minutes = number(
        errors,
        "slot_minutes",
        &f.slot_minutes,
        15,
        5..=120,
        "每号接谈时长须为 5–120 分钟的整数",
    );
    let deadline_days = number(
        errors,
        "deadline_days",
        &f.deadline_days,
        60,
        1..=60,
        "办结限期须为 1–60 天的整数",
    );
    let registration_closes_at = if f.registration_closes_at.trim().is_empty() {
        None
    } else {
        let at = parse_local_minute(&f.registration_closes_at);
        match (at, visit_date, starts_at) {
            (None, _, _) => errors.add(
                "registration_closes_at",
                "请按 2026-12-11 17:00 的格式填写，或留空使用默认",
            ),
            (Some(at), Some(d), Some(s)) if at > crate::clock::china_instant(d, s) => {
                errors.add("registration_closes_at", "登记截止时间须早于接访开始时间")
            }
            _ => {}
        }
        at
    };
    if !errors.is_empty() {
        return None;
    }
    let lead_leader_id = lead_leader_id?;
    Some(Valid {
        title,
        county_id: county_id?,
        lead_leader_id,
        // The lead leader is not also an accompanying one.
        leader_ids: leader_ids?
            .into_iter()
            .filter(|id| *id != lead_leader_id)
            .collect(),
        visit_date: visit_date?,
        starts_at: starts_at?,
        ends_at: ends_at?,
        venue,
        address,
        scope,
        department_ids: department_ids?,
        slot_minutes,
        registration_closes_at,
        deadline_days,
        checkin_opens_eve: f.checkin_opens_eve.is_some(),
    })
}

/// Checked channels of a form: only the known ones, in their canonical order.
pub fn channels_of(values: &[String]) -> Option<Vec<String>> {
    if values.iter().any(|v| !CHANNELS.contains(&v.as_str())) {
        return None;
    }
    Some(
        CHANNELS
            .iter()
            .filter(|c| values.iter().any(|v| v == *c))
            .map(|c| c.to_string())
            .collect(),
    )
}
