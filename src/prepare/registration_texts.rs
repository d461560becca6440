//! A registration's name, address, representatives and grievance in clear, for the pages that
//! show one person (its own page, the receipt): they are stored sealed to the row (migration
//! 0027), or still in plaintext for rows written before it.

use crate::privacy::{Column, Keys};
use sqlx::PgExecutor;

pub struct Texts {
    pub name: String,
    pub address: String,
    pub representatives: Vec<String>,
    pub grievance: String,
}

/// The texts of registration `id` (which the caller has already found in scope).
pub async fn open(db: impl PgExecutor<'_>, keys: &Keys, id: i64) -> anyhow::Result<Texts> {
    let r = sqlx::query!(
        "SELECT name, name_cipher, name_key_id, address, address_cipher, address_key_id,
                representatives, representatives_cipher, representatives_key_id,
                grievance, grievance_cipher, grievance_key_id
         FROM registrations WHERE id = $1",
        id
    )
    .fetch_one(db)
    .await?;
    Ok(Texts {
        name: keys.open(
            Column::REGISTRATION_NAME,
            id,
            r.name,
            r.name_cipher,
            r.name_key_id,
        )?,
        address: keys.open(
            Column::REGISTRATION_ADDRESS,
            id,
            r.address,
            r.address_cipher,
            r.address_key_id,
        )?,
        representatives: keys.open_representatives(
            id,
            r.representatives,
            r.representatives_cipher,
            r.representatives_key_id,
        )?,
        grievance: keys.open(
            Column::REGISTRATION_GRIEVANCE,
            id,
            r.grievance,
            r.grievance_cipher,
            r.grievance_key_id,
        )?,
    })
}
