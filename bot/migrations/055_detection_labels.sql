-- Detection that learns (issue 11): the coordinators' decisions as labelled examples, and the
-- texts that matched no category but read like a complaint, waiting for a decision.
CREATE TABLE detection_labels (
    id        INTEGER PRIMARY KEY,
    text      TEXT NOT NULL,
    category  TEXT NOT NULL,         -- a category key, or '-' for «Не обращение»
    origin    TEXT NOT NULL,         -- 'coordinator' (a decision in the chat), 'import' (otklik learn)
    person_id INTEGER,
    at        TEXT NOT NULL
);

CREATE TABLE possible_complaints (
    id          INTEGER PRIMARY KEY,
    source      TEXT NOT NULL,
    external_id TEXT NOT NULL,
    sighting    TEXT NOT NULL,       -- the message as JSON (text, link, author, thread, photos)
    suggestions TEXT NOT NULL,       -- JSON list of likely category keys, the best first
    at          TEXT NOT NULL,
    status      TEXT NOT NULL,       -- sent | queued | digested | registered | dismissed
    incident_id INTEGER,
    decided_by  INTEGER,
    UNIQUE (source, external_id)
);
CREATE INDEX possible_complaints_status ON possible_complaints(status, at);
