import type { Queryable } from '../db/interface.ts';

/**
 * Leases on the wake queue (`session_wakes`). A row means "this session's brain should run"; a brain
 * runs a session only while it holds the row's lease, and writes only with the lease's generation
 * as its fence. Claiming raises the session log's fence to the new generation in the same
 * statement, so a brain whose lease was taken over can never append again — even before the new
 * holder writes anything.
 */

export interface Lease {
  sessionId: string;
  /** Fencing token for every append made under this lease. */
  generation: number;
  /** The row's request count when claimed: a higher count at release means new work arrived. */
  requests: number;
  /** Claims in a row that made no progress (the log did not grow since the previous claim); 1 for a fresh one. */
  attempts: number;
}

interface LeaseRow {
  session_id: string;
  generation: string | number;
  requests: string | number;
  attempts: number;
}

const toLease = (row: LeaseRow): Lease => ({ sessionId: row.session_id, generation: Number(row.generation), requests: Number(row.requests), attempts: row.attempts });

/**
 * Claim one due wake (unleased or expired), oldest request first, or the given session's only.
 * Undefined when there is none, or every due one is being claimed by someone else right now.
 */
export async function claimWake(db: Queryable, owner: string, ttlMs: number, sessionId?: string): Promise<Lease | undefined> {
  return (await claimWakes(db, owner, ttlMs, { sessionId, limit: 1 }))[0];
}

/**
 * Claim up to `limit` due wakes in one statement (a worker with many free brains fills them in one
 * round trip), oldest request first; rows others are claiming right now are skipped, not waited for.
 */
export async function claimWakes(db: Queryable, owner: string, ttlMs: number, options: { limit: number; sessionId?: string | undefined }): Promise<Lease[]> {
  const params: unknown[] = [owner, ttlMs / 1000, options.limit];
  const only = options.sessionId === undefined ? '' : `AND w.session_id = $${params.push(options.sessionId)}`;
  const { rows } = await db.query<LeaseRow>(
    `WITH next AS (
       SELECT w.session_id, GREATEST(w.generation, COALESCE(l.fence, 0)) + 1 AS generation, COALESCE(l.last_seq, 0) AS last_seq,
         CASE WHEN COALESCE(l.last_seq, 0) > w.claimed_seq THEN 1 ELSE w.attempts + 1 END AS attempts
       FROM session_wakes w LEFT JOIN session_logs l ON l.session_id = w.session_id
       WHERE (w.leased_until IS NULL OR w.leased_until < now()) ${only}
       ORDER BY w.requested_at LIMIT $3
       FOR UPDATE OF w SKIP LOCKED
     ), claimed AS (
       UPDATE session_wakes w SET generation = next.generation, leased_by = $1,
         leased_until = now() + make_interval(secs => $2), attempts = next.attempts, claimed_seq = next.last_seq
       FROM next WHERE w.session_id = next.session_id
       RETURNING w.session_id, w.generation, w.requests, w.attempts
     ), fenced AS (
       -- log heads in session id order, as appends lock them (see session/postgres-append.ts)
       INSERT INTO session_logs (session_id, fence) SELECT session_id, generation FROM claimed ORDER BY session_id
       ON CONFLICT (session_id) DO UPDATE SET fence = GREATEST(session_logs.fence, EXCLUDED.fence)
     )
     SELECT * FROM claimed`,
    params,
  );
  return rows.map(toLease);
}

/** Extend the lease. False when it was lost (taken over after it expired): stop at once. */
export async function renewLease(db: Queryable, lease: Lease, ttlMs: number): Promise<boolean> {
  const { rowCount } = await db.query(
    'UPDATE session_wakes SET leased_until = now() + make_interval(secs => $3) WHERE session_id = $1 AND generation = $2',
    [lease.sessionId, lease.generation, ttlMs / 1000],
  );
  return rowCount > 0;
}

/**
 * Done with the session: remove the wake unless new work was requested since it was claimed. Then
 * resolves to `'again'` (the lease is still held, its request count updated: run once more),
 * `'done'`, or `'lost'` (someone else holds it now).
 */
export async function completeWake(db: Queryable, lease: Lease): Promise<'done' | 'again' | 'lost'> {
  const deleted = await db.query('DELETE FROM session_wakes WHERE session_id = $1 AND generation = $2 AND requests = $3', [
    lease.sessionId,
    lease.generation,
    lease.requests,
  ]);
  if (deleted.rowCount > 0) return 'done';
  const { rows } = await db.query<{ requests: string | number }>(
    'UPDATE session_wakes SET attempts = 0 WHERE session_id = $1 AND generation = $2 RETURNING requests',
    [lease.sessionId, lease.generation],
  );
  if (!rows[0]) return 'lost';
  lease.requests = Number(rows[0].requests);
  return 'again';
}

/** Give the wake back unfinished (shutdown): another brain may claim it at once. */
export async function releaseLease(db: Queryable, lease: Lease): Promise<void> {
  await db.query('UPDATE session_wakes SET leased_by = NULL, leased_until = NULL WHERE session_id = $1 AND generation = $2', [
    lease.sessionId,
    lease.generation,
  ]);
}
