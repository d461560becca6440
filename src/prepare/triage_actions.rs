//! Triage, the domain: what staff do to one registration before the day — change its category,
//! confirm, reject (its place goes back), merge a duplicate — each audited, every status decided
//! by the lifecycle.

use crate::audit::{self, Actor, Entry};
use crate::error::AppError;
use crate::prepare::booking::{release_place, set_status};
use crate::prepare::lifecycle::{Event, RegistrationStatus as Status};
use crate::privacy::Column;
use chrono::{DateTime, Utc};
use sqlx::PgConnection;

pub struct Locked {
    pub code: String,
    pub status: String,
    pub window_id: Option<i64>,
    pub slots: i16,
    pub category_id: i64,
    pub phone_mask: Option<String>,
}

impl Locked {
    fn state(&self) -> Result<Status, AppError> {
        Status::parse(&self.status).ok_or(AppError::NotFound)
    }
}

/// The registration, locked for this transaction; another visit's or unknown → 404.
pub async fn lock(tx: &mut PgConnection, visit_id: i64, reg_id: i64) -> Result<Locked, AppError> {
    sqlx::query_as!(
        Locked,
        "SELECT code, status, window_id, slots, category_id, phone_mask FROM registrations WHERE visit_id = $1 AND id = $2 FOR UPDATE",
        visit_id,
        reg_id
    )
    .fetch_optional(tx)
    .await?
    .ok_or(AppError::NotFound)
}

/// What a category change came to.
pub enum CategoryChange {
    Changed,
    Unchanged,
    /// Not an active category.
    Unknown,
}

/// Move the registration to another active category.
pub async fn change_category(
    tx: &mut PgConnection,
    visit_id: i64,
    reg_id: i64,
    category: Option<i64>,
    actor: &Actor,
) -> Result<CategoryChange, AppError> {
    let reg = lock(tx, visit_id, reg_id).await?;
    let category = match category {
        Some(id) => {
            sqlx::query_scalar!("SELECT id FROM categories WHERE id = $1 AND active", id)
                .fetch_optional(&mut *tx)
                .await?
        }
        None => None,
    };
    let Some(category) = category else {
        return Ok(CategoryChange::Unknown);
    };
    if category == reg.category_id {
        return Ok(CategoryChange::Unchanged);
    }
    sqlx::query!(
        "UPDATE registrations SET category_id = $2 WHERE id = $1",
        reg_id,
        category
    )
    .execute(&mut *tx)
    .await?;
    let detail = serde_json::json!({"code": reg.code, "from": reg.category_id, "to": category});
    audit::record(
        &mut *tx,
        actor,
        Entry::ok("registration.category_change")
            .on("registration", reg_id)
            .detail(detail),
    )
    .await?;
    Ok(CategoryChange::Changed)
}

/// 确认 a submitted registration.
pub async fn confirm(
    tx: &mut PgConnection,
    visit_id: i64,
    reg_id: i64,
    actor: &Actor,
) -> Result<(), AppError> {
    let reg = lock(tx, visit_id, reg_id).await?;
    let from = reg.state()?;
    let Ok(to) = from.next(Event::Confirm) else {
        return Err(AppError::Conflict(format!(
            "该登记当前为“{}”，只有待审核的登记可以确认。",
            from.staff_label()
        )));
    };
    set_status(tx, reg_id, to).await?;
    audit::record(
        &mut *tx,
        actor,
        Entry::ok("registration.confirm")
            .on("registration", reg_id)
            .detail(serde_json::json!({"code": reg.code})),
    )
    .await?;
    Ok(())
}

/// 驳回 with a reason: the place it held goes back (the waiting list moves up) and the citizen
/// is told why.
pub async fn reject(
    tx: &mut PgConnection,
    visit_id: i64,
    reg_id: i64,
    reason: &str,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    let reg = lock(tx, visit_id, reg_id).await?;
    let from = reg.state()?;
    let to = from.next(Event::Reject)?;
    release_place(tx, reg_id, from, reg.window_id, reg.slots, now).await?;
    sqlx::query!(
        "UPDATE registrations SET status = $3, reject_reason = $2 WHERE id = $1",
        reg_id,
        reason,
        to.as_str()
    )
    .execute(&mut *tx)
    .await?;
    if let Some(mask) = &reg.phone_mask {
        crate::notify::queue(
            &mut *tx,
            crate::notify::Message {
                registration_id: Some(reg_id),
                user_id: None,
                phone_code_id: None,
                recipient_mask: mask,
                kind: "registration.rejected",
                params: serde_json::json!({"code": reg.code, "reason": reason}),
            },
        )
        .await?;
    }
    let detail = serde_json::json!({"code": reg.code, "from": reg.status, "reason": reason, "released_slots": from.holds_slots().then_some(reg.slots)});
    audit::record(
        &mut *tx,
        actor,
        Entry::ok("registration.reject")
            .on("registration", reg_id)
            .detail(detail),
    )
    .await?;
    Ok(())
}

