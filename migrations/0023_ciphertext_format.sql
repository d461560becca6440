-- 国密 (issue 13): every ciphertext now starts with a byte naming how it was made (src/crypto):
-- 1 AES-256-GCM without associated data, 2 AES-256-GCM and 3 SM4-GCM bound to their table,
-- column and row. What was written before is AES-256-GCM without associated data: it gets 1 and
-- stays readable until `xiafang keys rotate` re-encrypts it. Key id 0 marks the benchmark's
-- placeholders, which are not ciphertext.
UPDATE registrations SET id_number_cipher = '\x01'::bytea || id_number_cipher WHERE id_number_key_id > 0;
UPDATE registrations SET phone_cipher = '\x01'::bytea || phone_cipher WHERE phone_key_id > 0;
UPDATE users SET totp_secret = '\x01'::bytea || totp_secret WHERE totp_key_id > 0;
UPDATE login_challenges SET enrol_secret = '\x01'::bytea || enrol_secret WHERE enrol_key_id > 0;

COMMENT ON COLUMN registrations.id_number_cipher IS 'format byte | nonce | ciphertext and tag (src/crypto/software.rs); bound to registrations.id_number and the row id';
COMMENT ON COLUMN registrations.phone_cipher IS 'format byte | nonce | ciphertext and tag (src/crypto/software.rs); bound to registrations.phone and the row id';
COMMENT ON COLUMN users.totp_secret IS 'format byte | nonce | ciphertext and tag (src/crypto/software.rs); bound to users.totp_secret and the row id';
COMMENT ON COLUMN login_challenges.enrol_secret IS 'format byte | nonce | ciphertext and tag (src/crypto/software.rs); bound to login_challenges.enrol_secret and the hex of id_hash';
