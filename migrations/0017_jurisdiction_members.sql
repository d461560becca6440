-- Accounts, departments and visits belong to the jurisdiction tree (issue 12, DESIGN §2 and §11):
-- an account sees its jurisdiction and everything below it; a visit has an organising and a host
-- jurisdiction (visits.county_id is the host).

-- A jurisdiction added without a parent finds it by its code: a township (9 digits) under its
-- county, a county under its city (or, for 省直辖 counties, its province), a city under its province.
CREATE FUNCTION jurisdiction_parent_by_code(text, text) RETURNS bigint LANGUAGE sql STABLE AS $$
    SELECT j.id FROM jurisdictions j
    WHERE $2 <> 'province' AND j.code <> $1
      AND j.code IN (left($1, 6), left($1, 4) || '00', left($1, 2) || '0000')
    ORDER BY CASE j.code WHEN left($1, 6) THEN 0 WHEN left($1, 4) || '00' THEN 1 ELSE 2 END
    LIMIT 1
$$;

CREATE FUNCTION jurisdictions_default_parent() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.parent_id IS NULL THEN
        NEW.parent_id := jurisdiction_parent_by_code(NEW.code, NEW.level);
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER jurisdictions_parent BEFORE INSERT ON jurisdictions
    FOR EACH ROW EXECUTE FUNCTION jurisdictions_default_parent();

UPDATE jurisdictions SET parent_id = jurisdiction_parent_by_code(code, level)
WHERE parent_id IS NULL AND level <> 'province';

-- A jurisdiction and everything below it: what an account of `root` may see.
CREATE FUNCTION jurisdiction_subtree(root bigint) RETURNS SETOF bigint LANGUAGE sql STABLE AS $$
    WITH RECURSIVE t AS (
        SELECT id FROM jurisdictions WHERE id = $1
        UNION ALL
        SELECT j.id FROM jurisdictions j JOIN t ON j.parent_id = t.id
    )
    SELECT id FROM t
$$;

ALTER TABLE users ADD COLUMN jurisdiction_id bigint REFERENCES jurisdictions(id);
ALTER TABLE departments ADD COLUMN jurisdiction_id bigint REFERENCES jurisdictions(id);
ALTER TABLE visits ADD COLUMN organiser_id bigint REFERENCES jurisdictions(id);
CREATE INDEX users_jurisdiction_idx ON users (jurisdiction_id);
CREATE INDEX departments_jurisdiction_idx ON departments (jurisdiction_id);
CREATE INDEX visits_organiser_idx ON visits (organiser_id);

-- A visit organised by nobody else is organised by its host.
CREATE FUNCTION visits_default_organiser() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.organiser_id IS NULL THEN
        NEW.organiser_id := NEW.county_id;
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER visits_organiser BEFORE INSERT ON visits
    FOR EACH ROW EXECUTE FUNCTION visits_default_organiser();
UPDATE visits SET organiser_id = county_id;
ALTER TABLE visits ALTER COLUMN organiser_id SET NOT NULL;

-- An existing single-county installation: its accounts and departments belong to the county its
-- visits are in (the busiest one, if several). A new installation has no visits and sets them.
UPDATE users SET jurisdiction_id =
    (SELECT county_id FROM visits GROUP BY county_id ORDER BY count(*) DESC, county_id LIMIT 1);
UPDATE departments SET jurisdiction_id =
    (SELECT county_id FROM visits GROUP BY county_id ORDER BY count(*) DESC, county_id LIMIT 1);
