import type {
  BetaSelfHostedWork,
  BetaSelfHostedWorkHeartbeatResponse,
  BetaSelfHostedWorkQueueStats,
  BetaWorkLeaseState,
} from '@anthropic-ai/sdk/resources/beta/environments/work';
import { randomBytes } from 'node:crypto';
import { hashKey } from '../auth/keys.ts';
import { patchMetadata } from '../api/metadata.ts';
import { keyset, toPage, type PageRequest } from '../api/pagination.ts';
import type { Db, Queryable } from '../db/interface.ts';
import { OmaError } from '../errors.ts';
import { newId } from '../ids.ts';

/**
 * Work items in the database (table `work_items`, migration 0011): the queue of a self_hosted
 * environment (spec hands-and-credentials §2.5). Invariants:
 * - at most one live (not `stopped`) item per session (a partial unique index);
 * - `token_hash` is the hash of the only sessions token that works for the item: each poll mints a new
 *   one, so a re-offered item's previous holder is locked out; stop and lease expiry clear it;
 * - the lease (`lease_until`) is granted by ack for one TTL and extended by each accepted heartbeat;
 *   heartbeats are compare-and-set on `latest_heartbeat_at`, the exact string the last one returned.
 * Times are taken from this process's clock and passed in, so a test can step them.
 */

export type WorkState = BetaSelfHostedWork['state'];

export interface WorkRow {
  id: string;
  workspace_id: string;
  environment_id: string;
  session_id: string;
  state: WorkState;
  metadata: Record<string, string>;
  created_at: Date;
  polled_at: Date | null;
  polled_by: string | null;
  acknowledged_at: Date | null;
  started_at: Date | null;
  latest_heartbeat_at: string | null;
  lease_until: Date | null;
  ttl_seconds: number | null;
  stop_requested_at: Date | null;
  stopped_at: Date | null;
  token_hash: string | null;
}

/** The literal a worker sends as `expected_last_heartbeat` to claim a lease nobody heartbeated yet. */
export const NO_HEARTBEAT = 'NO_HEARTBEAT';
export const SESSIONS_TOKEN_PREFIX = 'sk-oma-req-';
export const DEFAULT_RECLAIM_MS = 5_000;
/** A worker counts towards `workers_polling` this long after its last poll. */
const WORKERS_POLLING_WINDOW_MS = 30_000;

const iso = (date: Date | null) => date?.toISOString() ?? null;

/** The SDK's `BetaSelfHostedWork`; `secret` only in a poll response. */
export function renderWork(row: WorkRow, secret: string | null = null): BetaSelfHostedWork {
  return {
    type: 'work',
    id: row.id,
    environment_id: row.environment_id,
    data: { type: 'session', id: row.session_id },
    state: row.state,
    secret,
    metadata: row.metadata,
    created_at: row.created_at.toISOString(),
    acknowledged_at: iso(row.acknowledged_at),
    started_at: iso(row.started_at),
    latest_heartbeat_at: row.latest_heartbeat_at,
    stop_requested_at: iso(row.stop_requested_at),
    stopped_at: iso(row.stopped_at),
  };
}

function notFound(workId: string): OmaError {
  return new OmaError('not_found', `work item ${JSON.stringify(workId)} was not found in this environment`, { details: { error_code: 'work_not_found' } });
}

async function findRow(db: Queryable, environmentId: string, workId: string, lock = false): Promise<WorkRow> {
  const { rows } = await db.query<WorkRow>(`SELECT * FROM work_items WHERE environment_id = $1 AND id = $2${lock ? ' FOR UPDATE' : ''}`, [environmentId, workId]);
  if (rows[0] === undefined) throw notFound(workId);
  return rows[0];
}

/**
 * Queue a work item for `session` when its environment is self_hosted and it has no live item.
 * Idempotent and race-safe: of concurrent calls one inserts, the others hit the unique index and do
 * nothing.
 */
export async function ensureWorkItem(db: Queryable, session: { id: string; workspaceId: string; environmentId: string }): Promise<void> {
  await db.query(
    `INSERT INTO work_items (id, workspace_id, environment_id, session_id, state, created_at)
     SELECT $1, $2, $3, $4, 'queued', $5 FROM environments e
     WHERE e.id = $3 AND e.workspace_id = $2 AND e.config->>'type' = 'self_hosted'
       AND NOT EXISTS (SELECT 1 FROM work_items w WHERE w.session_id = $4 AND w.state <> 'stopped')
     ON CONFLICT (session_id) WHERE state <> 'stopped' DO NOTHING`,
    [newId('work'), session.workspaceId, session.environmentId, session.id, new Date().toISOString()],
  );
}

