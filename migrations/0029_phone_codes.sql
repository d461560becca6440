-- Phone verification (issue 14): before an online registration counts, the citizen proves they
-- hold the phone with a 6-digit SMS code. The code is kept only as a keyed hash; the phone is
-- sealed like a registration's (AAD phone_codes/phone/id) with a blind index to count per-phone
-- limits and find the latest code. A row is a code that was sent: wrong tries count on it, and
-- used_at marks the registration it admitted.
CREATE TABLE phone_codes (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    phone_cipher bytea NOT NULL CHECK (length(phone_cipher) > 28),
    phone_key_id smallint NOT NULL CHECK (phone_key_id >= 0),
    phone_index  bytea NOT NULL CHECK (length(phone_index) = 32),
    phone_mask   text NOT NULL CHECK (phone_mask ~ '^[0-9]{3}\*{3,8}[0-9]{4}$'),
    code_hash    bytea NOT NULL CHECK (length(code_hash) BETWEEN 16 AND 64),
    wrong_tries  integer NOT NULL DEFAULT 0 CHECK (wrong_tries >= 0),
    created_at   timestamptz NOT NULL,
    expires_at   timestamptz NOT NULL,
    used_at      timestamptz,
    CHECK (expires_at > created_at)
);
CREATE INDEX phone_codes_phone_idx ON phone_codes (phone_index, created_at DESC);
CREATE INDEX phone_codes_expiry_idx ON phone_codes (expires_at);

-- The code's SMS is addressed to the code's phone: a third kind of recipient. Its body holds the
-- code only until it is sent or given up (notify::deliver_batch erases it then).
ALTER TABLE notifications ADD COLUMN phone_code_id bigint REFERENCES phone_codes(id) ON DELETE CASCADE;
ALTER TABLE notifications DROP CONSTRAINT notifications_one_recipient;
ALTER TABLE notifications ADD CONSTRAINT notifications_one_recipient
    CHECK (num_nonnulls(registration_id, user_id, phone_code_id) = 1);
CREATE INDEX notifications_phone_code_idx ON notifications (phone_code_id) WHERE phone_code_id IS NOT NULL;
