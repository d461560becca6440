//! 访前调查, the domain: survey items gathered village by village, and their link to one
//! registration of the same visit; every change audited.

use crate::audit::{self, Actor, Entry};
use crate::error::AppError;
use sqlx::PgConnection;

/// A survey item as validated.
pub struct Item {
    pub township: String,
    pub village: String,
    pub reporter: String,
    pub category_id: i64,
    pub summary: String,
    pub background: String,
    pub policy_basis: String,
    pub proposed_handling: String,
    pub brought_by_leader: bool,
}

/// A new item; returns its id.
pub async fn create(
    tx: &mut PgConnection,
    visit_id: i64,
    item: &Item,
    user_id: i64,
    actor: &Actor,
) -> Result<i64, AppError> {
    let id = sqlx::query_scalar!(
        "INSERT INTO survey_items (visit_id, township, village, reporter, category_id, summary, background, policy_basis,
                                   proposed_handling, brought_by_leader, created_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id",
        visit_id,
        item.township,
        item.village,
        item.reporter,
        item.category_id,
        item.summary,
        item.background,
        item.policy_basis,
        item.proposed_handling,
        item.brought_by_leader,
        user_id
    )
    .fetch_one(&mut *tx)
    .await?;
    let detail = serde_json::json!({"visit_id": visit_id, "township": item.township, "brought_by_leader": item.brought_by_leader});
    audit::record(
        &mut *tx,
        actor,
        Entry::ok("survey.create")
            .on("survey_item", id)
            .detail(detail),
    )
    .await?;
    Ok(id)
}

/// The item of the visit, locked; 404 otherwise.
pub async fn lock(tx: &mut PgConnection, visit_id: i64, id: i64) -> Result<(), AppError> {
    sqlx::query_scalar!(
        "SELECT id FROM survey_items WHERE visit_id = $1 AND id = $2 FOR UPDATE",
        visit_id,
        id
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(AppError::NotFound)?;
    Ok(())
}

/// Save an edit of a locked item.
pub async fn update(
    tx: &mut PgConnection,
    visit_id: i64,
    id: i64,
    item: &Item,
    actor: &Actor,
) -> Result<(), AppError> {
    sqlx::query!(
        "UPDATE survey_items SET township = $2, village = $3, reporter = $4, category_id = $5, summary = $6, background = $7,
                policy_basis = $8, proposed_handling = $9, brought_by_leader = $10 WHERE id = $1",
        id,
        item.township,
        item.village,
        item.reporter,
        item.category_id,
        item.summary,
        item.background,
        item.policy_basis,
        item.proposed_handling,
        item.brought_by_leader
    )
    .execute(&mut *tx)
    .await?;
    let detail =
        serde_json::json!({"visit_id": visit_id, "brought_by_leader": item.brought_by_leader});
    audit::record(
        &mut *tx,
        actor,
        Entry::ok("survey.update")
            .on("survey_item", id)
            .detail(detail),
    )
    .await?;
    Ok(())
}

/// Link the item to the registration with `code`; Ok(Ok(code)) or Ok(Err(why)) for the form.
pub async fn link(
    tx: &mut PgConnection,
    visit_id: i64,
    id: i64,
    code: &str,
    actor: &Actor,
) -> Result<Result<String, String>, AppError> {
    lock(tx, visit_id, id).await?;
    let code = code.trim().to_uppercase();
    let already = sqlx::query_scalar!(
        "SELECT code FROM registrations WHERE survey_item_id = $1",
        id
    )
    .fetch_optional(&mut *tx)
    .await?;
    let target = if let Some(other) = already {
        Err(format!("本事项已关联登记 {other}，请先取消关联"))
    } else if code.is_empty() {
        Err("请填写登记编号".to_owned())
    } else {
        match sqlx::query!("SELECT id, survey_item_id FROM registrations WHERE visit_id = $1 AND code = $2 FOR UPDATE", visit_id, code)
            .fetch_optional(&mut *tx)
            .await?
        {
            None => Err("本次活动中没有这个登记编号".to_owned()),
            Some(r) if r.survey_item_id.is_some() => Err("该登记已关联其他访前调查事项".to_owned()),
            Some(r) => Ok(r.id),
        }
    };
    let reg_id = match target {
        Ok(reg_id) => reg_id,
        Err(message) => return Ok(Err(message)),
    };
    sqlx::query!(
        "UPDATE registrations SET survey_item_id = $2 WHERE id = $1",
        reg_id,
        id
    )
    .execute(&mut *tx)
    .await?;
    let detail = serde_json::json!({"registration_id": reg_id, "code": code});
    audit::record(
        &mut *tx,
        actor,
        Entry::ok("survey.link")
            .on("survey_item", id)
            .detail(detail),
    )
    .await?;
    Ok(Ok(code))
}

/// Undo a link; false when there was none. A registration made from the item keeps it.
pub async fn unlink(
    tx: &mut PgConnection,
    visit_id: i64,
    id: i64,
    actor: &Actor,
) -> Result<bool, AppError> {
    lock(tx, visit_id, id).await?;
    let reg = sqlx::query!(
        "SELECT id, code, channel FROM registrations WHERE survey_item_id = $1 FOR UPDATE",
        id
    )
    .fetch_optional(&mut *tx)
    .await?;
    let Some(reg) = reg else {
        return Ok(false);
    };
    if reg.channel == "survey" {
        return Err(AppError::Conflict(
            "该登记由本访前调查事项生成，不能取消关联。".into(),
        ));
    }
    sqlx::query!(
        "UPDATE registrations SET survey_item_id = NULL WHERE id = $1",
        reg.id
    )
    .execute(&mut *tx)
    .await?;
    let detail = serde_json::json!({"registration_id": reg.id, "code": reg.code});
    audit::record(
        &mut *tx,
        actor,
        Entry::ok("survey.unlink")
            .on("survey_item", id)
            .detail(detail),
    )
    .await?;
    Ok(true)
}
