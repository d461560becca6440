//! The Pujiang table of one visit (DESIGN §1, §4) — registered batches, received batches and
//! persons, resolved on the spot, assigned, closed, closed on time, satisfaction — with per-room
//! and per-department breakdowns, read for the page and its .xlsx (`reports::pages::visit`).

use crate::clock::cn_date;
use crate::error::AppError;
use crate::followup::scoring::{pct, rate};
use crate::reports::hourly::{self, Hour, Passage};

/// The counts of one visit (or one room, one department); rates derive from them.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Counts {
    pub registered: i64,
    pub walk_ins: i64,
    pub received: i64,
    pub persons: i64,
    pub resolved_on_spot: i64,
    pub explained: i64,
    pub legal_channel: i64,
    pub not_accepted: i64,
    pub assigned: i64,
    pub closed: i64,
    pub on_time: i64,
    pub rated: i64,
    pub satisfied: i64,
}

impl Counts {
    /// 按期办结率: closed on or before the (extended) due date, over closed.
    pub fn on_time_rate(&self) -> Option<f64> {
        rate(self.on_time, self.closed)
    }
    /// 满意率: (满意 + 基本满意) / rated.
    pub fn satisfaction(&self) -> Option<f64> {
        rate(self.satisfied, self.rated)
    }
    /// 办结率: closed over assigned.
    pub fn closure_rate(&self) -> Option<f64> {
        rate(self.closed, self.assigned)
    }

    /// The table's lines, in the order Pujiang reported them.
    pub fn lines(&self) -> Vec<(&'static str, String)> {
        vec![
            ("登记批次", self.registered.to_string()),
            ("现场登记批次", self.walk_ins.to_string()),
            ("接待批次", self.received.to_string()),
            ("接待人次", self.persons.to_string()),
            ("当场解决（件）", self.resolved_on_spot.to_string()),
            ("解释说明（件）", self.explained.to_string()),
            ("导入法定途径（件）", self.legal_channel.to_string()),
            ("不予受理（件）", self.not_accepted.to_string()),
            ("交办（件）", self.assigned.to_string()),
            ("已办结（件）", self.closed.to_string()),
            ("办结率", pct(self.closure_rate())),
            ("按期办结（件）", self.on_time.to_string()),
            ("按期办结率", pct(self.on_time_rate())),
            ("已评价（件）", self.rated.to_string()),
            ("满意率", pct(self.satisfaction())),
        ]
    }
}

pub struct Breakdown {
    pub name: String,
    pub counts: Counts,
}

pub struct Report {
    pub id: i64,
    pub title: String,
    pub date: String,
    pub venue: String,
    pub total: Counts,
    pub rooms: Vec<Breakdown>,
    pub departments: Vec<Breakdown>,
    /// The reception day hour by hour.
    pub hours: Vec<Hour>,
}

