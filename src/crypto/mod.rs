//! Field encryption, blind indexes and hashes (DESIGN §7) behind one provider interface.
//!
//! Callers use `Keys` only: `encrypt(column, row, text)` / `decrypt(column, row, key_id, bytes)`,
//! `blind_index`, `sign`/`verify` and `hash`. Every ciphertext is bound (associated data) to its
//! table, column and row id, so a ciphertext copied into another row does not decrypt. The
//! default provider (`software`) keeps its keys in a file; a certified device or a KMS is another
//! `Provider`, with no caller changed. Encrypting a new column: a `Column` constant, the two calls,
//! and a row in `store::ENCRYPTED` so that start-up checks it and `keys rotate` re-encrypts it.

pub mod free_text;
pub mod software;
pub mod store;

use std::fmt;

/// A ciphertext and the id of the key that made it (its first byte says the algorithm).
pub struct Sealed {
    pub key_id: i16,
    pub bytes: Vec<u8>,
}

/// Why a ciphertext did not decrypt.
#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    /// The key file has no key of this id.
    NoKey(i16),
    /// Too short, or a first byte naming no known algorithm.
    Malformed,
    /// The key's algorithm is not the one the ciphertext names.
    WrongAlgorithm,
    /// The tag does not verify: another key of the same id, altered bytes, or a ciphertext moved
    /// from another row or column.
    DoesNotVerify,
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refused::NoKey(id) => write!(f, "the keys file has no key {id}"),
            Refused::Malformed => f.write_str("the ciphertext is malformed"),
            Refused::WrongAlgorithm => f.write_str("the key's algorithm is not the ciphertext's"),
            Refused::DoesNotVerify => f.write_str(
                "the ciphertext does not verify (another key, altered, or moved from another row)",
            ),
        }
    }
}

impl std::error::Error for Refused {}

/// What a cryptographic module does for xiafang. Keys never leave it: callers hand it data and
/// the associated data, and get ciphertexts, plaintexts, MACs and hashes back.
pub trait Provider: Send + Sync {
    /// Encrypt under the current key; the first byte of `bytes` names the algorithm.
    fn encrypt(&self, aad: &[u8], plaintext: &[u8]) -> anyhow::Result<Sealed>;
    /// Decrypt with key `key_id`, checking the tag over the ciphertext and `aad`.
    fn decrypt(&self, key_id: i16, aad: &[u8], bytes: &[u8]) -> Result<Vec<u8>, Refused>;
    /// A keyed MAC with the index key: equal inputs give equal outputs (blind indexes, tokens).
    fn blind_index(&self, data: &[u8]) -> Vec<u8>;
    /// An unkeyed hash (SM3).
    fn hash(&self, data: &[u8]) -> [u8; 32];
    /// The id of the key `encrypt` uses.
    fn current_key_id(&self) -> i16;
    /// The key id that came with the current index key: rows under older keys still hold the
    /// previous index key's blind indexes until `keys rotate` has re-indexed them.
    fn index_since(&self) -> i16;
}

/// Where a ciphertext lives; with the row id it is the associated data of the ciphertext.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Column {
    pub table: &'static str,
    pub column: &'static str,
}

impl Column {
    pub const REGISTRATION_ID_NUMBER: Column = Column::new("registrations", "id_number");
    pub const REGISTRATION_PHONE: Column = Column::new("registrations", "phone");
    pub const REGISTRATION_NAME: Column = Column::new("registrations", "name");
    pub const REGISTRATION_ADDRESS: Column = Column::new("registrations", "address");
    pub const REGISTRATION_REPRESENTATIVES: Column =
        Column::new("registrations", "representatives");
    pub const REGISTRATION_GRIEVANCE: Column = Column::new("registrations", "grievance");
    pub const PHONE_CODE_PHONE: Column = Column::new("phone_codes", "phone");
    pub const SURVEY_REPORTER_PHONE: Column = Column::new("survey_items", "reporter_phone");
    pub const USER_TOTP_SECRET: Column = Column::new("users", "totp_secret");
    pub const CHALLENGE_ENROL_SECRET: Column = Column::new("login_challenges", "enrol_secret");

