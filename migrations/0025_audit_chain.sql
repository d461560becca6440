-- A tamper-evident audit log (issue 13, DESIGN §7): each entry carries the SM3 hash of its content
-- and of the previous entry's hash (src/audit.rs `chain`). Entries written before this migration
-- are chained by `xiafang migrate` right after it (SM3 is not in PostgreSQL), in id order.
ALTER TABLE audit_log
    ADD COLUMN prev_hash bytea CHECK (octet_length(prev_hash) = 32),
    ADD COLUMN hash bytea CHECK (octet_length(hash) = 32);
