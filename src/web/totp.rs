//! The second factor's pure parts (DESIGN §7): RFC 6238 codes through `totp-rs` (SHA-1, 6 digits,
//! 30 s, ±1 step — what every authenticator app expects), the enrolment QR code, and the
//! recovery codes with their hashes. No I/O: the transactions are `web::second_factor`.

use chrono::{DateTime, Utc};
use rand::{Rng, RngCore};
use sha2::{Digest, Sha256};
use totp_rs::{Algorithm, Builder, Secret, Totp};

/// Shown in the authenticator app beside the username.
pub const ISSUER: &str = "下访接访";
/// Seconds in one time step.
pub const STEP: i64 = 30;
/// How many recovery codes an enrolment gives.
pub const RECOVERY_CODES: usize = 10;
/// No 0/o, 1/l/i: easy to copy from paper.
const RECOVERY_ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";
const RECOVERY_LEN: usize = 10;

/// A fresh 160-bit secret (RFC 4226 recommends 160 bits).
pub fn new_secret() -> Vec<u8> {
    let mut secret = vec![0u8; 20];
    rand::rng().fill_bytes(&mut secret);
    secret
}

fn totp(secret: &[u8], account: &str) -> Option<Totp> {
    Builder::new()
        .with_algorithm(Algorithm::SHA1)
        .with_digits(6)
        .with_skew(1)
        .with_step_duration(STEP as u64)
        .with_secret(secret.to_vec())
        .with_account_name(account)
        .with_issuer(Some(ISSUER))
        .build()
        .ok()
}

/// The time step a 6-digit code belongs to, if it is the code of the step of `now` or of the one
/// before or after it. Whether that step was used already is the caller's check.
pub fn check(secret: &[u8], code: &str, now: DateTime<Utc>) -> Option<i64> {
    let t = u64::try_from(now.timestamp()).ok()?;
    let step = totp(secret, "x")?.check(code, t)?;
    i64::try_from(step).ok()
}

/// The code of `now`'s step (tests and the harness use it; the server only checks).
pub fn code_at(secret: &[u8], now: DateTime<Utc>) -> String {
    let t = u64::try_from(now.timestamp()).unwrap_or(0);
    totp(secret, "x")
        .map(|t0| t0.generate(t).to_string())
        .unwrap_or_default()
}

/// The step `now` falls in.
pub fn step_of(now: DateTime<Utc>) -> i64 {
    now.timestamp().div_euclid(STEP)
}

/// The secret as authenticator apps take it by hand: Base32, in groups of four.
pub fn manual_entry(secret: &[u8]) -> String {
    let b32 = Secret::from(secret.to_vec()).to_base32();
    let groups: Vec<String> = b32
        .as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect();
    groups.join(" ")
}

/// The `otpauth://totp/…` address that the QR code carries.
pub fn otpauth_url(secret: &[u8], account: &str) -> String {
    totp(secret, account)
        .and_then(|t| t.to_url().ok())
        .unwrap_or_default()
}

/// The enrolment QR code of an `otpauth://` URL.
pub fn qr_svg(url: &str) -> String {
    crate::web::qr::svg(url, "绑定二维码")
}

/// Ten fresh recovery codes, shown as `abcde-fghjk`.
pub fn new_recovery_codes() -> Vec<String> {
    let mut rng = rand::rng();
    (0..RECOVERY_CODES)
        .map(|_| {
            let chars: String = (0..RECOVERY_LEN)
                .map(|_| RECOVERY_ALPHABET[rng.random_range(0..RECOVERY_ALPHABET.len())] as char)
                .collect();
            format!("{}-{}", &chars[..5], &chars[5..])
        })
        .collect()
}

/// What was typed on the code page.
#[derive(Debug, PartialEq, Eq)]
pub enum Typed {
    /// Six digits: a code of the authenticator app.
    Totp(String),
    /// Ten characters of the recovery alphabet, as normalised.
    Recovery(String),
    Invalid,
}

/// Spaces and hyphens dropped, case ignored: codes are read off a phone or a sheet of paper.
pub fn parse(input: &str) -> Typed {
    let s: String = input
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .flat_map(char::to_lowercase)
        .collect();
    if s.len() == 6 && s.bytes().all(|b| b.is_ascii_digit()) {
        Typed::Totp(s)
    } else if s.len() == RECOVERY_LEN && s.bytes().all(|b| RECOVERY_ALPHABET.contains(&b)) {
        Typed::Recovery(s)
    } else {
        Typed::Invalid
    }
}

/// The stored form of a recovery code (as `parse` normalised it).
pub fn recovery_hash(normalised: &str) -> Vec<u8> {
    Sha256::digest(normalised.as_bytes()).to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(secs, 0).unwrap()
    }

    /// RFC 6238 appendix B (SHA-1), cut to 6 digits.
    #[test]
    fn codes_match_the_rfc_test_vectors() {
        let secret = b"12345678901234567890";
        assert_eq!(code_at(secret, at(59)), "287082");
        assert_eq!(code_at(secret, at(1_111_111_109)), "081804");
        assert_eq!(code_at(secret, at(2_000_000_000)), "279037");
    }

    #[test]
    fn a_code_is_accepted_one_step_either_side_and_no_further() {
        let secret = new_secret();
        let now = at(1_800_000_015);
        let step = step_of(now);
        let code = code_at(&secret, now);
        assert_eq!(check(&secret, &code, now), Some(step));
        assert_eq!(check(&secret, &code, at(1_800_000_015 + 30)), Some(step));
        assert_eq!(check(&secret, &code, at(1_800_000_015 - 30)), Some(step));
        assert_eq!(check(&secret, &code, at(1_800_000_015 + 60)), None);
        assert_eq!(check(&secret, "12345", now), None);
        assert_eq!(check(&new_secret(), &code, now), None, "another secret");
    }

    #[test]
    fn the_secret_is_shown_in_base32_groups_and_in_the_qr_address() {
        let secret = b"12345678901234567890";
        assert_eq!(
            manual_entry(secret),
            "GEZD GNBV GY3T QOJQ GEZD GNBV GY3T QOJQ"
        );
        let url = otpauth_url(secret, "zhang");
        assert!(url.starts_with("otpauth://totp/"), "{url}");
        assert!(
            url.contains("secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"),
            "{url}"
        );
        assert!(url.contains("zhang"), "{url}");
        let svg = qr_svg(&url);
        assert!(svg.starts_with("<svg role=\"img\""));
        assert!(!svg.contains("style="));
    }

    #[test]
    fn recovery_codes_are_ten_distinct_and_read_back_however_typed() {
        let codes = new_recovery_codes();
        assert_eq!(codes.len(), 10);
        let distinct: std::collections::HashSet<_> = codes.iter().collect();
        assert_eq!(distinct.len(), 10);
        for code in &codes {
            assert_eq!(code.len(), 11);
            let Typed::Recovery(n) = parse(code) else {
                panic!("{code}")
            };
            assert_eq!(
                parse(&format!(" {} ", code.to_uppercase())),
                Typed::Recovery(n.clone())
            );
            assert_eq!(recovery_hash(&n).len(), 32);
        }
        assert_eq!(parse("123 456"), Typed::Totp("123456".into()));
        assert_eq!(parse("12345"), Typed::Invalid);
        assert_eq!(
            parse("abcde-fghi0"),
            Typed::Invalid,
            "0 is not in the alphabet"
        );
    }
}
