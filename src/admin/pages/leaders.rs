//! `/admin/leaders`: the leaders who receive citizens, with their level, portfolio (分管范围),
//! jurisdiction and categories; the sysadmin sees and adds those within their subtree.

use crate::admin::reference::leaders::{self, LEVELS, LeaderInput, level_label};
use crate::admin::{CategoryGroup, category_groups};
use crate::error::AppError;
use crate::state::AppState;
use crate::web::form::{Choice, Errors, Form, checked, ids, opt_id, text};
use crate::web::page::{Layout, Page, render, render_status};
use crate::web::{Ctx, redirect_with_flash};
use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;

struct LeaderRow {
    id: i64,
    name: String,
    title: String,
    level: String,
    county: String,
    categories: String,
    active: bool,
    username: Option<String>,
}

impl LeaderRow {
    fn level_label(&self) -> &'static str {
        level_label(&self.level)
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct LeaderForm {
    name: String,
    title: String,
    level: String,
    portfolio: String,
    county_id: String,
    /// The multi-select: one key per chosen category.
    category_ids: Vec<String>,
    /// Edit form only: "1" when ticked.
    active: String,
}

impl LeaderForm {
    fn is_active(&self) -> bool {
        checked(&self.active)
    }
    fn has_category(&self, id: &i64) -> bool {
        self.category_ids.iter().any(|c| c.trim() == id.to_string())
    }
}

/// What the select boxes offer: levels, the jurisdictions in the sysadmin's subtree, categories.
struct Options {
    levels: Vec<(&'static str, &'static str)>,
    counties: Vec<Choice>,
    groups: Vec<CategoryGroup>,
}

impl Options {
    async fn load(state: &AppState, ctx: &Ctx, leader_id: Option<i64>) -> sqlx::Result<Self> {
        let counties = crate::admin::scope::choices(&state.db, viewer(ctx)).await?;
        let kept = sqlx::query_scalar!(
            "SELECT category_id FROM leader_categories WHERE leader_id = $1",
            leader_id
        )
        .fetch_all(&state.db)
        .await?;
        Ok(Self {
            levels: LEVELS.to_vec(),
            counties,
            groups: category_groups(&state.db, &kept).await?,
        })
    }

