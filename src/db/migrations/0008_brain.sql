-- Brains: every request for a wake is counted, so a brain that finishes can tell whether a new one
-- arrived while it ran (compare counts, not timestamps: JS dates drop PostgreSQL's microseconds).
ALTER TABLE session_wakes ADD COLUMN requests bigint NOT NULL DEFAULT 1;
DROP INDEX session_wakes_due;
CREATE INDEX session_wakes_due ON session_wakes (leased_until, requested_at);

-- The brain marks a queued client event as taken with an internal `oma.processed` event naming it;
-- listing events looks those up to show each echo's `processed_at`.
CREATE INDEX events_processed ON events (session_id, (payload->>'event_id')) WHERE type = 'oma.processed';
