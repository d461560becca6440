//! Triage, the reads and rules: registration states and flags in staff's words, who may unmask,
//! the list's filter and its rows and counts (the page and the Excel export show the same).

use crate::error::AppError;
use crate::prepare::lifecycle::{RegistrationStatus, staff_status_label as status_label};
use crate::prepare::registration::window_label;
use crate::prepare::search::{Query, Search, search};
use crate::privacy::{self, Column, Field, Keys};
use crate::web::auth::Role;
use crate::web::form::Choice;
use serde::Deserialize;
use sqlx::PgExecutor;

pub const PAGE_SIZE: i64 = 50;

/// Registration states as staff read them, for the filter.
pub fn statuses() -> Vec<(&'static str, &'static str)> {
    RegistrationStatus::ALL
        .iter()
        .map(|s| (s.as_str(), s.staff_label()))
        .collect()
}

pub fn flag_label(kind: &str) -> &'static str {
    match kind {
        "duplicate_in_visit" => "本次活动已有同一身份证号的登记",
        "recent_or_open_case" => "近两个月内有登记或有未办结交办件",
        "legal_channel" => "涉法涉诉，建议导入法定途径",
        "review_terminated" => "该事项已复核终结",
        _ => "筛查提示",
    }
}

pub fn decision_label(decision: &str) -> &'static str {
    match decision {
        "confirmed" => "已确认",
        "overridden" => "已排除",
        _ => "待处理",
    }
}

/// Who may see a full ID number or phone (DESIGN §2: staff and supervisors, audited).
pub fn may_unmask(role: Role) -> bool {
    matches!(role, Role::Staff | Role::Supervisor)
}

/// Triage may still reject or merge it.
pub fn open_for_triage(status: &str) -> bool {
    RegistrationStatus::parse(status).is_some_and(RegistrationStatus::open_for_triage)
}

/// The visit's title, or 404: every page here hangs under a visit.
pub async fn visit_title(db: impl PgExecutor<'_>, visit_id: i64) -> Result<String, AppError> {
    sqlx::query_scalar!("SELECT title FROM visits WHERE id = $1", visit_id)
        .fetch_optional(db)
        .await?
        .ok_or(AppError::NotFound)
}

/// Active categories as "parent / child", for selects.
pub async fn category_choices(db: impl PgExecutor<'_>) -> sqlx::Result<Vec<Choice>> {
    sqlx::query_as!(
        Choice,
        r#"SELECT c.id, COALESCE(p.name || ' / ', '') || c.name AS "label!"
           FROM categories c LEFT JOIN categories p ON p.id = c.parent_id
           WHERE c.active AND (p.id IS NULL OR p.active)
           ORDER BY COALESCE(p.sort_order, c.sort_order), COALESCE(p.name, c.name), c.parent_id NULLS FIRST, c.sort_order, c.name"#
    )
    .fetch_all(db)
    .await
}

/// The query string as typed; every value is optional and a bad one is ignored.
#[derive(Deserialize, Default, Clone)]
#[serde(default)]
pub struct Filter {
    pub window: String,
    pub category: String,
    pub status: String,
    /// "pending": with undecided flags; "any": with any flag.
    pub flags: String,
    pub township: String,
    /// A code, a phone, an ID number or an exact name (found by blind index: stored encrypted).
    pub q: String,
    pub page: String,
    /// Export only: "1" asks for full numbers, with the reason that goes into the audit entry.
    pub full: String,
    pub reason: String,
}

/// What the filter means once parsed.
#[derive(Debug, PartialEq, Default)]
pub struct Parsed {
    pub window: Option<i64>,
    pub category: Option<i64>,
    pub status: Option<&'static str>,
    pub flags: Option<&'static str>,
    pub township: Option<String>,
    pub search: Option<Search>,
    pub page: i64,
}

