-- Several municipalities in one deployment (issue 13.1): the municipality of each incident and
-- person (NULL: the region's own, or the single district's).
ALTER TABLE incidents ADD COLUMN municipality TEXT;
ALTER TABLE people ADD COLUMN municipality TEXT;
CREATE INDEX incidents_municipality ON incidents(municipality, registered_at);
