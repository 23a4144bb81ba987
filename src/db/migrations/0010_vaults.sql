-- Vaults and their credentials (spec hands-and-credentials §8). A credential's `auth` holds only the
-- public part of its auth (the response form); the write-only secrets (token, access_token,
-- refresh_token, client_secret, secret_value) are one JSON object sealed with AES-256-GCM under
-- OMA_MASTER_KEY, with `<vault_id>/<credential_id>` as associated data, in `secret`.
CREATE TABLE vaults (
  id            text PRIMARY KEY,
  workspace_id  text NOT NULL REFERENCES workspaces (id),
  display_name  text NOT NULL,
  metadata      jsonb NOT NULL DEFAULT '{}',
  created_at    timestamptz NOT NULL,
  updated_at    timestamptz NOT NULL,
  archived_at   timestamptz
);

-- Lists walk a workspace's vaults by id (ids are time-ordered: newest first = id descending).
CREATE INDEX vaults_workspace_id ON vaults (workspace_id, id);

CREATE TABLE vault_credentials (
  id            text PRIMARY KEY,
  vault_id      text NOT NULL REFERENCES vaults (id) ON DELETE CASCADE,
  workspace_id  text NOT NULL REFERENCES workspaces (id),
  type          text NOT NULL,
  auth          jsonb NOT NULL,
  secret        text NOT NULL,
  -- What must be unique among a vault's active credentials: `mcp:<normalised mcp_server_url>` or
  -- `env:<secret_name>`.
  match_key     text NOT NULL,
  display_name  text,
  metadata      jsonb NOT NULL DEFAULT '{}',
  created_at    timestamptz NOT NULL,
  updated_at    timestamptz NOT NULL,
  archived_at   timestamptz
);

CREATE UNIQUE INDEX vault_credentials_match_unique ON vault_credentials (vault_id, match_key) WHERE archived_at IS NULL;
CREATE INDEX vault_credentials_vault_id ON vault_credentials (vault_id, id);

-- One row: a known value sealed with the master key on first start, so a later start with another
-- key is refused at once instead of failing on the first credential it opens.
CREATE TABLE master_key_check (
  id          integer PRIMARY KEY CHECK (id = 1),
  sealed      text NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now()
);

-- Repository tokens stored before they were sealed (plain text) are dropped, not kept readable: the
-- sessions' owners rotate them (POST /v1/sessions/{id}/resources/{resource_id}) to use those repositories again.
UPDATE session_resources SET secret = NULL WHERE secret IS NOT NULL AND secret NOT LIKE 'v1.%';
