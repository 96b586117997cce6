-- Approved answers that a publisher posts back where the resident wrote.
CREATE TABLE publications (
    incident_id     INTEGER NOT NULL REFERENCES incidents(id),
    round           INTEGER NOT NULL,          -- the incident's version when approved
    status          TEXT NOT NULL DEFAULT 'pending',  -- pending | done | failed
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    last_error      TEXT,
    result          TEXT,
    PRIMARY KEY (incident_id, round)
);
CREATE INDEX publications_pending ON publications(next_attempt_at) WHERE status = 'pending';
