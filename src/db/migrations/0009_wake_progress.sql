-- A wake's attempts count claims that made no progress: the log's last seq when it was last claimed
-- tells. A session whose brain keeps dying without appending anything is ended after a bounded
-- number of attempts, instead of being retried forever.
ALTER TABLE session_wakes ADD COLUMN claimed_seq bigint NOT NULL DEFAULT -1;
