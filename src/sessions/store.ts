import type { Db, Queryable } from '../db/interface.ts';
import { getEnvironment } from '../environments/store.ts';
import { OmaError } from '../errors.ts';
import { newId } from '../ids.ts';
import { WAKE_NOTIFY_SQL, WAKE_UPSERT_SQL } from '../session/wakes.ts';
import { RESOURCE_COLUMNS, SESSION_COLUMNS, type ResourceRow, type SessionRow, type SessionStatus } from './render.ts';

/** Session rows and their resources. Every query is scoped to the caller's workspace. */

export async function getSessionRow(db: Queryable, workspaceId: string, id: string, options: { forUpdate?: boolean } = {}): Promise<SessionRow> {
  const { rows } = await db.query<SessionRow>(
    `SELECT ${SESSION_COLUMNS} FROM sessions WHERE id = $1 AND workspace_id = $2${options.forUpdate ? ' FOR UPDATE' : ''}`,
    [id, workspaceId],
  );
  if (!rows[0]) throw new OmaError('not_found', `no session ${id}`, { details: { error_code: 'session_not_found' } });
  return rows[0];
}

export async function getResources(db: Queryable, sessionIds: string[]): Promise<Map<string, ResourceRow[]>> {
  const bySession = new Map<string, ResourceRow[]>(sessionIds.map((id) => [id, []]));
  if (sessionIds.length === 0) return bySession;
  const { rows } = await db.query<ResourceRow>(`SELECT ${RESOURCE_COLUMNS} FROM session_resources WHERE session_id = ANY($1::text[]) ORDER BY id`, [
    sessionIds,
  ]);
  for (const row of rows) bySession.get(row.session_id)?.push(row);
  return bySession;
}

export interface NewSession {
  id: string;
  workspaceId: string;
  agent: Record<string, unknown> & { id: string; version: number };
  environmentId: string;
  title: string | null;
  metadata: Record<string, string>;
  vaultIds: string[];
  budget: Record<string, unknown> | null;
}

export interface NewResource {
  id: string;
  type: string;
  body: Record<string, unknown>;
  secret: string | null;
}

export async function insertSession(tx: Queryable, session: NewSession, resources: NewResource[]) {
  await tx.query(
    `INSERT INTO sessions (id, workspace_id, agent_id, agent_version, agent, environment_id, title, metadata, vault_ids, budget, primary_thread_id)
     VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7, $8::jsonb, $9::jsonb, $10::jsonb, $11)`,
    [
      session.id,
      session.workspaceId,
      session.agent.id,
      session.agent.version,
      JSON.stringify(session.agent),
      session.environmentId,
      session.title,
      JSON.stringify(session.metadata),
      JSON.stringify(session.vaultIds),
      session.budget === null ? null : JSON.stringify(session.budget),
      newId('sthr'),
    ],
  );
  for (const resource of resources) await insertResource(tx, session.id, session.workspaceId, resource);
}

export async function insertResource(tx: Queryable, sessionId: string, workspaceId: string, resource: NewResource) {
  await tx.query(
    'INSERT INTO session_resources (id, session_id, workspace_id, type, body, secret) VALUES ($1, $2, $3, $4, $5::jsonb, $6)',
    [resource.id, sessionId, workspaceId, resource.type, JSON.stringify(resource.body), resource.secret],
  );
}

/**
 * Ask for the session's brain to run (with `notify`, brains in other processes hear of it at once, on
 * commit). Client input does not need this: its append requests the wake atomically (`wake: true`).
 */
export async function requestWake(db: Queryable, sessionId: string, options: { notify?: boolean } = {}) {
  try {
    await db.query(options.notify ? WAKE_NOTIFY_SQL : WAKE_UPSERT_SQL, [sessionId]);
  } catch (error) {
    // The session was deleted a moment ago.
    if ((error as { code?: string }).code === '23503') throw new OmaError('not_found', `no session ${sessionId}`, { details: { error_code: 'session_not_found' } });
    throw error;
  }
}

export async function setStatus(db: Queryable, id: string, status: SessionStatus, options: { archive?: boolean } = {}) {
  await db.query(
    `UPDATE sessions SET status = $2, updated_at = now(),
       terminated_at = CASE WHEN $2 = 'terminated' THEN COALESCE(terminated_at, now()) ELSE terminated_at END,
       archived_at = CASE WHEN $3 THEN COALESCE(archived_at, now()) ELSE archived_at END
     WHERE id = $1`,
    [id, status, options.archive ?? false],
  );
}

/**
 * Remove a session with everything it owns: resources and wake (by cascade), and its log's events.
 * The one place oma deletes from the log, at the owner's request. The log's head stays behind,
 * closed, as a tombstone: taking it first waits for any append in flight, and no later append can
 * bring the log back.
 */
export async function deleteSession(db: Db, id: string) {
  await db.transaction(async (tx) => {
    await tx.query('INSERT INTO session_logs (session_id, closed) VALUES ($1, true) ON CONFLICT (session_id) DO UPDATE SET closed = true', [id]);
    await tx.query('DELETE FROM events WHERE session_id = $1', [id]);
    await tx.query('DELETE FROM sessions WHERE id = $1', [id]);
  });
}

/** Whether the session still exists (streams poll this to notice a deletion they missed). */
export async function sessionExists(db: Queryable, id: string): Promise<boolean> {
  return (await db.query('SELECT 1 FROM sessions WHERE id = $1', [id])).rowCount > 0;
}

/** Whether the session runs on a self_hosted environment (whose clients answer sandbox tool calls). */
export async function isSelfHosted(db: Queryable, session: SessionRow): Promise<boolean> {
  const environment = (await getEnvironment(db, session.workspace_id, session.environment_id)) as unknown as { config: { type: string } };
  return environment.config.type === 'self_hosted';
}
