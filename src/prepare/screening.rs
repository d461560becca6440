//! Screening at registration (DESIGN §4): flags for triage, never refusals. Staff confirm or
//! override each one later. The rule that turns what the database knows into flags is pure.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;

/// The category whose petitions belong in court, arbitration or administrative review.
pub const LEGAL_CATEGORY: &str = "涉法涉诉";

/// What the database knows about this ID number, found through its blind index.
#[derive(Default, Debug)]
pub struct Evidence {
    /// Another live registration of this ID in the same visit.
    pub same_visit: Option<i64>,
    /// A registration of this ID in another visit within the look-back period.
    pub recent: Option<i64>,
    /// An open case of this ID: (id, code).
    pub open_case: Option<(i64, String)>,
    /// A case of this ID ended by an upheld 复核 (终结): (id, code).
    pub terminated_case: Option<(i64, String)>,
    pub category_name: String,
    pub lookback_months: u32,
    /// Which of the above lie in another jurisdiction than the visit's host: their flags say so,
    /// masked — no code, no link, no name (DESIGN §11).
    pub elsewhere: Elsewhere,
}

/// Evidence found outside the host's jurisdiction.
#[derive(Default, Debug)]
pub struct Elsewhere {
    pub recent: bool,
    pub open_case: bool,
    pub terminated_case: bool,
}

/// A flag's wording for a matter in another jurisdiction: no code, no link.
fn masked(kind: &'static str, detail: String) -> Flag {
    Flag {
        kind,
        detail,
        related_registration_id: None,
        related_case_id: None,
    }
}

#[derive(Debug, PartialEq)]
pub struct Flag {
    pub kind: &'static str,
    pub detail: String,
    pub related_registration_id: Option<i64>,
    pub related_case_id: Option<i64>,
}

/// The flags a registration gets.
pub fn flags(e: &Evidence) -> Vec<Flag> {
    let mut out = Vec::new();
    if let Some(id) = e.same_visit {
        out.push(Flag {
            kind: "duplicate_in_visit",
            detail: "同一身份证号已登记本次接访".into(),
            related_registration_id: Some(id),
            related_case_id: None,
        });
    }
    if e.open_case.is_some() && e.elsewhere.open_case {
        out.push(masked(
            "recent_or_open_case",
            "同一身份证号在其他辖区有未办结的交办件（详情不予显示）".into(),
        ));
    } else if let Some((id, code)) = &e.open_case {
        out.push(Flag {
            kind: "recent_or_open_case",
            detail: format!("同一身份证号有未办结的交办件 {code}"),
            related_registration_id: None,
            related_case_id: Some(*id),
        });
    } else if e.recent.is_some() && e.elsewhere.recent {
        let detail = format!(
            "同一身份证号近 {} 个月内在其他辖区已有登记（详情不予显示）",
            e.lookback_months
        );
        out.push(masked("recent_or_open_case", detail));
    } else if let Some(id) = e.recent {
        out.push(Flag {
            kind: "recent_or_open_case",
            detail: format!("同一身份证号近 {} 个月内已有登记", e.lookback_months),
            related_registration_id: Some(id),
            related_case_id: None,
        });
    }
    if e.category_name == LEGAL_CATEGORY {
        out.push(Flag {
            kind: "legal_channel",
            detail: "涉法涉诉事项，建议导入法定途径（诉讼、仲裁、行政复议）".into(),
            related_registration_id: None,
            related_case_id: None,
        });
    }
    if e.terminated_case.is_some() && e.elsewhere.terminated_case {
        out.push(masked(
            "review_terminated",
            "同一身份证号在其他辖区有已经复核终结的事项（详情不予显示）".into(),
        ));
    } else if let Some((id, code)) = &e.terminated_case {
        out.push(Flag {
            kind: "review_terminated",
            detail: format!("同一身份证号的交办件 {code} 已经复核终结"),
            related_registration_id: None,
            related_case_id: Some(*id),
        });
    }
    out
}

