//! `/staff/visits/{id}/survey` (访前调查): issues gathered village by village before the day, each
//! with its dossier (一事一档); 带案下访 marks those the leader brings. An item may be linked to
//! one registration of the same visit.

use crate::crypto::Column;
use crate::crypto::free_text;
use crate::error::AppError;
use crate::prepare::survey_store::{self, Item, StoredTexts};
use crate::prepare::triage_list::{category_choices, visit_title};
use crate::state::AppState;
use crate::web::auth::Role;
use crate::web::form::{Choice, checked};
use crate::web::form::{Errors, Form, text};
use crate::web::page::{Layout, Page, render, render_status};
use crate::web::{Ctx, redirect_with_flash};
use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct ItemForm {
    township: String,
    village: String,
    reporter: String,
    reporter_phone: String,
    category_id: String,
    summary: String,
    background: String,
    policy_basis: String,
    proposed_handling: String,
    brought_by_leader: String,
}

impl ItemForm {
    fn brought(&self) -> bool {
        checked(&self.brought_by_leader)
    }
}

/// Lengths as the schema caps them; the category must be one of the active choices.
fn validate(f: &ItemForm, categories: &[Choice], errors: &mut Errors) -> Option<Item> {
    let township = text(errors, "township", "所属乡镇", &f.township, 1, 30);
    let village = text(errors, "village", "村（社区）", &f.village, 0, 30);
    let reporter = text(errors, "reporter", "反映人", &f.reporter, 0, 60);
    // Optional: with it the reporter gets the case's 查询码 by SMS and can follow it.
    let reporter_phone = f.reporter_phone.trim().to_owned();
    if !reporter_phone.is_empty() && !crate::privacy::valid_phone(&reporter_phone) {
        errors.add("reporter_phone", "手机号码应为 11 位数字，以 13–19 开头");
    }
    let summary = text(errors, "summary", "问题摘要", &f.summary, 1, 500);
    let background = text(errors, "background", "背景情况", &f.background, 0, 5000);
    let policy_basis = text(errors, "policy_basis", "政策依据", &f.policy_basis, 0, 5000);
    let proposed_handling = text(
        errors,
        "proposed_handling",
        "拟处理意见",
        &f.proposed_handling,
        0,
        5000,
    );
    let category_id = f
        .category_id
        .trim()
        .parse::<i64>()
        .ok()
        .filter(|id| categories.iter().any(|c| c.id == *id));
    if category_id.is_none() {
        errors.add("category_id", "请选择问题类别");
    }
    let category_id = category_id.filter(|_| errors.is_empty())?;
    Some(Item {
        township,
        village,
        reporter,
        reporter_phone,
        category_id,
        summary,
        background,
        policy_basis,
        proposed_handling,
        brought_by_leader: f.brought(),
    })
}

struct ItemRow {
    id: i64,
    village: String,
    reporter: String,
    category: String,
    summary: String,
    brought_by_leader: bool,
    registration_code: Option<String>,
    has_dossier: bool,
}

struct Village {
    name: String,
    items: Vec<ItemRow>,
}

struct Township {
    name: String,
    count: usize,
    villages: Vec<Village>,
}

/// Rows ordered by township then village become nested groups.
fn group(rows: Vec<(String, ItemRow)>) -> Vec<Township> {
    let mut out: Vec<Township> = Vec::new();
    for (township, row) in rows {
        if out.last().is_none_or(|t| t.name != township) {
            out.push(Township {
                name: township,
                count: 0,
                villages: Vec::new(),
            });
        }
        let t = out.last_mut().unwrap();
        t.count += 1;
        if t.villages.last().is_none_or(|v| v.name != row.village) {
            t.villages.push(Village {
                name: row.village.clone(),
                items: Vec::new(),
            });
        }
        t.villages.last_mut().unwrap().items.push(row);
    }
    out
}

