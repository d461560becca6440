-- Issue 17, DESIGN §7 Retention: `xiafang maintenance` (the owner, on a timer) anonymises what is
-- past its period and removes old notifications and audit entries. The periods have defaults in
-- src/maintenance/rules.rs; a jurisdiction may set its own here, and the nearest ancestor's
-- setting applies to everything below it.
CREATE TABLE retention_periods (
    jurisdiction_id bigint NOT NULL REFERENCES jurisdictions(id) ON DELETE CASCADE,
    kind            text NOT NULL CHECK (kind IN ('no_case', 'closed_case', 'notification', 'audit')),
    days            integer NOT NULL CHECK (days BETWEEN 1 AND 36500),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (jurisdiction_id, kind),
    -- 等保: audit records are kept at least six months.
    CONSTRAINT retention_periods_audit_minimum CHECK (kind <> 'audit' OR days >= 184)
);

-- An anonymised row keeps its codes, dates, categories and outcomes (statistics) and loses every
-- personal field; the constraints that demand those fields hold only for rows not anonymised.
ALTER TABLE registrations ADD COLUMN anonymised_at timestamptz;
ALTER TABLE cases ADD COLUMN anonymised_at timestamptz;
ALTER TABLE survey_items ADD COLUMN anonymised_at timestamptz;

-- NOT NULL ciphertexts are emptied under key id 0, which reads as empty (src/crypto).
ALTER TABLE registrations
    DROP CONSTRAINT registrations_id_number_cipher_check,
    ADD CONSTRAINT registrations_id_number_cipher_check
        CHECK (length(id_number_cipher) > 28 OR (anonymised_at IS NOT NULL AND id_number_key_id = 0)),
    DROP CONSTRAINT registrations_id_number_index_check,
    ADD CONSTRAINT registrations_id_number_index_check
        CHECK (length(id_number_index) = 32 OR anonymised_at IS NOT NULL),
    DROP CONSTRAINT registrations_id_number_mask_check,
    ADD CONSTRAINT registrations_id_number_mask_check
        CHECK (id_number_mask ~ '^[0-9]{3}\*{11}[0-9]{3}[0-9X]$' OR anonymised_at IS NOT NULL),
    DROP CONSTRAINT registrations_phone_required,
    ADD CONSTRAINT registrations_phone_required
        CHECK (channel NOT IN ('online', 'phone') OR phone_cipher IS NOT NULL OR anonymised_at IS NOT NULL),
    DROP CONSTRAINT registrations_name_sealed,
    ADD CONSTRAINT registrations_name_sealed
        CHECK (((name IS NULL) = (name_cipher IS NOT NULL) AND num_nulls(name_cipher, name_key_id, name_index) IN (0, 3))
               OR (anonymised_at IS NOT NULL AND num_nulls(name, name_cipher, name_key_id, name_index) = 4)),
    DROP CONSTRAINT registrations_grievance_sealed,
    ADD CONSTRAINT registrations_grievance_sealed
        CHECK (((grievance IS NULL) = (grievance_cipher IS NOT NULL) AND num_nulls(grievance_cipher, grievance_key_id) IN (0, 2))
               OR (anonymised_at IS NOT NULL AND num_nulls(grievance, grievance_cipher, grievance_key_id) = 3));

ALTER TABLE cases
    DROP CONSTRAINT cases_result_required,
    ADD CONSTRAINT cases_result_required
        CHECK (status NOT IN ('closure_submitted', 'closed', 'rated')
               OR (result IS NOT NULL AND closure_submitted_by IS NOT NULL
                   AND (reply IS NOT NULL OR reply_cipher IS NOT NULL OR anonymised_at IS NOT NULL)));

ALTER TABLE documents
    DROP CONSTRAINT documents_addressee_cipher_check,
    ADD CONSTRAINT documents_addressee_cipher_check
        CHECK (length(addressee_cipher) > 28 OR (addressee_key_id = 0 AND length(addressee_cipher) = 0)),
    DROP CONSTRAINT documents_body_cipher_check,
    ADD CONSTRAINT documents_body_cipher_check
        CHECK (length(body_cipher) > 28 OR (body_key_id = 0 AND length(body_cipher) = 0));

ALTER TABLE attachments
    DROP CONSTRAINT attachments_name_cipher_check,
    ADD CONSTRAINT attachments_name_cipher_check
        CHECK (length(name_cipher) > 28 OR (name_key_id = 0 AND length(name_cipher) = 0)),
    DROP CONSTRAINT attachments_content_cipher_check,
    ADD CONSTRAINT attachments_content_cipher_check
        CHECK (length(content_cipher) > 28 OR (content_key_id = 0 AND length(content_cipher) = 0));

-- The retention queries: what is due, oldest first.
CREATE INDEX cases_closed_idx ON cases (closed_at) WHERE anonymised_at IS NULL AND closed_at IS NOT NULL;
CREATE INDEX notifications_created_idx ON notifications (created_at);
CREATE INDEX phone_codes_created_idx ON phone_codes (created_at);
