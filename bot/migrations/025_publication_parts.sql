-- The parts of a publication as they went out (an album, then the text in one or more
-- messages), so that a retry after a failure or a crash sends only what did not go yet.
CREATE TABLE publication_parts (
    incident_id INTEGER NOT NULL REFERENCES incidents(id),
    round       INTEGER NOT NULL,  -- the incident's version when approved (publications.round)
    part        INTEGER NOT NULL,  -- 0: the photos; 1, 2, ...: the parts of the text
    result      TEXT NOT NULL,     -- what the platform answered (message ids)
    at          TEXT NOT NULL,
    PRIMARY KEY (incident_id, round, part)
);
