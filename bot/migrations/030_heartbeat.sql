-- What the running bot last knew of its own health (Telegram polling, the scheduler, VK
-- sources), so that `otklik status` can tell a shell user without asking the process.
CREATE TABLE IF NOT EXISTS heartbeat (
    component TEXT PRIMARY KEY,
    ok        INTEGER NOT NULL,
    at        TEXT NOT NULL,          -- when this row was written
    data      TEXT NOT NULL           -- JSON details
);
