//! Demo history: a year of monthly visits in a demo county, their surveyed matters assigned as
//! cases and taken through the same domain functions as the staff, handlers and supervisors
//! (assign, transitions, urge, rate), so dashboards, lists and reports are alive at once.
//!
//! Per visit (i = months ago, 1…12) three cases. Older than two months: closed and rated (one in
//! four 不满意 in the second county, one in eight in the first), except every fourth visit's last
//! case, left 办理中 past its deadline and urged. Two months ago: closed, not yet rated. Last
//! month: one 待签收 (overdue), one 办理中, one 待审核.

use crate::audit::Actor;
use crate::clock::china_date;
use crate::crypto::Keys;
use crate::followup::CaseRules;
use crate::followup::assign::{NewCase, Source, assign};
use crate::followup::documents::rules::Kind;
use crate::followup::documents::store;
use crate::followup::state::Action;
use crate::followup::transitions::{self, By, Input, Rating, Request};
use crate::prepare::survey_store::{self, Item};
use crate::web::auth::{CurrentUser, Role};
use chrono::{DateTime, Duration, Utc};
use sqlx::PgConnection;

/// Who acts in one county's history, and what its cases are about.
pub struct County<'a> {
    pub id: i64,
    pub name: &'a str,
    /// 信访工作人员 (assigns), 承办人 (of `lead_department`), 督查人员 (approves, urges).
    pub staff: i64,
    pub handler: i64,
    pub supervisor: i64,
    pub lead_department: i64,
    pub leaders: &'a [i64],
    /// One in this many rated cases is 不满意.
    pub dissatisfied_every: usize,
    /// Seal the replies and the history's texts.
    pub keys: &'a Keys,
}

const MATTERS: [(&str, &str); 6] = [
    ("城乡建设", "老旧小区雨污管网破损，雨天积水"),
    ("征地拆迁", "征地补偿款分配不公"),
    ("城乡建设", "安置房交付延期"),
    ("其他", "村道路灯损坏多年未修"),
    ("城乡建设", "违章搭建影响采光通风"),
    ("征地拆迁", "拆迁安置过渡费未按时发放"),
];

fn err(e: impl std::fmt::Debug) -> anyhow::Error {
    anyhow::anyhow!("{e:?}")
}

async fn acting(tx: &mut PgConnection, id: i64) -> anyhow::Result<(CurrentUser, Actor)> {
    let u = sqlx::query!(
        r#"SELECT username, display_name, role AS "role!", department_id, leader_id, jurisdiction_id FROM users WHERE id = $1"#,
        id
    )
    .fetch_one(&mut *tx)
    .await?;
    let role = Role::parse(&u.role).ok_or_else(|| anyhow::anyhow!("role {}", u.role))?;
    let actor = Actor {
        id: Some(id),
        name: u.username.clone(),
        role: Some(role.as_str()),
        ip: None,
        jurisdiction_id: u.jurisdiction_id,
    };
    let user = CurrentUser {
        id,
        username: u.username,
        display_name: u.display_name,
        role,
        department_id: u.department_id,
        leader_id: u.leader_id,
        jurisdiction_id: u.jurisdiction_id,
        must_change_password: false,
        session_hash: None,
    };
    Ok((user, actor))
}

/// A year of visits and cases in `c`, dated back from `now`.
pub async fn seed(tx: &mut PgConnection, c: &County<'_>, now: DateTime<Utc>) -> anyhow::Result<()> {
    let rules = CaseRules::default();
    let mut n = 0;
    for months_ago in 1..=12i64 {
        let at = now - Duration::days(30 * months_ago + 3);
        let visit = past_visit(tx, c, months_ago, at).await?;
        for k in 0..3 {
            let case = new_case(tx, c, visit, n, at + Duration::days(1)).await?;
            let plan = Plan::of(months_ago, k);
            take(tx, c, case, plan, n, at + Duration::days(1), &rules).await?;
            n += 1;
        }
    }
    Ok(())
}

async fn past_visit(
    tx: &mut PgConnection,
    c: &County<'_>,
    months_ago: i64,
    at: DateTime<Utc>,
) -> anyhow::Result<i64> {
    let date = china_date(at);
    let lead = c.leaders[months_ago as usize % c.leaders.len()];
    let title = format!("{}县领导下访接访日", date.format("%Y年%-m月%-d日"));
    let venue = format!("{}社会矛盾纠纷调处化解中心", c.name);
    let id = sqlx::query_scalar!(
        "INSERT INTO visits (county_id, title, level, lead_leader_id, visit_date, venue, status, created_by, is_demo)
         VALUES ($1, $2, 'county', $3, $4, $5, 'following_up', $6, true) RETURNING id",
        c.id,
        title,
        lead,
        date,
        venue,
        c.staff
    )
    .fetch_one(&mut *tx)
    .await?;
    Ok(id)
}

