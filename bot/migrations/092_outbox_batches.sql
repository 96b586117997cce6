-- Coordinators' notifications of new incidents, merged into one summary while their chat is
-- behind (issue 16, cause 7): the kind of mergeable message, and the incidents it tells of.
ALTER TABLE outbox ADD COLUMN batch TEXT;
ALTER TABLE outbox ADD COLUMN items TEXT;  -- JSON list, one object per incident
CREATE INDEX outbox_batch ON outbox(platform, chat_id, batch)
    WHERE status = 'pending' AND batch IS NOT NULL;
