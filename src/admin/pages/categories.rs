//! `/admin/categories`: the two-level tree of 问题类别 (statutory classes × subject areas), and the
//! departments each category goes to by default.

use crate::admin::{Choice, checked, ids, is_unique_violation, opt_id};
use crate::audit::{self, Entry};
use crate::error::AppError;
use crate::state::AppState;
use crate::web::form::{Errors, Form, text};
use crate::web::page::{Layout, Page, render, render_status};
use crate::web::{Ctx, redirect_with_flash};
use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use sqlx::PgExecutor;

const NAME_TAKEN: &str = "同一上级类别下已有同名类别";

/// A category in the tree, with its default departments (short names) and, for a class, its areas.
pub struct Node {
    pub id: i64,
    pub name: String,
    pub active: bool,
    pub departments: String,
    pub children: Vec<Node>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct CategoryForm {
    name: String,
    /// Create only: "" for a top-level (statutory) class.
    parent_id: String,
    /// The multi-select: one key per chosen department.
    department_ids: Vec<String>,
    /// Edit only: "1" when ticked.
    active: String,
}

impl CategoryForm {
    fn has_department(&self, id: &i64) -> bool {
        self.department_ids
            .iter()
            .any(|d| d.trim() == id.to_string())
    }
    fn is_active(&self) -> bool {
        checked(&self.active)
    }
}

/// Top-level classes (parent choices) and departments (multi-select choices).
struct Options {
    parents: Vec<Choice>,
    departments: Vec<Choice>,
}

impl Options {
    /// Active departments, plus those `category_id` already has (so that an edit keeps them).
    async fn load(state: &AppState, category_id: Option<i64>) -> sqlx::Result<Self> {
        let parents = sqlx::query_as!(
            Choice,
            r#"SELECT id, name || CASE WHEN active THEN '' ELSE '（已停用）' END AS "label!"
               FROM categories WHERE parent_id IS NULL ORDER BY sort_order, name"#
        )
        .fetch_all(&state.db)
        .await?;
        let departments = sqlx::query_as!(
            Choice,
            r#"SELECT id, name || CASE WHEN active THEN '' ELSE '（已停用）' END AS "label!"
               FROM departments
               WHERE active OR id IN (SELECT department_id FROM category_departments WHERE category_id = $1)
               ORDER BY name"#,
            category_id
        )
        .fetch_all(&state.db)
        .await?;
        Ok(Self {
            parents,
            departments,
        })
    }
}

#[derive(Template)]
#[template(path = "admin/categories.html")]
struct CategoriesPage {
    layout: Layout,
    tree: Vec<Node>,
    form: CategoryForm,
    errors: Errors,
    options: Options,
}

async fn tree(state: &AppState) -> sqlx::Result<Vec<Node>> {
    let rows = sqlx::query!(
        r#"SELECT c.id, c.parent_id, c.name, c.active,
                  COALESCE((SELECT string_agg(d.short_name, '、' ORDER BY d.name)
                            FROM category_departments cd JOIN departments d ON d.id = cd.department_id
                            WHERE cd.category_id = c.id), '') AS "departments!"
           FROM categories c ORDER BY c.sort_order, c.name, c.id"#
    )
    .fetch_all(&state.db)
    .await?;
    let mut top: Vec<Node> = Vec::new();
    let mut children = Vec::new();
    for r in rows {
        let node = Node {
            id: r.id,
            name: r.name,
            active: r.active,
            departments: r.departments,
            children: Vec::new(),
        };
        match r.parent_id {
            None => top.push(node),
            Some(p) => children.push((p, node)),
        }
    }
    for (parent, node) in children {
        if let Some(p) = top.iter_mut().find(|t| t.id == parent) {
            p.children.push(node);
        }
    }
    Ok(top)
}

async fn categories_page(
    state: &AppState,
    ctx: &Ctx,
    form: CategoryForm,
    errors: Errors,
) -> Result<CategoriesPage, AppError> {
    Ok(CategoriesPage {
        layout: ctx.layout("问题类别"),
        tree: tree(state).await?,
        form,
        errors,
        options: Options::load(state, None).await?,
    })
}

pub async fn list(State(state): State<AppState>, ctx: Ctx) -> Page {
    render(&categories_page(&state, &ctx, CategoryForm::default(), Errors::default()).await?)
}

/// Name (unique among its siblings) and departments; `id` is the category being edited.
async fn validate(
    db: impl PgExecutor<'_>,
    f: &CategoryForm,
    parent_id: Option<i64>,
    id: Option<i64>,
    options: &Options,
    errors: &mut Errors,
) -> sqlx::Result<(String, Vec<i64>)> {
    let name = text(errors, "name", "类别名称", &f.name, 1, 40);
    let department_ids = ids(&f.department_ids).filter(|ids| {
        ids.iter()
            .all(|id| options.departments.iter().any(|d| d.id == *id))
    });
    if department_ids.is_none() {
        errors.add("department_ids", "所选责任单位不存在或已停用，请重新选择");
    }
    if errors.get("name").is_empty()
        && sqlx::query_scalar!(
            r#"SELECT EXISTS (SELECT 1 FROM categories WHERE parent_id IS NOT DISTINCT FROM $1 AND name = $2 AND id IS DISTINCT FROM $3) AS "e!""#,
            parent_id,
            name,
            id
        )
        .fetch_one(db)
        .await?
    {
        errors.add("name", NAME_TAKEN);
    }
    Ok((name, department_ids.unwrap_or_default()))
}

pub async fn create(State(state): State<AppState>, ctx: Ctx, Form(f): Form<CategoryForm>) -> Page {
    let mut errors = Errors::default();
    let options = Options::load(&state, None).await?;
    let parent_id = if f.parent_id.trim().is_empty() {
        None
    } else {
        let id = opt_id(&f.parent_id).filter(|id| options.parents.iter().any(|p| p.id == *id));
        if id.is_none() {
            errors.add("parent_id", "所选上级类别不存在，请重新选择");
        }
        id
    };
    let (name, department_ids) =
        validate(&state.db, &f, parent_id, None, &options, &mut errors).await?;
    if errors.is_empty() {
        let mut tx = state.db.begin().await?;
        let inserted = sqlx::query_scalar!(
            "INSERT INTO categories (parent_id, name, sort_order)
             VALUES ($1, $2, (SELECT COALESCE(max(sort_order), 0) + 1 FROM categories WHERE parent_id IS NOT DISTINCT FROM $1))
             RETURNING id",
            parent_id,
            name
        )
        .fetch_one(&mut *tx)
        .await;
        match inserted {
            Ok(id) => {
                sqlx::query!("INSERT INTO category_departments (category_id, department_id) SELECT $1, unnest($2::bigint[])", id, &department_ids)
                    .execute(&mut *tx)
                    .await?;
                let detail = serde_json::json!({"name": name, "parent_id": parent_id, "department_ids": department_ids});
                audit::record(
                    &mut *tx,
                    &ctx.actor(),
                    Entry::ok("category.create")
                        .on("category", id)
                        .detail(detail),
                )
                .await?;
                tx.commit().await?;
                return Ok(redirect_with_flash(
                    &state,
                    "/admin/categories",
                    &format!("已添加问题类别：{name}"),
                ));
            }
            Err(e) if is_unique_violation(&e) => errors.add("name", NAME_TAKEN),
            Err(e) => return Err(e.into()),
        }
    }
    let page = categories_page(&state, &ctx, f, errors).await?;
    Ok(render_status(StatusCode::UNPROCESSABLE_ENTITY, &page))
}

#[derive(Template)]
#[template(path = "admin/category.html")]
struct CategoryPage {
    layout: Layout,
    id: i64,
    name: String,
    parent: Option<Choice>,
    active: bool,
    children: Vec<String>,
    form: CategoryForm,
    errors: Errors,
    options: Options,
}

struct Current {
    id: i64,
    parent_id: Option<i64>,
    parent_name: Option<String>,
    name: String,
    active: bool,
    department_ids: Vec<i64>,
}

async fn current(db: impl PgExecutor<'_>, id: i64) -> Result<Current, AppError> {
    sqlx::query_as!(
        Current,
        r#"SELECT c.id, c.parent_id, p.name AS "parent_name?", c.name, c.active,
                  COALESCE(ARRAY(SELECT department_id FROM category_departments WHERE category_id = c.id ORDER BY department_id), '{}') AS "department_ids!"
           FROM categories c LEFT JOIN categories p ON p.id = c.parent_id WHERE c.id = $1"#,
        id
    )
    .fetch_optional(db)
    .await?
    .ok_or(AppError::NotFound)
}

async fn category_page(
    state: &AppState,
    ctx: &Ctx,
    id: i64,
    form: Option<CategoryForm>,
    errors: Errors,
) -> Result<CategoryPage, AppError> {
    let c = current(&state.db, id).await?;
    let children = sqlx::query_scalar!(
        "SELECT name || CASE WHEN active THEN '' ELSE '（已停用）' END AS \"n!\" FROM categories WHERE parent_id = $1 ORDER BY sort_order, name",
        id
    )
    .fetch_all(&state.db)
    .await?;
    let form = form.unwrap_or(CategoryForm {
        name: c.name.clone(),
        parent_id: c.parent_id.map(|i| i.to_string()).unwrap_or_default(),
        department_ids: c.department_ids.iter().map(i64::to_string).collect(),
        active: if c.active { "1".into() } else { String::new() },
    });
    let title = match &c.parent_name {
        Some(p) => format!("问题类别：{p} › {}", c.name),
        None => format!("问题类别：{}", c.name),
    };
    Ok(CategoryPage {
        layout: ctx.layout(&title),
        id: c.id,
        name: c.name,
        parent: c
            .parent_id
            .zip(c.parent_name)
            .map(|(id, label)| Choice { id, label }),
        active: c.active,
        children,
        form,
        errors,
        options: Options::load(state, Some(id)).await?,
    })
}

pub async fn show(State(state): State<AppState>, ctx: Ctx, Path(id): Path<i64>) -> Page {
    render(&category_page(&state, &ctx, id, None, Errors::default()).await?)
}

/// Rename, (de)activate and set the default departments; the level of a category does not change.
pub async fn update(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<i64>,
    Form(f): Form<CategoryForm>,
) -> Page {
    let mut errors = Errors::default();
    // The parent never changes here, so it can be read before the transaction.
    let parent_id = current(&state.db, id).await?.parent_id;
    let options = Options::load(&state, Some(id)).await?;
    let active = f.is_active();
    let (name, department_ids) =
        validate(&state.db, &f, parent_id, Some(id), &options, &mut errors).await?;
    if errors.is_empty() {
        let mut tx = state.db.begin().await?;
        sqlx::query_scalar!("SELECT id FROM categories WHERE id = $1 FOR UPDATE", id)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or(AppError::NotFound)?;
        let old = current(&mut *tx, id).await?;
        let updated = sqlx::query!(
            "UPDATE categories SET name = $2, active = $3 WHERE id = $1",
            id,
            name,
            active
        )
        .execute(&mut *tx)
        .await;
        match updated {
            Ok(_) => {
                sqlx::query!("DELETE FROM category_departments WHERE category_id = $1 AND department_id <> ALL($2)", id, &department_ids)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query!(
                    "INSERT INTO category_departments (category_id, department_id) SELECT $1, unnest($2::bigint[]) ON CONFLICT DO NOTHING",
                    id,
                    &department_ids
                )
                .execute(&mut *tx)
                .await?;
                let detail = serde_json::json!({
                    "name": name, "active": active, "department_ids": department_ids,
                    "from": {"name": old.name, "active": old.active, "department_ids": old.department_ids},
                });
                audit::record(
                    &mut *tx,
                    &ctx.actor(),
                    Entry::ok("category.update")
                        .on("category", id)
                        .detail(detail),
                )
                .await?;
                tx.commit().await?;
                return Ok(redirect_with_flash(
                    &state,
                    &format!("/admin/categories/{id}"),
                    "已保存。",
                ));
            }
            Err(e) if is_unique_violation(&e) => errors.add("name", NAME_TAKEN),
            Err(e) => return Err(e.into()),
        }
    }
    let page = category_page(&state, &ctx, id, Some(f), errors).await?;
    Ok(render_status(StatusCode::UNPROCESSABLE_ENTITY, &page))
}