impl Filter {
    pub fn parse(&self) -> Parsed {
        let township = self.township.trim();
        Parsed {
            search: search(&self.q),
            window: self.window.trim().parse().ok(),
            category: self.category.trim().parse().ok(),
            status: RegistrationStatus::parse(self.status.trim()).map(RegistrationStatus::as_str),
            flags: ["pending", "any"]
                .into_iter()
                .find(|f| *f == self.flags.trim()),
            township: (!township.is_empty()).then(|| township.chars().take(30).collect()),
            page: self
                .page
                .trim()
                .parse::<i64>()
                .ok()
                .filter(|p| (0..1_000_000).contains(p))
                .unwrap_or(0),
        }
    }

    /// The filter as a query string (without page/full), for links.
    pub fn query(&self) -> String {
        serde_urlencoded::to_string([
            ("window", self.window.as_str()),
            ("category", self.category.as_str()),
            ("status", self.status.as_str()),
            ("flags", self.flags.as_str()),
            ("township", self.township.as_str()),
            ("q", self.q.as_str()),
        ])
        .unwrap_or_default()
    }
}

/// One registration as listed and exported.
pub struct Row {
    pub id: i64,
    pub code: String,
    /// Masked (王某某) in the list; `full_name` decrypts it for the export.
    pub name: String,
    name_sealed: (Option<String>, Option<Vec<u8>>, Option<i16>),
    pub id_mask: String,
    pub phone_mask: String,
    pub township: String,
    pub persons: i32,
    pub category: String,
    pub window: String,
    pub status: String,
    pub flags: Vec<(String, String)>,
    pub id_cipher: Vec<u8>,
    pub id_key: i16,
    pub phone_cipher: Option<Vec<u8>>,
    pub phone_key: Option<i16>,
}

impl Row {
    pub fn full_name(&self, keys: &Keys) -> anyhow::Result<String> {
        let (plain, cipher, key_id) = self.name_sealed.clone();
        keys.open(Column::REGISTRATION_NAME, self.id, plain, cipher, key_id)
    }
    pub fn status_label(&self) -> &'static str {
        status_label(&self.status)
    }
    pub fn pending_flags(&self) -> usize {
        self.flags.iter().filter(|(_, d)| d == "pending").count()
    }
    /// The flags in words, for the export's 筛查提示 column.
    pub fn flags_text(&self) -> String {
        self.flags
            .iter()
            .map(|(k, d)| format!("{}（{}）", flag_label(k), decision_label(d)))
            .collect::<Vec<_>>()
            .join("；")
    }
}

/// A registration the filter keeps: what counting, paging, moving to the next one and confirming
/// in bulk need.
pub struct Match {
    pub id: i64,
    pub status: String,
    pub persons: i32,
    /// It has a screening flag nobody decided yet.
    pub pending: bool,
}

/// The visit's registrations under every filter but the status, in list order: the list narrows
/// them to its status (`listed`) and the counts by status read the same set.
pub async fn matching(
    db: &sqlx::PgPool,
    keys: &Keys,
    visit_id: i64,
    p: &Parsed,
) -> sqlx::Result<Vec<Match>> {
    let (mut code, mut phone, mut id_number, mut name) = (None, None, None, None);
    match &p.search {
        Some(Search::Known(Query::Code(c))) => code = Some(c.clone()),
        Some(Search::Known(Query::Phone(n))) => phone = Some(keys.blind_index(Field::Phone, n)),
        Some(Search::Known(Query::IdNumber(n))) => {
            id_number = Some(keys.blind_index(Field::IdNumber, n))
        }
        Some(Search::Name(n)) => name = Some(n.clone()),
        None => {}
    }
    sqlx::query_as!(
        Match,
        r#"SELECT r.id, r.status, r.persons,
                  EXISTS (SELECT 1 FROM screening_flags f WHERE f.registration_id = r.id AND f.decision = 'pending') AS "pending!"
           FROM registrations r JOIN categories c ON c.id = r.category_id
           WHERE r.visit_id = $1
             AND ($2::bigint IS NULL OR r.window_id = $2)
             AND ($3::bigint IS NULL OR r.category_id = $3 OR c.parent_id = $3)
             AND ($4::text IS NULL OR r.township = $4)
             AND ($5::text IS NULL OR EXISTS (SELECT 1 FROM screening_flags f
                                              WHERE f.registration_id = r.id AND ($5 = 'any' OR f.decision = 'pending')))
             AND ($6::text IS NULL OR r.code = $6)
             AND ($7::bytea IS NULL OR r.phone_index = $7)
             AND ($8::bytea IS NULL OR r.id_number_index = $8)
             AND ($10::text IS NULL OR r.name_index = $9 OR r.name = $10)
           ORDER BY r.created_at, r.id"#,
        visit_id,
        p.window,
        p.category,
        p.township,
        p.flags,
        code,
        phone,
        id_number,
        name.as_ref().map(|n| keys.blind_index(Field::Name, n)),
        name,
    )
    .fetch_all(db)
    .await
}

