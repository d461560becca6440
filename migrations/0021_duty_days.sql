-- The county's duty rota (值守接访, issue 12, DESIGN §11): a county-level leader on duty at the
-- county's 矛调中心 on every working day. A duty day is a visit like any other (registration, queue,
-- desk, cases), hosted and organised by the county, marked here so that the rota can find its days.
ALTER TABLE visits ADD COLUMN duty boolean NOT NULL DEFAULT false;

-- One duty day per county and date; a cancelled day leaves room for a new one.
CREATE UNIQUE INDEX visits_one_duty_day ON visits (county_id, visit_date)
    WHERE duty AND status <> 'cancelled';
