//! The default provider: keys in a JSON file (mode 0600) kept apart from the database and its
//! backups. New keys are 国密: SM4-GCM for fields, HMAC-SM3 for blind indexes. Keys written
//! before (AES-256-GCM, HMAC-SHA256, bare hex in the file) still decrypt and index.
//!
//! A ciphertext is `format byte | 12-byte nonce | ciphertext and 16-byte tag`; the format byte:
//! 1 AES-256-GCM without associated data (written before migration 0023), 2 AES-256-GCM with it,
//! 3 SM4-GCM with it.

use super::{Provider, Refused, Sealed};
use aes_gcm::aead::consts::U12;
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, AesGcm, Nonce};
use anyhow::{Context, bail};
use hmac::{Hmac, Mac};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use sm3::{Digest, Sm3};
use sm4::Sm4;
use std::collections::BTreeMap;
use std::path::Path;

/// SM4 in GCM mode (as in RFC 8998): the GCM construction over the SM4 block cipher.
type Sm4Gcm = AesGcm<Sm4, U12>;

const AES_GCM_BARE: u8 = 1;
const AES_GCM: u8 = 2;
const SM4_GCM: u8 = 3;
const NONCE: usize = 12;
const TAG: usize = 16;

#[derive(Serialize, Deserialize, Clone, Copy, PartialEq, Eq, Debug)]
pub enum Algorithm {
    #[serde(rename = "aes-256-gcm")]
    Aes256Gcm,
    #[serde(rename = "sm4-gcm")]
    Sm4Gcm,
    #[serde(rename = "hmac-sha256")]
    HmacSha256,
    #[serde(rename = "hmac-sm3")]
    HmacSm3,
}

/// One key in the file.
#[derive(Serialize, Deserialize, Clone)]
#[serde(untagged)]
enum KeyEntry {
    Typed {
        algorithm: Algorithm,
        key: String,
    },
    /// As written before 国密: hex alone (AES-256-GCM, or HMAC-SHA256 for the index key).
    Bare(String),
}

impl KeyEntry {
    fn new(algorithm: Algorithm, bytes: usize) -> KeyEntry {
        let mut k = vec![0u8; bytes];
        rand::rng().fill_bytes(&mut k);
        KeyEntry::Typed {
            algorithm,
            key: hex::encode(k),
        }
    }

    fn parts(&self, bare: Algorithm) -> anyhow::Result<(Algorithm, Vec<u8>)> {
        let (algorithm, key) = match self {
            KeyEntry::Typed { algorithm, key } => (*algorithm, key),
            KeyEntry::Bare(key) => (bare, key),
        };
        Ok((algorithm, hex::decode(key).context("a key is not hex")?))
    }
}

/// The keys file: keys by id; `current` encrypts, all decrypt (so keys can rotate). One index
/// key; `index_since` is the encryption key that came with it (see `Provider::index_since`).
#[derive(Serialize, Deserialize)]
pub struct KeysFile {
    current: i16,
    encryption: BTreeMap<i16, KeyEntry>,
    index: KeyEntry,
    #[serde(default)]
    index_since: i16,
}

impl KeysFile {
    /// Fresh 国密 keys: SM4 key 1 and an HMAC-SM3 index key.
    pub fn generate() -> KeysFile {
        KeysFile {
            current: 1,
            encryption: BTreeMap::from([(1, KeyEntry::new(Algorithm::Sm4Gcm, 16))]),
            index: KeyEntry::new(Algorithm::HmacSm3, 32),
            index_since: 1,
        }
    }

    /// The file at `path`; None when there is none.
    pub fn read(path: &Path) -> anyhow::Result<Option<KeysFile>> {
        match std::fs::read_to_string(path) {
            Ok(text) => {
                Ok(Some(serde_json::from_str(&text).with_context(|| {
                    format!("reading keys from {}", path.display())
                })?))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).with_context(|| format!("reading keys from {}", path.display())),
        }
    }