/** After a session's item ended: if the session still waits on worker calls, it needs a new item. */
export async function requeueIfWaiting(db: Queryable, sessionId: string, waiting: (sessionId: string) => Promise<boolean>): Promise<void> {
  const { rows } = await db.query<{ workspace_id: string; environment_id: string }>('SELECT workspace_id, environment_id FROM sessions WHERE id = $1', [sessionId]);
  if (rows[0] && (await waiting(sessionId))) await ensureWorkItem(db, { id: sessionId, workspaceId: rows[0].workspace_id, environmentId: rows[0].environment_id });
}

/**
 * Hand out the environment's oldest queued item that no poll holds: never polled, or polled and not
 * acknowledged for `reclaimOlderThanMs`. Mints the item's sessions token (returned once, stored
 * hashed). Concurrent polls never get the same item (SKIP LOCKED).
 */
export async function pollWork(
  db: Queryable,
  environmentId: string,
  options: { workerId?: string; reclaimOlderThanMs?: number; now?: Date } = {},
): Promise<{ row: WorkRow; token: string } | undefined> {
  const now = options.now ?? new Date();
  const cutoff = new Date(now.getTime() - (options.reclaimOlderThanMs ?? DEFAULT_RECLAIM_MS));
  const token = SESSIONS_TOKEN_PREFIX + randomBytes(32).toString('base64url');
  const { rows } = await db.query<WorkRow>(
    `UPDATE work_items SET polled_at = $2, polled_by = $3, token_hash = $4
     WHERE id = (SELECT id FROM work_items WHERE environment_id = $1 AND state = 'queued' AND (polled_at IS NULL OR polled_at <= $5)
                 ORDER BY created_at, id LIMIT 1 FOR UPDATE SKIP LOCKED)
     RETURNING *`,
    [environmentId, now.toISOString(), options.workerId ?? null, hashKey(token), cutoff.toISOString()],
  );
  return rows[0] ? { row: rows[0], token } : undefined;
}

/** Remember that `workerId` polled the environment now (for `workers_polling`). */
export async function recordPoll(db: Queryable, environmentId: string, workerId: string, now = new Date()): Promise<void> {
  await db.query(
    `INSERT INTO worker_polls (environment_id, worker_id, polled_at) VALUES ($1, $2, $3)
     ON CONFLICT (environment_id, worker_id) DO UPDATE SET polled_at = EXCLUDED.polled_at`,
    [environmentId, workerId.slice(0, 256), now.toISOString()],
  );
}

/** Ack a polled item: `starting`, out of the queue, with a lease of one TTL. Anything else is a 409. */
export async function ackWork(db: Queryable, environmentId: string, workId: string, ttlSeconds: number, now = new Date()): Promise<BetaSelfHostedWork> {
  const { rows } = await db.query<WorkRow>(
    `UPDATE work_items SET state = 'starting', acknowledged_at = $3, lease_until = $4, ttl_seconds = $5
     WHERE environment_id = $1 AND id = $2 AND state = 'queued' AND polled_at IS NOT NULL RETURNING *`,
    [environmentId, workId, now.toISOString(), new Date(now.getTime() + ttlSeconds * 1000).toISOString(), ttlSeconds],
  );
  if (rows[0]) return renderWork(rows[0]);
  const row = await findRow(db, environmentId, workId);
  // Idempotent: a retried ack (its answer lost), or the ack of a worker an item was re-offered to after
  // another worker's late ack, finds it starting. Which of them holds it is decided by the sessions
  // token (the latest poll's): the other's heartbeat is refused.
  if (row.state === 'starting') return renderWork(row);
  const why = row.state === 'queued' ? 'it has not been handed out by a poll' : `it is ${row.state}`;
  throw new OmaError('conflict', `work item ${workId} cannot be acknowledged: ${why}`, { details: { error_code: 'work_not_pending' } });
}

/** A heartbeat string later than `previous`, so that every accepted beat returns a different one. */
function nextHeartbeat(previous: string | null, now: Date): string {
  const last = previous ? Date.parse(previous) : NaN;
  return new Date(Number.isNaN(last) ? now.getTime() : Math.max(now.getTime(), last + 1)).toISOString();
}

/**
 * Spec §2.6. `stopping`/`stopped`: no comparison, 200 with that state and `lease_extended: false` (how
 * a stop reaches the worker). Otherwise `expected` must be `NO_HEARTBEAT` while no heartbeat is stored,
 * else exactly the stored one; a queued item (never acked, or its lease lapsed) has no lease to extend.
 * Failure: 412 `heartbeat_precondition_failed` with the current lease state.
 */
