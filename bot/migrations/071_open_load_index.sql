-- Registration's routing counts each executor's open incidents (open_load): only the open
-- ones are indexed, so the count does not grow with the closed history.
CREATE INDEX incidents_open_load ON incidents(executor_id)
    WHERE executor_id IS NOT NULL AND state NOT IN ('closed', 'redirected', 'rejected');
