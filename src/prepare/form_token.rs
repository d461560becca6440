//! The registration form's token (DESIGN §7): signed with the server's key and carrying its
//! expiry, so that showing the form writes nothing. The booking stores its hash only when a
//! submission uses it (`booking::claims`), which is what makes a double submit count once.

use crate::privacy::Keys;
use chrono::{DateTime, Duration, Utc};
use rand::RngCore;

const PURPOSE: &str = "registration_form";

/// What a token sent back with a form is.
#[derive(Debug, PartialEq, Eq)]
pub enum Check {
    /// Made by this server for this visit and still within its time.
    Valid { expires_at: DateTime<Utc> },
    /// Made by this server for this visit, but its time is over.
    Expired { expires_at: DateTime<Utc> },
    /// Not made by this server for this visit (edited, for another visit, or garbage).
    Forged,
}

fn payload(visit_id: i64, expires: &str, nonce: &str) -> String {
    format!("{visit_id}.{expires}.{nonce}")
}

/// A fresh token for a form of `visit_id`: `{expiry (unix seconds)}.{nonce}.{tag}`.
pub fn issue(keys: &Keys, visit_id: i64, now: DateTime<Utc>, ttl: Duration) -> String {
    let expires = (now + ttl).timestamp().to_string();
    let mut nonce = [0u8; 16];
    rand::rng().fill_bytes(&mut nonce);
    let nonce = hex::encode(nonce);
    let tag = keys.sign(PURPOSE, payload(visit_id, &expires, &nonce).as_bytes());
    format!("{expires}.{nonce}.{}", hex::encode(tag))
}

/// Whether `token` was issued for `visit_id`, and whether it is still valid at `now`.
pub fn check(keys: &Keys, token: &str, visit_id: i64, now: DateTime<Utc>) -> Check {
    let mut parts = token.split('.');
    let (Some(expires), Some(nonce), Some(tag), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Check::Forged;
    };
    let Ok(tag) = hex::decode(tag) else {
        return Check::Forged;
    };
    if !keys.verify(PURPOSE, payload(visit_id, expires, nonce).as_bytes(), &tag) {
        return Check::Forged;
    }
    let Some(expires_at) = expires
        .parse::<i64>()
        .ok()
        .and_then(|s| DateTime::from_timestamp(s, 0))
    else {
        return Check::Forged;
    };
    if expires_at > now {
        Check::Valid { expires_at }
    } else {
        Check::Expired { expires_at }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_valid_for_its_visit_until_it_expires() {
        let keys = Keys::generate();
        let now = Utc::now();
        let t = issue(&keys, 7, now, Duration::hours(2));
        assert!(matches!(check(&keys, &t, 7, now), Check::Valid { .. }));
        let later = now + Duration::hours(2) + Duration::seconds(1);
        assert!(matches!(check(&keys, &t, 7, later), Check::Expired { .. }));
        assert_eq!(check(&keys, &t, 8, now), Check::Forged, "another visit");
        assert_ne!(
            t,
            issue(&keys, 7, now, Duration::hours(2)),
            "fresh each time"
        );
    }

    #[test]
    fn an_edited_or_foreign_token_is_forged() {
        let keys = Keys::generate();
        let now = Utc::now();
        let t = issue(&keys, 7, now, Duration::hours(2));
        let (expires, rest) = t.split_once('.').unwrap();
        let longer = format!("{}.{rest}", expires.parse::<i64>().unwrap() + 86_400);
        assert_eq!(check(&keys, &longer, 7, now), Check::Forged, "expiry moved");
        assert_eq!(check(&Keys::generate(), &t, 7, now), Check::Forged);
        for junk in ["", "forged", "1.2", "1.2.3.4", "x.y.zz"] {
            assert_eq!(check(&keys, junk, 7, now), Check::Forged, "{junk}");
        }
    }
}