#[derive(Template)]
#[template(path = "prepare/survey.html")]
struct ListPage {
    layout: Layout,
    visit_id: i64,
    visit_title: String,
    townships: Vec<Township>,
    total: usize,
    brought: usize,
    linked: usize,
    form: ItemForm,
    errors: Errors,
    categories: Vec<Choice>,
    can_edit: bool,
}

fn can_edit(ctx: &Ctx) -> bool {
    ctx.user.as_ref().is_some_and(|u| u.role == Role::Staff)
}

async fn list_page(
    state: &AppState,
    ctx: &Ctx,
    visit_id: i64,
    form: ItemForm,
    errors: Errors,
) -> Result<ListPage, AppError> {
    let visit_title = visit_title(&state.db, visit_id).await?;
    let rows: Vec<(String, ItemRow)> = sqlx::query!(
        r#"SELECT s.id, s.township, s.village, s.reporter, s.reporter_cipher, s.reporter_key_id, s.summary, s.brought_by_leader,
                  (s.background <> '' OR s.policy_basis <> '' OR s.proposed_handling <> ''
                   OR num_nonnulls(s.background_cipher, s.policy_basis_cipher, s.proposed_handling_cipher) > 0) AS "has_dossier!",
                  COALESCE(p.name || ' / ', '') || c.name AS "category!",
                  r.code AS "registration_code?"
           FROM survey_items s
           JOIN categories c ON c.id = s.category_id
           LEFT JOIN categories p ON p.id = c.parent_id
           LEFT JOIN registrations r ON r.survey_item_id = s.id
           WHERE s.visit_id = $1
           ORDER BY s.township, s.village, s.id"#,
        visit_id
    )
    .fetch_all(&state.db)
    .await?
    .into_iter()
    .map(|r| {
        let reporter = free_text::open(
            &state.keys,
            Column::SURVEY_REPORTER,
            r.id,
            Some(r.reporter),
            r.reporter_cipher,
            r.reporter_key_id,
        )?;
        let row = ItemRow {
            id: r.id,
            village: r.village,
            reporter: reporter.unwrap_or_default(),
            category: r.category,
            summary: r.summary,
            brought_by_leader: r.brought_by_leader,
            registration_code: r.registration_code,
            has_dossier: r.has_dossier,
        };
        Ok((r.township, row))
    })
    .collect::<sqlx::Result<_>>()?;
    let total = rows.len();
    let brought = rows.iter().filter(|(_, r)| r.brought_by_leader).count();
    let linked = rows
        .iter()
        .filter(|(_, r)| r.registration_code.is_some())
        .count();
    Ok(ListPage {
        layout: ctx.layout("访前调查"),
        visit_id,
        visit_title,
        townships: group(rows),
        total,
        brought,
        linked,
        form,
        errors,
        categories: category_choices(&state.db).await?,
        can_edit: can_edit(ctx),
    })
}

pub async fn list(State(state): State<AppState>, ctx: Ctx, Path(visit_id): Path<i64>) -> Page {
    render(
        &list_page(
            &state,
            &ctx,
            visit_id,
            ItemForm::default(),
            Errors::default(),
        )
        .await?,
    )
}

pub async fn create(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(visit_id): Path<i64>,
    Form(f): Form<ItemForm>,
) -> Page {
    visit_title(&state.db, visit_id).await?;
    let mut errors = Errors::default();
    let categories = category_choices(&state.db).await?;
    let Some(item) = validate(&f, &categories, &mut errors) else {
        let page = list_page(&state, &ctx, visit_id, f, errors).await?;
        return Ok(render_status(StatusCode::UNPROCESSABLE_ENTITY, &page));
    };
    let user_id = ctx.user.as_ref().map(|u| u.id).ok_or(AppError::Forbidden)?;
    let mut tx = state.db.begin().await?;
    let id =
        survey_store::create(&mut tx, visit_id, &item, user_id, &ctx.actor(), &state.keys).await?;
    tx.commit().await?;
    Ok(redirect_with_flash(
        &state,
        &format!("/staff/visits/{visit_id}/survey/{id}"),
        "已保存访前调查事项。",
    ))
}