/// The list under the whole filter, its status included.
pub async fn filtered(
    db: &sqlx::PgPool,
    keys: &Keys,
    visit_id: i64,
    p: &Parsed,
) -> sqlx::Result<Vec<Match>> {
    Ok(listed(matching(db, keys, visit_id, p).await?, p.status))
}

/// The matches of `status` (all of them without one).
pub fn listed(all: Vec<Match>, status: Option<&str>) -> Vec<Match> {
    all.into_iter()
        .filter(|m| status.is_none_or(|s| m.status == s))
        .collect()
}

/// Batches and persons of a list.
pub fn tally(list: &[Match]) -> (i64, i64) {
    (
        list.len() as i64,
        list.iter().map(|m| i64::from(m.persons)).sum(),
    )
}

/// How many batches of each status (in the lifecycle's order, those with any): the figures above
/// the list, each a link to its status.
pub fn by_status(all: &[Match]) -> Vec<(&'static str, &'static str, i64)> {
    RegistrationStatus::ALL
        .iter()
        .map(|s| {
            let n = all.iter().filter(|m| m.status == s.as_str()).count();
            (s.as_str(), s.staff_label(), n as i64)
        })
        .filter(|(_, _, n)| *n > 0)
        .collect()
}

/// Where `id` stands in the list: (position from 1, previous id, next id); None if not in it.
pub fn neighbours(list: &[Match], id: i64) -> Option<(usize, Option<i64>, Option<i64>)> {
    let at = list.iter().position(|m| m.id == id)?;
    let prev = at.checked_sub(1).map(|i| list[i].id);
    Some((at + 1, prev, list.get(at + 1).map(|m| m.id)))
}

/// The registrations `ids` as listed and exported, in that order.
pub async fn fetch_rows(db: &sqlx::PgPool, ids: &[i64]) -> sqlx::Result<Vec<Row>> {
    let rows = sqlx::query!(
        r#"SELECT r.id, r.code, r.name, r.name_mask, r.name_cipher, r.name_key_id, r.id_number_mask, r.phone_mask, r.township, r.persons, r.status,
                  r.id_number_cipher, r.id_number_key_id, r.phone_cipher, r.phone_key_id,
                  COALESCE(p.name || ' / ', '') || c.name AS "category!",
                  w.starts_at AS "w_start?", w.ends_at AS "w_end?",
                  ARRAY(SELECT f.kind || ':' || f.decision FROM screening_flags f WHERE f.registration_id = r.id ORDER BY f.id) AS "flags!"
           FROM registrations r
           JOIN categories c ON c.id = r.category_id
           LEFT JOIN categories p ON p.id = c.parent_id
           LEFT JOIN reception_windows w ON w.id = r.window_id
           WHERE r.id = ANY($1)
           ORDER BY array_position($1, r.id)"#,
        ids
    )
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| Row {
            id: r.id,
            code: r.code,
            name: privacy::mask_name(
                r.name_mask
                    .as_deref()
                    .or(r.name.as_deref())
                    .unwrap_or_default(),
            ),
            name_sealed: (r.name, r.name_cipher, r.name_key_id),
            id_mask: r.id_number_mask,
            phone_mask: r.phone_mask.unwrap_or_default(),
            township: r.township,
            persons: r.persons,
            category: r.category,
            window: match (r.w_start, r.w_end) {
                (Some(s), Some(e)) => window_label(s, e),
                _ => String::new(),
            },
            status: r.status,
            flags: r
                .flags
                .iter()
                .filter_map(|f| f.split_once(':'))
                .map(|(k, d)| (k.to_owned(), d.to_owned()))
                .collect(),
            id_cipher: r.id_number_cipher,
            id_key: r.id_number_key_id,
            phone_cipher: r.phone_cipher,
            phone_key: r.phone_key_id,
        })
        .collect())
}

