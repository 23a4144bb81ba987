-- Agents and their immutable versions. `agents` holds what belongs to the agent as a whole (its
-- workspace, creation and archive times, the latest version number); each `agent_versions` row is
-- one complete resolved configuration and is never changed once written. `config` is `json`, not
-- `jsonb`, so a stored configuration keeps its key order (a custom tool's input schema property
-- order is what the model sees) and round-trips byte for byte.
CREATE TABLE agents (
  id              text PRIMARY KEY,
  workspace_id    text NOT NULL REFERENCES workspaces (id),
  latest_version  integer NOT NULL,
  created_at      timestamptz NOT NULL,
  archived_at     timestamptz
);
-- Lists: newest first within a workspace (ids are time-ordered).
CREATE INDEX agents_workspace_id ON agents (workspace_id, id);

CREATE TABLE agent_versions (
  agent_id      text NOT NULL REFERENCES agents (id),
  version       integer NOT NULL CHECK (version >= 1),
  workspace_id  text NOT NULL REFERENCES workspaces (id),
  config        json NOT NULL,
  -- when this version was written: the agent's `updated_at` as of this version
  created_at    timestamptz NOT NULL,
  PRIMARY KEY (agent_id, version)
);
