-- 国密 (issue 13): a registration's name, address, group representatives and grievance are
-- stored as SM4-GCM ciphertext bound to the row (src/crypto), like its ID number and phone.
-- SQL holds no keys, so rows written before this migration keep their plaintext until
-- `xiafang keys rotate` encrypts them (src/prepare/legacy_plaintext.rs) and clears it;
-- until then readers take the plaintext. New rows never write the plaintext columns.
ALTER TABLE registrations
    ALTER COLUMN name DROP NOT NULL,
    ALTER COLUMN address DROP NOT NULL,
    ALTER COLUMN address DROP DEFAULT,
    ALTER COLUMN representatives DROP NOT NULL,
    ALTER COLUMN representatives DROP DEFAULT,
    ALTER COLUMN grievance DROP NOT NULL,
    ADD COLUMN name_cipher bytea CHECK (length(name_cipher) > 28),
    ADD COLUMN name_key_id smallint CHECK (name_key_id >= 0),
    -- HMAC of the trimmed name: triage finds a person by exact name without decrypting
    ADD COLUMN name_index bytea CHECK (length(name_index) = 32),
    -- 王某某: what lists of many people show (src/privacy.rs::mask_name; NULL while the name is plaintext)
    ADD COLUMN name_mask text CHECK (length(name_mask) BETWEEN 1 AND 50),
    ADD COLUMN address_cipher bytea CHECK (length(address_cipher) > 28),
    ADD COLUMN address_key_id smallint CHECK (address_key_id >= 0),
    -- the names, one a line
    ADD COLUMN representatives_cipher bytea CHECK (length(representatives_cipher) > 28),
    ADD COLUMN representatives_key_id smallint CHECK (representatives_key_id >= 0),
    -- how many: the scheduler's priority and the representative rules need no decryption
    ADD COLUMN representatives_count smallint NOT NULL DEFAULT 0 CHECK (representatives_count BETWEEN 0 AND 5),
    ADD COLUMN grievance_cipher bytea CHECK (length(grievance_cipher) > 28),
    ADD COLUMN grievance_key_id smallint CHECK (grievance_key_id >= 0);

UPDATE registrations SET representatives_count = cardinality(representatives);

ALTER TABLE registrations
    DROP CONSTRAINT registrations_representatives_required,
    ADD CONSTRAINT registrations_representatives_required CHECK (persons <= 5 OR representatives_count >= 1 OR cardinality(representatives) >= 1),
    ADD CONSTRAINT registrations_name_sealed CHECK (
        (name IS NULL) = (name_cipher IS NOT NULL) AND num_nulls(name_cipher, name_key_id, name_index) IN (0, 3)),
    ADD CONSTRAINT registrations_grievance_sealed CHECK (
        (grievance IS NULL) = (grievance_cipher IS NOT NULL) AND num_nulls(grievance_cipher, grievance_key_id) IN (0, 2)),
    ADD CONSTRAINT registrations_address_sealed CHECK (
        num_nonnulls(address, address_cipher) <= 1 AND num_nulls(address_cipher, address_key_id) IN (0, 2)),
    ADD CONSTRAINT registrations_representatives_sealed CHECK (
        num_nonnulls(representatives, representatives_cipher) <= 1 AND num_nulls(representatives_cipher, representatives_key_id) IN (0, 2));

CREATE INDEX registrations_name_idx ON registrations (name_index) WHERE name_index IS NOT NULL;

COMMENT ON COLUMN registrations.name_cipher IS 'format byte | nonce | ciphertext and tag (src/crypto/software.rs); bound to registrations.name and the row id';
COMMENT ON COLUMN registrations.address_cipher IS 'bound to registrations.address and the row id';
COMMENT ON COLUMN registrations.representatives_cipher IS 'the names one a line; bound to registrations.representatives and the row id';
COMMENT ON COLUMN registrations.grievance_cipher IS 'bound to registrations.grievance and the row id';
