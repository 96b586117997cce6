-- Reports read only their period (and the previous one): incidents registered, due or
-- answered then, and the audit and answers of those incidents.
CREATE INDEX incidents_registered ON incidents(registered_at);
CREATE INDEX incidents_answer_due ON incidents(answer_due);
CREATE INDEX incidents_first_response_due ON incidents(first_response_due);
CREATE INDEX answers_incident ON answers(incident_id, published_at);
CREATE INDEX answers_published ON answers(published_at);
