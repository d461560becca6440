//! 来访登记, the domain: the one booking transaction behind every channel (public form, staff,
//! walk-in, API), form-token and Idempotency-Key claims, cancellation, the waiting list, and the
//! citizen's lookup by code + phone. No HTTP: the caller owns the transaction.

use crate::audit::{self, Actor, Entry};
use crate::error::AppError;
use crate::notify;
use crate::prepare::lifecycle::RegistrationStatus as Status;
use crate::prepare::phone_code::{self, Refusal};
use crate::prepare::registration::{
    Channel, Valid, VisitInfo, new_code, normalize_code, slots_for, window_label,
};
use crate::prepare::screening;
use crate::privacy::{self, Column, Field, Keys};
use crate::web::session;
use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgExecutor};

mod claims;
mod places;

use claims::claim;
pub use claims::earlier_answer;
pub use places::{cancel, promote_waiting, release_place, set_status};

// ---- the booking transaction --------------------------------------------------------------

pub struct Submission<'a> {
    pub visit: &'a VisitInfo,
    pub valid: &'a Valid,
    pub channel: Channel,
    pub created_by: Option<i64>,
    /// SHA-256 of the submitting browser's receipt cookie (online only).
    pub session_hash: Option<Vec<u8>>,
    pub claim: Claim<'a>,
    pub actor: &'a Actor,
    pub phone_proof: PhoneProof<'a>,
}

impl<'a> Submission<'a> {
    /// A citizen's own registration (no staff member, no receipt cookie), with the SMS code typed.
    pub fn online(
        visit: &'a VisitInfo,
        valid: &'a Valid,
        claim: Claim<'a>,
        actor: &'a Actor,
        code: &'a str,
    ) -> Self {
        Submission {
            visit,
            valid,
            channel: Channel::Online,
            created_by: None,
            session_hash: None,
            claim,
            actor,
            phone_proof: PhoneProof::Code(code),
        }
    }
}

/// How the registrant's phone is vouched for.
#[derive(Clone, Copy, Debug)]
pub enum PhoneProof<'a> {
    /// The SMS code the citizen typed: it must verify the phone (`phone_code::redeem`).
    Code(&'a str),
    /// Staff register (on a caller's behalf, at the desk, through a staff API token): no code,
    /// and an audit entry says why.
    Exempt(Exemption),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exemption {
    /// Staff registering a citizen who telephoned.
    OnBehalf,
    WalkIn,
    /// A staff API token (e.g. the 12345 hotline registering a caller).
    StaffToken,
}

impl Exemption {
    pub fn as_str(self) -> &'static str {
        match self {
            Exemption::OnBehalf => "on_behalf",
            Exemption::WalkIn => "walk_in",
            Exemption::StaffToken => "staff_token",
        }
    }

    /// The exemption a staff form of this channel carries (the citizen's own form has none).
    pub fn of_channel(channel: Channel) -> Option<Self> {
        match channel {
            Channel::Online => None,
            Channel::Phone => Some(Exemption::OnBehalf),
            Channel::WalkIn => Some(Exemption::WalkIn),
        }
    }
}

/// What makes a submission count once: the form's one-time token, or the API's Idempotency-Key.
pub enum Claim<'a> {
    FormToken(&'a str),
    /// `request_hash`: SHA-256 of what was sent under the key; the key with another body is refused.
    Idempotency {
        key: &'a str,
        request_hash: Vec<u8>,
    },
}

/// The scope of registration keys in `idempotency_keys`.
const IDEMPOTENCY_SCOPE: &str = "registration";

/// What a created registration answers, stored with its Idempotency-Key so a replay answers the same.
pub fn receipt_json(code: &str, waitlisted: bool, window: &str) -> serde_json::Value {
    serde_json::json!({"code": code, "status": if waitlisted { "waitlisted" } else { "submitted" }, "window": window})
}

