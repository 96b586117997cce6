-- How far a polled source has read (the newest comment seen per post), so that a poll
-- looks only at what is new.
CREATE TABLE source_cursors (
    source TEXT NOT NULL,
    key    TEXT NOT NULL,
    value  INTEGER NOT NULL,
    PRIMARY KEY (source, key)
);