    pub const fn new(table: &'static str, column: &'static str) -> Column {
        Column { table, column }
    }

    /// `xiafang/v1\0table\0column\0row`: no two places share it.
    fn aad(self, row: &dyn fmt::Display) -> Vec<u8> {
        format!("xiafang/v1\0{}\0{}\0{row}", self.table, self.column).into_bytes()
    }
}

impl fmt::Display for Column {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.table, self.column)
    }
}

/// What the kind of a value is, so that equal strings of different kinds never share an index.
#[derive(Clone, Copy)]
pub enum Field {
    IdNumber,
    Phone,
    /// A person's name, trimmed (triage finds a registration by exact name).
    Name,
}

impl Field {
    fn tag(self) -> &'static [u8] {
        match self {
            Field::IdNumber => b"id_number\0",
            Field::Phone => b"phone\0",
            Field::Name => b"name\0",
        }
    }
}

/// The one small API every caller uses, over whichever provider is configured.
pub struct Keys {
    provider: Box<dyn Provider>,
}

impl Keys {
    pub fn new(provider: impl Provider + 'static) -> Keys {
        Keys {
            provider: Box::new(provider),
        }
    }

    /// Fresh random 国密 keys in memory (tests).
    pub fn generate() -> Keys {
        Keys::new(software::Software::generate())
    }

    /// Encrypt `plaintext` for `column` of row `row` (its id).
    pub fn encrypt(
        &self,
        column: Column,
        row: impl fmt::Display,
        plaintext: &str,
    ) -> anyhow::Result<Sealed> {
        self.encrypt_bytes(column, row, plaintext.as_bytes())
    }

    /// `encrypt` for bytes that are not text (attachments).
    pub fn encrypt_bytes(
        &self,
        column: Column,
        row: impl fmt::Display,
        plaintext: &[u8],
    ) -> anyhow::Result<Sealed> {
        self.provider.encrypt(&column.aad(&row), plaintext)
    }

    /// Decrypt what `encrypt(column, row, …)` made; anything else is refused with a clear error.
    pub fn decrypt(
        &self,
        column: Column,
        row: impl fmt::Display,
        key_id: i16,
        bytes: &[u8],
    ) -> anyhow::Result<String> {
        Ok(String::from_utf8(
            self.decrypt_bytes(column, row, key_id, bytes)?,
        )?)
    }

    /// `decrypt` for bytes that are not text (attachments). Key id 0 holds no ciphertext (the
    /// benchmark's placeholders, anonymised rows): it reads as empty.
    pub fn decrypt_bytes(
        &self,
        column: Column,
        row: impl fmt::Display,
        key_id: i16,
        bytes: &[u8],
    ) -> anyhow::Result<Vec<u8>> {
        if key_id == 0 {
            return Ok(Vec::new());
        }
        self.provider
            .decrypt(key_id, &column.aad(&row), bytes)
            .map_err(|e| {
                anyhow::anyhow!("cannot decrypt {column} of row {row} (key {key_id}): {e}")
            })
    }

    /// A field that may still be plaintext: rows written before it was encrypted keep their
    /// plaintext until `keys rotate` seals it (`prepare::legacy_plaintext`). Key id 0 (the
    /// benchmark's placeholders, anonymised rows) reads as empty.
    pub fn open(
        &self,
        column: Column,
        row: impl fmt::Display,
        plain: Option<String>,
        cipher: Option<Vec<u8>>,
        key_id: Option<i16>,
    ) -> anyhow::Result<String> {
        match (cipher, key_id) {
            (Some(bytes), Some(key_id)) => self.decrypt(column, row, key_id, &bytes),
            _ => Ok(plain.unwrap_or_default()),
        }
    }