#[derive(Debug)]
pub enum Outcome {
    /// `placed`: a walk-in's room and queue number.
    Created {
        registration_id: i64,
        code: String,
        window: String,
        waitlisted: bool,
        placed: Option<(String, i32)>,
    },
    /// The same form was submitted before: its registration.
    Replayed { code: String },
    /// The window is full and the citizen did not ask for its waiting list.
    Full,
    /// An unknown, expired or foreign token: show the form again with a new one.
    StaleToken,
    /// The same Idempotency-Key with the same request: the stored answer.
    Stored(serde_json::Value),
    /// The same Idempotency-Key with another request.
    KeyReused,
    /// The SMS code does not verify the phone.
    PhoneUnverified(Refusal),
}

/// What the booking needs from the configuration.
#[derive(Clone, Copy)]
pub struct BookingRules {
    pub screening_lookback_months: u32,
    /// Wrong tries an SMS code survives.
    pub phone_code_max_wrong: u32,
}

/// Book and finish in one go (every channel but the walk-in, which is placed in a room between
/// the two). A refusal (full, replay, stale token, reused key) leaves nothing behind: the
/// caller may commit either way.
pub async fn submit(
    conn: &mut PgConnection,
    s: &Submission<'_>,
    now: DateTime<Utc>,
    keys: &Keys,
    rules: BookingRules,
) -> Result<Outcome, AppError> {
    match book(conn, s, now, keys, rules).await? {
        Booking::Done(outcome) => Ok(outcome),
        Booking::Booked(b) => finish(conn, s, b, None).await,
    }
}

/// A registration inserted by `book`, not yet acknowledged: `finish` records its flags, the
/// claim's answer, the audit row and the confirmation.
#[derive(Debug)]
pub struct Booked {
    pub registration_id: i64,
    pub code: String,
    pub window: String,
    pub waitlisted: bool,
    flags: Vec<screening::Flag>,
    phone_mask: Option<String>,
}

pub enum Booking {
    Booked(Booked),
    /// The submission ends here, with nothing written.
    Done(Outcome),
}

/// Where a walk-in was queued (the consult stage places it): for the audit row and the SMS.
pub struct WalkInPlace {
    pub room_id: i64,
    pub room_name: String,
    pub queue_number: i32,
}

impl WalkInPlace {
    pub fn new(room_id: i64, room_name: String, queue_number: i32) -> Self {
        WalkInPlace {
            room_id,
            room_name,
            queue_number,
        }
    }
}

/// Claim, screen, book the window (never beyond its capacity) and insert the registration.
/// Anything but `Booked` is rolled back to where it started.
pub async fn book(
    conn: &mut PgConnection,
    s: &Submission<'_>,
    now: DateTime<Utc>,
    keys: &Keys,
    rules: BookingRules,
) -> Result<Booking, AppError> {
    sqlx::query("SAVEPOINT booking").execute(&mut *conn).await?;
    let booking = book_in_savepoint(conn, s, now, keys, rules).await?;
    let end = match booking {
        Booking::Booked(_) => "RELEASE SAVEPOINT booking",
        Booking::Done(_) => "ROLLBACK TO SAVEPOINT booking",
    };
    sqlx::query(end).execute(&mut *conn).await?;
    // Rolled back with the rest, a wrong try must still count.
    if let Booking::Done(Outcome::PhoneUnverified(Refusal::Wrong { id, .. })) = booking {
        phone_code::count_wrong_try(conn, id).await?;
    }
    Ok(booking)
}

