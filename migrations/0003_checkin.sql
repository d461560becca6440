-- Stage 2, the day: publishing the schedule (发布排接) and check-in.
-- registrations.notified_assignment: the room, queue number and expected time last sent to the
-- registrant ('room:queue:epoch'); a re-publish notifies only those whose assignment differs.
-- NULL: never notified, so the citizen's status page does not show an assignment yet.
ALTER TABLE registrations ADD COLUMN notified_assignment text CHECK (length(notified_assignment) <= 100);
ALTER TABLE visits ADD COLUMN schedule_published_at timestamptz;
-- the day's counts group a visit's issues by the reception's room
CREATE INDEX receptions_visit_room_idx ON receptions (visit_id, room_id);
