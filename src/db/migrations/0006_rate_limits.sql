-- Per-workspace request rate limits, per minute. NULL = the server default; 0 = unlimited.
ALTER TABLE workspaces ADD COLUMN rate_limit_create_per_minute integer CHECK (rate_limit_create_per_minute >= 0);
ALTER TABLE workspaces ADD COLUMN rate_limit_read_per_minute integer CHECK (rate_limit_read_per_minute >= 0);
