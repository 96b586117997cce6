-- The outbox at volume: what the sender looks for is indexed apart from the sent rows, which
-- are kept for [storage] keep_sent and purged nightly.
-- The head of each chat's queue (due_messages): only rows still to send.
CREATE INDEX outbox_queue ON outbox(platform, chat_id, id) WHERE status IN ('pending', 'sending');
-- The next due message of a platform (next_due_at).
CREATE INDEX outbox_next ON outbox(platform, next_attempt_at) WHERE status = 'pending';
-- The purge of old sent rows and the health check's "last sent".
CREATE INDEX outbox_sent ON outbox(sent_at) WHERE status = 'sent';