    /// Write the file whole or not at all (a temporary file renamed over it), mode 0600.
    pub fn write(&self, path: &Path) -> anyhow::Result<()> {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
        if let Some(dir) = dir {
            std::fs::create_dir_all(dir)?;
        }
        let tmp = path.with_extension("json.new");
        let _ = std::fs::remove_file(&tmp);
        let mut out = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
            .with_context(|| format!("writing {}", tmp.display()))?;
        out.write_all(serde_json::to_string_pretty(self)?.as_bytes())?;
        out.sync_all()?;
        std::fs::rename(&tmp, path)?;
        if let Some(dir) = dir {
            std::fs::File::open(dir)?.sync_all()?;
        }
        Ok(())
    }

    /// Add a new SM4 key and make it current; a new HMAC-SM3 index key comes with it unless the
    /// index key is HMAC-SM3 already. Returns the new key id and whether the index key changed.
    pub fn rotate(&mut self) -> anyhow::Result<(i16, bool)> {
        let id = self.encryption.keys().max().copied().unwrap_or(0) + 1;
        self.encryption
            .insert(id, KeyEntry::new(Algorithm::Sm4Gcm, 16));
        self.current = id;
        let (index_algorithm, _) = self.index.parts(Algorithm::HmacSha256)?;
        let new_index = index_algorithm != Algorithm::HmacSm3;
        if new_index {
            self.index = KeyEntry::new(Algorithm::HmacSm3, 32);
            self.index_since = id;
        }
        Ok((id, new_index))
    }
}

enum Cipher {
    Aes(Box<Aes256Gcm>),
    Sm4(Box<Sm4Gcm>),
}

enum IndexKey {
    Sha256(Vec<u8>),
    Sm3(Vec<u8>),
}

pub struct Software {
    current: i16,
    ciphers: BTreeMap<i16, Cipher>,
    index: IndexKey,
    index_since: i16,
}

impl Software {
    pub fn generate() -> Software {
        Software::from_file(&KeysFile::generate()).expect("generated keys are valid")
    }

    pub fn from_file(f: &KeysFile) -> anyhow::Result<Software> {
        let mut ciphers = BTreeMap::new();
        for (id, entry) in &f.encryption {
            let cipher = match entry.parts(Algorithm::Aes256Gcm)? {
                (Algorithm::Aes256Gcm, k) if k.len() == 32 => {
                    Cipher::Aes(Box::new(Aes256Gcm::new_from_slice(&k)?))
                }
                (Algorithm::Sm4Gcm, k) if k.len() == 16 => {
                    Cipher::Sm4(Box::new(Sm4Gcm::new_from_slice(&k)?))
                }
                (a, k) => bail!(
                    "encryption key {id}: {a:?} with {} bytes is not a field cipher key",
                    k.len()
                ),
            };
            ciphers.insert(*id, cipher);
        }
        let index = match f.index.parts(Algorithm::HmacSha256)? {
            (_, k) if k.len() < 32 => bail!("the index key must be at least 32 bytes"),
            (Algorithm::HmacSha256, k) => IndexKey::Sha256(k),
            (Algorithm::HmacSm3, k) => IndexKey::Sm3(k),
            (a, _) => bail!("the index key's algorithm {a:?} is not a MAC"),
        };
        if !ciphers.contains_key(&f.current) {
            bail!(
                "the current encryption key {} is not in the keys file",
                f.current
            );
        }
        Ok(Software {
            current: f.current,
            ciphers,
            index,
            index_since: f.index_since,
        })
    }
}

impl Provider for Software {
    fn encrypt(&self, aad: &[u8], plaintext: &[u8]) -> anyhow::Result<Sealed> {
        let mut nonce = [0u8; NONCE];
        rand::rng().fill_bytes(&mut nonce);
        let payload = Payload {
            msg: plaintext,
            aad,
        };
        let nonce_ref = Nonce::from_slice(&nonce);
        let (format, sealed) = match &self.ciphers[&self.current] {
            Cipher::Aes(c) => (AES_GCM, c.encrypt(nonce_ref, payload)),
            Cipher::Sm4(c) => (SM4_GCM, c.encrypt(nonce_ref, payload)),
        };
        let sealed = sealed.map_err(|_| anyhow::anyhow!("encryption failed"))?;
        let mut bytes = Vec::with_capacity(1 + NONCE + sealed.len());
        bytes.push(format);
        bytes.extend_from_slice(&nonce);
        bytes.extend(sealed);
        Ok(Sealed {
            key_id: self.current,
            bytes,
        })
    }