/// The report of visit `visit_id`; NotFound unless its host or organiser lies in `within`'s
/// subtree (DESIGN §11).
pub async fn load(
    db: &sqlx::PgPool,
    visit_id: i64,
    within: Option<i64>,
) -> Result<Report, AppError> {
    let v = sqlx::query!(
        r#"SELECT v.title, v.visit_date, v.venue,
              (SELECT count(*) FROM registrations r WHERE r.visit_id = v.id AND r.channel <> 'walk_in'
                  AND r.merged_into_id IS NULL AND r.status <> 'cancelled') AS "registered!",
              (SELECT count(*) FROM registrations r WHERE r.visit_id = v.id AND r.channel = 'walk_in'
                  AND r.merged_into_id IS NULL AND r.status <> 'cancelled') AS "walk_ins!",
              (SELECT min(w.starts_at) FROM reception_windows w WHERE w.visit_id = v.id) AS opens,
              (SELECT max(w.ends_at) FROM reception_windows w WHERE w.visit_id = v.id) AS closes
           FROM visits v WHERE v.id = $1
             AND (v.county_id IN (SELECT jurisdiction_subtree($2)) OR v.organiser_id IN (SELECT jurisdiction_subtree($2)))"#,
        visit_id,
        within
    )
    .fetch_optional(db)
    .await?
    .ok_or(AppError::NotFound)?;
    // Per room: batches and persons received, issues by outcome.
    let rooms = sqlx::query!(
        r#"SELECT ro.name,
              count(DISTINCT rc.id) AS "received!",
              (SELECT COALESCE(sum(r.persons), 0) FROM receptions x JOIN registrations r ON r.id = x.registration_id WHERE x.room_id = ro.id) AS "persons!",
              count(i.id) FILTER (WHERE i.outcome = 'resolved_on_spot') AS "resolved!",
              count(i.id) FILTER (WHERE i.outcome = 'explained') AS "explained!",
              count(i.id) FILTER (WHERE i.outcome = 'legal_channel') AS "legal!",
              count(i.id) FILTER (WHERE i.outcome = 'not_accepted') AS "not_accepted!",
              count(i.id) FILTER (WHERE i.outcome = 'assigned') AS "assigned!"
           FROM rooms ro LEFT JOIN receptions rc ON rc.room_id = ro.id LEFT JOIN issues i ON i.reception_id = rc.id
           WHERE ro.visit_id = $1 GROUP BY ro.id, ro.name, ro.sort_order ORDER BY ro.sort_order, ro.name"#,
        visit_id
    )
    .fetch_all(db)
    .await?;
    // Per lead department: cases, closed, on time, ratings.
    let departments = sqlx::query!(
        r#"SELECT d.name,
              count(*) AS "assigned!",
              count(c.closed_at) AS "closed!",
              count(*) FILTER (WHERE (c.closed_at AT TIME ZONE 'Asia/Shanghai')::date <= c.effective_due_on) AS "on_time!",
              count(c.rating) AS "rated!",
              count(*) FILTER (WHERE c.rating IN ('satisfied', 'basically_satisfied')) AS "satisfied!"
           FROM cases c JOIN departments d ON d.id = c.lead_department_id
           WHERE c.visit_id = $1 GROUP BY d.id, d.name ORDER BY d.name"#,
        visit_id
    )
    .fetch_all(db)
    .await?;
    // Per registration that arrived or was received: when (DESIGN §4 "the day").
    let passages = sqlx::query_as!(
        Passage,
        r#"SELECT r.checked_in_at AS arrived_at, x.ended_at AS received_at
           FROM registrations r LEFT JOIN receptions x ON x.registration_id = r.id
           WHERE r.visit_id = $1 AND (r.checked_in_at IS NOT NULL OR x.ended_at IS NOT NULL)"#,
        visit_id
    )
    .fetch_all(db)
    .await?;
    let rooms: Vec<Breakdown> = rooms
        .into_iter()
        .map(|r| Breakdown {
            name: r.name,
            counts: Counts {
                received: r.received,
                persons: r.persons,
                resolved_on_spot: r.resolved,
                explained: r.explained,
                legal_channel: r.legal,
                not_accepted: r.not_accepted,
                assigned: r.assigned,
                ..Counts::default()
            },
        })
        .collect();
    let departments: Vec<Breakdown> = departments
        .into_iter()
        .map(|d| Breakdown {
            name: d.name,
            counts: Counts {
                assigned: d.assigned,
                closed: d.closed,
                on_time: d.on_time,
                rated: d.rated,
                satisfied: d.satisfied,
                ..Counts::default()
            },
        })
        .collect();
    let total = total(v.registered, v.walk_ins, &rooms, &departments);
    Ok(Report {
        id: visit_id,
        title: v.title,
        date: cn_date(v.visit_date),
        venue: v.venue,
        total,
        rooms,
        departments,
        hours: hourly::by_hour(v.visit_date, v.opens, v.closes, &passages),
    })
}

/// The visit's totals: reception counts add up over rooms, case counts over departments
/// (every reception has one room, every case one lead department).
pub fn total(
    registered: i64,
    walk_ins: i64,
    rooms: &[Breakdown],
    departments: &[Breakdown],
) -> Counts {
    let mut t = Counts {
        registered,
        walk_ins,
        ..Counts::default()
    };
    for r in rooms.iter().map(|b| &b.counts) {
        t.received += r.received;
        t.persons += r.persons;
        t.resolved_on_spot += r.resolved_on_spot;
        t.explained += r.explained;
        t.legal_channel += r.legal_channel;
        t.not_accepted += r.not_accepted;
    }
    for d in departments.iter().map(|b| &b.counts) {
        t.assigned += d.assigned;
        t.closed += d.closed;
        t.on_time += d.on_time;
        t.rated += d.rated;
        t.satisfied += d.satisfied;
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totals_add_rooms_and_departments_and_rates_divide() {
        let room = |received, persons, resolved, assigned| Breakdown {
            name: "一".into(),
            counts: Counts {
                received,
                persons,
                resolved_on_spot: resolved,
                assigned,
                ..Counts::default()
            },
        };
        let dept = |assigned, closed, on_time, rated, satisfied| Breakdown {
            name: "甲".into(),
            counts: Counts {
                assigned,
                closed,
                on_time,
                rated,
                satisfied,
                ..Counts::default()
            },
        };
        let t = total(
            429,
            7,
            &[room(200, 300, 40, 100), room(236, 367, 51, 120)],
            &[dept(150, 100, 90, 80, 70), dept(70, 50, 50, 20, 18)],
        );
        assert_eq!(
            (
                t.registered,
                t.walk_ins,
                t.received,
                t.persons,
                t.resolved_on_spot
            ),
            (429, 7, 436, 667, 91)
        );
        assert_eq!(
            (t.assigned, t.closed, t.on_time, t.rated, t.satisfied),
            (220, 150, 140, 100, 88)
        );
        assert_eq!(pct(t.satisfaction()), "88.0%");
        let lines = t.lines();
        assert_eq!(lines[0], ("登记批次", "429".to_string()));
        assert!(lines.contains(&("按期办结率", "93.3%".to_string())));
        assert_eq!(pct(Counts::default().on_time_rate()), "—");
    }
}
