-- An audit entry belongs to its actor's jurisdiction and to its object's (issue 12, DESIGN §2 and
-- §11): a provincial handler's step on a county's case shows in that county's audit too.

ALTER TABLE audit_log ADD COLUMN object_jurisdiction_id bigint REFERENCES jurisdictions(id);
CREATE INDEX audit_log_object_jurisdiction_idx ON audit_log (object_jurisdiction_id, at DESC)
    WHERE object_jurisdiction_id IS NOT NULL;

-- Where an audited object lives: a visit and everything of it, the host's; an account, department or
-- leader, its own. NULL for reference data of the deployment and for objects already deleted.
CREATE FUNCTION audit_object_jurisdiction(object_type text, object_id text) RETURNS bigint
LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN object_id !~ '^[0-9]{1,18}$' THEN NULL ELSE CASE object_type
        WHEN 'visit' THEN (SELECT county_id FROM visits WHERE id = object_id::bigint)
        WHEN 'registration' THEN (SELECT v.county_id FROM registrations r JOIN visits v ON v.id = r.visit_id
                                  WHERE r.id = object_id::bigint)
        WHEN 'room' THEN (SELECT v.county_id FROM rooms x JOIN visits v ON v.id = x.visit_id WHERE x.id = object_id::bigint)
        WHEN 'notice' THEN (SELECT v.county_id FROM notices x JOIN visits v ON v.id = x.visit_id WHERE x.id = object_id::bigint)
        WHEN 'window' THEN (SELECT v.county_id FROM reception_windows x JOIN visits v ON v.id = x.visit_id
                            WHERE x.id = object_id::bigint)
        WHEN 'survey_item' THEN (SELECT v.county_id FROM survey_items x JOIN visits v ON v.id = x.visit_id
                                 WHERE x.id = object_id::bigint)
        WHEN 'screening_flag' THEN (SELECT v.county_id FROM screening_flags f JOIN registrations r ON r.id = f.registration_id
                                    JOIN visits v ON v.id = r.visit_id WHERE f.id = object_id::bigint)
        WHEN 'case' THEN (SELECT v.county_id FROM cases c JOIN visits v ON v.id = c.visit_id WHERE c.id = object_id::bigint)
        WHEN 'user' THEN (SELECT jurisdiction_id FROM users WHERE id = object_id::bigint)
        WHEN 'department' THEN (SELECT jurisdiction_id FROM departments WHERE id = object_id::bigint)
        WHEN 'leader' THEN (SELECT county_id FROM leaders WHERE id = object_id::bigint)
    END END
$$;

-- The owner runs migrations: the app role still may only INSERT and SELECT (src/db/mod.rs).
UPDATE audit_log SET object_jurisdiction_id = audit_object_jurisdiction(object_type, object_id)
WHERE object_type IS NOT NULL;

-- The administrators' reach (src/admin/scope.rs): `j` within `viewer`'s subtree; an object not yet
-- placed in the tree (NULL) belongs to the deployment, reached only from a root jurisdiction.
CREATE FUNCTION jurisdiction_reaches(viewer bigint, j bigint) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN j IS NULL THEN EXISTS (SELECT 1 FROM jurisdictions WHERE id = viewer AND parent_id IS NULL)
                ELSE j IN (SELECT jurisdiction_subtree(viewer)) END
$$;

-- Who may sit at a jurisdiction's tables (the visit and room forms): its own and everything below
-- it, and the levels above it (Pujiang 2003 seated provincial and county departments together) —
-- never a sibling county's.
CREATE FUNCTION jurisdiction_line(x bigint) RETURNS SETOF bigint LANGUAGE sql STABLE AS $$
    WITH RECURSIVE up AS (
        SELECT parent_id AS id FROM jurisdictions WHERE id = $1
        UNION ALL
        SELECT j.parent_id FROM jurisdictions j JOIN up ON j.id = up.id
    )
    SELECT id FROM up WHERE id IS NOT NULL
    UNION ALL
    SELECT jurisdiction_subtree($1)
$$;

-- Whether a leader or department of jurisdiction `j` (NULL: not yet placed) may take part in
-- `visit`: it belongs to the host's line. The room form, the desk and reassignment apply it.
CREATE FUNCTION seats_at_visit(j bigint, visit bigint) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT j IS NULL OR j IN (SELECT jurisdiction_line(county_id) FROM visits WHERE id = visit)
$$;