    fn offers_category(&self, id: i64) -> bool {
        self.groups
            .iter()
            .any(|g| g.options.iter().any(|c| c.id == id))
    }
}

#[derive(Template)]
#[template(path = "admin/leaders.html")]
struct LeadersPage {
    layout: Layout,
    leaders: Vec<LeaderRow>,
    form: LeaderForm,
    errors: Errors,
    options: Options,
}

/// The sysadmin's jurisdiction.
fn viewer(ctx: &Ctx) -> Option<i64> {
    ctx.user.as_ref().and_then(|u| u.jurisdiction_id)
}

async fn leaders_page(
    state: &AppState,
    ctx: &Ctx,
    form: LeaderForm,
    errors: Errors,
) -> Result<LeadersPage, AppError> {
    let leaders = sqlx::query_as!(
        LeaderRow,
        r#"SELECT l.id, l.name, l.title, l.level, l.active,
                  COALESCE(co.name, '') AS "county!",
                  COALESCE((SELECT string_agg(p.name || '·' || c.name, '、' ORDER BY p.sort_order, c.sort_order, c.name)
                            FROM leader_categories lc JOIN categories c ON c.id = lc.category_id JOIN categories p ON p.id = c.parent_id
                            WHERE lc.leader_id = l.id), '') AS "categories!",
                  (SELECT u.username FROM users u WHERE u.leader_id = l.id AND u.active LIMIT 1) AS username
           FROM leaders l LEFT JOIN jurisdictions co ON co.id = l.county_id
           WHERE l.county_id IN (SELECT jurisdiction_subtree($1))
              OR (l.county_id IS NULL AND EXISTS (SELECT 1 FROM jurisdictions WHERE id = $1 AND parent_id IS NULL))
           ORDER BY l.active DESC, array_position(ARRAY['province', 'city', 'county', 'township'], l.level), l.name"#,
        viewer(ctx)
    )
    .fetch_all(&state.db)
    .await?;
    Ok(LeadersPage {
        layout: ctx.layout("领导"),
        leaders,
        form,
        errors,
        options: Options::load(state, ctx, None).await?,
    })
}

pub async fn list(State(state): State<AppState>, ctx: Ctx) -> Page {
    render(&leaders_page(&state, &ctx, LeaderForm::default(), Errors::default()).await?)
}

/// Check a leader form against what its selects offered; no jurisdiction chosen means the
/// sysadmin's own (`own`).
fn validate(
    f: &LeaderForm,
    options: &Options,
    own: Option<i64>,
    errors: &mut Errors,
) -> Option<LeaderInput> {
    let name = text(errors, "name", "姓名", &f.name, 1, 30);
    let title = text(errors, "title", "职务", &f.title, 1, 60);
    let level = LEVELS.iter().map(|(v, _)| *v).find(|v| *v == f.level);
    if level.is_none() {
        errors.add("level", "请选择级别");
    }
    let portfolio = text(errors, "portfolio", "分管范围", &f.portfolio, 0, 500);
    let county_id = if f.county_id.trim().is_empty() {
        own
    } else {
        let id = opt_id(&f.county_id).filter(|id| options.counties.iter().any(|c| c.id == *id));
        if id.is_none() {
            errors.add("county_id", "所选区县不存在，请重新选择");
        }
        id
    };
    let category_ids =
        ids(&f.category_ids).filter(|ids| ids.iter().all(|id| options.offers_category(*id)));
    if category_ids.is_none() {
        errors.add("category_ids", "所选问题类别不存在或已停用，请重新选择");
    }
    if !errors.is_empty() {
        return None;
    }
    Some(LeaderInput {
        name,
        title,
        level: level?,
        portfolio,
        county_id,
        category_ids: category_ids?,
        active: f.is_active(),
    })
}

pub async fn create(State(state): State<AppState>, ctx: Ctx, Form(f): Form<LeaderForm>) -> Page {
    let mut errors = Errors::default();
    let options = Options::load(&state, &ctx, None).await?;
    let Some(v) = validate(&f, &options, viewer(&ctx), &mut errors)
        .map(|v| LeaderInput { active: true, ..v })
    else {
        let page = leaders_page(&state, &ctx, f, errors).await?;
        return Ok(render_status(StatusCode::UNPROCESSABLE_ENTITY, &page));
    };
    let mut tx = state.db.begin().await?;
    let id = leaders::create(&mut tx, &ctx.actor(), &v).await?;
    tx.commit().await?;
    Ok(redirect_with_flash(
        &state,
        &format!("/admin/leaders/{id}"),
        &format!("已添加领导：{}（{}）", v.name, v.title),
    ))
}

#[derive(Template)]
#[template(path = "admin/leader.html")]
struct LeaderPage {
    layout: Layout,
    id: i64,
    name: String,
    active: bool,
    username: Option<String>,
    user_id: Option<i64>,
    form: LeaderForm,
    errors: Errors,
    options: Options,
}

/// The leader's active account, if any: (id, username).
async fn account_of(state: &AppState, leader_id: i64) -> sqlx::Result<Option<(i64, String)>> {
    Ok(sqlx::query!(
        "SELECT id, username FROM users WHERE leader_id = $1 AND active",
        leader_id
    )
    .fetch_optional(&state.db)
    .await?
    .map(|a| (a.id, a.username)))
}

async fn leader_page(
    state: &AppState,
    ctx: &Ctx,
    id: i64,
    form: Option<LeaderForm>,
    errors: Errors,
) -> Result<LeaderPage, AppError> {
    crate::admin::scope::leader(&state.db, viewer(ctx), id).await?;
    let l = sqlx::query!(
        r#"SELECT l.id, l.name, l.title, l.level, l.portfolio, l.county_id, l.active,
                  COALESCE(ARRAY(SELECT category_id FROM leader_categories WHERE leader_id = l.id ORDER BY category_id), '{}') AS "category_ids!"
           FROM leaders l WHERE l.id = $1"#,
        id
    )
    .fetch_optional(&state.db)
    .await?
    .ok_or(AppError::NotFound)?;
    let form = form.unwrap_or(LeaderForm {
        name: l.name.clone(),
        title: l.title.clone(),
        level: l.level,
        portfolio: l.portfolio,
        county_id: l.county_id.map(|i| i.to_string()).unwrap_or_default(),
        category_ids: l.category_ids.iter().map(i64::to_string).collect(),
        active: if l.active { "1".into() } else { String::new() },
    });
    let account = account_of(state, id).await?;
    Ok(LeaderPage {
        layout: ctx.layout(&format!("领导：{}（{}）", l.name, l.title)),
        id: l.id,
        name: l.name,
        active: l.active,
        username: account.as_ref().map(|a| a.1.clone()),
        user_id: account.map(|a| a.0),
        form,
        errors,
        options: Options::load(state, ctx, Some(id)).await?,
    })
}

pub async fn show(State(state): State<AppState>, ctx: Ctx, Path(id): Path<i64>) -> Page {
    render(&leader_page(&state, &ctx, id, None, Errors::default()).await?)
}

pub async fn update(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<i64>,
    Form(f): Form<LeaderForm>,
) -> Page {
    let mut errors = Errors::default();
    crate::admin::scope::leader(&state.db, viewer(&ctx), id).await?;
    let options = Options::load(&state, &ctx, Some(id)).await?;
    let Some(v) = validate(&f, &options, viewer(&ctx), &mut errors) else {
        let page = leader_page(&state, &ctx, id, Some(f), errors).await?;
        return Ok(render_status(StatusCode::UNPROCESSABLE_ENTITY, &page));
    };
    let mut tx = state.db.begin().await?;
    leaders::update(&mut tx, &ctx.actor(), id, &v).await?;
    tx.commit().await?;
    Ok(redirect_with_flash(
        &state,
        &format!("/admin/leaders/{id}"),
        "已保存。",
    ))
}
