//! `/admin/categories`: the two-level tree of 问题类别 (statutory classes × subject areas), and the
//! departments each category goes to by default.

use crate::admin::reference::NameTaken;
use crate::admin::reference::categories::{self, CategoryInput};
use crate::error::AppError;
use crate::state::AppState;
use crate::web::form::{Choice, Errors, Form, checked, ids, opt_id, text};
use crate::web::page::{Layout, Page, render, render_status};
use crate::web::{Ctx, redirect_with_flash};
use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;

const NAME_TAKEN: &str = "同一上级类别下已有同名类别";

fn viewer(ctx: &Ctx) -> Option<i64> {
    ctx.user.as_ref().and_then(|u| u.jurisdiction_id)
}

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
    fn is_active(&self) -> bool {
        checked(&self.active)
    }
    fn has_department(&self, id: &i64) -> bool {
        self.department_ids
            .iter()
            .any(|d| d.trim() == id.to_string())
    }

    /// The parent of a new category: "" for a statutory class, else one of the classes offered.
    fn parent(&self, options: &Options, errors: &mut Errors) -> Option<i64> {
        if self.parent_id.trim().is_empty() {
            return None;
        }
        let id = opt_id(&self.parent_id).filter(|id| options.parents.iter().any(|p| p.id == *id));
        if id.is_none() {
            errors.add("parent_id", "所选上级类别不存在，请重新选择");
        }
        id
    }

    /// Name and departments (ones the form offered); whether the name is free is for the domain.
    fn validate(
        &self,
        parent_id: Option<i64>,
        options: &Options,
        errors: &mut Errors,
    ) -> Option<CategoryInput> {
        let name = text(errors, "name", "类别名称", &self.name, 1, 40);
        let department_ids = ids(&self.department_ids).filter(|ids| {
            ids.iter()
                .all(|id| options.departments.iter().any(|d| d.id == *id))
        });
        if department_ids.is_none() {
            errors.add("department_ids", "所选责任单位不存在或已停用，请重新选择");
        }
        Some(CategoryInput {
            parent_id,
            name,
            department_ids: department_ids?,
            active: self.is_active(),
        })
        .filter(|_| errors.is_empty())
    }
}

/// Errors as the form showed them before: a taken name is shown with the other problems.
async fn add_name_clash(
    state: &AppState,
    f: &CategoryForm,
    parent_id: Option<i64>,
    id: Option<i64>,
    errors: &mut Errors,
) -> sqlx::Result<()> {
    if errors.get("name").is_empty()
        && categories::name_taken(&state.db, parent_id, f.name.trim(), id).await?
    {
        errors.add("name", NAME_TAKEN);
    }
    Ok(())
}

/// Top-level classes (parent choices) and departments (multi-select choices).
struct Options {
    parents: Vec<Choice>,
    departments: Vec<Choice>,
}

impl Options {
    /// Active departments within `viewer`'s reach (a category is the whole tree's, its departments
    /// each their jurisdiction's: DESIGN §2), plus those of them `category_id` already has (so that
    /// an edit keeps them).
    async fn load(
        state: &AppState,
        viewer: Option<i64>,
        category_id: Option<i64>,
    ) -> sqlx::Result<Self> {
        let parents = sqlx::query_as!(
            Choice,
            r#"SELECT id, name || CASE WHEN active THEN '' ELSE '（已停用）' END AS "label!"
               FROM categories WHERE parent_id IS NULL ORDER BY sort_order, name"#
        )
        .fetch_all(&state.db)
        .await?;
        let departments = sqlx::query_as!(
            Choice,
            r#"SELECT d.id, d.name || CASE WHEN d.active THEN '' ELSE '（已停用）' END AS "label!"
               FROM departments d
               WHERE (d.active OR d.id IN (SELECT department_id FROM category_departments WHERE category_id = $1))
                 AND CASE WHEN d.jurisdiction_id IS NULL
                                     THEN EXISTS (SELECT 1 FROM jurisdictions WHERE id = $2 AND parent_id IS NULL)
                                     ELSE d.jurisdiction_id IN (SELECT jurisdiction_subtree($2)) END
               ORDER BY d.name"#,
            category_id,
            viewer
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

/// The categories, each with its default departments within `viewer`'s reach.
async fn tree(state: &AppState, viewer: Option<i64>) -> sqlx::Result<Vec<Node>> {
    let rows = sqlx::query!(
        r#"SELECT c.id, c.parent_id, c.name, c.active,
                  COALESCE((SELECT string_agg(d.short_name, '、' ORDER BY d.name)
                            FROM category_departments cd JOIN departments d ON d.id = cd.department_id
                            WHERE cd.category_id = c.id
                              AND CASE WHEN d.jurisdiction_id IS NULL
                                       THEN EXISTS (SELECT 1 FROM jurisdictions WHERE id = $1 AND parent_id IS NULL)
                                       ELSE d.jurisdiction_id IN (SELECT jurisdiction_subtree($1)) END), '') AS "departments!"
           FROM categories c ORDER BY c.sort_order, c.name, c.id"#,
        viewer
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
        tree: tree(state, viewer(ctx)).await?,
        form,
        errors,
        options: Options::load(state, viewer(ctx), None).await?,
    })
}

pub async fn list(State(state): State<AppState>, ctx: Ctx) -> Page {
    render(&categories_page(&state, &ctx, CategoryForm::default(), Errors::default()).await?)
}

pub async fn create(State(state): State<AppState>, ctx: Ctx, Form(f): Form<CategoryForm>) -> Page {
    let mut errors = Errors::default();
    let options = Options::load(&state, viewer(&ctx), None).await?;
    let parent_id = f.parent(&options, &mut errors);
    if let Some(c) = f.validate(parent_id, &options, &mut errors) {
        let mut tx = state.db.begin().await?;
        match categories::create(&mut tx, &ctx.actor(), &c).await? {
            Ok(_) => {
                tx.commit().await?;
                let message = format!("已添加问题类别：{}", c.name);
                return Ok(redirect_with_flash(&state, "/admin/categories", &message));
            }
            Err(NameTaken) => errors.add("name", NAME_TAKEN),
        }
    }
    add_name_clash(&state, &f, parent_id, None, &mut errors).await?;
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

async fn category_page(
    state: &AppState,
    ctx: &Ctx,
    id: i64,
    form: Option<CategoryForm>,
    errors: Errors,
) -> Result<CategoryPage, AppError> {
    let c = categories::find(&state.db, id).await?;
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
        options: Options::load(state, viewer(ctx), Some(id)).await?,
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
    let options = Options::load(&state, viewer(&ctx), Some(id)).await?;
    if let Some(c) = f.validate(None, &options, &mut errors) {
        let mut tx = state.db.begin().await?;
        match categories::update(&mut tx, &ctx.actor(), id, &c).await? {
            Ok(()) => {
                tx.commit().await?;
                let to = format!("/admin/categories/{id}");
                return Ok(redirect_with_flash(&state, &to, "已保存。"));
            }
            Err(NameTaken) => errors.add("name", NAME_TAKEN),
        }
    }
    // The parent never changes here, so it can be read outside the transaction.
    let parent_id = categories::find(&state.db, id).await?.parent_id;
    add_name_clash(&state, &f, parent_id, Some(id), &mut errors).await?;
    let page = category_page(&state, &ctx, id, Some(f), errors).await?;
    Ok(render_status(StatusCode::UNPROCESSABLE_ENTITY, &page))
}
