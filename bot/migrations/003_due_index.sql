-- The digest asks for what is due by a moment, per state; without this it reads every row.
CREATE INDEX incidents_state_due ON incidents(state, answer_due);
