-- Workspaces own every user object; API keys belong to one workspace and are stored hashed.
CREATE TABLE workspaces (
  id          text PRIMARY KEY,
  name        text NOT NULL UNIQUE,
  created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE api_keys (
  id            text PRIMARY KEY,
  workspace_id  text NOT NULL REFERENCES workspaces (id),
  name          text NOT NULL,
  -- sha256 of the whole key, hex. Keys are 256-bit random, so a fast hash is enough.
  key_hash      text NOT NULL UNIQUE,
  -- the last four characters, to tell keys apart in listings
  key_hint      text NOT NULL,
  -- admin keys may also manage keys of every workspace (the operator's OMA_API_KEY is one)
  admin         boolean NOT NULL DEFAULT false,
  created_at    timestamptz NOT NULL DEFAULT now(),
  revoked_at    timestamptz
);
CREATE INDEX api_keys_workspace ON api_keys (workspace_id);

-- The head of each session's log: the last seq handed out, the highest lease generation (fence) seen,
-- and the newest created_at, so that created_at never goes backwards along seq.
-- Appends serialise on this row. Sessions are scoped to a workspace by the sessions table; the log is
-- only ever reached through a session the caller has already been authorised for.
CREATE TABLE session_logs (
  session_id  text PRIMARY KEY,
  last_seq    bigint NOT NULL DEFAULT 0,
  fence       bigint NOT NULL DEFAULT 0,
  last_at     timestamptz NOT NULL DEFAULT '1970-01-01T00:00:00Z'
);

CREATE TABLE events (
  session_id  text NOT NULL,
  seq         bigint NOT NULL,
  id          text NOT NULL UNIQUE,
  type        text NOT NULL,
  payload     jsonb NOT NULL,
  created_at  timestamptz NOT NULL,
  PRIMARY KEY (session_id, seq)
);
