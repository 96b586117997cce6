-- Registration's routing reads each executor's open incidents (open_load) on every intake:
-- counting them through the partial index still walked every open incident (3 ms at 30,000
-- open). The counts are kept here instead, by triggers, whatever code changes an incident.
CREATE TABLE open_load (
    executor_id INTEGER PRIMARY KEY,
    n INTEGER NOT NULL
);
INSERT INTO open_load (executor_id, n)
    SELECT executor_id, COUNT(*) FROM incidents
    WHERE executor_id IS NOT NULL AND state NOT IN ('closed', 'redirected', 'rejected')
    GROUP BY executor_id;

CREATE TRIGGER open_load_insert AFTER INSERT ON incidents
WHEN NEW.executor_id IS NOT NULL AND NEW.state NOT IN ('closed', 'redirected', 'rejected')
BEGIN
    INSERT INTO open_load (executor_id, n) VALUES (NEW.executor_id, 1)
        ON CONFLICT (executor_id) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER open_load_delete AFTER DELETE ON incidents
WHEN OLD.executor_id IS NOT NULL AND OLD.state NOT IN ('closed', 'redirected', 'rejected')
BEGIN
    UPDATE open_load SET n = n - 1 WHERE executor_id = OLD.executor_id;
END;

CREATE TRIGGER open_load_update_old AFTER UPDATE OF executor_id, state ON incidents
WHEN OLD.executor_id IS NOT NULL AND OLD.state NOT IN ('closed', 'redirected', 'rejected')
BEGIN
    UPDATE open_load SET n = n - 1 WHERE executor_id = OLD.executor_id;
END;

CREATE TRIGGER open_load_update_new AFTER UPDATE OF executor_id, state ON incidents
WHEN NEW.executor_id IS NOT NULL AND NEW.state NOT IN ('closed', 'redirected', 'rejected')
BEGIN
    INSERT INTO open_load (executor_id, n) VALUES (NEW.executor_id, 1)
        ON CONFLICT (executor_id) DO UPDATE SET n = n + 1;
END;
