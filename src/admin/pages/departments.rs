//! `/admin/departments`: the responsible departments (责任单位) that cases are assigned to.

use crate::admin::reference::NameTaken;
use crate::admin::reference::departments::{self, DepartmentInput, NotAbove, SuperiorChoice};
use crate::error::AppError;
use crate::state::AppState;
use crate::web::form::{Errors, Form, checked, text};
use crate::web::page::{Layout, Page, render, render_status};
use crate::web::{Ctx, redirect_with_flash};
use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;

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
    /// Name and short name; whether the name is free is for the domain to say.
    fn validate(&self, errors: &mut Errors) -> Option<DepartmentInput> {
        let name = text(errors, "name", "名称", &self.name, 1, 60);
        let short_name = text(errors, "short_name", "简称", &self.short_name, 1, 20);
        let active = self.is_active();
        errors.is_empty().then_some(DepartmentInput {
            name,
            short_name,
            active,
        })
    }
}

/// Errors as the form showed them before: a taken name is shown with the other problems.
async fn add_name_clash(
    state: &AppState,
    ctx: &Ctx,
    f: &DepartmentForm,
    id: Option<i64>,
    errors: &mut Errors,
) -> sqlx::Result<()> {
    if errors.get("name").is_empty()
        && departments::name_taken(&state.db, f.name.trim(), id, viewer(ctx)).await?
    {
        errors.add("name", NAME_TAKEN);
    }
    Ok(())
}

#[derive(Template)]
#[template(path = "admin/departments.html")]
struct DepartmentsPage {
    layout: Layout,
    departments: Vec<DepartmentRow>,
    form: DepartmentForm,
    errors: Errors,
}

/// The sysadmin's jurisdiction: the departments within it are theirs to keep.
fn viewer(ctx: &Ctx) -> Option<i64> {
    ctx.user.as_ref().and_then(|u| u.jurisdiction_id)
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
           FROM departments d
           WHERE d.jurisdiction_id IN (SELECT jurisdiction_subtree($1))
              OR (d.jurisdiction_id IS NULL AND EXISTS (SELECT 1 FROM jurisdictions WHERE id = $1 AND parent_id IS NULL))
           ORDER BY d.active DESC, d.name"#,
        viewer(ctx)
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

pub async fn create(
    State(state): State<AppState>,
    ctx: Ctx,
    Form(f): Form<DepartmentForm>,
) -> Page {
    let mut errors = Errors::default();
    if let Some(d) = f.validate(&mut errors) {
        let mut tx = state.db.begin().await?;
        match departments::create(&mut tx, &ctx.actor(), &d).await? {
            Ok(_) => {
                tx.commit().await?;
                let message = format!("已添加责任单位：{}", d.name);
                return Ok(redirect_with_flash(&state, "/admin/departments", &message));
            }
            Err(NameTaken) => errors.add("name", NAME_TAKEN),
        }
    }
    add_name_clash(&state, &ctx, &f, None, &mut errors).await?;
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
    superiors: Vec<SuperiorChoice>,
    form: DepartmentForm,
    errors: Errors,
}

/// The categories that go to this department by default ("class › area").
async fn default_categories(state: &AppState, id: i64) -> sqlx::Result<Vec<String>> {
    sqlx::query_scalar!(
        r#"SELECT COALESCE(p.name || ' › ', '') || c.name AS "label!"
           FROM category_departments cd JOIN categories c ON c.id = cd.category_id LEFT JOIN categories p ON p.id = c.parent_id
           WHERE cd.department_id = $1
           ORDER BY COALESCE(p.sort_order, c.sort_order), COALESCE(p.name, c.name), p.id NULLS FIRST, c.sort_order, c.name"#,
        id
    )
    .fetch_all(&state.db)
    .await
}

async fn department_page(
    state: &AppState,
    ctx: &Ctx,
    id: i64,
    form: Option<DepartmentForm>,
    errors: Errors,
) -> Result<DepartmentPage, AppError> {
    crate::admin::scope::department(&state.db, viewer(ctx), id).await?;
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
    let categories = default_categories(state, id).await?;
    let superiors = departments::superior_choices(&state.db, id).await?;
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
        superiors,
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
    if let Some(d) = f.validate(&mut errors) {
        let mut tx = state.db.begin().await?;
        match departments::update(&mut tx, &ctx.actor(), id, &d).await? {
            Ok(()) => {
                tx.commit().await?;
                let to = format!("/admin/departments/{id}");
                return Ok(redirect_with_flash(&state, &to, "已保存。"));
            }
            Err(NameTaken) => errors.add("name", NAME_TAKEN),
        }
    }
    add_name_clash(&state, &ctx, &f, Some(id), &mut errors).await?;
    let page = department_page(&state, &ctx, id, Some(f), errors).await?;
    Ok(render_status(StatusCode::UNPROCESSABLE_ENTITY, &page))
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct SuperiorsForm {
    /// One key per ticked department.
    superior: Vec<String>,
}

/// The departments that review this one's decisions (复查机关) besides the government.
pub async fn superiors(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<i64>,
    Form(f): Form<SuperiorsForm>,
) -> Page {
    let chosen: Option<Vec<i64>> = f.superior.iter().map(|s| s.trim().parse().ok()).collect();
    let mut tx = state.db.begin().await?;
    let set = match &chosen {
        Some(chosen) => departments::set_superiors(&mut tx, &ctx.actor(), id, chosen).await?,
        None => Err(NotAbove),
    };
    if set.is_ok() {
        tx.commit().await?;
        let to = format!("/admin/departments/{id}");
        return Ok(redirect_with_flash(&state, &to, "已保存复查机关。"));
    }
    drop(tx);
    let mut errors = Errors::default();
    errors.add("superior", "只能选择上级行政区域的启用单位，请重新选择");
    let page = department_page(&state, &ctx, id, None, errors).await?;
    Ok(render_status(StatusCode::UNPROCESSABLE_ENTITY, &page))
}