#[derive(Template)]
#[template(path = "prepare/survey_item.html")]
struct ItemPage {
    layout: Layout,
    visit_id: i64,
    visit_title: String,
    id: i64,
    form: ItemForm,
    errors: Errors,
    categories: Vec<Choice>,
    /// The linked registration: (id, code, name).
    registration: Option<(i64, String, String)>,
    can_unlink: bool,
    code: String,
    can_edit: bool,
}

async fn item_page(
    state: &AppState,
    ctx: &Ctx,
    visit_id: i64,
    id: i64,
    form: Option<ItemForm>,
    errors: Errors,
    code: String,
) -> Result<ItemPage, AppError> {
    let visit_title = visit_title(&state.db, visit_id).await?;
    let s = sqlx::query!(
        r#"SELECT s.township, s.village, s.category_id, s.summary, s.brought_by_leader,
                  s.reporter, s.reporter_cipher, s.reporter_key_id, s.background, s.background_cipher, s.background_key_id,
                  s.reporter_phone_cipher, s.reporter_phone_key_id, s.policy_basis, s.policy_basis_cipher, s.policy_basis_key_id,
                  s.proposed_handling, s.proposed_handling_cipher, s.proposed_handling_key_id, r.id AS "reg_id?", r.code AS "reg_code?", COALESCE(r.name_mask, r.name) AS "reg_name?",
                  r.channel AS "reg_channel?"
           FROM survey_items s LEFT JOIN registrations r ON r.survey_item_id = s.id
           WHERE s.visit_id = $1 AND s.id = $2"#,
        visit_id,
        id
    )
    .fetch_optional(&state.db)
    .await?
    .ok_or(AppError::NotFound)?;
    let stored = StoredTexts {
        reporter: (s.reporter, s.reporter_cipher, s.reporter_key_id),
        background: (s.background, s.background_cipher, s.background_key_id),
        policy_basis: (s.policy_basis, s.policy_basis_cipher, s.policy_basis_key_id),
        proposed_handling: (
            s.proposed_handling,
            s.proposed_handling_cipher,
            s.proposed_handling_key_id,
        ),
    };
    let (reporter, background, policy_basis, proposed_handling) =
        survey_store::open_texts(&state.keys, id, stored)?;
    let reporter_phone = survey_store::open_phone(
        &state.keys,
        id,
        s.reporter_phone_cipher,
        s.reporter_phone_key_id,
    )?;
    let form = form.unwrap_or(ItemForm {
        township: s.township.clone(),
        village: s.village,
        reporter,
        reporter_phone,
        category_id: s.category_id.to_string(),
        summary: s.summary.clone(),
        background,
        policy_basis,
        proposed_handling,
        brought_by_leader: if s.brought_by_leader {
            "1".into()
        } else {
            String::new()
        },
    });
    Ok(ItemPage {
        layout: ctx.layout(&format!("访前调查：{}", s.township)),
        visit_id,
        visit_title,
        id,
        form,
        errors,
        categories: category_choices(&state.db).await?,
        can_unlink: s.reg_channel.as_deref().is_some_and(|c| c != "survey"),
        registration: match (s.reg_id, s.reg_code, s.reg_name) {
            (Some(i), Some(c), Some(n)) => Some((i, c, crate::privacy::mask_name(&n))),
            _ => None,
        },
        code,
        can_edit: can_edit(ctx),
    })
}

pub async fn show(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((visit_id, id)): Path<(i64, i64)>,
) -> Page {
    render(
        &item_page(
            &state,
            &ctx,
            visit_id,
            id,
            None,
            Errors::default(),
            String::new(),
        )
        .await?,
    )
}

