-- The environment work protocol (spec hands-and-credentials §2): a self_hosted environment is a queue
-- of work items, one per session that needs hands, claimed by workers that hold a heartbeat lease.
CREATE TABLE work_items (
  id                  text PRIMARY KEY,
  workspace_id        text NOT NULL REFERENCES workspaces (id),
  environment_id      text NOT NULL REFERENCES environments (id) ON DELETE CASCADE,
  session_id          text NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
  state               text NOT NULL CHECK (state IN ('queued', 'starting', 'active', 'stopping', 'stopped')),
  metadata            jsonb NOT NULL DEFAULT '{}',
  created_at          timestamptz NOT NULL,
  -- Last handed out by a poll, and to which Anthropic-Worker-ID; cleared when the item is re-queued.
  polled_at           timestamptz,
  polled_by           text,
  acknowledged_at     timestamptz,
  started_at          timestamptz,
  -- Exactly the string the last accepted heartbeat returned as `last_heartbeat` (RFC 3339 with ms);
  -- the next heartbeat must present it verbatim. NULL: no lease claimed yet (NO_HEARTBEAT).
  latest_heartbeat_at text,
  lease_until         timestamptz,
  ttl_seconds         integer,
  stop_requested_at   timestamptz,
  stopped_at          timestamptz,
  -- sha256 (hex) of the sessions token handed out with the latest poll: a re-offer replaces it, so the
  -- previous holder's token stops working; cleared on stop and on lease expiry.
  token_hash          text
);

-- At most one live item per session: ensureWorkItem relies on this to be race-safe.
CREATE UNIQUE INDEX work_items_live_session ON work_items (session_id) WHERE state <> 'stopped';
CREATE UNIQUE INDEX work_items_token ON work_items (token_hash) WHERE token_hash IS NOT NULL;
-- Polls look for an environment's oldest queued item; lists walk an environment's items by id.
CREATE INDEX work_items_environment ON work_items (environment_id, state, created_at);
CREATE INDEX work_items_environment_id ON work_items (environment_id, id);
CREATE INDEX work_items_lease ON work_items (lease_until) WHERE lease_until IS NOT NULL;

-- Environment keys (`sk-oma-env-…`): a worker host's credential, bound to one environment. Only the
-- sha256 is stored; the key is shown once, when minted.
CREATE TABLE environment_keys (
  id              text PRIMARY KEY,
  workspace_id    text NOT NULL REFERENCES workspaces (id),
  environment_id  text NOT NULL REFERENCES environments (id) ON DELETE CASCADE,
  key_hash        text NOT NULL UNIQUE,
  key_hint        text NOT NULL,
  created_at      timestamptz NOT NULL,
  revoked_at      timestamptz
);
CREATE INDEX environment_keys_environment ON environment_keys (environment_id, id);

-- Who polled each environment lately, for `workers_polling` (distinct worker ids in the last 30 s).
CREATE TABLE worker_polls (
  environment_id  text NOT NULL REFERENCES environments (id) ON DELETE CASCADE,
  worker_id       text NOT NULL,
  polled_at       timestamptz NOT NULL,
  PRIMARY KEY (environment_id, worker_id)
);
