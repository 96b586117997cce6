-- SLA timers live in the database: the next moment an incident needs looking at is a
-- column with an index, and the sweep reads only what is due.
ALTER TABLE incidents ADD COLUMN next_action_at TEXT;
ALTER TABLE incidents ADD COLUMN sla_step INTEGER NOT NULL DEFAULT 0;
ALTER TABLE incidents ADD COLUMN clock_start TEXT;
ALTER TABLE incidents ADD COLUMN first_response_at TEXT;
ALTER TABLE incidents ADD COLUMN promised_at TEXT;
CREATE INDEX incidents_next_action ON incidents(next_action_at)
    WHERE next_action_at IS NOT NULL;

-- Once-a-day jobs (the coordinators' digest) remember the last day they ran.
CREATE TABLE daily_jobs (
    name     TEXT PRIMARY KEY,
    last_day TEXT NOT NULL
);