/// Gather the evidence for a new registration of `id_index` in `visit_id` (before it is inserted).
pub async fn gather(
    conn: &mut PgConnection,
    visit_id: i64,
    id_index: &[u8],
    since: DateTime<Utc>,
    category_name: &str,
    lookback_months: u32,
) -> sqlx::Result<Evidence> {
    let same_visit = sqlx::query_scalar!(
        "SELECT id FROM registrations WHERE id_number_index = $1 AND visit_id = $2
           AND status NOT IN ('cancelled', 'rejected') ORDER BY id LIMIT 1",
        id_index,
        visit_id
    )
    .fetch_optional(&mut *conn)
    .await?;
    // The host's own first: a match there may be named; one elsewhere only flagged, masked.
    let recent = sqlx::query!(
        r#"SELECT r.id, rv.county_id <> v.county_id AS "elsewhere!"
           FROM registrations r JOIN visits rv ON rv.id = r.visit_id JOIN visits v ON v.id = $2
           WHERE r.id_number_index = $1 AND r.visit_id <> $2 AND r.created_at >= $3
           ORDER BY rv.county_id <> v.county_id, r.created_at DESC LIMIT 1"#,
        id_index,
        visit_id,
        since
    )
    .fetch_optional(&mut *conn)
    .await?;
    // A registration reaches a case through its reception's issue, or through its survey item.
    let cases = sqlx::query!(
        r#"SELECT c.id, c.code, c.status, cat.name AS category,
                  EXISTS (SELECT 1 FROM reviews v WHERE v.case_id = c.id AND v.kind = 're_review' AND v.result = 'upheld') AS "upheld!",
                  rv.county_id <> host.county_id AS "elsewhere!"
           FROM registrations r
           JOIN visits rv ON rv.id = r.visit_id JOIN visits host ON host.id = $2
           LEFT JOIN receptions rc ON rc.registration_id = r.id
           LEFT JOIN issues i ON i.reception_id = rc.id
           JOIN cases c ON c.issue_id = i.id OR (r.survey_item_id IS NOT NULL AND c.survey_item_id = r.survey_item_id)
           JOIN categories cat ON cat.id = c.category_id
           WHERE r.id_number_index = $1
           ORDER BY rv.county_id <> host.county_id, c.id DESC"#,
        id_index,
        visit_id
    )
    .fetch_all(&mut *conn)
    .await?;
    const OPEN: [&str; 5] = [
        "assigned",
        "accepted",
        "returned",
        "closure_submitted",
        "in_review",
    ];
    let open = cases.iter().find(|c| OPEN.contains(&c.status.as_str()));
    let ended = cases.iter().map(|c| Ended {
        ended: c.status == "terminated" || c.upheld,
        category: &c.category,
    });
    let terminated = terminated_on_the_same_matter(ended, category_name).map(|i| &cases[i]);
    Ok(Evidence {
        same_visit,
        recent: recent.as_ref().map(|r| r.id),
        open_case: open.map(|c| (c.id, c.code.clone())),
        terminated_case: terminated.map(|c| (c.id, c.code.clone())),
        category_name: category_name.into(),
        lookback_months,
        elsewhere: Elsewhere {
            recent: recent.is_some_and(|r| r.elsewhere),
            open_case: open.is_some_and(|c| c.elsewhere),
            terminated_case: terminated.is_some_and(|c| c.elsewhere),
        },
    })
}

/// A case of the same ID number as screening sees it: ended by 复核 (终结) or not, and its category.
pub struct Ended<'a> {
    pub ended: bool,
    pub category: &'a str,
}

/// The first case (its index) that ended by 复核 on the same matter: the same category as the new
/// registration's (终结 bars the same matter, not every later petition of the person).
pub fn terminated_on_the_same_matter<'a>(
    cases: impl IntoIterator<Item = Ended<'a>>,
    category: &str,
) -> Option<usize> {
    cases
        .into_iter()
        .position(|c| c.ended && c.category == category)
}

