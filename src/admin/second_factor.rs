//! The security administrator resets an account's second factor (DESIGN §7, 三员分立): the secret,
//! the recovery codes and any sign-in under way go, so the account enrols again at its next
//! sign-in; its sessions end and its API tokens are revoked (they were vouched for by the old
//! factor). Audited in the same transaction.

use crate::audit::{self, Actor, Entry};
use crate::error::{AppError, AppResult};
use crate::web::session;
use crate::web::tokens::revoke_all;
use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgExecutor};

/// Whether and since when an account has a second factor (`None`: it enrols at its next sign-in).
pub async fn enrolled_at(
    db: impl PgExecutor<'_>,
    user_id: i64,
) -> sqlx::Result<Option<DateTime<Utc>>> {
    Ok(
        sqlx::query_scalar!("SELECT totp_enrolled_at FROM users WHERE id = $1", user_id)
            .fetch_optional(db)
            .await?
            .flatten(),
    )
}

/// Reset `id`'s second factor; returns its username. Nobody resets their own.
pub async fn reset(
    conn: &mut PgConnection,
    actor: &Actor,
    id: i64,
    now: DateTime<Utc>,
) -> AppResult<String> {
    super::scope::account(&mut *conn, actor.jurisdiction_id, id).await?;
    if actor.id == Some(id) {
        return Err(AppError::BadRequest(
            "不能重置自己的双因素认证，请由另一位安全管理员操作。".into(),
        ));
    }
    let row = sqlx::query!(
        r#"UPDATE users u SET totp_secret = NULL, totp_key_id = NULL, totp_enrolled_at = NULL, totp_last_step = NULL
           FROM users before WHERE u.id = $1 AND before.id = u.id
           RETURNING u.username, before.totp_enrolled_at AS was_enrolled"#,
        id
    )
    .fetch_optional(&mut *conn)
    .await?
    .ok_or(AppError::NotFound)?;
    sqlx::query!("DELETE FROM recovery_codes WHERE user_id = $1", id)
        .execute(&mut *conn)
        .await?;
    sqlx::query!("DELETE FROM login_challenges WHERE user_id = $1", id)
        .execute(&mut *conn)
        .await?;
    session::end_all(&mut *conn, id).await?;
    let revoked = revoke_all(&mut *conn, id, now).await?;
    let detail = serde_json::json!({
        "was_enrolled": row.was_enrolled.is_some(),
        "tokens_revoked": revoked,
    });
    let entry = Entry::ok("second_factor.reset")
        .on("user", id)
        .detail(detail);
    audit::record(&mut *conn, actor, entry).await?;
    Ok(row.username)
}
