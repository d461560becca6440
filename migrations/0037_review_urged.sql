-- A 复查/复核 is a deadline like a case's (issue 15): the day its automatic 催办 first fired puts
-- it on the 通报 list once it stays undecided the configured working days after.
ALTER TABLE reviews ADD COLUMN first_urged_at timestamptz;
CREATE INDEX reviews_urged_open_idx ON reviews (first_urged_at) WHERE decided_at IS NULL AND first_urged_at IS NOT NULL;
