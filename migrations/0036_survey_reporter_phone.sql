-- 访前调查: the reporter's phone, when given (issue 15), so that a case made from a survey item can
-- be followed by its 查询码 and its 查询码 sent by SMS. Sealed, blind-indexed and masked like a
-- registration's phone (AAD survey_items/reporter_phone/id); the lookup's "last 4 digits" are
-- the mask's last 4.
ALTER TABLE survey_items
    ADD COLUMN reporter_phone_cipher bytea CHECK (length(reporter_phone_cipher) > 28),
    ADD COLUMN reporter_phone_key_id smallint CHECK (reporter_phone_key_id >= 0),
    ADD COLUMN reporter_phone_index  bytea CHECK (length(reporter_phone_index) = 32),
    ADD COLUMN reporter_phone_mask   text CHECK (reporter_phone_mask ~ '^[0-9]{3}\*{3,8}[0-9]{4}$'),
    ADD CONSTRAINT survey_items_reporter_phone_complete CHECK (
        num_nulls(reporter_phone_cipher, reporter_phone_key_id, reporter_phone_index, reporter_phone_mask) IN (0, 4));
COMMENT ON COLUMN survey_items.reporter_phone_cipher IS 'bound to survey_items.reporter_phone and the row id';

-- A fourth kind of SMS recipient: the reporter of a survey item (its phone decrypted at delivery).
ALTER TABLE notifications ADD COLUMN survey_item_id bigint REFERENCES survey_items(id) ON DELETE CASCADE;
ALTER TABLE notifications DROP CONSTRAINT notifications_one_recipient;
ALTER TABLE notifications ADD CONSTRAINT notifications_one_recipient
    CHECK (num_nonnulls(registration_id, user_id, phone_code_id, survey_item_id) = 1);
CREATE INDEX notifications_survey_item_idx ON notifications (survey_item_id) WHERE survey_item_id IS NOT NULL;
