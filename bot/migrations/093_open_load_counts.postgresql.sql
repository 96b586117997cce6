-- 093_open_load_counts.sql on PostgreSQL: the same table, kept by one trigger function
-- (SQLite's triggers take their body inline; PostgreSQL's call a function).
CREATE TABLE open_load (
    executor_id BIGINT PRIMARY KEY,
    n BIGINT NOT NULL
);
INSERT INTO open_load (executor_id, n)
    SELECT executor_id, COUNT(*) FROM incidents
    WHERE executor_id IS NOT NULL AND state NOT IN ('closed', 'redirected', 'rejected')
    GROUP BY executor_id;

CREATE FUNCTION open_load_track() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.executor_id IS NOT NULL
            AND OLD.state NOT IN ('closed', 'redirected', 'rejected') THEN
        UPDATE open_load SET n = n - 1 WHERE executor_id = OLD.executor_id;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') AND NEW.executor_id IS NOT NULL
            AND NEW.state NOT IN ('closed', 'redirected', 'rejected') THEN
        INSERT INTO open_load (executor_id, n) VALUES (NEW.executor_id, 1)
            ON CONFLICT (executor_id) DO UPDATE SET n = open_load.n + 1;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER open_load_track AFTER INSERT OR DELETE OR UPDATE OF executor_id, state
ON incidents FOR EACH ROW EXECUTE FUNCTION open_load_track();
