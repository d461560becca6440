//! Citizens' personal data (DESIGN §7): ID numbers and phones are validated, stored encrypted
//! (AES-256-GCM, a random nonce, the key id beside each ciphertext) with an HMAC blind index for
//! matching, and shown masked. The keys live outside the database and its backups.

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use anyhow::{Context, anyhow, bail};
use chrono::NaiveDate;
use hmac::{Hmac, Mac};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use std::collections::BTreeMap;
use std::path::Path;

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

/// A ciphertext and the id of the key that made it.
pub struct Sealed {
    pub key_id: i16,
    /// 12-byte nonce followed by the AES-GCM ciphertext and tag.
    pub bytes: Vec<u8>,
}

/// What the kind of a value is, so that equal strings of different kinds never share an index.
#[derive(Clone, Copy)]
pub enum Field {
    IdNumber,
    Phone,
}

impl Field {
    fn tag(self) -> &'static [u8] {
        match self {
            Field::IdNumber => b"id_number\0",
            Field::Phone => b"phone\0",
        }
    }
}

pub struct Keys {
    current: i16,
    encryption: BTreeMap<i16, Aes256Gcm>,
    index: Vec<u8>,
}

/// The keys file: hex keys by id; `current` encrypts, all decrypt (so keys can rotate).
/// The index key cannot rotate without re-indexing, so there is one.
#[derive(Serialize, Deserialize)]
struct KeysFile {
    current: i16,
    encryption: BTreeMap<i16, String>,
    index: String,
}

fn random_key() -> [u8; 32] {
    let mut k = [0u8; 32];
    rand::rng().fill_bytes(&mut k);
    k
}

impl Keys {
    fn from_file(f: &KeysFile) -> anyhow::Result<Keys> {
        let mut encryption = BTreeMap::new();
        for (id, hex_key) in &f.encryption {
            let bytes = hex::decode(hex_key).context("an encryption key is not hex")?;
            if bytes.len() != 32 {
                bail!("encryption key {id} must be 32 bytes (64 hex characters)");
            }
            encryption.insert(
                *id,
                Aes256Gcm::new_from_slice(&bytes).map_err(|_| anyhow!("bad key {id}"))?,
            );
        }
        let index = hex::decode(&f.index).context("the index key is not hex")?;
        if index.len() < 32 {
            bail!("the index key must be at least 32 bytes");
        }
        if !encryption.contains_key(&f.current) {
            bail!(
                "the current encryption key {} is not in the keys file",
                f.current
            );
        }
        Ok(Keys {
            current: f.current,
            encryption,
            index,
        })
    }

    fn new_file() -> KeysFile {
        KeysFile {
            current: 1,
            encryption: BTreeMap::from([(1, hex::encode(random_key()))]),
            index: hex::encode(random_key()),
        }
    }

    /// Fresh random keys (tests, and the first start of the embedded default).
    pub fn generate() -> Keys {
        Self::from_file(&Self::new_file()).expect("generated keys are valid")
    }

