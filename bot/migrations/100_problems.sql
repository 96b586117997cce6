-- One problem, many complaints (issue 14.4): a complaint merged into a problem, whose lead is
-- an incident. The state and the executor the complaint had are kept, for an unmerge.
CREATE TABLE problem_complaints (
    incident_id      INTEGER PRIMARY KEY REFERENCES incidents(id),
    problem_id       INTEGER NOT NULL REFERENCES incidents(id),
    prev_state       TEXT NOT NULL,
    prev_executor_id INTEGER,
    merged_by        INTEGER,
    merged_at        TEXT NOT NULL
);
CREATE INDEX problem_complaints_problem ON problem_complaints(problem_id);
-- The open incidents of a category within the grouping window.
CREATE INDEX incidents_grouping ON incidents(category, registered_at);
-- A merged complaint is final too: the open-load index (071) leaves it out, in the same
-- terms as the storage's FINAL_SQL.
DROP INDEX IF EXISTS incidents_open_load;
CREATE INDEX incidents_open_load ON incidents(executor_id)
    WHERE executor_id IS NOT NULL AND state NOT IN ('closed', 'redirected', 'rejected', 'merged');
-- The executors' open load (093) leaves a merged complaint out too.
DROP TRIGGER open_load_insert;
DROP TRIGGER open_load_delete;
DROP TRIGGER open_load_update_old;
DROP TRIGGER open_load_update_new;
DELETE FROM open_load;
INSERT INTO open_load (executor_id, n)
    SELECT executor_id, COUNT(*) FROM incidents
    WHERE executor_id IS NOT NULL AND state NOT IN ('closed', 'redirected', 'rejected', 'merged')
    GROUP BY executor_id;

CREATE TRIGGER open_load_insert AFTER INSERT ON incidents
WHEN NEW.executor_id IS NOT NULL AND NEW.state NOT IN ('closed', 'redirected', 'rejected', 'merged')
BEGIN
    INSERT INTO open_load (executor_id, n) VALUES (NEW.executor_id, 1)
        ON CONFLICT (executor_id) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER open_load_delete AFTER DELETE ON incidents
WHEN OLD.executor_id IS NOT NULL AND OLD.state NOT IN ('closed', 'redirected', 'rejected', 'merged')
BEGIN
    UPDATE open_load SET n = n - 1 WHERE executor_id = OLD.executor_id;
END;

CREATE TRIGGER open_load_update_old AFTER UPDATE OF executor_id, state ON incidents
WHEN OLD.executor_id IS NOT NULL AND OLD.state NOT IN ('closed', 'redirected', 'rejected', 'merged')
BEGIN
    UPDATE open_load SET n = n - 1 WHERE executor_id = OLD.executor_id;
END;

CREATE TRIGGER open_load_update_new AFTER UPDATE OF executor_id, state ON incidents
WHEN NEW.executor_id IS NOT NULL AND NEW.state NOT IN ('closed', 'redirected', 'rejected', 'merged')
BEGIN
    INSERT INTO open_load (executor_id, n) VALUES (NEW.executor_id, 1)
        ON CONFLICT (executor_id) DO UPDATE SET n = n + 1;
END;
