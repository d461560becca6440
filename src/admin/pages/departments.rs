//! `/admin/departments`: the responsible departments (责任单位) that cases are assigned to.

use crate::admin::{checked, is_unique_violation};
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

const NAME_TAKEN: &str = "已有同名的责任单位";

pub struct DepartmentRow {
    pub id: i64,
    pub name: String,
    pub short_name: String,
    pub active: bool,
    pub users: i64,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct DepartmentForm {
    name: String,
    short_name: String,
    /// Edit form only: "1" when ticked.
    active: String,
}

impl DepartmentForm {
    fn is_active(&self) -> bool {
        checked(&self.active)
    }
}

#[derive(Template)]
#[template(path = "admin/departments.html")]
struct DepartmentsPage {
    layout: Layout,
    departments: Vec<DepartmentRow>,
    form: DepartmentForm,
    errors: Errors,
}

async fn departments_page(
    state: &AppState,
    ctx: &Ctx,
    form: DepartmentForm,
    errors: Errors,
) -> Result<DepartmentsPage, AppError> {
    let departments = sqlx::query_as!(
        DepartmentRow,
        r#"SELECT d.id, d.name, d.short_name, d.active,
                  (SELECT count(*) FROM users u WHERE u.department_id = d.id AND u.active) AS "users!"
           FROM departments d ORDER BY d.active DESC, d.name"#
    )
    .fetch_all(&state.db)
    .await?;
    Ok(DepartmentsPage {
        layout: ctx.layout("责任单位"),
        departments,
        form,
        errors,
    })
}

pub async fn list(State(state): State<AppState>, ctx: Ctx) -> Page {
    render(&departments_page(&state, &ctx, DepartmentForm::default(), Errors::default()).await?)
}

/// Check name and short name; the name must not be used by another department.
async fn validate(
    db: impl PgExecutor<'_>,
    f: &DepartmentForm,
    id: Option<i64>,
    errors: &mut Errors,
) -> sqlx::Result<(String, String)> {
    let name = text(errors, "name", "名称", &f.name, 1, 60);
    let short_name = text(errors, "short_name", "简称", &f.short_name, 1, 20);
    if errors.get("name").is_empty()
        && sqlx::query_scalar!(
            r#"SELECT EXISTS (SELECT 1 FROM departments WHERE name = $1 AND id IS DISTINCT FROM $2) AS "e!""#,
            name,
            id
        )
        .fetch_one(db)
        .await?
    {
        errors.add("name", NAME_TAKEN);
    }
    Ok((name, short_name))
}

pub async fn create(
    State(state): State<AppState>,
    ctx: Ctx,
    Form(f): Form<DepartmentForm>,
) -> Page {
    let mut errors = Errors::default();
    let (name, short_name) = validate(&state.db, &f, None, &mut errors).await?;
    if errors.is_empty() {
        let mut tx = state.db.begin().await?;
        match sqlx::query_scalar!(
            "INSERT INTO departments (name, short_name) VALUES ($1, $2) RETURNING id",
            name,
            short_name
        )
        .fetch_one(&mut *tx)
        .await
        {
            Ok(id) => {
                let detail = serde_json::json!({"name": name, "short_name": short_name});
                audit::record(
                    &mut *tx,
                    &ctx.actor(),
                    Entry::ok("department.create")
                        .on("department", id)
                        .detail(detail),
                )
                .await?;
                tx.commit().await?;
                return Ok(redirect_with_flash(
                    &state,
                    "/admin/departments",
                    &format!("已添加责任单位：{name}"),
                ));
            }
            Err(e) if is_unique_violation(&e) => errors.add("name", NAME_TAKEN),
            Err(e) => return Err(e.into()),
        }
    }
    let page = departments_page(&state, &ctx, f, errors).await?;
    Ok(render_status(StatusCode::UNPROCESSABLE_ENTITY, &page))
}

#[derive(Template)]
#[template(path = "admin/department.html")]
struct DepartmentPage {
    layout: Layout,
    id: i64,
    name: String,
    active: bool,
    users: i64,
    categories: Vec<String>,
    form: DepartmentForm,
    errors: Errors,
}

async fn department_page(
    state: &AppState,
    ctx: &Ctx,
    id: i64,
    form: Option<DepartmentForm>,
    errors: Errors,
) -> Result<DepartmentPage, AppError> {
    let d = sqlx::query_as!(
        DepartmentRow,
        r#"SELECT d.id, d.name, d.short_name, d.active,
                  (SELECT count(*) FROM users u WHERE u.department_id = d.id AND u.active) AS "users!"
           FROM departments d WHERE d.id = $1"#,
        id
    )
    .fetch_optional(&state.db)
    .await?
    .ok_or(AppError::NotFound)?;
    let categories = sqlx::query_scalar!(
        r#"SELECT COALESCE(p.name || ' › ', '') || c.name AS "label!"
           FROM category_departments cd JOIN categories c ON c.id = cd.category_id LEFT JOIN categories p ON p.id = c.parent_id
           WHERE cd.department_id = $1
           ORDER BY COALESCE(p.sort_order, c.sort_order), COALESCE(p.name, c.name), p.id NULLS FIRST, c.sort_order, c.name"#,
        id
    )
    .fetch_all(&state.db)
    .await?;
    let form = form.unwrap_or(DepartmentForm {
        name: d.name.clone(),
        short_name: d.short_name,
        active: if d.active { "1".into() } else { String::new() },
    });
    Ok(DepartmentPage {
        layout: ctx.layout(&format!("责任单位：{}", d.name)),
        id: d.id,
        name: d.name,
        active: d.active,
        users: d.users,
        categories,
        form,
        errors,
    })
}

pub async fn show(State(state): State<AppState>, ctx: Ctx, Path(id): Path<i64>) -> Page {
    render(&department_page(&state, &ctx, id, None, Errors::default()).await?)
}

pub async fn update(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<i64>,
    Form(f): Form<DepartmentForm>,
) -> Page {
    let mut errors = Errors::default();
    let (name, short_name) = validate(&state.db, &f, Some(id), &mut errors).await?;
    let active = f.is_active();
    if errors.is_empty() {
        let mut tx = state.db.begin().await?;
        let old = sqlx::query!(
            "SELECT name, short_name, active FROM departments WHERE id = $1 FOR UPDATE",
            id
        )
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(AppError::NotFound)?;
        match sqlx::query!(
            "UPDATE departments SET name = $2, short_name = $3, active = $4 WHERE id = $1",
            id,
            name,
            short_name,
            active
        )
        .execute(&mut *tx)
        .await
        {
            Ok(_) => {
                let detail = serde_json::json!({
                    "name": name, "short_name": short_name, "active": active,
                    "from": {"name": old.name, "short_name": old.short_name, "active": old.active},
                });
                audit::record(
                    &mut *tx,
                    &ctx.actor(),
                    Entry::ok("department.update")
                        .on("department", id)
                        .detail(detail),
                )
                .await?;
                tx.commit().await?;
                return Ok(redirect_with_flash(
                    &state,
                    &format!("/admin/departments/{id}"),
                    "已保存。",
                ));
            }
            Err(e) if is_unique_violation(&e) => errors.add("name", NAME_TAKEN),
            Err(e) => return Err(e.into()),
        }
    }
    let page = department_page(&state, &ctx, id, Some(f), errors).await?;
    Ok(render_status(StatusCode::UNPROCESSABLE_ENTITY, &page))
}
