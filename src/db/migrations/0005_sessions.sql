-- Sessions: the agent snapshot they pinned, their environment, status and counters. The session's
-- history lives in the session log (session_logs + events); this row is its current state.
CREATE TABLE sessions (
  id              text PRIMARY KEY,
  workspace_id    text NOT NULL REFERENCES workspaces (id),
  agent_id        text NOT NULL,
  agent_version   integer NOT NULL,
  -- a single-agent session has one thread, its primary (spec §7)
  primary_thread_id text NOT NULL UNIQUE,
  -- BetaManagedAgentsSessionAgent, resolved at creation (after overrides)
  agent           jsonb NOT NULL,
  environment_id  text NOT NULL,
  title           text,
  metadata        jsonb NOT NULL DEFAULT '{}',
  vault_ids       jsonb NOT NULL DEFAULT '[]',
  budget          jsonb,
  status          text NOT NULL DEFAULT 'idle' CHECK (status IN ('idle', 'running', 'rescheduling', 'terminated')),
  usage           jsonb NOT NULL DEFAULT '{}',
  -- one entry per user.define_outcome (BetaManagedAgentsOutcomeEvaluationResource)
  outcome_evaluations jsonb NOT NULL DEFAULT '[]',
  active_seconds  double precision NOT NULL DEFAULT 0,
  created_at      timestamptz NOT NULL DEFAULT now(),
  updated_at      timestamptz NOT NULL DEFAULT now(),
  archived_at     timestamptz,
  terminated_at   timestamptz
);
CREATE INDEX sessions_workspace_id ON sessions (workspace_id, id);
CREATE INDEX sessions_agent ON sessions (workspace_id, agent_id, agent_version);

-- Files, repositories and memory stores mounted into the session's sandbox (spec §6), in the order
-- they were added. Memory stores have no public id; they get an internal one.
CREATE TABLE session_resources (
  id              text PRIMARY KEY,
  session_id      text NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
  workspace_id    text NOT NULL REFERENCES workspaces (id),
  type            text NOT NULL,
  -- the public object, without id and timestamps
  body            jsonb NOT NULL,
  -- write-only secret (a repository's authorization_token); never returned
  secret          text,
  created_at      timestamptz NOT NULL DEFAULT now(),
  updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX session_resources_session ON session_resources (session_id, id);

-- The wake queue: a row means "this session's brain should run". Writers upsert it before appending
-- the input that needs a brain, so an input is never left without a wake. Leases (generation,
-- leased_until) are taken by brains with FOR UPDATE SKIP LOCKED.
CREATE TABLE session_wakes (
  session_id      text PRIMARY KEY REFERENCES sessions (id) ON DELETE CASCADE,
  requested_at    timestamptz NOT NULL DEFAULT now(),
  generation      bigint NOT NULL DEFAULT 0,
  leased_by       text,
  leased_until    timestamptz,
  attempts        integer NOT NULL DEFAULT 0
);
CREATE INDEX session_wakes_due ON session_wakes (requested_at) WHERE leased_until IS NULL;
