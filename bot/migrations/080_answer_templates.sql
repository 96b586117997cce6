-- Typical answers per category (issue 14): the templates coordinators keep in the chat (those
-- of the config are seeded with origin 'config'), and the address found in each incident's text.
CREATE TABLE answer_templates (
    id         INTEGER PRIMARY KEY,
    category   TEXT NOT NULL,
    title      TEXT NOT NULL,
    text       TEXT NOT NULL,
    origin     TEXT NOT NULL DEFAULT 'chat',  -- 'config' | 'chat'
    created_by INTEGER,
    created_at TEXT NOT NULL,
    deleted_at TEXT
);
CREATE INDEX answer_templates_category ON answer_templates(category, deleted_at);

ALTER TABLE incidents ADD COLUMN address TEXT;
