-- 100_problems.sql on PostgreSQL: the same tables and indexes; the open load's trigger
-- function (093's PostgreSQL version) replaced so that a merged complaint is left out too.
CREATE TABLE problem_complaints (
    incident_id      BIGINT PRIMARY KEY REFERENCES incidents(id),
    problem_id       BIGINT NOT NULL REFERENCES incidents(id),
    prev_state       TEXT NOT NULL,
    prev_executor_id BIGINT,
    merged_by        BIGINT,
    merged_at        TEXT NOT NULL
);
CREATE INDEX problem_complaints_problem ON problem_complaints(problem_id);
CREATE INDEX incidents_grouping ON incidents(category, registered_at);
DROP INDEX IF EXISTS incidents_open_load;
CREATE INDEX incidents_open_load ON incidents(executor_id)
    WHERE executor_id IS NOT NULL AND state NOT IN ('closed', 'redirected', 'rejected', 'merged');

CREATE OR REPLACE FUNCTION open_load_track() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.executor_id IS NOT NULL
            AND OLD.state NOT IN ('closed', 'redirected', 'rejected', 'merged') THEN
        UPDATE open_load SET n = n - 1 WHERE executor_id = OLD.executor_id;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') AND NEW.executor_id IS NOT NULL
            AND NEW.state NOT IN ('closed', 'redirected', 'rejected', 'merged') THEN
        INSERT INTO open_load (executor_id, n) VALUES (NEW.executor_id, 1)
            ON CONFLICT (executor_id) DO UPDATE SET n = open_load.n + 1;
    END IF;
    RETURN NULL;
END
$$;
DELETE FROM open_load;
INSERT INTO open_load (executor_id, n)
    SELECT executor_id, COUNT(*) FROM incidents
    WHERE executor_id IS NOT NULL AND state NOT IN ('closed', 'redirected', 'rejected', 'merged')
    GROUP BY executor_id;
