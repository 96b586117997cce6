-- Where a resident wrote, so that answers go back there and replies can be watched.
ALTER TABLE incidents ADD COLUMN author_id TEXT;   -- the resident's id on the source
ALTER TABLE incidents ADD COLUMN thread TEXT;      -- e.g. "vk:-123_45" (a post's comments)
ALTER TABLE incidents ADD COLUMN reply_to TEXT;    -- the comment or message to answer
ALTER TABLE incidents ADD COLUMN feedback_until TEXT;
CREATE INDEX incidents_thread ON incidents(thread, author_id);

-- Further complaints of the same author in the same thread, linked to the open incident.
CREATE TABLE repeats (
    source      TEXT NOT NULL,
    external_id TEXT NOT NULL,
    incident_id INTEGER NOT NULL REFERENCES incidents(id),
    text        TEXT NOT NULL,
    at          TEXT NOT NULL,
    PRIMARY KEY (source, external_id)
);
