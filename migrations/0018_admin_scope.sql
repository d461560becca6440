-- The administrators act within their jurisdiction's subtree (issue 12, DESIGN §2): an audit entry
-- belongs to its actor's jurisdiction (for an anonymous act, its object's when known), and a
-- department's name is unique within its jurisdiction (every county has its 住建局).

ALTER TABLE audit_log ADD COLUMN jurisdiction_id bigint REFERENCES jurisdictions(id);
CREATE INDEX audit_log_jurisdiction_idx ON audit_log (jurisdiction_id, at DESC);
-- The owner runs migrations: the app role still may only INSERT and SELECT (src/db/mod.rs).
UPDATE audit_log a SET jurisdiction_id = u.jurisdiction_id FROM users u WHERE u.id = a.actor_id;

ALTER TABLE departments DROP CONSTRAINT departments_name_key;
-- NULLS NOT DISTINCT: departments not yet placed in the tree still may not share a name.
ALTER TABLE departments ADD CONSTRAINT departments_jurisdiction_name_key
    UNIQUE NULLS NOT DISTINCT (jurisdiction_id, name);
