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
