-- SMS through a gateway (issue 14): the gateway's own id of a message it accepted, and what its
-- delivery receipt reported (delivered or not, when, and why not).
ALTER TABLE notifications
    ADD COLUMN gateway_id     text CHECK (length(gateway_id) BETWEEN 1 AND 100),
    ADD COLUMN receipt        text CHECK (receipt IN ('delivered', 'undelivered')),
    ADD COLUMN receipt_at     timestamptz,
    ADD COLUMN receipt_error  text CHECK (length(receipt_error) <= 200),
    ADD CONSTRAINT notifications_receipt_complete CHECK ((receipt IS NULL) = (receipt_at IS NULL)),
    ADD CONSTRAINT notifications_receipt_needs_id CHECK (receipt IS NULL OR gateway_id IS NOT NULL);
-- A receipt names the gateway's id (not unique: a gateway reusing one must not stop delivery).
CREATE INDEX notifications_gateway_idx ON notifications (gateway_id) WHERE gateway_id IS NOT NULL;