async fn book_in_savepoint(
    conn: &mut PgConnection,
    s: &Submission<'_>,
    now: DateTime<Utc>,
    keys: &Keys,
    rules: BookingRules,
) -> Result<Booking, AppError> {
    if let Some(done) = claim(conn, s.visit.id, &s.claim, now, keys).await? {
        return Ok(Booking::Done(done));
    }
    let v = s.valid;
    // After the claim: a double submit's second request replays the first, whose code is used.
    if let PhoneProof::Code(typed) = s.phone_proof {
        let max_wrong = rules.phone_code_max_wrong;
        if let Err(refusal) =
            phone_code::redeem(conn, keys, &v.phone, typed, now, max_wrong).await?
        {
            return Ok(Booking::Done(Outcome::PhoneUnverified(refusal)));
        }
    }
    let id_index = keys.blind_index(Field::IdNumber, &v.id_number);
    let flags = screen(conn, s, &id_index, now, rules.screening_lookback_months).await?;
    let Some((window, waitlisted)) = book_window(conn, s).await? else {
        return Ok(Booking::Done(Outcome::Full));
    };
    let status = Status::on_booking(waitlisted);
    let phone = Some(v.phone.as_str()).filter(|p| !p.is_empty());
    let (registration_id, code) = insert(conn, s, keys, &id_index, status, now).await?;
    if let (true, Some(window_id)) = (waitlisted, v.window_id) {
        sqlx::query!(
            "INSERT INTO waitlist (registration_id, window_id, created_at) VALUES ($1, $2, $3)",
            registration_id,
            window_id,
            now
        )
        .execute(&mut *conn)
        .await?;
    }
    Ok(Booking::Booked(Booked {
        registration_id,
        code,
        window,
        waitlisted,
        flags,
        phone_mask: phone.map(privacy::mask_phone),
    }))
}

/// The screening flags of a new registration (duplicates, recent cases, 涉法涉诉 …).
async fn screen(
    conn: &mut PgConnection,
    s: &Submission<'_>,
    id_index: &[u8],
    now: DateTime<Utc>,
    months: u32,
) -> Result<Vec<screening::Flag>, AppError> {
    let category_name = sqlx::query_scalar!(
        "SELECT name FROM categories WHERE id = $1",
        s.valid.category_id
    )
    .fetch_one(&mut *conn)
    .await?;
    let since = now
        .checked_sub_months(chrono::Months::new(months))
        .unwrap_or(now);
    let evidence =
        screening::gather(conn, s.visit.id, id_index, since, &category_name, months).await?;
    Ok(screening::flags(&evidence))
}

/// Capacity: the conditional UPDATE takes the window's row lock, so concurrent bookings on any
/// instance queue here and the one that would overbook finds zero rows. Some((window label,
/// waitlisted)); None: full and no waiting list asked for. A walk-in books no window.
async fn book_window(
    conn: &mut PgConnection,
    s: &Submission<'_>,
) -> Result<Option<(String, bool)>, AppError> {
    let v = s.valid;
    let Some(window_id) = v.window_id else {
        return Ok(Some((String::new(), false)));
    };
    let slots = slots_for(v.persons);
    let booked = sqlx::query!(
        "UPDATE reception_windows SET booked_slots = booked_slots + $3
                 WHERE id = $1 AND visit_id = $2 AND booked_slots + $3 <= capacity_slots RETURNING starts_at, ends_at",
        window_id,
        s.visit.id,
        i32::from(slots)
    )
    .fetch_optional(&mut *conn)
    .await?;
    Ok(match booked {
        Some(w) => Some((window_label(w.starts_at, w.ends_at), false)),
        None if v.waitlist => {
            let w = sqlx::query!(
                "SELECT starts_at, ends_at FROM reception_windows WHERE id = $1 AND visit_id = $2",
                window_id,
                s.visit.id
            )
            .fetch_one(&mut *conn)
            .await?;
            Some((window_label(w.starts_at, w.ends_at), true))
        }
        None => None,
    })
}

