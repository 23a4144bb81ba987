-- A closed session log takes no more events (set atomically with a terminal event; kept as a
-- tombstone when a session is deleted, so a late append cannot bring its log back).
ALTER TABLE session_logs ADD COLUMN closed boolean NOT NULL DEFAULT false;
