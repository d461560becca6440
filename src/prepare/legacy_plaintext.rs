//! Registrations written before migration 0027 hold their name, address, representatives and
//! grievance in plaintext (SQL has no keys to seal them): `xiafang keys rotate` seals them here,
//! after re-encrypting everything else.

use crate::privacy::{self, Column, Field, Keys};
use sqlx::{PgPool, Row};

/// Seal the name, address, representatives and grievance of registrations still holding them in
/// plaintext (rows from before migration 0027: SQL has no keys), `batch` rows per transaction,
/// and clear the plaintext. Readers take either form meanwhile (`Keys::open`).
pub async fn encrypt(db: &PgPool, keys: &Keys, batch: i64) -> anyhow::Result<u64> {
    let mut done = 0;
    loop {
        let mut tx = db.begin().await?;
        let rows = sqlx::query(
            "SELECT id, name, address, representatives, grievance FROM registrations
             WHERE name IS NOT NULL OR address IS NOT NULL OR representatives IS NOT NULL OR grievance IS NOT NULL
             ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED",
        )
        .bind(batch)
        .fetch_all(&mut *tx)
        .await?;
        if rows.is_empty() {
            tx.commit().await?;
            return Ok(done);
        }
        for row in &rows {
            let id: i64 = row.try_get("id")?;
            let name: Option<String> = row.try_get("name")?;
            let address: Option<String> = row.try_get("address")?;
            let representatives: Option<Vec<String>> = row.try_get("representatives")?;
            let grievance: Option<String> = row.try_get("grievance")?;
            let seal =
                |column, text: Option<&str>| -> anyhow::Result<(Option<Vec<u8>>, Option<i16>)> {
                    Ok(match text {
                        Some(t) => {
                            let s = keys.encrypt(column, id, t)?;
                            (Some(s.bytes), Some(s.key_id))
                        }
                        None => (None, None),
                    })
                };
            let name = name.map(|n| privacy::normalize_name(&n));
            let (n_c, n_k) = seal(Column::REGISTRATION_NAME, name.as_deref())?;
            let (a_c, a_k) = seal(Column::REGISTRATION_ADDRESS, address.as_deref())?;
            let reps = representatives.as_ref().map(|r| r.join("\n"));
            let (r_c, r_k) = seal(Column::REGISTRATION_REPRESENTATIVES, reps.as_deref())?;
            let (g_c, g_k) = seal(Column::REGISTRATION_GRIEVANCE, grievance.as_deref())?;
            sqlx::query(
                "UPDATE registrations SET name = NULL, address = NULL, representatives = NULL, grievance = NULL,
                    name_cipher = COALESCE($2, name_cipher), name_key_id = COALESCE($3, name_key_id),
                    name_index = COALESCE($4, name_index), name_mask = COALESCE($5, name_mask),
                    address_cipher = COALESCE($6, address_cipher), address_key_id = COALESCE($7, address_key_id),
                    representatives_cipher = COALESCE($8, representatives_cipher),
                    representatives_key_id = COALESCE($9, representatives_key_id),
                    representatives_count = COALESCE($10, representatives_count),
                    grievance_cipher = COALESCE($11, grievance_cipher), grievance_key_id = COALESCE($12, grievance_key_id)
                 WHERE id = $1",
            )
            .bind(id)
            .bind(n_c)
            .bind(n_k)
            .bind(name.as_ref().map(|n| keys.blind_index(Field::Name, n)))
            .bind(name.as_deref().map(privacy::mask_name))
            .bind(a_c)
            .bind(a_k)
            .bind(r_c)
            .bind(r_k)
            .bind(representatives.as_ref().map(|r| r.len() as i16))
            .bind(g_c)
            .bind(g_k)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        done += rows.len() as u64;
    }
}
