//! 访前调查, the domain: survey items gathered village by village, and their link to one
//! registration of the same visit; every change audited.

use crate::audit::{self, Actor, Entry};
use crate::crypto::free_text::{self, SealedText};
use crate::crypto::{Column, Field, Keys};
use crate::error::AppError;
use sqlx::PgConnection;

/// A survey item as validated.
pub struct Item {
    pub township: String,
    pub village: String,
    pub reporter: String,
    /// The reporter's phone, checked; empty when not given.
    pub reporter_phone: String,
    pub category_id: i64,
    pub summary: String,
    pub background: String,
    pub policy_basis: String,
    pub proposed_handling: String,
    pub brought_by_leader: bool,
}

/// The texts of an item as stored, each with its ciphertext (an old row: its plaintext).
pub struct StoredTexts {
    pub reporter: (String, Option<Vec<u8>>, Option<i16>),
    pub background: (String, Option<Vec<u8>>, Option<i16>),
    pub policy_basis: (String, Option<Vec<u8>>, Option<i16>),
    pub proposed_handling: (String, Option<Vec<u8>>, Option<i16>),
}

/// The reporter and the dossier, opened: (reporter, background, policy basis, proposed handling).
pub fn open_texts(
    keys: &Keys,
    id: i64,
    t: StoredTexts,
) -> sqlx::Result<(String, String, String, String)> {
    let open = |column, (plain, cipher, key_id): (String, Option<Vec<u8>>, Option<i16>)| {
        free_text::open(keys, column, id, Some(plain), cipher, key_id)
            .map(Option::unwrap_or_default)
    };
    Ok((
        open(Column::SURVEY_REPORTER, t.reporter)?,
        open(Column::SURVEY_BACKGROUND, t.background)?,
        open(Column::SURVEY_POLICY_BASIS, t.policy_basis)?,
        open(Column::SURVEY_PROPOSED_HANDLING, t.proposed_handling)?,
    ))
}

/// Seal the reporter and the dossier of item `id` (the plaintext columns are left '').
async fn seal_texts(tx: &mut PgConnection, keys: &Keys, id: i64, item: &Item) -> sqlx::Result<()> {
    let seal = |column, text: &str| free_text::seal(keys, column, id, text);
    let (r, b): (SealedText, SealedText) = (
        seal(Column::SURVEY_REPORTER, &item.reporter)?,
        seal(Column::SURVEY_BACKGROUND, &item.background)?,
    );
    let p = seal(Column::SURVEY_POLICY_BASIS, &item.policy_basis)?;
    let h = seal(Column::SURVEY_PROPOSED_HANDLING, &item.proposed_handling)?;
    sqlx::query!(
        "UPDATE survey_items SET reporter = '', background = '', policy_basis = '', proposed_handling = '',
                reporter_cipher = $2, reporter_key_id = $3, background_cipher = $4, background_key_id = $5,
                policy_basis_cipher = $6, policy_basis_key_id = $7, proposed_handling_cipher = $8, proposed_handling_key_id = $9
         WHERE id = $1",
        id,
        r.cipher,
        r.key_id,
        b.cipher,
        b.key_id,
        p.cipher,
        p.key_id,
        h.cipher,
        h.key_id
    )
    .execute(&mut *tx)
    .await?;
    seal_phone(tx, keys, id, &item.reporter_phone).await
}

/// The reporter's phone as a registration's: sealed, blind-indexed and masked (all NULL without one).
async fn seal_phone(tx: &mut PgConnection, keys: &Keys, id: i64, phone: &str) -> sqlx::Result<()> {
    let sealed = free_text::seal(keys, Column::SURVEY_REPORTER_PHONE, id, phone)?;
    let phone = Some(phone).filter(|p| !p.is_empty());
    sqlx::query!(
        "UPDATE survey_items SET reporter_phone_cipher = $2, reporter_phone_key_id = $3, reporter_phone_index = $4,
                reporter_phone_mask = $5
         WHERE id = $1",
        id,
        sealed.cipher,
        sealed.key_id,
        phone.map(|p| keys.blind_index(Field::Phone, p)),
        phone.map(crate::privacy::mask_phone),
    )
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// The reporter's phone as stored, opened for the edit form; empty when none was given.
pub fn open_phone(
    keys: &Keys,
    id: i64,
    cipher: Option<Vec<u8>>,
    key_id: Option<i16>,
) -> anyhow::Result<String> {
    keys.open(Column::SURVEY_REPORTER_PHONE, id, None, cipher, key_id)
}

/// A new item; returns its id. Its reporter and dossier are sealed to the new row.
pub async fn create(
    tx: &mut PgConnection,
    visit_id: i64,
    item: &Item,
    user_id: i64,
    actor: &Actor,
    keys: &Keys,
) -> Result<i64, AppError> {
    let id = sqlx::query_scalar!(
        "INSERT INTO survey_items (visit_id, township, village, category_id, summary, brought_by_leader, created_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
        visit_id,
        item.township,
        item.village,
        item.category_id,
        item.summary,
        item.brought_by_leader,
        user_id
    )
    .fetch_one(&mut *tx)
    .await?;
    seal_texts(tx, keys, id, item).await?;
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
    keys: &Keys,
) -> Result<(), AppError> {
    sqlx::query!(
        "UPDATE survey_items SET township = $2, village = $3, category_id = $4, summary = $5, brought_by_leader = $6 WHERE id = $1",
        id,
        item.township,
        item.village,
        item.category_id,
        item.summary,
        item.brought_by_leader
    )
    .execute(&mut *tx)
    .await?;
    seal_texts(tx, keys, id, item).await?;
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