/// The visit's windows, for the filter.
pub async fn window_choices(db: impl PgExecutor<'_>, visit_id: i64) -> sqlx::Result<Vec<Choice>> {
    Ok(sqlx::query!("SELECT id, starts_at, ends_at FROM reception_windows WHERE visit_id = $1 ORDER BY starts_at", visit_id)
        .fetch_all(db)
        .await?
        .into_iter()
        .map(|w| Choice { id: w.id, label: window_label(w.starts_at, w.ends_at) })
        .collect())
}

/// The townships registrations of the visit came from, for the filter.
pub async fn townships(db: impl PgExecutor<'_>, visit_id: i64) -> sqlx::Result<Vec<String>> {
    sqlx::query_scalar!(
        "SELECT DISTINCT township FROM registrations WHERE visit_id = $1 AND township <> '' ORDER BY township",
        visit_id
    )
    .fetch_all(db)
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, Utc};

    #[test]
    fn bad_filter_values_are_ignored() {
        let f = Filter {
            window: "abc".into(),
            category: "1 OR 1=1".into(),
            status: "submitted'; DROP TABLE registrations;--".into(),
            flags: "all".into(),
            township: "  ".into(),
            q: " ".into(),
            page: "-3".into(),
            full: String::new(),
            reason: String::new(),
        };
        assert_eq!(f.parse(), Parsed::default());
        let g = Filter {
            window: " 7 ".into(),
            status: "confirmed".into(),
            flags: "pending".into(),
            township: " 仙华街道 ".into(),
            page: "2".into(),
            ..Filter::default()
        };
        let p = g.parse();
        assert_eq!(
            (p.window, p.status, p.flags, p.township.as_deref(), p.page),
            (
                Some(7),
                Some("confirmed"),
                Some("pending"),
                Some("仙华街道"),
                2
            )
        );
    }

    fn m(id: i64, status: &str) -> Match {
        Match {
            id,
            status: status.into(),
            persons: 2,
            pending: false,
        }
    }

    #[test]
    fn the_list_its_counts_and_its_neighbours_read_one_set() {
        let all = vec![m(1, "submitted"), m(2, "cancelled"), m(3, "submitted")];
        assert_eq!(
            by_status(&all),
            [("submitted", "待审核", 2), ("cancelled", "已取消", 1)]
        );
        let list = listed(all, Some("submitted"));
        assert_eq!(tally(&list), (2, 4));
        assert_eq!(neighbours(&list, 1), Some((1, None, Some(3))));
        assert_eq!(neighbours(&list, 3), Some((2, Some(1), None)));
        assert_eq!(neighbours(&list, 2), None, "not in the filtered list");
    }

    #[test]
    fn triage_is_open_until_scheduling() {
        assert!(
            open_for_triage("waitlisted")
                && !open_for_triage("scheduled")
                && !open_for_triage("rejected")
        );
    }

    #[test]
    fn windows_read_in_shanghai_time() {
        let s: DateTime<Utc> = "2026-11-22T01:00:00Z".parse().unwrap();
        assert_eq!(
            window_label(s, s + chrono::Duration::hours(1)),
            "09:00—10:00"
        );
    }

    #[test]
    fn only_staff_and_supervisors_unmask() {
        assert!(may_unmask(Role::Staff) && may_unmask(Role::Supervisor));
        assert!(Role::ALL.iter().filter(|r| may_unmask(**r)).count() == 2);
    }
}
