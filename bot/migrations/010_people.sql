-- People keyed by something stable (the config's `key`, else their Telegram or VK id), never
-- by name; groups the bot left because they are not in `[telegram] groups`.

ALTER TABLE people ADD COLUMN person_key TEXT;
CREATE UNIQUE INDEX people_key ON people(person_key) WHERE person_key IS NOT NULL;

CREATE TABLE left_groups (
    chat_id INTEGER PRIMARY KEY,
    at      TEXT NOT NULL
);
