-- The answer letters of the Governor's networks (002 3.12.6): the DOCX made after the final
-- approval, the signed PDF the executor uploads, and the e-mail, retried until it leaves.
CREATE TABLE IF NOT EXISTS letters (
    incident_id  INTEGER NOT NULL REFERENCES incidents(id),
    round        INTEGER NOT NULL,        -- the incident's version when it was approved
    docx_path    TEXT NOT NULL,
    pdf_path     TEXT,                    -- the signed scan, once uploaded
    pdf_name     TEXT,
    email_to     TEXT NOT NULL,           -- JSON list of addresses
    status       TEXT NOT NULL,           -- 'unsigned' | 'pending' | 'sent'
    attempts     INTEGER NOT NULL DEFAULT 0,
    next_try_at  TEXT,                    -- when a pending letter is (re)tried
    error        TEXT,
    created_at   TEXT NOT NULL,
    sent_at      TEXT,
    PRIMARY KEY (incident_id, round)
);
CREATE INDEX IF NOT EXISTS letters_due ON letters (status, next_try_at);
