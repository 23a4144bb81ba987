import { PRIVATE_KEY } from '../brain/history.ts';
import type { StoredEvent } from '../session/interface.ts';

/** Rows as stored, and the public objects the SDK reads (`BetaManagedAgentsSession`, events). */

export type SessionStatus = 'idle' | 'running' | 'rescheduling' | 'terminated';

export interface SessionRow {
  id: string;
  workspace_id: string;
  agent_id: string;
  agent_version: number;
  primary_thread_id: string;
  agent: Record<string, unknown>;
  environment_id: string;
  title: string | null;
  metadata: Record<string, string>;
  vault_ids: string[];
  budget: Record<string, unknown> | null;
  status: SessionStatus;
  usage: Record<string, unknown>;
  outcome_evaluations: Record<string, unknown>[];
  active_seconds: number;
  created_at: Date;
  updated_at: Date;
  archived_at: Date | null;
  terminated_at: Date | null;
}

export interface ResourceRow {
  id: string;
  session_id: string;
  type: string;
  body: Record<string, unknown>;
  created_at: Date;
  updated_at: Date;
}

/**
 * A session's status as clients see it. The brain records `running`; when no brain holds the session
 * any more (its process died and no other has taken the wake over yet, e.g. no worker is alive), it
 * is shown as `rescheduling`, until a brain takes it again and continues.
 */
export const STATUS_SQL =
  "CASE WHEN sessions.status = 'running' AND NOT EXISTS (SELECT 1 FROM session_wakes w WHERE w.session_id = sessions.id AND w.leased_until > now()) THEN 'rescheduling' ELSE sessions.status END";

/** Running or about to run again: what may not be changed, archived or deleted under it. */
export function isBusy(status: SessionStatus): boolean {
  return status === 'running' || status === 'rescheduling';
}

export const SESSION_COLUMNS =
  `id, workspace_id, agent_id, agent_version, primary_thread_id, agent, environment_id, title, metadata, vault_ids, budget, ${STATUS_SQL} AS status, usage, ` +
  'outcome_evaluations, active_seconds, created_at, updated_at, archived_at, terminated_at';

export const RESOURCE_COLUMNS = 'id, session_id, type, body, created_at, updated_at';

const iso = (date: Date | null) => (date ? date.toISOString() : null);

/** Every counter present (0 when nothing was used yet), so clients can add without checks. */
function usage(stored: Record<string, unknown>, activeSeconds: number) {
  return {
    input_tokens: 0,
    output_tokens: 0,
    cache_read_input_tokens: 0,
    cache_creation: { ephemeral_5m_input_tokens: 0, ephemeral_1h_input_tokens: 0 },
    server_tool_use: { web_search_requests: 0, web_fetch_requests: 0 },
    list_cost: null,
    ...stored,
    active_seconds: activeSeconds,
  };
}

export function renderResource(row: ResourceRow) {
  // Memory stores have no public id or timestamps (spec §6).
  if (row.type === 'memory_store') return { ...row.body, type: row.type };
  return { id: row.id, type: row.type, ...row.body, created_at: iso(row.created_at), updated_at: iso(row.updated_at) };
}

export function renderSession(row: SessionRow, resources: ResourceRow[], now: Date = new Date()) {
  const end = row.terminated_at ?? now;
  return {
    type: 'session' as const,
    id: row.id,
    status: row.status,
    agent: row.agent,
    environment_id: row.environment_id,
    title: row.title,
    metadata: row.metadata,
    resources: resources.map(renderResource),
    vault_ids: row.vault_ids,
    budget: row.budget,
    outcome_evaluations: row.outcome_evaluations,
    stats: {
      active_seconds: row.active_seconds,
      duration_seconds: Math.max(0, (end.getTime() - row.created_at.getTime()) / 1000),
    },
    usage: usage(row.usage, row.active_seconds),
    deployment_id: null,
    created_at: iso(row.created_at)!,
    updated_at: iso(row.updated_at)!,
    archived_at: iso(row.archived_at),
  };
}

/**
 * A log event as the SDK's `BetaManagedAgentsSessionEvent`: the payload plus `id`, `type` and
 * `processed_at`. Client events carry their own `processed_at` (null until a brain takes them);
 * server events were processed when they were appended.
 */
export function renderEvent(event: StoredEvent, processedAt?: string): Record<string, unknown> {
  const { [PRIVATE_KEY]: _private, ...payload } = event.payload;
  const processed = processedAt ?? ('processed_at' in payload ? payload.processed_at : event.createdAt.toISOString());
  return { ...payload, id: event.id, type: event.type, processed_at: processed };
}

/** Internal events (the brain's bookkeeping) are never shown to clients as themselves. */
export function isInternalEvent(type: string): boolean {
  return type.startsWith('oma.');
}
