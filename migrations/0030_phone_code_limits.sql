-- Phone verification's limits (issue 14) are counted per hour and per day, not only per minute:
-- a counter row now says how long its window lasts, and the purge drops a row once its own
-- window has ended. Existing counters are one-minute windows.
ALTER TABLE rate_limits ADD COLUMN window_seconds integer NOT NULL DEFAULT 60 CHECK (window_seconds > 0);