    /// `open` for a registration's representatives (sealed one name a line).
    pub fn open_representatives(
        &self,
        row: i64,
        plain: Option<Vec<String>>,
        cipher: Option<Vec<u8>>,
        key_id: Option<i16>,
    ) -> anyhow::Result<Vec<String>> {
        if cipher.is_none() {
            return Ok(plain.unwrap_or_default());
        }
        let lines = self.open(
            Column::REGISTRATION_REPRESENTATIVES,
            row,
            None,
            cipher,
            key_id,
        )?;
        Ok(lines
            .lines()
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect())
    }

    /// The blind index of a normalised value: equal values match without decrypting anything.
    pub fn blind_index(&self, field: Field, value: &str) -> Vec<u8> {
        self.provider
            .blind_index(&[field.tag(), value.as_bytes()].concat())
    }

    /// A MAC of `data` for `purpose` (tagged apart from every blind index), so that the server can
    /// hand out a token and later know it made it, storing nothing meanwhile.
    pub fn sign(&self, purpose: &str, data: &[u8]) -> Vec<u8> {
        self.provider
            .blind_index(&[b"sign:", purpose.as_bytes(), b"\0", data].concat())
    }

    /// Whether `tag` is `sign(purpose, data)`, compared in constant time.
    pub fn verify(&self, purpose: &str, data: &[u8], tag: &[u8]) -> bool {
        let expected = self.sign(purpose, data);
        expected.len() == tag.len()
            && expected
                .iter()
                .zip(tag)
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0
    }

    /// SM3 of `data`.
    pub fn hash(&self, data: &[u8]) -> [u8; 32] {
        self.provider.hash(data)
    }

    pub fn current_key_id(&self) -> i16 {
        self.provider.current_key_id()
    }

    pub fn index_since(&self) -> i16 {
        self.provider.index_since()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_value_encrypts_differently_but_indexes_the_same() {
        let keys = Keys::generate();
        let col = Column::REGISTRATION_ID_NUMBER;
        let a = keys.encrypt(col, 7, "11010519491231002X").unwrap();
        let b = keys.encrypt(col, 7, "11010519491231002X").unwrap();
        assert_ne!(a.bytes, b.bytes, "random nonces");
        assert!(
            !a.bytes.windows(6).any(|w| w == b"110105"),
            "no clear text inside"
        );
        assert_eq!(
            keys.decrypt(col, 7, a.key_id, &a.bytes).unwrap(),
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
        assert!(keys.decrypt(col, 7, a.key_id, &tampered).is_err());
        assert!(
            Keys::generate()
                .decrypt(col, 7, a.key_id, &a.bytes)
                .is_err(),
            "another key cannot read it"
        );
    }

    #[test]
    fn a_ciphertext_decrypts_only_in_its_own_table_column_and_row() {
        let keys = Keys::generate();
        let sealed = keys
            .encrypt(Column::REGISTRATION_PHONE, 7, "13812345678")
            .unwrap();
        for (column, row) in [
            (Column::REGISTRATION_PHONE, 8),
            (Column::REGISTRATION_ID_NUMBER, 7),
            (Column::USER_TOTP_SECRET, 7),
        ] {
            let err = keys
                .decrypt(column, row, sealed.key_id, &sealed.bytes)
                .unwrap_err()
                .to_string();
            assert!(
                err.contains(&format!("{column} of row {row}")) && err.contains("does not verify"),
                "{err}"
            );
        }
        assert_eq!(
            keys.decrypt(Column::REGISTRATION_PHONE, 7, sealed.key_id, &sealed.bytes)
                .unwrap(),
            "13812345678"
        );
    }

    #[test]
    fn signed_tokens_verify_only_unchanged() {
        let keys = Keys::generate();
        let tag = keys.sign("form", b"7|2026");
        assert!(keys.verify("form", b"7|2026", &tag));
        assert!(!keys.verify("form", b"8|2026", &tag));
        assert!(!keys.verify("other", b"7|2026", &tag));
        assert!(!keys.verify("form", b"7|2026", &tag[..31]));
    }
}