export async function heartbeatWork(
  db: Db,
  environmentId: string,
  workId: string,
  options: { expected: string; ttlSeconds: number; now?: Date },
): Promise<BetaSelfHostedWorkHeartbeatResponse> {
  return db.transaction(async (tx) => {
    const row = await findRow(tx, environmentId, workId, true);
    const ttl = row.ttl_seconds ?? options.ttlSeconds;
    if (row.state === 'stopping' || row.state === 'stopped') {
      return { type: 'work_heartbeat', last_heartbeat: row.latest_heartbeat_at ?? '', lease_extended: false, state: row.state, ttl_seconds: ttl };
    }
    const stored = row.latest_heartbeat_at;
    const now = options.now ?? new Date();
    // A lease past its time is lost even before the sweeper re-queues it: its calls may be closed already.
    const lapsed = row.lease_until !== null && row.lease_until.getTime() < now.getTime();
    const matches = row.state !== 'queued' && !lapsed && (stored === null ? options.expected === NO_HEARTBEAT : options.expected === stored);
    if (!matches) {
      const current: BetaWorkLeaseState = { last_heartbeat: stored, lease_extended: false, state: row.state, ttl_seconds: ttl };
      throw new OmaError('precondition_failed', `Heartbeat precondition failed: expected ${options.expected}, actual was ${stored ?? 'NULL'}`, {
        details: { error_code: 'heartbeat_precondition_failed', current_state: current },
      });
    }
    const beat = nextHeartbeat(stored, now);
    const { rows } = await tx.query<WorkRow>(
      `UPDATE work_items SET state = 'active', started_at = COALESCE(started_at, $2), latest_heartbeat_at = $3, lease_until = $4, ttl_seconds = $5
       WHERE id = $1 RETURNING *`,
      [workId, now.toISOString(), beat, new Date(now.getTime() + options.ttlSeconds * 1000).toISOString(), options.ttlSeconds],
    );
    const updated = rows[0]!;
    return { type: 'work_heartbeat', last_heartbeat: beat, lease_extended: true, state: updated.state, ttl_seconds: options.ttlSeconds };
  });
}

/**
 * Stop an item. `force`: `stopped` at once. Graceful: a held item becomes `stopping` (its worker learns
 * it from the next heartbeat and force-stops); a queued one nobody holds is stopped outright.
 * Idempotent: a stopped item answers as it is. The sessions token dies with the stop.
 */
export async function stopWork(db: Db, environmentId: string, workId: string, force: boolean, now = new Date()): Promise<BetaSelfHostedWork> {
  return db.transaction(async (tx) => {
    const row = await findRow(tx, environmentId, workId, true);
    if (row.state === 'stopped') return renderWork(row);
    const stopNow = force || row.state === 'queued';
    const { rows } = await tx.query<WorkRow>(
      stopNow
        ? `UPDATE work_items SET state = 'stopped', stopped_at = $2, stop_requested_at = COALESCE(stop_requested_at, $2),
             lease_until = NULL WHERE id = $1 RETURNING *`
        : `UPDATE work_items SET state = 'stopping', stop_requested_at = COALESCE(stop_requested_at, $2) WHERE id = $1 RETURNING *`,
      [workId, now.toISOString()],
    );
    return renderWork(rows[0]!);
  });
}

/**
 * Items whose lease lapsed (no accepted heartbeat within the TTL): `starting`/`active` ones go back to
 * the queue with their lease, heartbeat, poll and token cleared (a late heartbeat from the old holder
 * then gets 412, its token 401); `stopping` ones, whose worker was asked to let go, are stopped. The
 * ids of the sessions affected, each once.
 */
/** Sessions whose item's lease lapsed by `now` (what `expireLeases(db, now)` will expire), without changing anything. */
export async function lapsedLeases(db: Queryable, now: Date): Promise<string[]> {
  const { rows } = await db.query<{ session_id: string }>(
    "SELECT DISTINCT session_id FROM work_items WHERE state IN ('starting', 'active', 'stopping') AND lease_until < $1",
    [now.toISOString()],
  );
  return rows.map((row) => row.session_id);
}