pub async fn update(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((visit_id, id)): Path<(i64, i64)>,
    Form(f): Form<ItemForm>,
) -> Page {
    let mut errors = Errors::default();
    let categories = category_choices(&state.db).await?;
    let item = validate(&f, &categories, &mut errors);
    let mut tx = state.db.begin().await?;
    survey_store::lock(&mut tx, visit_id, id).await?;
    let Some(item) = item else {
        drop(tx);
        let page = item_page(&state, &ctx, visit_id, id, Some(f), errors, String::new()).await?;
        return Ok(render_status(StatusCode::UNPROCESSABLE_ENTITY, &page));
    };
    survey_store::update(&mut tx, visit_id, id, &item, &ctx.actor(), &state.keys).await?;
    tx.commit().await?;
    Ok(redirect_with_flash(
        &state,
        &format!("/staff/visits/{visit_id}/survey/{id}"),
        "已保存。",
    ))
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct LinkForm {
    code: String,
}

/// Link the item to an existing registration of the same visit, by 登记编号.
pub async fn link(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((visit_id, id)): Path<(i64, i64)>,
    Form(f): Form<LinkForm>,
) -> Page {
    let mut tx = state.db.begin().await?;
    match survey_store::link(&mut tx, visit_id, id, &f.code, &ctx.actor()).await? {
        Ok(code) => {
            tx.commit().await?;
            let to = format!("/staff/visits/{visit_id}/survey/{id}");
            Ok(redirect_with_flash(
                &state,
                &to,
                &format!("已关联登记 {code}。"),
            ))
        }
        Err(message) => {
            drop(tx);
            let mut errors = Errors::default();
            errors.add("code", message);
            let page = item_page(&state, &ctx, visit_id, id, None, errors, f.code).await?;
            Ok(render_status(StatusCode::UNPROCESSABLE_ENTITY, &page))
        }
    }
}

/// Undo a link made by mistake (a registration made from the item keeps it: channel 访前调查).
pub async fn unlink(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((visit_id, id)): Path<(i64, i64)>,
) -> Page {
    let mut tx = state.db.begin().await?;
    let unlinked = survey_store::unlink(&mut tx, visit_id, id, &ctx.actor()).await?;
    tx.commit().await?;
    let message = if unlinked {
        "已取消关联。"
    } else {
        "本事项没有关联登记。"
    };
    let to = format!("/staff/visits/{visit_id}/survey/{id}");
    Ok(redirect_with_flash(&state, &to, message))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: i64, village: &str) -> ItemRow {
        ItemRow {
            id,
            village: village.into(),
            reporter: String::new(),
            category: String::new(),
            summary: String::new(),
            brought_by_leader: false,
            registration_code: None,
            has_dossier: false,
        }
    }

    #[test]
    fn items_group_by_township_then_village() {
        let groups = group(vec![
            ("仙华街道".into(), row(1, "东门村")),
            ("仙华街道".into(), row(2, "东门村")),
            ("仙华街道".into(), row(3, "西门村")),
            ("黄宅镇".into(), row(4, "")),
        ]);
        assert_eq!(groups.len(), 2);
        assert_eq!(
            (
                groups[0].count,
                groups[0].villages.len(),
                groups[0].villages[0].items.len()
            ),
            (3, 2, 2)
        );
        assert_eq!((groups[1].name.as_str(), groups[1].count), ("黄宅镇", 1));
    }

    #[test]
    fn validation_names_each_field() {
        let categories = vec![Choice {
            id: 5,
            label: "其他".into(),
        }];
        let mut errors = Errors::default();
        let f = ItemForm {
            summary: "x".repeat(501),
            category_id: "6".into(),
            ..ItemForm::default()
        };
        assert!(validate(&f, &categories, &mut errors).is_none());
        assert_eq!(errors.get("township"), "请填写所属乡镇");
        assert_eq!(errors.get("summary"), "问题摘要不能超过 500 个字");
        assert_eq!(errors.get("category_id"), "请选择问题类别");
        let ok = ItemForm {
            township: "黄宅镇".into(),
            summary: "道路".into(),
            category_id: "5".into(),
            brought_by_leader: "1".into(),
            ..ItemForm::default()
        };
        let mut errors = Errors::default();
        assert!(
            validate(&ok, &categories, &mut errors)
                .is_some_and(|i| i.brought_by_leader && i.category_id == 5)
        );
    }
}