    fn decrypt(&self, key_id: i16, aad: &[u8], bytes: &[u8]) -> Result<Vec<u8>, Refused> {
        let cipher = self.ciphers.get(&key_id).ok_or(Refused::NoKey(key_id))?;
        if bytes.len() < 1 + NONCE + TAG {
            return Err(Refused::Malformed);
        }
        let nonce = Nonce::from_slice(&bytes[1..1 + NONCE]);
        let msg = &bytes[1 + NONCE..];
        let opened = match (bytes[0], cipher) {
            (AES_GCM_BARE, Cipher::Aes(c)) => c.decrypt(nonce, msg),
            (AES_GCM, Cipher::Aes(c)) => c.decrypt(nonce, Payload { msg, aad }),
            (SM4_GCM, Cipher::Sm4(c)) => c.decrypt(nonce, Payload { msg, aad }),
            (AES_GCM_BARE | AES_GCM | SM4_GCM, _) => return Err(Refused::WrongAlgorithm),
            _ => return Err(Refused::Malformed),
        };
        opened.map_err(|_| Refused::DoesNotVerify)
    }

    fn blind_index(&self, data: &[u8]) -> Vec<u8> {
        match &self.index {
            IndexKey::Sha256(k) => hmac::<Hmac<Sha256>>(k, data),
            IndexKey::Sm3(k) => hmac::<Hmac<Sm3>>(k, data),
        }
    }

    fn hash(&self, data: &[u8]) -> [u8; 32] {
        Sm3::digest(data).into()
    }

    fn current_key_id(&self) -> i16 {
        self.current
    }

    fn index_since(&self) -> i16 {
        self.index_since
    }
}