export async function expireLeases(db: Queryable, now = new Date()): Promise<string[]> {
  const at = now.toISOString();
  const requeued = await db.query<{ session_id: string }>(
    `UPDATE work_items SET state = 'queued', polled_at = NULL, polled_by = NULL, acknowledged_at = NULL, started_at = NULL,
       latest_heartbeat_at = NULL, lease_until = NULL, ttl_seconds = NULL, token_hash = NULL
     WHERE state IN ('starting', 'active') AND lease_until < $1 RETURNING session_id`,
    [at],
  );
  const stopped = await db.query<{ session_id: string }>(
    `UPDATE work_items SET state = 'stopped', stopped_at = $1, lease_until = NULL, token_hash = NULL
     WHERE state = 'stopping' AND lease_until < $1 RETURNING session_id`,
    [at],
  );
  return [...new Set([...requeued.rows, ...stopped.rows].map((row) => row.session_id))];
}

export async function getWork(db: Queryable, environmentId: string, workId: string): Promise<BetaSelfHostedWork> {
  return renderWork(await findRow(db, environmentId, workId));
}

/** Metadata is a patch: a string upserts, null deletes (`invalid_metadata` 400 past the limits). */
export async function updateWorkMetadata(db: Db, environmentId: string, workId: string, patch: Record<string, unknown>): Promise<BetaSelfHostedWork> {
  return db.transaction(async (tx) => {
    const row = await findRow(tx, environmentId, workId, true);
    const metadata = patchMetadata(row.metadata, patch);
    const { rows } = await tx.query<WorkRow>('UPDATE work_items SET metadata = $2::jsonb WHERE id = $1 RETURNING *', [workId, JSON.stringify(metadata)]);
    return renderWork(rows[0]!);
  });
}

/** The environment's items, newest first, stopped ones included. */
export async function listWork(db: Queryable, environmentId: string, page: PageRequest): Promise<{ data: BetaSelfHostedWork[]; next_page: string | null }> {
  const params: unknown[] = [environmentId];
  const { where, orderBy, limit } = keyset('id', page, params);
  const { rows } = await db.query<WorkRow>(`SELECT * FROM work_items WHERE environment_id = $1 AND ${where} ORDER BY ${orderBy} ${limit}`, params);
  const result = toPage(rows, page, (row) => row.id, (row) => renderWork(row));
  return { data: result.data, next_page: result.next_page };
}

/** `depth`: queued, never handed out; `pending`: handed out, not acknowledged; `oldest_queued_at` covers both. */
export async function workStats(db: Queryable, environmentId: string, now = new Date()): Promise<BetaSelfHostedWorkQueueStats> {
  const { rows } = await db.query<{ depth: number; pending: number; oldest: Date | null }>(
    `SELECT count(*) FILTER (WHERE polled_at IS NULL)::int AS depth, count(*) FILTER (WHERE polled_at IS NOT NULL)::int AS pending, min(created_at) AS oldest
     FROM work_items WHERE environment_id = $1 AND state = 'queued'`,
    [environmentId],
  );
  const workers = await db.query<{ count: number }>('SELECT count(*)::int AS count FROM worker_polls WHERE environment_id = $1 AND polled_at > $2', [
    environmentId,
    new Date(now.getTime() - WORKERS_POLLING_WINDOW_MS).toISOString(),
  ]);
  const stats = rows[0]!;
  return { type: 'work_queue_stats', depth: stats.depth, pending: stats.pending, oldest_queued_at: iso(stats.oldest), workers_polling: workers.rows[0]!.count };
}

/** What a sessions token stands for while its item is live and it is the item's current token. */
export async function findTokenHolder(
  db: Queryable,
  token: string,
): Promise<{ workId: string; workspaceId: string; environmentId: string; sessionId: string; stopped: boolean } | undefined> {
  if (!token.startsWith(SESSIONS_TOKEN_PREFIX)) return undefined;
  const { rows } = await db.query<{ id: string; workspace_id: string; environment_id: string; session_id: string; state: string }>(
    `SELECT id, workspace_id, environment_id, session_id, state FROM work_items WHERE token_hash = $1`,
    [hashKey(token)],
  );
  const row = rows[0];
  return row ? { workId: row.id, workspaceId: row.workspace_id, environmentId: row.environment_id, sessionId: row.session_id, stopped: row.state === 'stopped' } : undefined;
}

/** Whether `sessionId` has a live item in `environmentId` (an environment key may then serve it). */
export async function hasLiveWork(db: Queryable, environmentId: string, sessionId: string): Promise<boolean> {
  const { rowCount } = await db.query(`SELECT 1 FROM work_items WHERE environment_id = $1 AND session_id = $2 AND state <> 'stopped'`, [environmentId, sessionId]);
  return rowCount > 0;
}
