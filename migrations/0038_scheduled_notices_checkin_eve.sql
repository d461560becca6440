-- Issue 16. A notice may be published by the jobs at 08:00 China time on its planned_date
-- (scheduled_by set, since 0002); when the notice periods refuse it at that moment, it stays a
-- draft and the reason is kept here for the staff to see (cleared when rescheduled).
ALTER TABLE notices ADD COLUMN schedule_refused text CHECK (length(schedule_refused) <= 500);

-- Check-in opens on the visit's day; staff may open it from 12:00 the day before, per visit,
-- for queues that form early.
ALTER TABLE visits ADD COLUMN checkin_opens_eve boolean NOT NULL DEFAULT false;
