//! The dossier of the batch at the leader's desk: who they are (masked), what they ask, the
//! survey of their case, their earlier registrations and cases (by ID blind index).

use crate::clock::china_minute;
use crate::consult::pages::hm;
use crate::consult::reception::DeskRoom;
use crate::crypto::{Column, Keys, free_text};
use crate::error::AppError;
use crate::prepare::{lifecycle::staff_status_label as status_label, registration::channel_label};
use sqlx::PgConnection;

pub(super) struct Survey {
    pub(super) summary: String,
    pub(super) background: String,
    pub(super) policy_basis: String,
    pub(super) proposed_handling: String,
    pub(super) brought_by_leader: bool,
}

pub(super) struct Earlier {
    pub(super) code: String,
    pub(super) visit: String,
    pub(super) date: String,
    pub(super) category: String,
    pub(super) status: &'static str,
}

pub(super) struct EarlierCase {
    pub(super) code: String,
    pub(super) title: String,
    pub(super) assigned: String,
    pub(super) status: &'static str,
}

/// The batch at the table and its dossier.
pub(super) struct Current {
    pub(super) reg: i64,
    pub(super) number: i32,
    pub(super) code: String,
    pub(super) name: String,
    pub(super) channel: &'static str,
    pub(super) id_mask: String,
    pub(super) phone_mask: String,
    pub(super) category: String,
    pub(super) persons: i32,
    pub(super) representatives: String,
    pub(super) grievance: String,
    pub(super) township: String,
    pub(super) village: String,
    pub(super) address: String,
    pub(super) called_at: String,
    pub(super) survey: Option<Survey>,
    pub(super) earlier: Vec<Earlier>,
    pub(super) cases: Vec<EarlierCase>,
    /// Registrations of the same ID in another jurisdiction: counted, never shown (DESIGN §11).
    pub(super) elsewhere: i64,
}