    /// Read the keys file, or create it (mode 0600) when it does not exist yet.
    pub fn load_or_create(path: &Path) -> anyhow::Result<Keys> {
        match std::fs::read_to_string(path) {
            Ok(text) => {
                let file: KeysFile = serde_json::from_str(&text)
                    .with_context(|| format!("reading keys from {}", path.display()))?;
                Self::from_file(&file)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                use std::io::Write;
                use std::os::unix::fs::OpenOptionsExt;
                let file = Self::new_file();
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir)?;
                }
                let mut out = std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(path)?;
                out.write_all(serde_json::to_string_pretty(&file)?.as_bytes())?;
                tracing::warn!(path = %path.display(), "generated new encryption keys: back this file up apart from the database");
                Self::from_file(&file)
            }
            Err(e) => Err(e).with_context(|| format!("reading keys from {}", path.display())),
        }
    }

    pub fn encrypt(&self, plaintext: &str) -> Sealed {
        let mut nonce = [0u8; 12];
        rand::rng().fill_bytes(&mut nonce);
        let cipher = &self.encryption[&self.current];
        let sealed = cipher
            .encrypt(Nonce::from_slice(&nonce), plaintext.as_bytes())
            .expect("AES-GCM encryption cannot fail");
        let mut bytes = nonce.to_vec();
        bytes.extend(sealed);
        Sealed {
            key_id: self.current,
            bytes,
        }
    }

    pub fn decrypt(&self, key_id: i16, bytes: &[u8]) -> anyhow::Result<String> {
        let cipher = self
            .encryption
            .get(&key_id)
            .ok_or_else(|| anyhow!("no key {key_id} to decrypt with"))?;
        if bytes.len() < 12 + 16 {
            bail!("ciphertext too short");
        }
        let plain = cipher
            .decrypt(Nonce::from_slice(&bytes[..12]), &bytes[12..])
            .map_err(|_| anyhow!("ciphertext does not verify"))?;
        Ok(String::from_utf8(plain)?)
    }

    /// HMAC-SHA256 of the normalised value: equal values match without decrypting anything.
    pub fn blind_index(&self, field: Field, value: &str) -> Vec<u8> {
        let mut mac =
            <Hmac<Sha256> as Mac>::new_from_slice(&self.index).expect("HMAC takes any key length");
        mac.update(field.tag());
        mac.update(value.as_bytes());
        mac.finalize().into_bytes().to_vec()
    }

    /// HMAC-SHA256 tag of `data` for `purpose` (tagged apart from every blind index), so that the
    /// server can hand out a token and later know it made it, storing nothing meanwhile.
    pub fn sign(&self, purpose: &str, data: &[u8]) -> Vec<u8> {
        self.signer(purpose, data).finalize().into_bytes().to_vec()
    }

    /// Whether `tag` is `sign(purpose, data)`, compared in constant time.
    pub fn verify(&self, purpose: &str, data: &[u8], tag: &[u8]) -> bool {
        self.signer(purpose, data).verify_slice(tag).is_ok()
    }

    fn signer(&self, purpose: &str, data: &[u8]) -> Hmac<Sha256> {
        let mut mac =
            <Hmac<Sha256> as Mac>::new_from_slice(&self.index).expect("HMAC takes any key length");
        mac.update(b"sign:");
        mac.update(purpose.as_bytes());
        mac.update(b"\0");
        mac.update(data);
        mac
    }
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
    fn phones() {
        assert!(valid_phone("13812345678"));
        assert!(valid_phone("19912345678"));
        assert!(!valid_phone("12812345678"));
        assert!(!valid_phone("1381234567"));
        assert!(!valid_phone("1381234567a"));
    }

    #[test]
    fn the_same_value_encrypts_differently_but_indexes_the_same() {
        let keys = Keys::generate();
        let a = keys.encrypt("11010519491231002X");
        let b = keys.encrypt("11010519491231002X");
        assert_ne!(a.bytes, b.bytes, "random nonces");
        assert!(
            !a.bytes.windows(6).any(|w| w == b"110105"),
            "no clear text inside"
        );
        assert_eq!(
            keys.decrypt(a.key_id, &a.bytes).unwrap(),
            "11010519491231002X"
        );
        assert_eq!(
            keys.blind_index(Field::IdNumber, "11010519491231002X"),
            keys.blind_index(Field::IdNumber, "11010519491231002X")
        );
        assert_ne!(
            keys.blind_index(Field::IdNumber, "13812345678"),
            keys.blind_index(Field::Phone, "13812345678")
        );
        let mut tampered = a.bytes.clone();
        *tampered.last_mut().unwrap() ^= 1;
        assert!(keys.decrypt(a.key_id, &tampered).is_err());
        assert!(
            Keys::generate().decrypt(a.key_id, &a.bytes).is_err(),
            "another key cannot read it"
        );
    }

    #[test]
    fn keys_rotate_and_persist() {
        let dir = std::env::temp_dir().join(format!("xf-keys-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let path = dir.join("keys.json");
        let first = Keys::load_or_create(&path).unwrap();
        let old = first.encrypt("13812345678");
        let again = Keys::load_or_create(&path).unwrap();
        assert_eq!(
            again.decrypt(old.key_id, &old.bytes).unwrap(),
            "13812345678",
            "the same keys after a restart"
        );
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );

        // Rotation: add key 2 and make it current; key 1 still decrypts old rows.
        let mut file: KeysFile =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        file.encryption.insert(2, hex::encode(random_key()));
        file.current = 2;
        let rotated = Keys::from_file(&file).unwrap();
        assert_eq!(rotated.decrypt(1, &old.bytes).unwrap(), "13812345678");
        assert_eq!(rotated.encrypt("x").key_id, 2);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