/// A surveyed matter (带案下访) of the visit, assigned to the county's 住建局 by its staff.
async fn new_case(
    tx: &mut PgConnection,
    c: &County<'_>,
    visit: i64,
    n: usize,
    at: DateTime<Utc>,
) -> anyhow::Result<i64> {
    let (area, summary) = MATTERS[n % MATTERS.len()];
    let category = sqlx::query_scalar!(
        "SELECT id FROM categories WHERE name = $1 AND parent_id IS NOT NULL ORDER BY id LIMIT 1",
        area
    )
    .fetch_one(&mut *tx)
    .await?;
    let (_, actor) = acting(tx, c.staff).await?;
    let item = Item {
        township: "城关镇".into(),
        village: format!("第{}村", n % 9 + 1),
        reporter: "村信访信息员".into(),
        reporter_phone: String::new(),
        category_id: category,
        summary: summary.into(),
        background: "群众多次反映，尚未解决。".into(),
        policy_basis: String::new(),
        proposed_handling: "交主办单位限期办理。".into(),
        brought_by_leader: false,
    };
    let item_id = survey_store::create(tx, visit, &item, c.staff, &actor, c.keys)
        .await
        .map_err(err)?;
    let lead = sqlx::query_scalar!("SELECT lead_leader_id FROM visits WHERE id = $1", visit)
        .fetch_one(&mut *tx)
        .await?;
    let new = NewCase {
        visit_id: visit,
        source: Source::SurveyItem(item_id),
        title: summary,
        category_id: category,
        lead_department_id: c.lead_department,
        co_department_ids: &[],
        owner_leader_id: lead,
        deadline_days: 30,
    };
    Ok(assign(tx, &CaseRules::default(), &new, &actor, at)
        .await?
        .id)
}

#[derive(Clone, Copy, PartialEq)]
enum Plan {
    Assigned,
    Accepted,
    Submitted,
    Closed,
    Rated,
    Overdue,
}

impl Plan {
    fn of(months_ago: i64, k: usize) -> Plan {
        match (months_ago, k) {
            (1, 0) => Plan::Assigned,
            (1, 1) => Plan::Accepted,
            (1, _) => Plan::Submitted,
            (2, _) => Plan::Closed,
            (m, 2) if m % 4 == 0 => Plan::Overdue,
            _ => Plan::Rated,
        }
    }
}

/// Take the case as far as `plan` says, one domain transition after another.
async fn take(
    tx: &mut PgConnection,
    c: &County<'_>,
    case: i64,
    plan: Plan,
    n: usize,
    assigned: DateTime<Utc>,
    rules: &CaseRules,
) -> anyhow::Result<()> {
    if plan == Plan::Assigned {
        return Ok(());
    }
    let at = |day| assigned + Duration::days(day);
    step(tx, case, Action::Accept, c.handler, at(1), rules, c.keys).await?;
    write(tx, c, case, Kind::Acceptance, at(2)).await?;
    step(tx, case, Action::Progress, c.handler, at(8), rules, c.keys).await?;
    if !matches!(plan, Plan::Accepted | Plan::Overdue) {
        write(tx, c, case, Kind::Opinion, at(14)).await?;
        step(tx, case, Action::Submit, c.handler, at(15), rules, c.keys).await?;
    }
    if plan == Plan::Overdue {
        let (_, actor) = acting(tx, c.supervisor).await?;
        let when = assigned + Duration::days(40);
        let urge = transitions::Urge {
            id: case,
            within: Some(c.id),
            text: "请加快办理，按期办结。",
        };
        transitions::urge(tx, c.keys, &urge, &actor, when)
            .await
            .map_err(err)?;
        return Ok(());
    }
    if matches!(plan, Plan::Closed | Plan::Rated) {
        let at = assigned + Duration::days(17);
        step(tx, case, Action::Approve, c.supervisor, at, rules, c.keys).await?;
    }
    if plan == Plan::Rated {
        let rating = match n % c.dissatisfied_every {
            0 => "dissatisfied",
            1 | 2 => "basically_satisfied",
            _ => "satisfied",
        };
        let anonymous = Actor {
            id: None,
            name: "anonymous".into(),
            role: None,
            ip: None,
            jurisdiction_id: Some(c.id),
        };
        let r = Rating {
            rating,
            comment: "",
        };
        let at = assigned + Duration::days(20);
        transitions::rate(tx, case, &r, &anonymous, at, rules, c.keys)
            .await
            .map_err(err)?;
    }
    Ok(())
}

/// The handler drafts and issues a document of `kind` as the case stands.
async fn write(
    tx: &mut PgConnection,
    c: &County<'_>,
    case: i64,
    kind: Kind,
    at: DateTime<Utc>,
) -> anyhow::Result<()> {
    let (_, actor) = acting(tx, c.handler).await?;
    let id = store::draft(tx, c.keys, case, kind, None, &actor, at)
        .await?
        .ok_or_else(|| anyhow::anyhow!("no issuing body for {kind:?}"))?;
    store::issue(tx, c.keys, case, id, &actor, at)
        .await
        .map_err(err)?;
    Ok(())
}

async fn step(
    tx: &mut PgConnection,
    case: i64,
    action: Action,
    user: i64,
    at: DateTime<Utc>,
    rules: &CaseRules,
    keys: &Keys,
) -> anyhow::Result<()> {
    let (user, actor) = acting(tx, user).await?;
    let input = Input {
        text: match action {
            Action::Submit => "已现场核实并整改到位，答复来访人。".into(),
            Action::Progress => "已约谈相关单位，制定整改方案。".into(),
            _ => String::new(),
        },
        days: 0,
        result: if action == Action::Submit {
            "resolved".into()
        } else {
            String::new()
        },
        upheld: false,
        department_id: 0,
        reviewer: String::new(),
    };
    let req = Request {
        action,
        version: None,
        input,
    };
    let by = By {
        user: &user,
        actor: &actor,
        keys,
    };
    transitions::apply(tx, case, &req, &by, at, rules)
        .await
        .map_err(err)?;
    Ok(())
}