/// Store the flags, pending a staff decision.
pub async fn record(
    conn: &mut PgConnection,
    registration_id: i64,
    flags: &[Flag],
) -> sqlx::Result<()> {
    for f in flags {
        sqlx::query!(
            "INSERT INTO screening_flags (registration_id, kind, detail, related_registration_id, related_case_id)
             VALUES ($1, $2, $3, $4, $5)",
            registration_id,
            f.kind,
            f.detail,
            f.related_registration_id,
            f.related_case_id
        )
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(e: &Evidence) -> Vec<&'static str> {
        flags(e).into_iter().map(|f| f.kind).collect()
    }

    #[test]
    fn a_first_time_registration_has_no_flags() {
        assert!(
            flags(&Evidence {
                category_name: "城乡建设".into(),
                lookback_months: 2,
                ..Default::default()
            })
            .is_empty()
        );
    }

    #[test]
    fn each_kind_of_evidence_raises_its_flag() {
        let e = Evidence {
            same_visit: Some(7),
            ..Default::default()
        };
        assert_eq!(kinds(&e), ["duplicate_in_visit"]);
        assert_eq!(flags(&e)[0].related_registration_id, Some(7));
        let e = Evidence {
            recent: Some(3),
            lookback_months: 2,
            ..Default::default()
        };
        assert_eq!(flags(&e)[0].detail, "同一身份证号近 2 个月内已有登记");
        let e = Evidence {
            category_name: LEGAL_CATEGORY.into(),
            ..Default::default()
        };
        assert_eq!(kinds(&e), ["legal_channel"]);
        let e = Evidence {
            terminated_case: Some((5, "AJ-1".into())),
            ..Default::default()
        };
        assert_eq!(kinds(&e), ["review_terminated"]);
    }

    #[test]
    fn only_a_terminated_case_of_the_same_category_is_the_same_matter() {
        let cases = || {
            [
                Ended {
                    ended: false,
                    category: "城乡建设",
                },
                Ended {
                    ended: true,
                    category: "劳动社保",
                },
                Ended {
                    ended: true,
                    category: "城乡建设",
                },
            ]
        };
        assert_eq!(terminated_on_the_same_matter(cases(), "城乡建设"), Some(2));
        assert_eq!(terminated_on_the_same_matter(cases(), "劳动社保"), Some(1));
        assert_eq!(terminated_on_the_same_matter(cases(), "教育"), None);
        // Another category: no 终结 evidence, so no flag.
        let e = Evidence {
            terminated_case: None,
            category_name: "教育".into(),
            ..Default::default()
        };
        assert!(kinds(&e).is_empty());
    }

    #[test]
    fn an_open_case_wins_over_a_recent_registration_in_one_flag() {
        let e = Evidence {
            recent: Some(3),
            open_case: Some((9, "AJ-9".into())),
            ..Default::default()
        };
        let f = flags(&e);
        assert_eq!(f.len(), 1, "one flag per kind (unique per registration)");
        assert_eq!(f[0].related_case_id, Some(9));
        assert!(f[0].detail.contains("AJ-9"));
    }

    #[test]
    fn evidence_in_another_jurisdiction_is_flagged_masked() {
        let e = Evidence {
            recent: Some(3),
            terminated_case: Some((5, "AJ-5".into())),
            lookback_months: 2,
            elsewhere: Elsewhere {
                recent: true,
                open_case: false,
                terminated_case: true,
            },
            ..Default::default()
        };
        let f = flags(&e);
        assert_eq!(kinds(&e), ["recent_or_open_case", "review_terminated"]);
        assert!(
            f.iter()
                .all(|f| f.related_registration_id.is_none() && f.related_case_id.is_none())
        );
        assert!(
            f.iter()
                .all(|f| f.detail.contains("其他辖区") && !f.detail.contains("AJ-5"))
        );
    }
}
