-- Files API (client.beta.files.*). Content lives in the database, not on one machine's disk, so any
-- number of oma processes sharing one PostgreSQL serve every file. A file is its metadata row plus its
-- bytes cut into chunks of at most 1 MiB, written in the same transaction as the row and read back in
-- chunk order (a download streams one chunk at a time).
CREATE TABLE files (
  id            text PRIMARY KEY,
  workspace_id  text NOT NULL REFERENCES workspaces (id),
  filename      text NOT NULL,
  mime_type     text NOT NULL,
  size_bytes    bigint NOT NULL CHECK (size_bytes >= 0),
  downloadable  boolean NOT NULL DEFAULT true,
  -- what the file was made in (BetaFileScope): a session's output files; NULL for uploads
  scope_type    text CHECK (scope_type IN ('session')),
  scope_id      text,
  created_at    timestamptz NOT NULL DEFAULT now(),
  -- after this the bytes are gone (deleted lazily); the metadata stays visible
  expires_at    timestamptz,
  CHECK ((scope_type IS NULL) = (scope_id IS NULL))
);
CREATE INDEX files_workspace ON files (workspace_id, id);
CREATE INDEX files_scope ON files (workspace_id, scope_id, id) WHERE scope_id IS NOT NULL;
CREATE INDEX files_expires ON files (expires_at) WHERE expires_at IS NOT NULL;

CREATE TABLE file_chunks (
  file_id   text NOT NULL REFERENCES files (id) ON DELETE CASCADE,
  -- 0, 1, 2, … with no gap
  position  integer NOT NULL,
  data      bytea NOT NULL,
  PRIMARY KEY (file_id, position)
);
-- Out of line and uncompressed: most uploads (images, PDFs, archives) are compressed already, and
-- pglz on them costs CPU on every write for nothing.
ALTER TABLE file_chunks ALTER COLUMN data SET STORAGE EXTERNAL;
