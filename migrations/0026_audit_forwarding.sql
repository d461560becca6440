-- Forwarding the audit log off the host (issue 13, src/audit/forward.rs): how far each syslog
-- target has been sent. One row per target, locked by the instance forwarding to it.
CREATE TABLE audit_forwarding (
    target       text PRIMARY KEY,
    last_id      bigint NOT NULL DEFAULT 0,
    forwarded_at timestamptz
);
