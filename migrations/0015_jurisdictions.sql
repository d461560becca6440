-- The jurisdiction tree (DESIGN §11): the counties table becomes province → city → county → township.
-- Provinces, cities and counties (GB/T 2260, 6 digits) ship as reference/regions.csv, upserted by
-- code at start-up; townships carry the first 9 digits of the statistics bureau's 12-digit 统计用区划代码
-- (the last 3 digits name villages) and are imported per county (`xiafang regions import-townships`).
-- The columns that point here keep their name (visits.county_id, leaders.county_id).

ALTER TABLE counties RENAME TO jurisdictions;
ALTER TRIGGER counties_updated_at ON jurisdictions RENAME TO jurisdictions_updated_at;
-- Names repeat across the country (four 鼓楼区); the code is the key.
ALTER TABLE jurisdictions DROP CONSTRAINT counties_name_key;
ALTER TABLE jurisdictions DROP CONSTRAINT counties_code_check;

ALTER TABLE jurisdictions
    ADD COLUMN level text NOT NULL DEFAULT 'county'
        CHECK (level IN ('province', 'city', 'county', 'township')),
    ADD COLUMN parent_id bigint REFERENCES jurisdictions(id),
    -- Its government body (浦江县人民政府, 浦阳街道办事处), the superior of its departments (DESIGN §3).
    ADD COLUMN government text CHECK (length(government) BETWEEN 1 AND 60);

ALTER TABLE jurisdictions ADD CONSTRAINT jurisdictions_code_check CHECK (
    CASE WHEN level = 'township' THEN code ~ '^[0-9]{9}$' ELSE code ~ '^[0-9]{6}$' END);
CREATE INDEX jurisdictions_parent_idx ON jurisdictions (parent_id);

-- The default body: a 街道's 办事处, otherwise the people's government.
CREATE FUNCTION jurisdiction_government(name text, level text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN level = 'township' AND name LIKE '%街道' THEN name || '办事处'
                ELSE name || '人民政府' END
$$;

CREATE FUNCTION jurisdictions_default_government() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.government IS NULL OR NEW.government = '' THEN
        NEW.government := jurisdiction_government(NEW.name, NEW.level);
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER jurisdictions_government BEFORE INSERT OR UPDATE ON jurisdictions
    FOR EACH ROW EXECUTE FUNCTION jurisdictions_default_government();

UPDATE jurisdictions SET government = jurisdiction_government(name, level);
ALTER TABLE jurisdictions ALTER COLUMN government SET NOT NULL;