fn hmac<M: Mac + KeyInit>(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = <M as Mac>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::{Column, Field, Keys};

    fn unhex(s: &str) -> Vec<u8> {
        hex::decode(s).unwrap()
    }

    #[test]
    fn sm4_gcm_gives_the_rfc_8998_known_answer() {
        // RFC 8998, Appendix A.1.
        let cipher = Sm4Gcm::new_from_slice(&unhex("0123456789ABCDEFFEDCBA9876543210")).unwrap();
        let nonce = unhex("00001234567800000000ABCD");
        let aad = unhex("FEEDFACEDEADBEEFFEEDFACEDEADBEEFABADDAD2");
        let plain = unhex(
            "AAAAAAAAAAAAAAAABBBBBBBBBBBBBBBBCCCCCCCCCCCCCCCCDDDDDDDDDDDDDDDD\
             EEEEEEEEEEEEEEEEFFFFFFFFFFFFFFFFEEEEEEEEEEEEEEEEAAAAAAAAAAAAAAAA",
        );
        let sealed = cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: &plain,
                    aad: &aad,
                },
            )
            .unwrap();
        assert_eq!(
            hex::encode_upper(&sealed),
            "17F399F08C67D5EE19D0DC9969C4BB7D5FD46FD3756489069157B282BB200735\
             D82710CA5C22F0CCFA7CBF93D496AC15A56834CBCF98C397B4024A2691233B8D\
             83DE3541E4C2B58177E065A9BF7B62EC"
        );
        let wrong_aad = Payload {
            msg: &sealed[..],
            aad: b"another row",
        };
        assert!(
            cipher
                .decrypt(Nonce::from_slice(&nonce), wrong_aad)
                .is_err(),
            "other associated data does not verify"
        );
    }

    #[test]
    fn hmac_sm3_and_sm3_give_the_published_answers() {
        // GM/T 0042-2015, Appendix D.3, example 1.
        let key = unhex("0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20");
        let data = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".repeat(2);
        assert_eq!(
            hex::encode(hmac::<Hmac<Sm3>>(&key, data.as_bytes())),
            "ca05e144ed05d1857840d1f318a4a8669e559fc8391f414485bfdf7bb408963a"
        );
        // GB/T 32905-2016, example 1.
        assert_eq!(
            hex::encode(Software::generate().hash(b"abc")),
            "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"
        );
    }

    #[test]
    fn new_keys_are_sm4_and_hmac_sm3() {
        let keys = Software::generate();
        let sealed = keys.encrypt(b"x", b"13812345678").unwrap();
        assert_eq!(sealed.bytes[0], SM4_GCM);
        assert_eq!(sealed.bytes.len(), 1 + NONCE + 11 + TAG);
        assert!(matches!(keys.index, IndexKey::Sm3(_)));
    }

    /// What main wrote before 国密: bare hex, AES-256-GCM key 1, HMAC-SHA256 index; ciphertexts
    /// `nonce | ciphertext` without associated data, given format byte 1 by migration 0023.
    #[test]
    fn aes_keys_and_ciphertexts_of_before_still_work_and_rotate_to_sm4() {
        let (aes, index) = ([7u8; 32], [9u8; 32]);
        let file: KeysFile = serde_json::from_value(serde_json::json!({
            "current": 1,
            "encryption": {"1": hex::encode(aes)},
            "index": hex::encode(index),
        }))
        .unwrap();
        let old = Aes256Gcm::new_from_slice(&aes).unwrap();
        let nonce = [3u8; NONCE];
        let mut bytes = vec![AES_GCM_BARE];
        bytes.extend(nonce);
        bytes.extend(
            old.encrypt(Nonce::from_slice(&nonce), b"13812345678".as_ref())
                .unwrap(),
        );
        let keys = Software::from_file(&file).unwrap();
        assert_eq!(keys.decrypt(1, b"any", &bytes).unwrap(), b"13812345678");
        assert_eq!(
            keys.blind_index(b"phone\x0013812345678"),
            hmac::<Hmac<Sha256>>(&index, b"phone\x0013812345678"),
            "the index of before, so screening still matches"
        );
        let sealed = keys.encrypt(b"row", b"x").unwrap();
        assert_eq!(
            sealed.bytes[0], AES_GCM,
            "an AES key writes with associated data"
        );

        let mut file = file;
        assert_eq!(file.rotate().unwrap(), (2, true));
        let rotated = Software::from_file(&file).unwrap();
        assert_eq!(rotated.decrypt(1, b"any", &bytes).unwrap(), b"13812345678");
        assert_eq!(rotated.encrypt(b"row", b"x").unwrap().bytes[0], SM4_GCM);
        assert_eq!(rotated.index_since(), 2);
        assert_eq!(
            file.rotate().unwrap(),
            (3, false),
            "the SM3 index key stays"
        );
    }

    #[test]
    fn keys_persist_with_mode_0600_and_other_keys_cannot_read() {
        let dir = std::env::temp_dir().join(format!("xf-keys-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let path = dir.join("keys.json");
        assert!(KeysFile::read(&path).unwrap().is_none());
        KeysFile::generate().write(&path).unwrap();
        let first =
            Keys::new(Software::from_file(&KeysFile::read(&path).unwrap().unwrap()).unwrap());
        let sealed = first
            .encrypt(Column::REGISTRATION_PHONE, 1, "13812345678")
            .unwrap();
        let again =
            Keys::new(Software::from_file(&KeysFile::read(&path).unwrap().unwrap()).unwrap());
        assert_eq!(
            again
                .decrypt(Column::REGISTRATION_PHONE, 1, sealed.key_id, &sealed.bytes)
                .unwrap(),
            "13812345678"
        );
        assert_eq!(
            first.blind_index(Field::Phone, "13812345678"),
            again.blind_index(Field::Phone, "13812345678")
        );
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
