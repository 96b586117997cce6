-- The first schema of Otklik. Times are ISO 8601 strings in UTC.

CREATE TABLE people (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL,
    roles       TEXT NOT NULL,            -- comma-separated role codes
    departments TEXT NOT NULL DEFAULT '', -- comma-separated department keys
    active      INTEGER NOT NULL DEFAULT 1,
    from_config INTEGER NOT NULL DEFAULT 0
);

-- A person's chat on a platform; one chat per person and platform.
CREATE TABLE bindings (
    person_id INTEGER NOT NULL REFERENCES people(id),
    platform  TEXT NOT NULL,
    chat_id   INTEGER NOT NULL,
    PRIMARY KEY (platform, chat_id),
    UNIQUE (person_id, platform)
);

CREATE TABLE invites (
    token      TEXT PRIMARY KEY,
    person_id  INTEGER NOT NULL REFERENCES people(id),
    created_by INTEGER REFERENCES people(id),
    created_at TEXT NOT NULL,
    used_at    TEXT
);

CREATE TABLE incidents (
    id                 INTEGER PRIMARY KEY,
    state              TEXT NOT NULL,
    source             TEXT NOT NULL,
    external_id        TEXT,
    text               TEXT NOT NULL,
    category           TEXT,
    department         TEXT,
    executor_id        INTEGER REFERENCES people(id),
    priority           TEXT NOT NULL,
    registered_at      TEXT NOT NULL,
    url                TEXT,
    author             TEXT,
    first_response_due TEXT,
    answer_due         TEXT,
    approved_text      TEXT,
    approved_kind      TEXT,
    redirected_to      TEXT,
    version            INTEGER NOT NULL DEFAULT 0,
    updated_at         TEXT NOT NULL,
    UNIQUE (source, external_id)
);
CREATE INDEX incidents_state ON incidents(state);
CREATE INDEX incidents_executor ON incidents(executor_id, state);

-- The resident's own photos, kept with the incident.
CREATE TABLE incident_attachments (
    id          INTEGER PRIMARY KEY,
    incident_id INTEGER NOT NULL REFERENCES incidents(id),
    kind        TEXT NOT NULL,
    file_id     TEXT NOT NULL,
    file_name   TEXT,
    mime_type   TEXT,
    local_path  TEXT
);

-- The executor's current draft answer, one per incident, saved as it is written.
CREATE TABLE drafts (
    incident_id   INTEGER PRIMARY KEY REFERENCES incidents(id),
    author_id     INTEGER NOT NULL REFERENCES people(id),
    text          TEXT NOT NULL DEFAULT '',
    kind          TEXT NOT NULL DEFAULT 'final',
    promised_date TEXT,
    updated_at    TEXT NOT NULL
);

CREATE TABLE draft_attachments (
    id             INTEGER PRIMARY KEY,
    incident_id    INTEGER NOT NULL REFERENCES incidents(id),
    kind           TEXT NOT NULL,          -- photo | document
    file_id        TEXT NOT NULL,
    file_unique_id TEXT NOT NULL,
    file_name      TEXT,
    mime_type      TEXT,
    local_path     TEXT,
    media_group_id TEXT,
    UNIQUE (incident_id, file_unique_id)
);

-- Answers as they went out to the resident.
CREATE TABLE answers (
    id           INTEGER PRIMARY KEY,
    incident_id  INTEGER NOT NULL REFERENCES incidents(id),
    kind         TEXT NOT NULL,
    text         TEXT NOT NULL,
    attachments  TEXT NOT NULL DEFAULT '[]', -- JSON
    published_at TEXT NOT NULL,
    published_by INTEGER REFERENCES people(id)
);

-- Append-only: who did what, when, from which state to which, and why.
CREATE TABLE audit (
    id          INTEGER PRIMARY KEY,
    incident_id INTEGER,
    actor_id    INTEGER,
    action      TEXT NOT NULL,
    from_state  TEXT,
    to_state    TEXT,
    reason      TEXT,
    at          TEXT NOT NULL,
    ok          INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX audit_incident ON audit(incident_id, id);
CREATE INDEX audit_at ON audit(at);
CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;

-- Every message Otklik sends, committed with the change that caused it.
CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY,
    platform        TEXT NOT NULL,
    chat_id         INTEGER NOT NULL,
    method          TEXT NOT NULL,
    payload         TEXT NOT NULL,          -- JSON parameters of the method
    status          TEXT NOT NULL DEFAULT 'pending', -- pending | sent | failed
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    last_error      TEXT,
    created_at      TEXT NOT NULL,
    sent_at         TEXT,
    result          TEXT
);
CREATE INDEX outbox_pending ON outbox(next_attempt_at) WHERE status = 'pending';
CREATE INDEX outbox_chat ON outbox(platform, chat_id, id);

-- Chats that can never be reached (blocked the bot, gone); the coordinator is told once.
CREATE TABLE unreachable_chats (
    platform TEXT NOT NULL,
    chat_id  INTEGER NOT NULL,
    reason   TEXT NOT NULL,
    at       TEXT NOT NULL,
    PRIMARY KEY (platform, chat_id)
);

CREATE TABLE processed_updates (
    platform  TEXT NOT NULL,
    update_id INTEGER NOT NULL,
    at        TEXT NOT NULL,
    PRIMARY KEY (platform, update_id)
);

-- What the next message of a person means (writing an answer, typing a reason, ...).
CREATE TABLE chat_state (
    person_id   INTEGER NOT NULL REFERENCES people(id),
    platform    TEXT NOT NULL,
    mode        TEXT NOT NULL,
    incident_id INTEGER,
    data        TEXT NOT NULL DEFAULT '{}',
    PRIMARY KEY (person_id, platform)
);

-- A post the coordinator forwarded, waiting for its category.
CREATE TABLE intake (
    id          INTEGER PRIMARY KEY,
    person_id   INTEGER NOT NULL REFERENCES people(id),
    source      TEXT NOT NULL,
    text        TEXT NOT NULL,
    url         TEXT,
    author      TEXT,
    attachments TEXT NOT NULL DEFAULT '[]',
    media_group_id TEXT,
    created_at  TEXT NOT NULL,
    incident_id INTEGER REFERENCES incidents(id)
);
