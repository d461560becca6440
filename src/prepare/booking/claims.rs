//! Claims: what makes a submission count once — the form's signed token, stored when used (a
//! replay shows the first receipt) or the API's Idempotency-Key (a retry gets the stored answer).

use super::{Claim, IDEMPOTENCY_SCOPE, Outcome};
use crate::error::AppError;
use crate::prepare::form_token::{self, Check};
use crate::privacy::Keys;
use crate::web::session;
use chrono::{DateTime, Utc};
use sqlx::PgConnection;

/// Take the claim inside the booking transaction; Some: the submission ends here (replay, stale
/// or forged token, reused key). A form token is stored only now: its hash goes in under the
/// primary key, so a double submit's second INSERT waits for the first to commit, then finds it.
pub(super) async fn claim(
    tx: &mut PgConnection,
    visit_id: i64,
    claim: &Claim<'_>,
    now: DateTime<Utc>,
    keys: &Keys,
) -> Result<Option<Outcome>, AppError> {
    match claim {
        Claim::FormToken(token) => {
            let (expires_at, expired) = match form_token::check(keys, token, visit_id, now) {
                Check::Forged => return Ok(Some(Outcome::StaleToken)),
                Check::Valid { expires_at } => (expires_at, false),
                Check::Expired { expires_at } => (expires_at, true),
            };
            let token_hash = session::hash(token);
            let inserted = sqlx::query_scalar!(
                "INSERT INTO form_tokens (token_hash, visit_id, created_at, used_at, expires_at) VALUES ($1, $2, $3, $3, $4)
                 ON CONFLICT (token_hash) DO NOTHING RETURNING visit_id",
                &token_hash,
                visit_id,
                now,
                expires_at
            )
            .fetch_optional(&mut *tx)
            .await?;
            if inserted.is_some() {
                // An expired token used for the first time: refused (the caller rolls it back).
                return Ok(expired.then_some(Outcome::StaleToken));
            }
            let earlier = sqlx::query_scalar!(
                "SELECT r.code FROM form_tokens t JOIN registrations r ON r.id = t.registration_id WHERE t.token_hash = $1 AND t.visit_id = $2",
                &token_hash,
                visit_id
            )
            .fetch_optional(&mut *tx)
            .await?;
            Ok(Some(match earlier {
                Some(code) => Outcome::Replayed { code },
                None => Outcome::StaleToken,
            }))
        }
        Claim::Idempotency { key, request_hash } => {
            // 202 and an empty answer until the registration is made in this same transaction.
            let inserted = sqlx::query_scalar!(
                "INSERT INTO idempotency_keys (scope, key, request_hash, status_code, response, created_at) VALUES ($1, $2, $3, 202, '{}', $4)
                 ON CONFLICT (scope, key) DO NOTHING RETURNING key",
                IDEMPOTENCY_SCOPE,
                key,
                request_hash,
                now
            )
            .fetch_optional(&mut *tx)
            .await?;
            if inserted.is_some() {
                return Ok(None);
            }
            Ok(earlier_answer(&mut *tx, key, request_hash).await?)
        }
    }
}

/// What an Idempotency-Key answered before: the stored answer for the same request, `KeyReused`
/// for another; None for a key not used yet.
pub async fn earlier_answer(
    db: impl sqlx::PgExecutor<'_>,
    key: &str,
    request_hash: &[u8],
) -> sqlx::Result<Option<Outcome>> {
    let earlier = sqlx::query!(
        "SELECT request_hash, response FROM idempotency_keys WHERE scope = $1 AND key = $2",
        IDEMPOTENCY_SCOPE,
        key
    )
    .fetch_optional(db)
    .await?;
    Ok(earlier.map(|e| {
        if e.request_hash == request_hash {
            Outcome::Stored(e.response)
        } else {
            Outcome::KeyReused
        }
    }))
}
