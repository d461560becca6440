-- Attachments (附件, issue 15, DESIGN §3): files on a case or on one of its documents — the sealed
-- reply as a PDF, photos of the site. The type is what the first bytes say (PDF, JPEG, PNG), never
-- the name; at most 10 MB. The content and the file name are personal data, sealed like the other
-- free texts (AAD attachments/content|name/id). Kept as evidence: the app role may only add and
-- read them (src/db GRANTS); retention runs as the owner.
CREATE TABLE attachments (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    case_id         bigint NOT NULL REFERENCES cases(id),
    document_id     bigint REFERENCES documents(id),
    kind            text NOT NULL CHECK (kind IN ('pdf', 'jpeg', 'png')),
    size            integer NOT NULL CHECK (size BETWEEN 1 AND 10485760),
    name_cipher     bytea NOT NULL CHECK (length(name_cipher) > 28),
    name_key_id     smallint NOT NULL CHECK (name_key_id >= 0),
    content_cipher  bytea NOT NULL CHECK (length(content_cipher) > 28),
    content_key_id  smallint NOT NULL CHECK (content_key_id >= 0),
    uploaded_by     bigint NOT NULL REFERENCES users(id),
    uploaded_at     timestamptz NOT NULL
);
CREATE INDEX attachments_case_idx ON attachments (case_id);
CREATE INDEX attachments_document_idx ON attachments (document_id) WHERE document_id IS NOT NULL;