/// A merge that cannot be done, in the words of the form field.
pub struct MergeRefused(pub &'static str);

/// Merge a duplicate (`reg_id`) into the registration with `into_code` of the same visit: its
/// place goes back and it ends cancelled, pointing at the one kept. Ok(Ok(code, target id)).
pub async fn merge(
    tx: &mut PgConnection,
    visit_id: i64,
    reg_id: i64,
    into_code: &str,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<Result<(String, i64), MergeRefused>, AppError> {
    let reg = lock(tx, visit_id, reg_id).await?;
    let from = reg.state()?;
    let to = from.next(Event::Merge)?;
    let code = into_code.trim().to_uppercase();
    let target = match merge_target(tx, visit_id, reg_id, &code).await? {
        Ok(id) => id,
        Err(refused) => return Ok(Err(refused)),
    };
    release_place(tx, reg_id, from, reg.window_id, reg.slots, now).await?;
    sqlx::query!(
        "UPDATE registrations SET status = $3, merged_into_id = $2 WHERE id = $1",
        reg_id,
        target,
        to.as_str()
    )
    .execute(&mut *tx)
    .await?;
    let detail =
        serde_json::json!({"code": reg.code, "into": code, "into_id": target, "from": reg.status});
    audit::record(
        &mut *tx,
        actor,
        Entry::ok("registration.merge")
            .on("registration", reg_id)
            .detail(detail),
    )
    .await?;
    Ok(Ok((reg.code, target)))
}

/// The registration a duplicate merges into, locked; it must be another live one of the visit.
async fn merge_target(
    tx: &mut PgConnection,
    visit_id: i64,
    reg_id: i64,
    code: &str,
) -> Result<Result<i64, MergeRefused>, AppError> {
    if code.is_empty() {
        return Ok(Err(MergeRefused("请填写要合并到的登记编号")));
    }
    let target = sqlx::query!(
        "SELECT id, status FROM registrations WHERE visit_id = $1 AND code = $2 FOR UPDATE",
        visit_id,
        code
    )
    .fetch_optional(&mut *tx)
    .await?;
    let ended = |s: &str| matches!(Status::parse(s), Some(Status::Cancelled | Status::Rejected));
    Ok(match target {
        None => Err(MergeRefused("本次活动中没有这个登记编号")),
        Some(t) if t.id == reg_id => Err(MergeRefused("不能合并到自身")),
        Some(t) if ended(&t.status) => Err(MergeRefused("目标登记已取消或已驳回，不能合并到它")),
        Some(t) => Ok(t.id),
    })
}

/// A screening flag of a registration, locked for its decision.
pub struct LockedFlag {
    pub id: i64,
    pub code: String,
    pub kind: String,
    pub decision: String,
}

/// The flag `flag_id` of registration `reg_id` of the visit, both locked; 404 otherwise.
pub async fn lock_flag(
    tx: &mut PgConnection,
    visit_id: i64,
    reg_id: i64,
    flag_id: i64,
) -> Result<LockedFlag, AppError> {
    let reg = lock(tx, visit_id, reg_id).await?;
    let flag = sqlx::query!("SELECT kind, decision FROM screening_flags WHERE id = $1 AND registration_id = $2 FOR UPDATE", flag_id, reg_id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(AppError::NotFound)?;
    Ok(LockedFlag {
        id: flag_id,
        code: reg.code,
        kind: flag.kind,
        decision: flag.decision,
    })
}

/// 确认 or 排除 (`decision`) a locked flag, with its note; audited.
pub async fn decide_flag(
    tx: &mut PgConnection,
    flag: &LockedFlag,
    decision: &str,
    note: &str,
    user_id: Option<i64>,
    now: DateTime<Utc>,
    actor: &Actor,
) -> Result<(), AppError> {
    sqlx::query!(
        "UPDATE screening_flags SET decision = $2, note = $3, decided_by = $4, decided_at = $5 WHERE id = $1",
        flag.id,
        decision,
        note,
        user_id,
        now
    )
    .execute(&mut *tx)
    .await?;
    let detail = serde_json::json!({"code": flag.code, "kind": flag.kind, "from": flag.decision, "decision": decision, "note": note});
    audit::record(
        &mut *tx,
        actor,
        Entry::ok("screening.decide")
            .on("screening_flag", flag.id)
            .detail(detail),
    )
    .await?;
    Ok(())
}

/// 查看完整身份证号 / 手机号: decrypt one field (`id_number` or `phone`) and audit it; returns
/// (its label, the clear value) for this response only.
pub async fn unmask(
    db: &sqlx::PgPool,
    keys: &crate::privacy::Keys,
    visit_id: i64,
    reg_id: i64,
    field: &str,
    actor: &Actor,
) -> Result<(&'static str, String), AppError> {
    let r = sqlx::query!(
        "SELECT code, id_number_cipher, id_number_key_id, phone_cipher, phone_key_id FROM registrations WHERE visit_id = $1 AND id = $2",
        visit_id,
        reg_id
    )
    .fetch_optional(db)
    .await?
    .ok_or(AppError::NotFound)?;
    let (field, column, label, key, cipher) = match field {
        "id_number" => (
            "id_number",
            Column::REGISTRATION_ID_NUMBER,
            "身份证号",
            Some(r.id_number_key_id),
            Some(r.id_number_cipher),
        ),
        "phone" => (
            "phone",
            Column::REGISTRATION_PHONE,
            "手机号码",
            r.phone_key_id,
            r.phone_cipher,
        ),
        _ => return Err(AppError::BadRequest("请选择要查看的项目。".into())),
    };
    let (Some(key), Some(cipher)) = (key, cipher) else {
        return Err(AppError::BadRequest("该登记没有手机号码。".into()));
    };
    let value = keys.decrypt(column, reg_id, key, &cipher)?;
    audit::record(
        db,
        actor,
        Entry::ok("personal_data.unmask")
            .on("registration", reg_id)
            .detail(serde_json::json!({"field": field, "code": r.code})),
    )
    .await?;
    Ok((label, value))
}
