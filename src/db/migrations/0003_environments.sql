-- Environments (spec api-core.md §3): reusable sandbox templates, one row each. `config` holds the
-- complete response form of BetaCloudConfig | BetaSelfHostedConfig; its type never changes.
CREATE TABLE environments (
  id            text PRIMARY KEY,
  workspace_id  text NOT NULL REFERENCES workspaces (id),
  name          text NOT NULL,
  description   text,
  config        jsonb NOT NULL,
  metadata      jsonb NOT NULL DEFAULT '{}',
  scope         text NOT NULL DEFAULT 'organization',
  created_at    timestamptz NOT NULL,
  updated_at    timestamptz NOT NULL,
  archived_at   timestamptz
);

-- Names are unique per workspace among environments that are not archived: archiving frees a name.
CREATE UNIQUE INDEX environments_name_unique ON environments (workspace_id, name) WHERE archived_at IS NULL;

-- Lists walk a workspace's environments by id (ids are time-ordered: newest first = id descending).
CREATE INDEX environments_workspace_id ON environments (workspace_id, id);