/// Insert the registration (numbers sealed, masked and blind-indexed) under a fresh code.
async fn insert(
    conn: &mut PgConnection,
    s: &Submission<'_>,
    keys: &Keys,
    id_index: &[u8],
    status: Status,
    now: DateTime<Utc>,
) -> Result<(i64, String), AppError> {
    let v = s.valid;
    // The row's id first: its ciphertexts are bound to it.
    let id = next_registration_id(&mut *conn).await?;
    let id_sealed = keys.encrypt(Column::REGISTRATION_ID_NUMBER, id, &v.id_number)?;
    // A walk-in may come without a phone: all four phone columns stay NULL then.
    let phone = Some(v.phone.as_str()).filter(|p| !p.is_empty());
    let phone_sealed = phone
        .map(|p| keys.encrypt(Column::REGISTRATION_PHONE, id, p))
        .transpose()?;
    let phone_mask = phone.map(privacy::mask_phone);
    let name = keys.encrypt(Column::REGISTRATION_NAME, id, &v.name)?;
    let address = keys.encrypt(Column::REGISTRATION_ADDRESS, id, &v.address)?;
    let representatives = keys.encrypt(
        Column::REGISTRATION_REPRESENTATIVES,
        id,
        &v.representatives.join("\n"),
    )?;
    let grievance = keys.encrypt(Column::REGISTRATION_GRIEVANCE, id, &v.grievance)?;
    let mut attempt = 0;
    loop {
        let code = new_code(&mut rand::rng());
        sqlx::query!("SAVEPOINT new_code")
            .execute(&mut *conn)
            .await?;
        let inserted = sqlx::query_scalar!(
            "INSERT INTO registrations (visit_id, code, channel, name, id_number_cipher, id_number_key_id, id_number_index, id_number_mask,
                phone_cipher, phone_key_id, phone_index, phone_mask, address, township, persons, representatives, category_id, grievance,
                window_id, slots, status, consent_at, submitted_session_hash, created_by, created_at, id,
                name_cipher, name_key_id, name_index, name_mask, address_cipher, address_key_id,
                representatives_cipher, representatives_key_id, representatives_count, grievance_cipher, grievance_key_id)
             OVERRIDING SYSTEM VALUE
             VALUES ($1, $2, $3, NULL, $4, $5, $6, $7, $8, $9, $10, $11, NULL, $12, $13, NULL, $14, NULL, $15, $16, $17, $18, $19, $20, $18, $21,
                     $22, $23, $24, $25, $26, $27, $28, $29, $30, $31, $32)
             RETURNING id",
            s.visit.id,
            code,
            s.channel.as_str(),
            id_sealed.bytes,
            id_sealed.key_id,
            id_index,
            privacy::mask_id_number(&v.id_number),
            phone_sealed.as_ref().map(|p| &p.bytes),
            phone_sealed.as_ref().map(|p| p.key_id),
            phone.map(|p| keys.blind_index(Field::Phone, p)),
            phone_mask,
            v.township,
            v.persons,
            v.category_id,
            v.window_id,
            slots_for(v.persons),
            status.as_str(),
            now,
            s.session_hash,
            s.created_by,
            id,
            name.bytes,
            name.key_id,
            keys.blind_index(Field::Name, &v.name),
            privacy::mask_name(&v.name),
            address.bytes,
            address.key_id,
            representatives.bytes,
            representatives.key_id,
            v.representatives.len() as i16,
            grievance.bytes,
            grievance.key_id,
        )
        .fetch_one(&mut *conn)
        .await;
        match inserted {
            Ok(id) => return Ok((id, code)),
            // A code already taken (one in 10^14): draw again.
            Err(sqlx::Error::Database(e))
                if e.constraint() == Some("registrations_code_key") && attempt < 5 =>
            {
                sqlx::query!("ROLLBACK TO SAVEPOINT new_code")
                    .execute(&mut *conn)
                    .await?;
                attempt += 1;
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// Record what `book` inserted: its screening flags, the claim's answer, the audit row and the
/// confirmation (an SMS through the outbox; nobody to text without a phone). `placed`: where
/// a walk-in was queued.
pub async fn finish(
    conn: &mut PgConnection,
    s: &Submission<'_>,
    b: Booked,
    placed: Option<WalkInPlace>,
) -> Result<Outcome, AppError> {
    let Booked {
        registration_id,
        code,
        window,
        waitlisted,
        ..
    } = &b;
    let registration_id = *registration_id;
    screening::record(conn, registration_id, &b.flags).await?;
    record_claim(conn, s, registration_id, code, *waitlisted, window).await?;
    let detail = serde_json::json!({
        "visit_id": s.visit.id, "code": code, "channel": s.channel.as_str(), "window_id": s.valid.window_id,
        "waitlisted": waitlisted, "flags": b.flags.iter().map(|f| f.kind).collect::<Vec<_>>(),
        "room_id": placed.as_ref().map(|p| p.room_id), "queue_number": placed.as_ref().map(|p| p.queue_number),
    });
    audit::record(
        &mut *conn,
        s.actor,
        Entry::ok("registration.create")
            .on("registration", registration_id)
            .detail(detail),
    )
    .await?;
    if let PhoneProof::Exempt(why) = s.phone_proof {
        let detail = serde_json::json!({"exemption": why.as_str(), "channel": s.channel.as_str()});
        let entry = Entry::ok("registration.phone_exempt")
            .on("registration", registration_id)
            .detail(detail);
        audit::record(&mut *conn, s.actor, entry).await?;
    }
    if let Some(mask) = &b.phone_mask {
        confirm_by_sms(conn, s, &b, mask, placed.as_ref()).await?;
    }
    Ok(Outcome::Created {
        registration_id,
        code: b.code,
        window: b.window,
        waitlisted: b.waitlisted,
        placed: placed.map(|p| (p.room_name, p.queue_number)),
    })
}

/// The token or key now answers with this registration.
async fn record_claim(
    conn: &mut PgConnection,
    s: &Submission<'_>,
    registration_id: i64,
    code: &str,
    waitlisted: bool,
    window: &str,
) -> Result<(), AppError> {
    match &s.claim {
        Claim::FormToken(token) => {
            sqlx::query!(
                "UPDATE form_tokens SET registration_id = $2 WHERE token_hash = $1",
                session::hash(token),
                registration_id
            )
            .execute(&mut *conn)
            .await?;
        }
        Claim::Idempotency { key, .. } => {
            sqlx::query!(
                "UPDATE idempotency_keys SET registration_id = $3, status_code = 201, response = $4 WHERE scope = $1 AND key = $2",
                IDEMPOTENCY_SCOPE,
                key,
                registration_id,
                receipt_json(code, waitlisted, window)
            )
            .execute(&mut *conn)
            .await?;
        }
    }
    Ok(())
}

/// The confirmation SMS of a new registration, queued in the outbox.
async fn confirm_by_sms(
    conn: &mut PgConnection,
    s: &Submission<'_>,
    b: &Booked,
    mask: &str,
    placed: Option<&WalkInPlace>,
) -> Result<(), AppError> {
    let code = &b.code;
    let when = format!("{} {}", s.visit.date_label(), b.window);
    let title = &s.visit.title;
    let (kind, params) = if let Some(p) = placed {
        (
            "registration.walk_in",
            serde_json::json!({"title": title, "code": code, "room": p.room_name, "queue_number": p.queue_number}),
        )
    } else if b.waitlisted {
        (
            "registration.waitlisted",
            serde_json::json!({"title": title, "code": code, "window": when}),
        )
    } else {
        (
            "registration.submitted",
            serde_json::json!({"title": title, "code": code, "window": when}),
        )
    };
    let message = notify::Message {
        registration_id: Some(b.registration_id),
        user_id: None,
        phone_code_id: None,
        recipient_mask: mask,
        kind,
        params,
    };
    notify::queue(&mut *conn, message).await?;
    Ok(())
}

// ---- the citizen's lookup -----------------------------------------------------------------

/// The registration a citizen's proof opens (登记编号 + 手机号码后四位), if it does. A wrong pair
/// and an unknown code are the same None.
pub async fn find_by_code_and_phone(
    db: impl PgExecutor<'_>,
    code: &str,
    phone_last4: &str,
) -> sqlx::Result<Option<i64>> {
    let code = normalize_code(code);
    let last4 = phone_last4.trim();
    if code.is_empty() || last4.len() != 4 || !last4.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(None);
    }
    sqlx::query_scalar!(
        "SELECT id FROM registrations WHERE code = $1 AND right(phone_mask, 4) = $2",
        code,
        last4
    )
    .fetch_optional(db)
    .await
}

/// A registration's id before its row exists, so that its ciphertexts can be bound to it.
pub async fn next_registration_id(conn: &mut PgConnection) -> sqlx::Result<i64> {
    sqlx::query_scalar!(r#"SELECT nextval(pg_get_serial_sequence('registrations', 'id')) AS "id!""#)
        .fetch_one(conn)
        .await
}
