//! Citizens' personal data (DESIGN §7): ID numbers and phones are validated, stored encrypted
//! with a blind index for matching (`crate::crypto`), and shown masked.

use chrono::NaiveDate;

pub use crate::crypto::{Column, Field, Keys, Sealed};

/// GB 11643 / ISO 7064 MOD 11-2: the 18th character checks the first 17 digits.
pub fn valid_id_number(id: &str) -> bool {
    const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    const CHECK: &[u8; 11] = b"10X98765432";
    let b = id.as_bytes();
    if b.len() != 18 || !b[..17].iter().all(u8::is_ascii_digit) {
        return false;
    }
    let sum: u32 = b[..17]
        .iter()
        .zip(WEIGHTS)
        .map(|(d, w)| u32::from(d - b'0') * w)
        .sum();
    if b[17] != CHECK[(sum % 11) as usize] {
        return false;
    }
    // Positions 7–14 are the birth date: it must be a real day.
    NaiveDate::parse_from_str(&id[6..14], "%Y%m%d")
        .is_ok_and(|d| d.format("%Y").to_string().as_str() >= "1900")
}

/// What people type: spaces trimmed, a lower-case x made upper-case.
pub fn normalize_id_number(id: &str) -> String {
    id.trim().to_uppercase()
}

/// `330***********1234`: the first 3 and the last 4 characters; never the birth date.
pub fn mask_id_number(id: &str) -> String {
    format!("{}***********{}", &id[..3], &id[14..])
}

/// A mainland mobile number: 1[3-9] and 9 more digits.
pub fn valid_phone(phone: &str) -> bool {
    let b = phone.as_bytes();
    b.len() == 11
        && b[0] == b'1'
        && (b'3'..=b'9').contains(&b[1])
        && b.iter().all(u8::is_ascii_digit)
}

/// `138****5678`
pub fn mask_phone(phone: &str) -> String {
    format!("{}****{}", &phone[..3], &phone[7..])
}

/// Surnames of two characters; every other name keeps its first character.
const COMPOUND_SURNAMES: &[&str] = &[
    "欧阳", "司马", "上官", "诸葛", "东方", "皇甫", "尉迟", "公孙", "慕容", "长孙", "宇文", "司徒",
    "夏侯", "令狐", "端木", "西门", "南宫",
];

/// 张三丰 → 张某某, 欧阳娜娜 → 欧阳某某: what lists of many people show where the full name is
/// not needed (stored as `registrations.name_mask`). Masking a mask changes nothing.
pub fn mask_name(name: &str) -> String {
    let name = name.trim();
    let surname: String = match COMPOUND_SURNAMES
        .iter()
        .find(|s| name.starts_with(**s) && name.chars().count() > 2)
    {
        Some(s) => (*s).to_owned(),
        None => name.chars().take(1).collect(),
    };
    format!("{surname}某某")
}

/// What a registration's name is stored under: trimmed, as the blind index is made of it.
pub fn normalize_name(name: &str) -> String {
    name.trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_numbers_need_the_right_check_digit_and_a_real_birth_date() {
        assert!(
            valid_id_number("11010519491231002X"),
            "the standard's own example"
        );
        assert!(!valid_id_number("440524188001010014"), "born before 1900");
        assert!(!valid_id_number("110105194912310021"), "wrong check digit");
        assert!(!valid_id_number("11010519491331002X"), "no 13th month");
        assert!(!valid_id_number("11010519491231002x"), "normalise first");
        assert!(valid_id_number(&normalize_id_number(
            " 11010519491231002x "
        )));
        assert!(!valid_id_number("1101051949123100"), "too short");
        assert!(!valid_id_number("11010519491231002X1"));
        assert!(
            !valid_id_number("１１０１０５１９４９１２３１００２Ｘ"),
            "full-width digits are not digits here"
        );
    }

    #[test]
    fn masks_hide_the_birth_date_and_the_middle_of_phones() {
        assert_eq!(mask_id_number("11010519491231002X"), "110***********002X");
        assert!(!mask_id_number("11010519491231002X").contains("1949"));
        assert_eq!(mask_phone("13812345678"), "138****5678");
    }

    #[test]
    fn names_keep_only_the_surname() {
        assert_eq!(mask_name("张三丰"), "张某某");
        assert_eq!(mask_name("李明"), "李某某");
        assert_eq!(mask_name("欧阳娜娜"), "欧阳某某");
        assert_eq!(mask_name(" 王五 "), "王某某");
        // A two-character name starting like a compound surname is a one-character surname.
        assert_eq!(mask_name("司马"), "司某某");
        for name in ["张三丰", "欧阳娜娜", "司马"] {
            assert_eq!(mask_name(&mask_name(name)), mask_name(name), "idempotent");
        }
    }

    #[test]
    fn phones() {
        assert!(valid_phone("13812345678"));
        assert!(valid_phone("19912345678"));
        assert!(!valid_phone("12812345678"));
        assert!(!valid_phone("1381234567"));
        assert!(!valid_phone("1381234567a"));
    }
}