/// The batch at the table (the room's latest `called`), its dossier and its category.
pub(super) async fn load_current(
    conn: &mut PgConnection,
    keys: &Keys,
    room: &DeskRoom,
) -> Result<Option<(Current, i64)>, AppError> {
    let Some(g) = sqlx::query!(
        r#"SELECT g.id, g.queue_number AS "queue_number!", g.code, g.name, g.channel, g.id_number_mask, g.phone_mask, g.persons,
                  g.representatives, g.grievance, g.township, g.village, g.address, g.called_at, g.category_id, g.id_number_index,
                  g.name_cipher, g.name_key_id, g.address_cipher, g.address_key_id, g.representatives_cipher,
                  g.representatives_key_id, g.grievance_cipher, g.grievance_key_id,
                  COALESCE(p.name || ' / ', '') || c.name AS "category!",
                  s.summary AS "s_summary?", s.background AS "s_background?", s.policy_basis AS "s_policy?",
                  s.proposed_handling AS "s_handling?", s.brought_by_leader AS "s_brought?"
           FROM registrations g JOIN categories c ON c.id = g.category_id LEFT JOIN categories p ON p.id = c.parent_id
           LEFT JOIN survey_items s ON s.id = g.survey_item_id
           WHERE g.room_id = $1 AND g.status = 'called' ORDER BY g.called_at DESC LIMIT 1"#,
        room.id
    )
    .fetch_optional(&mut *conn)
    .await?
    else {
        return Ok(None);
    };
    let earlier = sqlx::query!(
        r#"SELECT g.code, g.status, g.created_at, v.title, v.visit_date, COALESCE(p.name || ' / ', '') || c.name AS "category!"
           FROM registrations g JOIN visits v ON v.id = g.visit_id
           JOIN categories c ON c.id = g.category_id LEFT JOIN categories p ON p.id = c.parent_id
           WHERE g.id_number_index = $1 AND g.id <> $2
             AND v.county_id = (SELECT county_id FROM visits WHERE id = $3)
           ORDER BY g.created_at DESC LIMIT 50"#,
        g.id_number_index,
        g.id,
        room.visit_id
    )
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .map(|r| Earlier {
        code: r.code,
        visit: r.title,
        date: crate::clock::cn_date(r.visit_date),
        category: r.category,
        status: status_label(&r.status),
    })
    .collect();
    let cases = sqlx::query!(
        r#"SELECT k.code, k.title, k.status, k.assigned_at FROM cases k
           JOIN issues i ON i.id = k.issue_id JOIN receptions r ON r.id = i.reception_id
           JOIN registrations g ON g.id = r.registration_id JOIN visits kv ON kv.id = k.visit_id
           WHERE g.id_number_index = $1 AND kv.county_id = (SELECT county_id FROM visits WHERE id = $2)
           ORDER BY k.assigned_at DESC LIMIT 50"#,
        g.id_number_index,
        room.visit_id
    )
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .map(|r| EarlierCase {
        code: r.code,
        title: r.title,
        assigned: china_minute(r.assigned_at),
        status: crate::followup::state::State::parse(&r.status).map_or("未知", |s| s.label()),
    })
    .collect();
    let elsewhere = sqlx::query_scalar!(
        r#"SELECT count(*) AS "n!" FROM registrations g JOIN visits v ON v.id = g.visit_id
           WHERE g.id_number_index = $1 AND v.county_id <> (SELECT county_id FROM visits WHERE id = $2)"#,
        g.id_number_index,
        room.visit_id
    )
    .fetch_one(&mut *conn)
    .await?;
    let survey = match (
        g.s_summary,
        g.s_background,
        g.s_policy,
        g.s_handling,
        g.s_brought,
    ) {
        (
            Some(summary),
            Some(background),
            Some(policy_basis),
            Some(proposed_handling),
            Some(brought_by_leader),
        ) => Some(Survey {
            summary,
            background,
            policy_basis,
            proposed_handling,
            brought_by_leader,
        }),
        _ => None,
    };
    let survey = match survey {
        Some(survey) => Some(open_survey(conn, keys, g.id, survey).await?),
        None => None,
    };
    let current = Current {
        reg: g.id,
        number: g.queue_number,
        code: g.code,
        name: keys.open(
            Column::REGISTRATION_NAME,
            g.id,
            g.name,
            g.name_cipher,
            g.name_key_id,
        )?,
        channel: channel_label(&g.channel),
        id_mask: g.id_number_mask,
        phone_mask: g.phone_mask.unwrap_or_default(),
        category: g.category,
        persons: g.persons,
        representatives: keys
            .open_representatives(
                g.id,
                g.representatives,
                g.representatives_cipher,
                g.representatives_key_id,
            )?
            .join("、"),
        grievance: keys.open(
            Column::REGISTRATION_GRIEVANCE,
            g.id,
            g.grievance,
            g.grievance_cipher,
            g.grievance_key_id,
        )?,
        township: g.township,
        village: g.village,
        address: keys.open(
            Column::REGISTRATION_ADDRESS,
            g.id,
            g.address,
            g.address_cipher,
            g.address_key_id,
        )?,
        called_at: hm(g.called_at),
        survey,
        earlier,
        cases,
        elsewhere,
    };
    Ok(Some((current, g.category_id)))
}

/// The survey dossier of registration `reg` with its sealed texts opened (an old row keeps the
/// plaintext `survey` was read with).
async fn open_survey(
    conn: &mut PgConnection,
    keys: &Keys,
    reg: i64,
    survey: Survey,
) -> Result<Survey, AppError> {
    let s = sqlx::query!(
        "SELECT s.id, s.background_cipher, s.background_key_id, s.policy_basis_cipher, s.policy_basis_key_id,
                s.proposed_handling_cipher, s.proposed_handling_key_id
         FROM survey_items s JOIN registrations g ON g.survey_item_id = s.id WHERE g.id = $1",
        reg
    )
    .fetch_one(&mut *conn)
    .await?;
    let open = |column, plain: String, cipher, key_id| {
        free_text::open(keys, column, s.id, Some(plain), cipher, key_id)
            .map(Option::unwrap_or_default)
    };
    Ok(Survey {
        background: open(
            Column::SURVEY_BACKGROUND,
            survey.background,
            s.background_cipher.clone(),
            s.background_key_id,
        )?,
        policy_basis: open(
            Column::SURVEY_POLICY_BASIS,
            survey.policy_basis,
            s.policy_basis_cipher.clone(),
            s.policy_basis_key_id,
        )?,
        proposed_handling: open(
            Column::SURVEY_PROPOSED_HANDLING,
            survey.proposed_handling,
            s.proposed_handling_cipher.clone(),
            s.proposed_handling_key_id,
        )?,
        ..survey
    })
}
