-- The web board (bot/board): one-time login links sent by /board, and the key that signs
-- the board's session cookies. Only a hash of each link's token is kept.
CREATE TABLE board_links (
    token_hash TEXT PRIMARY KEY,             -- sha256 of the token, hex
    person_id  INTEGER NOT NULL REFERENCES people(id),
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    used_at    TEXT
);
CREATE INDEX board_links_person ON board_links(person_id);

CREATE TABLE board_keys (
    id  INTEGER PRIMARY KEY CHECK (id = 1),
    key TEXT NOT NULL                        -- hex; signs the session cookies
);
